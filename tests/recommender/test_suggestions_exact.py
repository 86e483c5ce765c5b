"""Every suggestion, applied with the real ``kubectl kustomize`` to the simulator's original manifests,
gives objects that carry exactly the ``proposed`` values and differ from the original nowhere else.

The expected object is built here from the original manifest and ``proposed`` alone, by the rules the
docs state (docs/suggestions.md): requests rounded up to 10 millicores and 1 MiB, a limit below the new
request raised to it, a GPU resource swapped for the MIG or shared one in limits and (where the GPU was
requested) requests, a GPU count set, a single instance type pinned, spot preferred with on-demand
allowed. Two runs: the optimizer's own recommendations on a simulated week-end, and hand-made merged
proposals (a MIG slice with requests, a GPU count cut, a share, spot on several instance types) on the
workloads the first run leaves alone."""

from __future__ import annotations

import copy
import json
import math
import subprocess
from datetime import UTC, datetime

import kubernetes_validate
import pytest
import yaml

from recommender.suggestions import write_suggestions
from store.reader import Dataset
from tests.recommender.fakes import make_recommendation
from tests.tools import kustomize_with_suggestions, require_tool

START = datetime(2026, 1, 5, tzinfo=UTC)
CAPACITY = "karpenter.sh/capacity-type"
INSTANCE = "node.kubernetes.io/instance-type"
GIB = 2**30


@pytest.fixture(scope="module")
def sim(tmp_path_factory, catalog):
    from optimizer.config import OptimizerConfig, SolverConfig
    from optimizer.profiles import compute_profiles_many
    from optimizer.recommend import build_recommendations
    from simulator import simulate

    root = tmp_path_factory.mktemp("exact") / "data"
    simulate(str(root), nodes=20, days=3, interval_s=300, seed=1, start=START, workers=2)
    data = Dataset(str(root))
    both = compute_profiles_many(data, entities=("workload", "container"))
    cfg = OptimizerConfig(solver=SolverConfig(num_workers=1, seed=0, stage1_time_s=5))
    result = build_recommendations(data, both["workload"], catalog, cfg, container_profiles=both["container"])
    return root, result, result.inventory  # the observed cluster the result was decided on


def _kustomize(root, recs, inventory, out):
    written = write_suggestions(recs, out, inventory=inventory, manifests_dir=root / "manifests")
    manifests = root / "manifests"
    docs = {(d["metadata"].get("namespace"), d["kind"], d["metadata"]["name"]): d
            for d in kustomize_with_suggestions(out / "overlay", sorted(manifests.rglob("*.yaml")),
                                                out / "suggestions")}
    originals = {}
    for p in manifests.rglob("*.yaml"):
        d = yaml.safe_load(p.read_text())
        originals[(d["metadata"]["namespace"], d["kind"], d["metadata"]["name"])] = d
    return written, docs, originals


# -- the expected object, from the original and `proposed` ------------------------------------------------
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3}


def _number(q) -> float:
    text = str(q)
    for s, f in _SUFFIX.items():
        if text.endswith(s):
            return float(text[: -len(s)]) * f
    return float(text)


def _pod(obj):
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]["spec"]


def _is_gpu(key: str) -> bool:
    return key.startswith("nvidia.com/")


def _normalized(obj):
    """Quantities as numbers (kustomize keeps them as written; 1, "1" and "1000m" are the same)."""
    obj = copy.deepcopy(obj)
    for c in _pod(obj)["containers"]:
        for part in ("requests", "limits"):
            values = (c.get("resources") or {}).get(part)
            if values:
                c["resources"][part] = {k: round(_number(v), 6) for k, v in values.items()}
    return obj


