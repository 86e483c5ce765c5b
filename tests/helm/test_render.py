"""The chart lints, renders, and every object it renders is valid Kubernetes for current versions."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.helm.chart import (
    CHART,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    VALUE_SETS,
    render,
    run_helm,
    values_file,
)

CRD_KINDS = {"ServiceMonitor"}  # validated structurally in test_servicemonitor_selects_the_agent_service
STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                   "app.kubernetes.io/managed-by", "helm.sh/chart")


@pytest.mark.tools
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_helm_lint_strict(helm, tmp_path, name):
    path = values_file(tmp_path, name, VALUE_SETS[name])
    proc = run_helm(helm, "lint", "--strict", str(CHART), "-f", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.tools
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_object_validates_strictly(helm, tmp_path, name, kube_version):
    objects = render(helm, tmp_path, VALUE_SETS[name], kube_version=kube_version).objects
    assert objects
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(obj, kube_version, strict=True)  # raises ValidationError


@pytest.mark.tools
def test_the_validator_is_strict(rendered):
    """Guards the test above: an unknown field in a pod spec must be rejected, not ignored."""
    ds = copy.deepcopy(rendered["defaults"].one("DaemonSet"))
    ds["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, KUBE_VERSIONS[-1], strict=True)


@pytest.mark.tools
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_object_has_the_standard_labels_and_namespace(rendered, name):
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "PriorityClass"}
    for obj in rendered[name].objects:
        labels = obj["metadata"]["labels"]
        for key in STANDARD_LABELS:
            assert labels.get(key), f"{obj['kind']} {obj['metadata']['name']} lacks label {key}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in obj["metadata"]
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE


@pytest.mark.tools
def test_default_install_renders_the_expected_objects(rendered):
    kinds = sorted(o["kind"] for o in rendered["defaults"].objects)
    assert kinds == sorted(["ServiceAccount", "ServiceAccount", "ConfigMap", "PersistentVolumeClaim",
                            "ClusterRole", "ClusterRoleBinding", "Service", "DaemonSet", "CronJob",
                            "ClusterRole", "ClusterRoleBinding"])  # the report job's: it lists autoscalers


@pytest.mark.tools
def test_servicemonitor_selects_the_agent_service(rendered):
    """ServiceMonitor is a CRD kubernetes-validate has no schema for: check it against what it must scrape."""
    r = rendered["servicemonitor"]
    sm, svc, ds = r.one("ServiceMonitor"), r.one("Service"), r.one("DaemonSet")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(sm) == {"apiVersion", "kind", "metadata", "spec"}
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = sm["spec"]["selector"]["matchLabels"]
    assert selector.items() <= svc["metadata"]["labels"].items(), "ServiceMonitor does not select the Service"
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    port_names = {p["name"] for p in svc["spec"]["ports"]}
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"
    # The Service in turn selects the agent pods, on the agent's metrics port.
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    agent_ports = {p["name"]: p["containerPort"] for p in ds["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert svc["spec"]["ports"][0]["targetPort"] in agent_ports
    assert svc["spec"]["ports"][0]["port"] == agent_ports["metrics"] == 9402
    assert "ServiceMonitor" not in {o["kind"] for o in rendered["defaults"].objects}


@pytest.mark.tools
def test_servicemonitor_without_service_fails_with_a_message(helm, tmp_path):
    path = values_file(tmp_path, "bad", {"serviceMonitor": {"enabled": True}, "service": {"enabled": False}})
    proc = run_helm(helm, "template", RELEASE, str(CHART), "-f", str(path))
    assert proc.returncode != 0
    assert "service.enabled" in proc.stderr


@pytest.mark.tools
@pytest.mark.parametrize(("values", "expect"), [
    ({}, ["/var/lib/rightsizer/data/reports/<YYYY-MM-DD>/", "logs daemonset/rs-rightsizer-agent",
          "port-forward daemonset/rs-rightsizer-agent 9402:9402", "/metrics", "PVC rs-rightsizer-data"]),
    (VALUE_SETS["s3-irsa"], ["s3://acme-finops/rightsizer/reports/<YYYY-MM-DD>/",
                             "aws s3 sync s3://acme-finops/rightsizer/reports/", "webhook"]),
    (VALUE_SETS["attribution-off"], ["Per-process attribution is OFF", "weekly report is disabled"]),
])
def test_notes_say_where_the_report_lands_and_how_to_check_agents(helm, tmp_path, values, expect):
    path = values_file(tmp_path, "values", values)
    proc = run_helm(helm, "install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE,
                    "-f", str(path))
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    for text in expect:
        assert text in notes, text
