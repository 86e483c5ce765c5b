"""Least privilege: what the chart grants, to whom, and the one documented exception (agent runs as root)."""

from __future__ import annotations

import pytest

from tests.helm.chart import VALUE_SETS, container

READ_VERBS = {"get", "list", "watch"}
# The resources the agent reads (test_rbac_code.py checks the verbs against its code).
WATCHED = {("", "pods"), ("", "nodes"), ("apps", "replicasets"), ("batch", "jobs")}
# The report job's listing of autoscalers (report.autoscalers.enabled).
LISTED = {("autoscaling", "horizontalpodautoscalers"), ("keda.sh", "scaledobjects")}


def all_containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


@pytest.mark.tools
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_no_container_is_privileged_or_keeps_a_capability(rendered, name):
    specs = rendered[name].pod_specs()
    assert specs
    for kind, spec in specs.items():
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("seccompProfile") == {"type": "RuntimeDefault"}, kind
        assert not spec.get("hostNetwork") and not spec.get("hostIPC"), kind
        for c in all_containers(spec):
            sc = c["securityContext"]
            assert sc.get("privileged") is False, (kind, c["name"])
            assert sc.get("allowPrivilegeEscalation") is False, (kind, c["name"])
            assert sc.get("readOnlyRootFilesystem") is True, (kind, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (kind, c["name"])
            assert not sc["capabilities"].get("add"), (kind, c["name"])


@pytest.mark.tools
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_host_path_is_mounted_read_only_except_the_spool(rendered, name):
    specs = rendered[name].pod_specs()
    for kind, spec in specs.items():
        host_volumes = {v["name"]: v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v}
        for c in all_containers(spec):
            for m in c.get("volumeMounts", []):
                if m["name"] in host_volumes and m["name"] != "spool":
                    assert m.get("readOnly") is True, (kind, m)
        if kind == "CronJob":
            assert not host_volumes, "the report job must not touch the host"


@pytest.mark.tools
def test_only_the_agent_runs_as_root_and_the_report_job_does_not(rendered):
    specs = rendered["defaults"].pod_specs()
    agent = container(specs["DaemonSet"], "agent")["securityContext"]
    assert agent["runAsUser"] == 0 and agent["runAsNonRoot"] is False
    report_pod = specs["CronJob"]["securityContext"]
    assert report_pod["runAsNonRoot"] is True
    assert report_pod["runAsUser"] == report_pod["runAsGroup"] == 10001
    assert "runAsUser" not in container(specs["CronJob"], "report")["securityContext"]


@pytest.mark.tools
def test_report_token_is_mounted_only_for_cloud_credentials_or_the_autoscaler_listing(rendered, helm, tmp_path):
    """IRSA / EKS Pod Identity need the projected token, and so does the listing of autoscalers; with a
    PVC sink and no listing the job gets none, and its account is bound to nothing."""
    from tests.helm.chart import render

    s3_spec = rendered["s3-irsa"].pod_specs()["CronJob"]
    assert s3_spec["automountServiceAccountToken"] is True
    assert rendered["pvc-existing"].pod_specs()["CronJob"]["automountServiceAccountToken"] is True  # the listing
    quiet = render(helm, tmp_path, {"report": {"autoscalers": {"enabled": False}}})
    assert quiet.pod_specs()["CronJob"]["automountServiceAccountToken"] is False
    report_sa = quiet.pod_specs()["CronJob"]["serviceAccountName"]
    for binding in quiet.all("ClusterRoleBinding") + quiet.all("RoleBinding"):
        assert report_sa not in {s["name"] for s in binding["subjects"]}
    assert {r["metadata"]["labels"]["app.kubernetes.io/component"] for r in quiet.all("ClusterRole")} == {"agent"}


@pytest.mark.tools
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_rbac_is_read_only_on_exactly_the_workload_resources(rendered, name):
    r = rendered[name]
    assert not r.all("Role") and not r.all("RoleBinding")
    roles = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in r.all("ClusterRole")}
    bindings = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in r.all("ClusterRoleBinding")}
    assert set(roles) == set(bindings)
    accounts = {"agent": r.one("DaemonSet")["spec"]["template"]["spec"]["serviceAccountName"]}
    if "CronJob" in r.pod_specs():
        accounts["report"] = r.pod_specs()["CronJob"]["serviceAccountName"]
    for component, role in roles.items():
        granted = set()
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= READ_VERBS, rule
            assert "*" not in rule["apiGroups"] and "*" not in rule["resources"], rule
            assert not rule.get("nonResourceURLs") and not rule.get("resourceNames"), rule
            granted |= {(g, res) for g in rule["apiGroups"] for res in rule["resources"]}
        # no secrets, no nodes/proxy, no subresources; the report job only lists autoscalers
        assert granted == {"agent": WATCHED, "report": LISTED}[component]
        binding = bindings[component]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                      "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": accounts[component],
                                        "namespace": r.one("DaemonSet")["metadata"]["namespace"]}]


@pytest.mark.tools
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_no_pod_requests_a_gpu(rendered, name):
    """The agent sees GPUs through the NVIDIA runtime; requesting one would take it from the workloads."""
    for kind, spec in rendered[name].pod_specs().items():
        for c in all_containers(spec):
            for section in ("requests", "limits"):
                names = set(c.get("resources", {}).get(section, {}))
                assert not {n for n in names if n.startswith("nvidia.com/")}, (kind, names)