def _expected(original: dict, rec: dict) -> dict:
    exp = _normalized(original)
    prop, cur = rec["proposed"], rec["current"]
    pod = _pod(exp)
    by_name = {c["name"]: c for c in pod["containers"]}
    for name, want in (prop.get("containers") or {}).items():
        res = by_name[name]["resources"]
        for key, resource, step in (("cpu_request", "cpu", 0.01), ("mem_request", "memory", 2**20)):
            if want.get(key) is None:
                continue
            value = round(math.ceil(want[key] / step - 1e-9) * step, 6)
            res["requests"][resource] = value
            if resource in res.get("limits", {}) and res["limits"][resource] < value:
                res["limits"][resource] = value
    gpu = next((c for c in pod["containers"] if any(_is_gpu(k) for k in c["resources"].get("limits", {}))), None)
    new = None
    if prop.get("mig_profile"):
        new, n = f"nvidia.com/mig-{prop['mig_profile']}", prop.get("gpu_count") or 1
    elif prop.get("gpu_fraction") is not None and prop["gpu_fraction"] < 1:
        new, n = "nvidia.com/gpu.shared", 1
    if gpu is not None and (new or prop.get("gpu_count") == 0):
        for part in ("limits", "requests"):
            had = [k for k in gpu["resources"].get(part, {}) if _is_gpu(k)]
            for k in had:
                del gpu["resources"][part][k]
            if new and had:
                gpu["resources"][part][new] = n
    elif gpu is not None and prop.get("gpu_count") and prop["gpu_count"] != cur.get("gpu_count"):
        for part in ("limits", "requests"):
            for k in [k for k in gpu["resources"].get(part, {}) if _is_gpu(k)]:
                gpu["resources"][part][k] = prop["gpu_count"]
    it = prop.get("instance_type")
    if isinstance(it, str) and "," not in it and it != cur.get("instance_type"):
        pod["nodeSelector"][INSTANCE] = it
    if prop.get("capacity_type") == "spot" and cur.get("capacity_type") != "spot":
        pod["nodeSelector"].pop(CAPACITY, None)
        if "," in str(prop.get("instance_type") or ""):
            pod["nodeSelector"].pop(INSTANCE, None)
    if not pod.get("nodeSelector"):
        pod.pop("nodeSelector", None)
    if rec["action"] == "set-replicas" and rec["details"]["replicas_via"]["kind"] == original["kind"]:
        exp["spec"]["replicas"] = prop["min_replicas"]  # a fixed count (an autoscaler's minimum is its own object)
    return exp


def _check_spot(obj, original, rec):
    """Spot preferred, on-demand allowed, every original toleration kept plus the spot one."""
    pod = _pod(obj)
    node = pod["affinity"]["nodeAffinity"]
    assert any(e["key"] == CAPACITY and e["values"] == ["spot"]
               for p in node["preferredDuringSchedulingIgnoredDuringExecution"]
               for e in p["preference"]["matchExpressions"])
    for term in node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]:
        for e in term["matchExpressions"]:
            if e["key"] == CAPACITY:
                assert "on-demand" in e["values"] and "spot" in e["values"]
            if e["key"] == INSTANCE:
                assert sorted(e["values"]) == sorted(t.strip() for t in rec["proposed"]["instance_type"].split(","))
    assert CAPACITY not in pod.get("nodeSelector", {})
    tolerations = pod["tolerations"]
    assert all(t in tolerations for t in _pod(original).get("tolerations", []))
    assert {"key": CAPACITY, "operator": "Equal", "value": "spot", "effect": "NoSchedule"} in tolerations


def _assert_exact(recs, docs, originals):
    checked = 0
    version = kubernetes_validate.latest_version()
    for rec in recs:
        w = rec["workload"]
        key = (w["namespace"], w["kind"], w["name"])
        if key not in originals:
            continue  # nodes and the cluster: no workload object
        obj, original = docs[key], originals[key]
        kubernetes_validate.validate(obj, version, strict=True)
        got = _normalized(obj)
        if rec["proposed"].get("capacity_type") == "spot":
            _check_spot(obj, original, rec)
            _pod(got).pop("affinity")
            _pod(got)["tolerations"] = _pod(original).get("tolerations")
            if not _pod(got)["tolerations"]:
                _pod(got).pop("tolerations")
        if rec["proposed"].get("min_replicas") == 0:
            kind = "HTTPScaledObject" if rec["details"]["trigger"] == "http" else "ScaledObject"
            so = docs[(w["namespace"], kind, w["name"])]
            assert (so["spec"]["replicas"]["min"] if kind == "HTTPScaledObject" else so["spec"]["minReplicaCount"]) == 0
            so["spec"]["scaleTargetRef"] = {k: v for k, v in so["spec"]["scaleTargetRef"].items()
                                            if k not in ("service", "port")}
            assert so["spec"]["scaleTargetRef"] == {"apiVersion": original["apiVersion"], "kind": w["kind"],
                                                    "name": w["name"]}
        assert got == _expected(original, rec), rec["id"]
        checked += 1
    return checked


def test_the_optimizers_recommendations_patch_exactly_what_they_propose(sim, tmp_path):
    root, result, inventory = sim
    recs = result.recommendations
    written, docs, originals = _kustomize(root, recs, inventory, tmp_path)
    # use-managed-api is an application change: no patch, and it says so (no suggestion file)
    managed = [r for r in recs if r.action == "use-managed-api"]
    assert managed and not set(written) & {r.id for r in managed}
    workload_recs = [r for r in recs if r.kind not in ("Node", "Cluster") and r.action != "use-managed-api"]
    assert {r.id for r in workload_recs} == set(written)  # every workload proposal has its files
    actions = {r.action for r in workload_recs}
    assert {"use-mig-slice", "use-spot", "reclaim-idle-gpu", "rightsize-requests", "scale-to-zero"} <= actions
    # the managed-API workload's object is checked too: unchanged by the kustomization. The expected objects
    # are built from the contract's form of each recommendation (recommendations.json)
    contract = [r.to_json_dict() for r in recs]
    assert _assert_exact(contract, docs, originals) == len(workload_recs) + len(managed)


