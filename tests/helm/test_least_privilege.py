"""Secrets and write access in the rendered chart (issue 19, item 5): the webhook URL never reaches a command
line, and with a PVC sink the report job writes only reports/ (and the autoscalers table it lists into) while
agents cannot write the reports."""

from __future__ import annotations

import json

import pytest

from tests.helm.chart import VALUE_SETS
from tests.helm.test_security import all_containers

URLS = ("https://hooks.example.com/T0/B0",)


@pytest.mark.tools
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_no_webhook_url_in_any_container_command_or_args(rendered, name):
    for kind, spec in rendered[name].pod_specs().items():
        for c in all_containers(spec):
            argv = json.dumps([*c.get("command", []), *c.get("args", [])])
            assert "--notify" not in argv and "NOTIFY" not in argv, (kind, c["name"])
            assert not any(u in argv for u in URLS) and "hooks." not in argv, (kind, c["name"])
            for env in c.get("env", []):
                if "NOTIFY" in env["name"]:
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env  # from a Secret only


@pytest.mark.tools
@pytest.mark.parametrize("name", [n for n, v in VALUE_SETS.items() if v.get("sink", {}).get("type", "pvc") == "pvc"])
def test_pvc_report_job_writes_only_reports_and_agents_cannot(rendered, name):
    r = rendered[name]
    root = (VALUE_SETS[name].get("sink", {}).get("pvc", {}).get("mountPath") or "/var/lib/rightsizer/data")
    specs = r.pod_specs()
    if "CronJob" in specs:
        (report,) = specs["CronJob"]["containers"]
        data = [m for m in report["volumeMounts"] if m["name"] == "data"]
        assert sorted((m["mountPath"], m.get("subPath"), m.get("readOnly", False)) for m in data) == [
            (root, None, True), (f"{root}/autoscalers", "autoscalers", False), (f"{root}/reports", "reports", False)]
    agent = next(c for c in specs["DaemonSet"]["containers"] if c["name"] == "agent")
    data = [m for m in agent["volumeMounts"] if m["name"] == "data"]
    assert sorted((m["mountPath"], m.get("subPath"), m.get("readOnly", False)) for m in data) == [
        (root, None, False), (f"{root}/reports", "reports", True)]
