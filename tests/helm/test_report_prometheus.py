"""The report CronJob with ``source: prometheus``: it imports from the server into the sink, then recommends."""

from __future__ import annotations

import pytest

from tests.helm.chart import CHART, render, run_helm, values_file
from tests.helm.test_report_job import report_of, run_script

pytestmark = pytest.mark.tools

VALUES = {"report": {"source": "prometheus", "prometheus": {
    "url": "http://kube-prometheus-stack-prometheus.monitoring:9090", "backend": "thanos", "step": "2m",
    "extraArgs": ["--bearer-token-file", "/var/run/secrets/prom/token", "--header", "X-Scope-OrgID: team a"]}}}


def test_prometheus_source_runs_the_import_then_recommend(helm, tmp_path):
    (tmp_path / "render").mkdir()
    r = render(helm, tmp_path / "render", VALUES)
    _, _, c = report_of(r)
    argv = run_script(c, tmp_path, {"RIGHTSIZER_SINK": "s3://bucket/rightsizer"})
    assert argv[0] == "recommend" and "--data" not in argv
    assert argv[argv.index("--prometheus") + 1] == "http://kube-prometheus-stack-prometheus.monitoring:9090"
    assert argv[argv.index("--prometheus-cache") + 1] == "s3://bucket/rightsizer/prometheus-import"
    assert argv[argv.index("--backend") + 1] == "thanos" and argv[argv.index("--step") + 1] == "2m"
    assert argv[argv.index("--header") + 1] == "X-Scope-OrgID: team a"  # one argument, spaces kept
    assert argv[argv.index("--bearer-token-file") + 1] == "/var/run/secrets/prom/token"
    assert argv[argv.index("--out") + 1].startswith("s3://bucket/rightsizer/reports/")
    # and the argv parses as the real CLI's
    from recommender.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.prometheus.endswith(":9090") and args.backend == "thanos"


def test_pvc_sink_mounts_the_import_cache_writable(helm, tmp_path):
    """With a PVC the dataset is mounted read-only; the import's cache folder gets its own writable mount."""
    (tmp_path / "render").mkdir()
    r = render(helm, tmp_path / "render", {**VALUES, "sink": {"type": "pvc"}})
    _, _, c = report_of(r)
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    cache = next(m for p, m in mounts.items() if p.endswith("/prometheus-import"))
    assert cache["subPath"] == "prometheus-import" and not cache.get("readOnly")
    root = next(m for m in c["volumeMounts"] if m["name"] == "data" and "subPath" not in m)
    assert root["readOnly"] is True and cache["mountPath"] == root["mountPath"].rstrip("/") + "/prometheus-import"


@pytest.mark.parametrize("values, message", [
    ({"report": {"source": "prometheus"}}, "report.prometheus.url is required when report.source is prometheus"),
    ({"report": {"source": "graphite"}}, "source"),
    ({"report": {"source": "prometheus", "prometheus": {"url": "prom:9090"}}}, "url"),
])
def test_bad_prometheus_values_are_refused(helm, tmp_path, values, message):
    done = run_helm(helm, "template", "r", str(CHART), "-f", str(values_file(tmp_path, "v", values)))
    assert done.returncode != 0 and message in done.stderr
