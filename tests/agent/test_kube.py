"""Pod and node metadata from a local HTTP server speaking the Kubernetes API with the client's own models."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils import parse_quantity as reference_parse_quantity

from agent.attribution.kubeapi import KubeApi, parse_quantity
from agent.attribution.pods import PodWatcher, capacity_type
from tests.agent.fakes import KubeApiServer, KubeState, job, node, pod, replicaset

NODE = "ip-10-0-1-23.ec2.internal"
CID = "c0" * 32


def cluster():
    st_ = KubeState()
    st_.pods = [
        pod("web-7d9f-abcde", "shop", "uid-web", NODE, owner=("ReplicaSet", "web-7d9f"),
            labels={"team": "search", "pod-template-hash": "7d9f"},
            containers=[("app", {"cpu": "500m", "memory": "1Gi"}, {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"}),
                        ("sidecar", {"cpu": "50m"}, None)],
            container_ids={"app": f"containerd://{CID}"}),
        pod("nightly-29000-x", "batch", "uid-job", NODE, owner=("Job", "nightly-29000"),
            containers=[("train", None, {"nvidia.com/mig-1g.10gb": "1"})]),
        pod("db-0", "data", "uid-db", NODE, owner=("StatefulSet", "db"), containers=[("pg", {"cpu": "1"}, None)]),
        pod("bare", "default", "uid-bare", NODE, containers=[("c", None, None)]),
        pod("elsewhere", "default", "uid-other", "other-node", containers=[("c", None, None)]),
    ]
    st_.replicasets = [replicaset("web-7d9f", "shop", owner=("Deployment", "web"))]
    st_.jobs = [job("nightly-29000", "batch", owner=("CronJob", "nightly"))]
    st_.nodes = [node(NODE, {"node.kubernetes.io/instance-type": "p4d.24xlarge", "karpenter.sh/capacity-type": "spot",
                             "topology.kubernetes.io/zone": "us-east-1a", "topology.kubernetes.io/region": "us-east-1"},
                      {"cpu": "96", "memory": "1152Gi", "nvidia.com/gpu": "8"})]
    return st_


@pytest.fixture
def server():
    with KubeApiServer(cluster()) as srv:
        yield srv


def test_lists_only_this_nodes_pods_and_resolves_owner_chains(server):
    w = PodWatcher(KubeApi(server.url), NODE)
    w.sync()
    assert ("/api/v1/pods", {"fieldSelector": f"spec.nodeName={NODE}"}) in server.state.requests
    got = {p.name: (p.workload_kind, p.workload_name) for p in w.by_uid.values()}
    assert got == {"web-7d9f-abcde": ("Deployment", "web"), "nightly-29000-x": ("CronJob", "nightly"),
                   "db-0": ("StatefulSet", "db"), "bare": ("Pod", "bare")}
    assert w.lookup("uid-web").container_for(CID) == "app"


def test_pod_rows_carry_requests_limits_gpu_resources_and_labels(server):
    w = PodWatcher(KubeApi(server.url), NODE)
    w.sync()
    rows = {(r["pod"], r["container"]): r for r in w.take_pod_rows(1000)}
    app = rows[("web-7d9f-abcde", "app")]
    assert (app["cpu_request"], app["cpu_limit"], app["mem_request"], app["mem_limit"]) == (0.5, 2.0, 2**30, 2 * 2**30)
    assert (app["gpu_resource"], app["gpu_request"]) == ("nvidia.com/gpu", 1.0)
    assert json.loads(app["labels"])["team"] == "search"
    side = rows[("web-7d9f-abcde", "sidecar")]
    assert side["cpu_limit"] is None and side["mem_request"] is None and side["gpu_resource"] is None
    assert rows[("nightly-29000-x", "train")]["gpu_resource"] == "nvidia.com/mig-1g.10gb"
    assert w.take_pod_rows(2000) == []  # nothing changed, nothing new


def test_watch_adds_changes_and_deletes(server):
    w = PodWatcher(KubeApi(server.url), NODE)
    w.sync()
    w.take_pod_rows(0)
    gen = w.generation
    changed = pod("db-0", "data", "uid-db", NODE, owner=("StatefulSet", "db"), labels={"team": "dba"},
                  containers=[("pg", {"cpu": "1"}, None)], rv="101")
    new = pod("new", "default", "uid-new", NODE, containers=[("c", None, None)], rv="102")
    for ev in [("MODIFIED", changed), ("ADDED", new), ("DELETED", w_bare := cluster().pods[3]), None]:
        server.state.watch_events.put(ev)
    w.watch_once(timeout_s=5)
    assert "uid-new" in w.by_uid and "uid-bare" not in w.by_uid and w_bare.metadata.uid == "uid-bare"
    assert w.generation > gen
    rows = {r["pod"]: r for r in w.take_pod_rows(5)}
    assert set(rows) == {"db-0", "new"}  # the label change and the new pod
    assert json.loads(rows["db-0"]["labels"]) == {"team": "dba"}
    assert server.state.requests[-1][1]["resourceVersion"] == "100"


def test_watch_410_forces_a_relist(server):
    w = PodWatcher(KubeApi(server.url), NODE)
    w.sync()
    server.state.watch_events.put(("ERROR", {"kind": "Status", "code": 410, "message": "too old"}))
    with pytest.raises(Exception, match="too old"):
        w.watch_once(timeout_s=5)
    assert w.synced is False


def test_forbidden_replicaset_falls_back_to_pod_template_hash(server):
    server.state.forbidden.add("/apis/apps/v1/namespaces/shop/replicasets/web-7d9f")
    w = PodWatcher(KubeApi(server.url), NODE)
    w.sync()
    assert (w.lookup("uid-web").workload_kind, w.lookup("uid-web").workload_name) == ("Deployment", "web")


def test_node_row_from_labels_and_capacity(server):
    w = PodWatcher(KubeApi(server.url), NODE, gpu_info=lambda: (8, "NVIDIA A100-SXM4-40GB"))
    w.refresh_node()
    row = w.take_node_row(123)
    assert row["instance_type"] == "p4d.24xlarge" and row["capacity_type"] == "spot"
    assert (row["zone"], row["region"]) == ("us-east-1a", "us-east-1")
    assert (row["cpu_capacity"], row["mem_capacity"], row["gpu_count"]) == (96.0, 1152 * 2**30, 8)
    assert row["gpu_model"] == "NVIDIA A100-SXM4-40GB"
    w.refresh_node()
    assert w.take_node_row(124) is None  # unchanged node: no new row


def test_background_watch_survives_a_forbidden_node_and_sees_new_pods(server):
    import threading

    server.state.forbidden.add(f"/api/v1/nodes/{NODE}")
    w = PodWatcher(KubeApi(server.url), NODE)
    stop = threading.Event()
    t = threading.Thread(target=w.run, args=(stop,), daemon=True)
    server.state.watch_events.put(("ADDED", pod("late", "default", "uid-late", NODE, containers=[("c", None, None)])))
    t.start()
    for _ in range(200):  # wait for the event to be applied (a condition, bounded)
        if "uid-late" in w.by_uid:
            break
        stop.wait(0.05)
    stop.set()
    server.state.watch_events.put(None)  # end the stream so the thread can exit
    t.join(timeout=10)
    assert "uid-late" in w.by_uid and w.take_node_row(0) is None


@pytest.mark.parametrize("labels,want", [({"karpenter.sh/capacity-type": "on-demand"}, "on-demand"),
                                         ({"eks.amazonaws.com/capacityType": "SPOT"}, "spot"),
                                         ({"eks.amazonaws.com/capacityType": "ON_DEMAND"}, "on-demand"),
                                         ({}, None)])
def test_capacity_type_labels(labels, want):
    assert capacity_type(labels) == want


@given(st.integers(0, 10**6), st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "Ti"]))
def test_parse_quantity_matches_the_kubernetes_client(n, suffix):
    q = f"{n}{suffix}"
    assert parse_quantity(q) == pytest.approx(float(reference_parse_quantity(q)))


def test_kubeconfig_outside_a_cluster_sends_the_token(server, tmp_path, monkeypatch):
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server.url}"}}}}]
users: [{{name: u, user: {{token: sekret-token}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(cfg))
    api = KubeApi.from_environment()
    assert api.token == "sekret-token"
    assert api.get(f"/api/v1/nodes/{NODE}")["metadata"]["name"] == NODE


def test_unreachable_api_is_a_kube_error(tmp_path):
    from agent.attribution.kubeapi import KubeError

    with pytest.raises(KubeError) as exc:
        KubeApi("http://127.0.0.1:9", timeout_s=2).get("/api/v1/pods")
    assert exc.value.status is None
