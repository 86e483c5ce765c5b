"""Sink wiring: the agent and the report job read the dataset root from one ConfigMap; S3 (IRSA) or a PVC."""

from __future__ import annotations

import pytest
import yaml

from tests.helm.chart import VALUE_SETS, container, env_map


def sink_ref(c: dict) -> dict:
    return env_map(c)["RIGHTSIZER_SINK"]["valueFrom"]["configMapKeyRef"]


def pods(r) -> dict[str, dict]:
    specs = r.pod_specs()
    names = {"DaemonSet": "agent", "CronJob": "report"}
    return {kind: (spec, container(spec, names[kind])) for kind, spec in specs.items()}


@pytest.mark.tools
@pytest.mark.parametrize("name", ["defaults", "s3-irsa", "pvc-existing", "servicemonitor"])
def test_agent_and_report_read_the_same_sink_from_one_configmap(rendered, name):
    r = rendered[name]
    cm = r.one("ConfigMap")
    refs = {kind: sink_ref(c) for kind, (_, c) in pods(r).items()}
    assert set(refs) == {"DaemonSet", "CronJob"}
    for ref in refs.values():
        assert ref == {"name": cm["metadata"]["name"], "key": "sink"}
    _, agent = pods(r)["DaemonSet"]
    assert "--sink=$(RIGHTSIZER_SINK)" in agent["args"]


@pytest.mark.tools
def test_s3_sink_with_irsa(rendered):
    r = rendered["s3-irsa"]
    assert r.one("ConfigMap")["data"]["sink"] == "s3://acme-finops/rightsizer"
    assert not r.all("PersistentVolumeClaim")
    accounts = r.all("ServiceAccount")
    assert len(accounts) == 2
    roles = {sa["metadata"]["name"]: sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] for sa in accounts}
    # irsaRoleArn for both, except where an account's own annotation names another role.
    assert roles == {"rs-rightsizer-agent": "arn:aws:iam::123456789012:role/rightsizer",
                     "rs-rightsizer-report": "arn:aws:iam::123456789012:role/rightsizer-report"}
    used = {spec["serviceAccountName"] for spec, _ in pods(r).values()}
    assert used == {sa["metadata"]["name"] for sa in accounts}
    for spec, c in pods(r).values():
        assert not any("persistentVolumeClaim" in v for v in spec["volumes"])
        assert env_map(c)["AWS_REGION"]["valueFrom"]["configMapKeyRef"]["key"] == "aws-region"
    assert r.one("ConfigMap")["data"]["aws-region"] == "us-west-2"
    # No IRSA annotation unless asked for.
    for sa in rendered["defaults"].all("ServiceAccount"):
        assert "eks.amazonaws.com/role-arn" not in sa["metadata"].get("annotations", {})


@pytest.mark.tools
def test_pvc_sink_created_and_mounted_in_both_workloads(rendered):
    r = rendered["defaults"]
    pvc = r.one("PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert r.one("ConfigMap")["data"]["sink"] == "/var/lib/rightsizer/data"
    for spec, c in pods(r).values():
        claim = next(v for v in spec["volumes"] if "persistentVolumeClaim" in v)
        assert claim["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        mount = next(m for m in c["volumeMounts"] if m["name"] == claim["name"])
        assert mount["mountPath"] == "/var/lib/rightsizer/data"
        # The report job writes only under reports/ (a second, writable mount: test_least_privilege.py).
        reports = next(m for m in c["volumeMounts"] if m["name"] == claim["name"] and m.get("subPath") == "reports")
        assert reports["mountPath"] == "/var/lib/rightsizer/data/reports"


@pytest.mark.tools
def test_existing_claim_is_used_and_none_is_created(rendered):
    r = rendered["pvc-existing"]
    assert not r.all("PersistentVolumeClaim")
    assert r.one("ConfigMap")["data"]["sink"] == "/data"
    for spec, c in pods(r).values():
        claim = next(v for v in spec["volumes"] if "persistentVolumeClaim" in v)
        assert claim["persistentVolumeClaim"]["claimName"] == "efs-rightsizer"
        assert any(m["mountPath"] == "/data" for m in c["volumeMounts"])


@pytest.mark.tools
def test_configmap_carries_the_recommender_config_verbatim(rendered):
    config = yaml.safe_load(rendered["s3-irsa"].one("ConfigMap")["data"]["config.yaml"])
    assert config == VALUE_SETS["s3-irsa"]["report"]["config"]
    assert yaml.safe_load(rendered["defaults"].one("ConfigMap")["data"]["config.yaml"]) == {}
