"""docs/deploy.md and deploy/systemd stay true: their examples install, and grant no more than they say."""

from __future__ import annotations

import json
import re
import shlex

import kubernetes_validate
import pytest
import yaml

from tests.helm.chart import CHART, KUBE_VERSIONS, render, run_helm, values_file
from tests.helm.test_agent import AGENT_FLAGS
from tests.tools import REPO

DOC = REPO / "docs" / "deploy.md"
UNIT = REPO / "deploy" / "systemd" / "rightsizer-agent.service"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def values_examples() -> dict[str, dict]:
    out = {}
    for block in blocks("yaml"):
        first = block.splitlines()[0]
        if first.startswith("# values: "):
            out[first.removeprefix("# values: ").strip()] = yaml.safe_load(block)
    return out


def test_docs_have_the_three_install_paths():
    text = DOC.read_text()
    for heading in ("## 1. EKS with Karpenter", "## 2. A cluster with the NVIDIA GPU Operator",
                    "## 3. Without Kubernetes"):
        assert heading in text
    assert set(values_examples()) == {"eks-karpenter", "gpu-operator"}


@pytest.mark.tools
@pytest.mark.parametrize("name", ["eks-karpenter", "gpu-operator"])
def test_documented_values_install_and_validate(helm, tmp_path, name):
    r = render(helm, tmp_path, values_examples()[name])
    for obj in r.objects:
        if obj["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)
    assert r.one("DaemonSet")


def _statements(policy: dict) -> list[tuple[set[str], list[str], dict]]:
    out = []
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert not any("*" in a for a in acts), acts
        res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        out.append((set(acts), res, st.get("Condition", {})))
    return out


def test_iam_policies_split_the_writes_agents_samples_report_reports():
    from store.schema import TABLES

    policies = [json.loads(b) for b in blocks("json")]
    s3 = [p for p in policies if any("s3:" in json.dumps(st["Action"]) for st in p["Statement"])]
    agent, report = s3
    # The agent: PutObject on the sample tables only (it never lists, reads or deletes).
    ((acts, res, _),) = _statements(agent)
    assert acts == {"s3:PutObject"}
    assert {r.removeprefix("arn:aws:s3:::acme-finops/rightsizer/").removesuffix("/*") for r in res} >= set(TABLES)
    assert not any("reports" in r for r in res) and all(r.endswith("/*") for r in res)
    # The report job: list the prefix, read the dataset, write and delete only under reports/, and add
    # segments (never delete) to the autoscalers table it lists into.
    granted = {}
    for acts, res, cond in _statements(report):
        for a in acts:
            granted.setdefault(a, []).extend(res)
        if acts == {"s3:ListBucket"}:
            assert cond["StringLike"]["s3:prefix"] == ["rightsizer", "rightsizer/*"]
    assert granted["s3:GetObject"] == ["arn:aws:s3:::acme-finops/rightsizer/*"]
    assert granted["s3:DeleteObject"] == ["arn:aws:s3:::acme-finops/rightsizer/reports/*"]
    assert sorted(granted["s3:PutObject"]) == ["arn:aws:s3:::acme-finops/rightsizer/autoscalers/*",
                                               "arn:aws:s3:::acme-finops/rightsizer/reports/*"]
    assert set(granted) == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    trust = next(p for p in policies if p["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity")
    subjects = next(v for k, v in trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub"))
    assert subjects == "system:serviceaccount:rightsizer:rightsizer-agent"  # one account per role
    assert "system:serviceaccount:rightsizer:rightsizer-report" in DOC.read_text()


@pytest.mark.tools
def test_trust_policy_names_the_service_accounts_the_chart_creates(helm, tmp_path):
    path = values_file(tmp_path, "eks", values_examples()["eks-karpenter"])
    proc = run_helm(helm, "template", "rightsizer", str(CHART), "--namespace", "rightsizer", "-f", str(path))
    assert proc.returncode == 0, proc.stderr
    accounts = {f"system:serviceaccount:{o['metadata']['namespace']}:{o['metadata']['name']}"
                for o in yaml.safe_load_all(proc.stdout) if o and o["kind"] == "ServiceAccount"}
    assert accounts == {"system:serviceaccount:rightsizer:rightsizer-agent",
                        "system:serviceaccount:rightsizer:rightsizer-report"}


def test_systemd_unit_runs_the_agent_without_kubernetes_and_without_privileges():
    lines = [line.strip() for line in UNIT.read_text().splitlines() if line.strip() and not line.startswith("#")]
    settings: dict[str, str] = {}
    for line in lines:
        if "=" in line and not line.startswith("["):
            key, _, value = line.partition("=")
            settings[key] = value
    argv = shlex.split(settings["ExecStart"])
    assert argv[0].endswith("/rightsizer-agent")
    used = {a for a in argv[1:] if a.startswith("--")}
    assert "--no-kubernetes" in used
    assert used <= AGENT_FLAGS, used - AGENT_FLAGS
    assert settings["DynamicUser"] == "yes" and settings["NoNewPrivileges"] == "yes"
    assert settings["CapabilityBoundingSet"] == ""
    assert settings["ProtectSystem"] == "strict"
    assert "PrivateDevices" not in settings  # the agent needs /dev/nvidia*
    assert settings["EnvironmentFile"] == "/etc/rightsizer/agent.env"
    env = (REPO / "deploy" / "systemd" / "agent.env").read_text()
    assert re.search(r"^RIGHTSIZER_SINK=\S+", env, flags=re.M)
