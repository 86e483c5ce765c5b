"""Render the chart with the real helm binary and index the objects it produces.

Shared by the chart tests. ``VALUE_SETS`` are the non-default installs the chart must support; each is a
plain values mapping written to a file and passed with ``-f``, exactly as a user would.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.tools import REPO

CHART = REPO / "helm" / "rightsizer"
# Kubernetes versions the rendered objects must validate against (kubernetes-validate, strict):
# the oldest still supported upstream at the time of writing and a current one.
KUBE_VERSIONS = ("1.33.0", "1.35.0")
RELEASE = "rs"
NAMESPACE = "gpu-monitoring"

VALUE_SETS: dict[str, dict] = {
    "defaults": {},
    "s3-irsa": {
        "sink": {"type": "s3", "s3": {"uri": "s3://acme-finops/rightsizer", "region": "us-west-2"}},
        "serviceAccount": {"irsaRoleArn": "arn:aws:iam::123456789012:role/rightsizer",
                           "report": {"annotations": {
                               "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/rightsizer-report"}}},
        "report": {"region": "us-west-2", "notify": {"existingSecret": "slack-webhook", "secretKey": "url"},
                   "config": {"budgets": [{"team": "vision", "monthly_usd": 40000}]}},
        # Bottlerocket-style nodes: nvidia is the default runtime, the env var is ignored when unprivileged.
        "agent": {"runtimeClassName": "", "nvidiaDeviceListStrategy": "volume-mounts"},
    },
    "pvc-existing": {
        "sink": {"type": "pvc", "pvc": {"create": False, "existingClaim": "efs-rightsizer",
                                        "mountPath": "/data"}},
        # 1209600 (two weeks): helm turns large numbers into 1.2096e+06 unless the template casts them.
        "report": {"dated": False, "timeZone": "Europe/Berlin", "activeDeadlineSeconds": 1209600,
                   "notify": {"url": "https://hooks.example.com/T0/B0"}},
    },
    "servicemonitor": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "interval": "15s"},
        "agent": {"priorityClass": {"create": True}, "spool": {"type": "hostPath"}},
    },
    "attribution-off": {
        "agent": {"processAttribution": {"enabled": False}, "podResources": {"enabled": False},
                  "priorityClassName": "system-node-critical", "maxUnavailable": 2},
        "report": {"enabled": False},
    },
}


@dataclass
class Rendered:
    """The objects of one ``helm template`` run."""

    objects: list[dict]

    def all(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    def pod_specs(self) -> dict[str, dict]:
        """Pod specs by workload kind (DaemonSet, CronJob)."""
        specs = {}
        for obj in self.objects:
            if obj["kind"] == "DaemonSet":
                specs["DaemonSet"] = obj["spec"]["template"]["spec"]
            elif obj["kind"] == "CronJob":
                specs["CronJob"] = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return specs


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120, check=False)


def values_file(tmp_dir: Path, name: str, values: dict) -> Path:
    path = tmp_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def render(helm: str, tmp_dir: Path, values: dict, *extra: str, kube_version: str = KUBE_VERSIONS[-1]) -> Rendered:
    path = values_file(tmp_dir, "values", values)
    proc = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                    "--kube-version", kube_version, "-f", str(path), *extra)
    assert proc.returncode == 0, proc.stderr
    return Rendered([o for o in yaml.safe_load_all(proc.stdout) if o])


def container(spec: dict, name: str) -> dict:
    return next(c for c in spec["containers"] if c["name"] == name)


def env_map(c: dict) -> dict[str, dict]:
    return {e["name"]: e for e in c.get("env", [])}