def _rec(i, ns, kind, name, action, current, proposed):
    return make_recommendation(id=f"x{i:02d}", namespace=ns, kind=kind, name=name, action=action, current=current,
                               proposed=proposed, monthly_cost_current=50.0, risk="medium",
                               rationale="hand-made merged proposal")


MERGED = [
    # a MIG slice with the requests the rationale prices ("also CPU 2 -> 1.75 cores")
    _rec(1, "assistant", "Deployment", "chat-api", "use-mig-slice",
         {"gpu_count": 1, "mig_profile": None, "cpu_request": 2.0, "mem_request": 8 * GIB},
         {"gpu_count": 1, "mig_profile": "3g.40gb", "cpu_request": 1.75, "mem_request": 5 * GIB,
          "containers": {"vllm": {"cpu_request": 1.75, "mem_request": 5 * GIB}}}),
    # another instance type, same market
    _rec(2, "assistant", "Deployment", "summarize-70b", "change-instance-type",
         {"instance_type": "p4de.24xlarge", "capacity_type": "on-demand", "gpu_count": 1},
         {"instance_type": "g6e.xlarge", "capacity_type": "on-demand", "gpu_count": 1}),
    _rec(3, "vision", "Deployment", "ocr-api", "share-gpu", {"gpu_count": 1, "gpu_fraction": 1.0},
         {"gpu_count": 1, "gpu_fraction": 0.5}),
    # spot on several instance types of one GPU model, with a cheaper type
    _rec(4, "assistant", "Deployment", "code-assist-13b", "change-instance-type",
         {"instance_type": "g6e.12xlarge", "capacity_type": "on-demand"},
         {"instance_type": "g6e.xlarge, g6e.2xlarge", "capacity_type": "spot"}),
    # fewer GPUs and smaller requests for a Job's next run
    _rec(5, "research", "Job", "llm-pretrain", "rightsize-requests", {"gpu_count": 8},
         {"gpu_count": 4, "containers": {"trainer": {"cpu_request": 12.0, "mem_request": 100 * GIB}}}),
    # a pod-level request only: spread over the containers by their current requests
    _rec(6, "data-platform", "Deployment", "event-consumer", "rightsize-requests", {"cpu_request": 2.0},
         {"cpu_request": 0.5}),
]


def test_merged_proposals_patch_every_field_they_are_priced_with(sim, tmp_path):
    root, _, inventory = sim
    written, docs, originals = _kustomize(root, MERGED, inventory, tmp_path)
    assert set(written) == {r.id for r in MERGED}
    recs = copy.deepcopy([r.to_json_dict() for r in MERGED])
    # the pod-level cut: the test spreads it the way docs/suggestions.md says (by current requests)
    ec = next(r for r in recs if r["id"] == "x06")
    names = {c["name"]: _number(c["resources"]["requests"]["cpu"])
             for c in _pod(originals[("data-platform", "Deployment", "event-consumer")])["containers"]}
    ec["proposed"]["containers"] = {n: {"cpu_request": 0.5 * v / sum(names.values())} for n, v in names.items()}
    assert _assert_exact(recs, docs, originals) == len(MERGED)
    chat = _pod(docs[("assistant", "Deployment", "chat-api")])["containers"][0]["resources"]
    assert not any(k == "nvidia.com/gpu" for part in chat.values() for k in part)  # no whole GPU left
    header = (tmp_path / written["x05"]).read_text()
    assert "cannot be changed once created" in header  # a plain Job: for its next run


def test_json_patch_applies_to_a_live_shaped_object_and_refuses_another_container_order(sim, tmp_path):
    """``kubectl patch --type=json`` (what a live object gets) removes the whole GPU; on an object whose
    containers are ordered differently the name test stops it."""
    kubectl = require_tool("kubectl")
    root, _, inventory = sim
    written, _, originals = _kustomize(root, MERGED[:1], inventory, tmp_path)
    ops_file = tmp_path / "suggestions" / "assistant-deployment-chat-api-use-mig-slice.json-patch.yaml"
    assert ops_file.exists()
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump(originals[("assistant", "Deployment", "chat-api")]))
    out = subprocess.run([kubectl, "patch", "--local", "-f", str(live), "--type=json", "--patch-file", str(ops_file),
                          "-o", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert "nvidia.com/gpu" not in res["limits"] and _number(res["limits"]["nvidia.com/mig-3g.40gb"]) == 1
    reordered = copy.deepcopy(originals[("assistant", "Deployment", "chat-api")])
    reordered["spec"]["template"]["spec"]["containers"].insert(0, {"name": "proxy", "image": "envoy:1"})
    live.write_text(yaml.safe_dump(reordered))
    out = subprocess.run([kubectl, "patch", "--local", "-f", str(live), "--type=json", "--patch-file", str(ops_file),
                          "-o", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
