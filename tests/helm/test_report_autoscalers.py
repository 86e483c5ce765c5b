"""The report CronJob lists the cluster's autoscalers before recommending (``report.autoscalers``): the flag
it runs with, where the listing is written, and that turning it off takes the API access away again."""

from __future__ import annotations

import pytest

from tests.helm.chart import render
from tests.helm.test_report_job import report_of, run_script
from tests.helm.test_report_prometheus import VALUES as PROMETHEUS

pytestmark = pytest.mark.tools


def _argv(helm, tmp_path, values, sink="/var/lib/rightsizer/data"):
    (tmp_path / "render").mkdir()
    r = render(helm, tmp_path / "render", values)
    _, spec, c = report_of(r)
    return r, spec, c, run_script(c, tmp_path, {"RIGHTSIZER_SINK": sink})


def test_default_job_lists_autoscalers_into_the_dataset_it_recommends_on(helm, tmp_path):
    r, spec, c, argv = _argv(helm, tmp_path, {})
    assert argv[0] == "recommend" and "--list-autoscalers" in argv
    assert argv[argv.index("--data") + 1] == "/var/lib/rightsizer/data"
    from recommender.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.list_autoscalers and args.kubeconfig is None  # in the pod: the service account
    # PVC sink: the dataset stays read-only, its autoscalers table folder is writable (same volume, subPath)
    mounts = {m["mountPath"]: m for m in c["volumeMounts"] if m["name"] == "data"}
    table = mounts["/var/lib/rightsizer/data/autoscalers"]
    assert table["subPath"] == "autoscalers" and not table.get("readOnly")
    assert mounts["/var/lib/rightsizer/data"]["readOnly"] is True
    assert spec["automountServiceAccountToken"] is True  # the in-cluster config needs the token
    report = {o["metadata"]["name"]: o for o in r.all("ClusterRole")}["rs-rightsizer-report"]
    assert report["rules"] == [
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["list"]},
        {"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "verbs": ["list"]}]


def test_turned_off_the_job_has_no_flag_no_role_no_token_and_no_write_mount(helm, tmp_path):
    r, spec, c, argv = _argv(helm, tmp_path, {"report": {"autoscalers": {"enabled": False}}})
    assert "--list-autoscalers" not in argv
    assert [o["metadata"]["name"] for o in r.all("ClusterRole")] == ["rs-rightsizer-agent"]
    assert spec["automountServiceAccountToken"] is False
    assert not any(m["mountPath"].endswith("/autoscalers") for m in c["volumeMounts"])


def test_prometheus_source_lists_into_the_import_cache(helm, tmp_path):
    """With source: prometheus the dataset is the import cache, already writable: no extra mount."""
    _, _, c, argv = _argv(helm, tmp_path, {**PROMETHEUS, "sink": {"type": "pvc"}})
    assert "--list-autoscalers" in argv and "--prometheus" in argv
    assert not any(m["mountPath"].endswith("/autoscalers") for m in c["volumeMounts"])
    assert any(m["mountPath"].endswith("/prometheus-import") and not m.get("readOnly") for m in c["volumeMounts"])


def test_without_rbac_create_the_flag_stays_and_no_role_is_rendered(helm, tmp_path):
    """rbac.create: false leaves the roles to the cluster admin (docs/deploy.md lists what to grant)."""
    r, _, _, argv = _argv(helm, tmp_path, {"rbac": {"create": False}})
    assert "--list-autoscalers" in argv and not r.all("ClusterRole")
