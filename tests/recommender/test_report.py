"""report.html and report.md list every recommendation (the top ones in full, the rest compactly), the
not-evaluated workloads when the result has them, idle cost split into GPU and CPU/RAM, one money format,
and a multi-GPU pod's memory per GPU against per-GPU capacity."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest

from optimizer.not_evaluated import NotEvaluated
from recommender.report import build_report_data
from recommender.report.format import usd
from recommender.report.html import render_html
from recommender.report.markdown import render_markdown
from store.reader import Dataset
from store.writer import DatasetWriter
from tests.recommender.fakes import GIB, START, fake_recommendations, make_result


def _many(n: int):
    result = fake_recommendations()
    base = result.recommendations
    recs = []
    for i in range(n):
        r = base[i % len(base)]
        # a strict order: rec-000 saves the most
        recs.append(dataclasses.replace(r, id=f"rec-{i:03d}-{r.action}", monthly_cost_current=1000.0 - i,
                                        monthly_cost_proposed=0.0, current=dict(r.current), proposed=dict(r.proposed)))
    result.recommendations = recs
    return result


def test_every_recommendation_is_listed_top_ones_first(small_allocation):
    result = _many(23)
    data = build_report_data(allocation=small_allocation, result=result)
    html, md = render_html(data), render_markdown(data)
    ids = [r.id for r in result.recommendations]
    for text in (html, md):
        for rid in ids:
            assert rid in text, rid
        positions = [text.index(rid) for rid in ids]
        assert positions == sorted(positions)  # largest savings first, through both tables
    assert len(data.top) == 10 and len(data.rest) == 13
    assert "The other 13" in html and "### The other 13" in md
    full = html.split("The other 13")[0]
    assert all(f'data-rec="{rid}"' in full for rid in ids[:10]) and ids[10] not in full


def test_not_evaluated_is_listed_when_the_result_has_it(small_allocation):
    result = _many(3)
    result.not_evaluated = [NotEvaluated("ml", "Job", "warmup", "under 6 h of history", "", 2.5, 0)]
    data = build_report_data(allocation=small_allocation, result=result)
    html, md = render_html(data), render_markdown(data)
    for text in (html, md):
        assert "Not evaluated (1)" in text and "ml/warmup (Job)" in text
        assert "under 6 h of history" in text and "2.5 h" in text
    assert "Not evaluated" not in render_html(build_report_data(allocation=small_allocation, result=_many(3)))


def test_idle_cost_is_split_into_gpu_and_cpu_ram(small_allocation):
    data = build_report_data(allocation=small_allocation, result=_many(1))
    idle = small_allocation.rows[small_allocation.rows["row_type"] == "idle"]
    gpu, total = float(idle["gpu_cost"].sum()), float(idle["total_cost"].sum())
    h = data.headline
    assert h.idle_gpu_cost == pytest.approx(gpu) and h.idle_cpu_ram_cost == pytest.approx(total - gpu)
    assert h.idle_gpu_cost > 0 and h.idle_cpu_ram_cost > 0
    expected = f"GPU {usd(gpu)}, CPU/RAM {usd(total - gpu)}"
    assert expected in render_markdown(data)
    assert expected in render_html(data)


def test_one_money_format():
    assert [usd(v) for v in (0, 0.004, -0.004, 12.5, 999.99, 1000, 123456.7, -2500, -12.345)] == [
        "$0.00", "$0.00", "$0.00", "$12.50", "$999.99", "$1,000", "$123,457", "-$2,500", "-$12.35"]
    from recommender.report import charts

    assert charts.money is usd  # chart labels and axes use the same formatter


def _two_gpu_pod(root, catalog):
    """One p4d node (A100 40 GB); a Deployment's pod holds two whole GPUs, 30 GiB on each."""
    writer = DatasetWriter(str(root))
    ts = [START + timedelta(seconds=600 * (i + 1)) for i in range(36)]
    n = len(ts)
    writer.write("nodes", {"ts": [START], "node": ["g1"], "instance_type": ["p4d.24xlarge"],
                           "capacity_type": ["on-demand"], "zone": ["us-east-1a"], "region": ["us-east-1"],
                           "cpu_capacity": [96.0], "mem_capacity": [1152 * GIB], "gpu_count": [8],
                           "gpu_model": ["NVIDIA A100-SXM4-40GB"], "labels": ["{}"]})
    writer.write("pods", {"ts": [START], "node": ["g1"], "namespace": ["ml"], "pod": ["big-0"], "pod_uid": ["u"],
                          "workload_kind": ["Deployment"], "workload_name": ["big"], "labels": ['{"team": "ml"}'],
                          "container": ["main"], "cpu_request": [4.0], "mem_request": [16 * GIB],
                          "gpu_resource": ["nvidia.com/gpu"], "gpu_request": [2.0]})
    writer.write("container", {"ts": ts, "node": ["g1"] * n, "interval_s": [600.0] * n, "namespace": ["ml"] * n,
                               "pod": ["big-0"] * n, "container": ["main"] * n, "cpu_cores": [2.0] * n,
                               "mem_bytes": [8 * GIB] * n})
    writer.write("gpu", {"ts": ts * 2, "node": ["g1"] * 2 * n, "interval_s": [600.0] * 2 * n,
                         "gpu_uuid": ["GPU-a"] * n + ["GPU-b"] * n, "gpu_model": ["NVIDIA A100-SXM4-40GB"] * 2 * n,
                         "mig_profile": [None] * 2 * n, "namespace": ["ml"] * 2 * n, "pod": ["big-0"] * 2 * n,
                         "container": ["main"] * 2 * n, "gpu_util": [0.5] * 2 * n,
                         "mem_used_bytes": [30 * GIB] * 2 * n, "mem_total_bytes": [40 * GIB] * 2 * n})
    return str(root)


def test_multi_gpu_pod_memory_is_per_gpu_against_per_gpu_capacity(tmp_path, catalog):
    from optimizer.inventory import build_inventory
    from optimizer.profiles import compute_profiles
    from recommender.allocation import allocate

    root = _two_gpu_pod(tmp_path / "d", catalog)
    alloc = allocate(Dataset(root), catalog)
    profiles = compute_profiles(root)
    assert profiles.stats(("ml", "Deployment", "big"), "gpu_mem_bytes").max == pytest.approx(60 * GIB, rel=0.02)
    # the GPUs a pod requests come from the observed cluster the result was decided on
    observed = make_result([], inventory=build_inventory(Dataset(root)))
    data = build_report_data(allocation=alloc, result=observed, profiles=profiles)
    (panel,) = data.panels
    assert panel.gpus_per_pod == 2
    assert build_report_data(allocation=alloc, result=make_result([]), profiles=profiles).panels[0].gpus_per_pod == 1
    assert panel.memory["max"] == pytest.approx(30 * GIB, rel=0.02)  # per GPU, not the pod's 60 GiB
    assert panel.memory["capacity"] == 40 * GIB                        # one device
    html = render_html(data)
    chart = re.search(r'data-chart="mem-[^"]+">(.*?)</figure>', html, re.S).group(1)
    assert "pod total ÷ 2 GPUs" in chart and "capacity 40 GiB per GPU" in chart
    assert "| 30.0 GiB | 40 GiB | 2 |" in render_markdown(data)


def test_budget_chart_is_drawn_at_the_page_width():
    """At a 1,400 px window the report's content is ~1,070 px wide; the budget chart is drawn that wide (not a
    ~180 px thumbnail), with a row per budget tall enough for 10 pt labels."""
    from recommender.alerts.budgets import BudgetStatus
    from recommender.report import charts

    statuses = [BudgetStatus("team", name, "2026-11", 1000.0, 800.0, 40.0, ratio * 1000.0, ratio, status)
                for name, ratio, status in (("research", 1.2, "over"), ("web", 0.85, "warning"), ("ml", 0.4, "ok"))]
    svg = charts.budgets(statuses, "budgets")
    width_pt = float(re.search(r'width="([\d.]+)pt"', svg).group(1))
    height_pt = float(re.search(r'height="([\d.]+)pt"', svg).group(1))
    assert width_pt * 96 / 72 >= 900 and height_pt * 96 / 72 >= 3 * 0.45 * 96
    assert "$1,200 of $1,000" in svg  # each bar says its projection and its budget
