"""One savings number and one monthly cost, the same in recommendations.json, the terminal, report.html and
report.md; consolidation's saving is stated as overlapping the per-workload ones, never added to them."""

from __future__ import annotations

import json
import re

import pytest

from recommender.report.format import usd
from tests.recommender.fakes import build_dataset


@pytest.fixture(scope="module")
def recommended(tmp_path_factory):
    import contextlib
    import io

    from recommender.cli import main

    root = build_dataset(tmp_path_factory.mktemp("savings") / "data")
    out = tmp_path_factory.mktemp("savings-out")
    terminal = io.StringIO()
    with contextlib.redirect_stdout(terminal):
        assert main(["recommend", "--data", root, "--out", str(out), "--solver-seconds", "2", "--no-progress"]) == 0
    doc = json.loads((out / "recommendations.json").read_text())
    return doc, terminal.getvalue(), (out / "report.md").read_text(), (out / "report.html").read_text()


def _html_card(html: str, metric: str) -> str:
    return re.search(rf'data-metric="{metric}"><p class="label">[^<]*</p><p class="value">([^<]*)</p>', html).group(1)


def test_report_headline_savings_is_the_summary(recommended):
    doc, terminal, md, html = recommended
    total = usd(doc["summary"]["monthly_savings"])
    assert f"- **Potential savings:** {total} per month" in md
    assert _html_card(html, "savings") == f"{total}/mo"
    assert f"potential savings {total} per month" in md.split("## Recommendations")[1]
    assert f"potential savings {total} per month" in html.split('id="recommendations"')[1]
    assert f"potential savings {total} per month" in terminal


def test_report_monthly_cost_is_the_summary(recommended):
    # both are the nodes' cost over the same window at a 730-hour month; the optimizer used to drop the
    # last sample's interval (it read up to the profiles' window end exclusively)
    doc, terminal, md, _ = recommended
    cost = usd(doc["summary"]["monthly_cost"])
    assert f"({cost} per month at this rate)" in md
    assert f"cluster node cost {cost} per month" in terminal


def test_consolidation_is_stated_as_the_same_money_not_added(small_allocation):
    from optimizer.recommend import total_monthly_savings
    from recommender.report import build_report_data
    from recommender.report.html import render_html
    from recommender.report.markdown import render_markdown
    from tests.recommender.fakes import fake_recommendations

    doc = fake_recommendations()
    recs = doc["recommendations"]
    workload = round(sum(r["monthly_savings"] for r in recs), 2)
    node_mix = round(workload * 1.3, 2)
    recs.append({**recs[0], "id": "cluster", "workload": {"namespace": None, "kind": "Cluster", "name": "cluster"},
                 "action": "consolidate-nodes", "value_class": None, "monthly_cost_current": node_mix + 100,
                 "monthly_cost_proposed": 100.0, "monthly_savings": node_mix, "suggestion_file": None})
    doc["summary"] = {"monthly_cost": 3700.0, "monthly_savings": total_monthly_savings(workload, node_mix),
                      "workload_monthly_savings": workload, "consolidation_monthly_savings": node_mix}

    data = build_report_data(allocation=small_allocation, recommendations=doc)
    assert data.headline.monthly_savings == node_mix
    md, html = render_markdown(data), render_html(data)
    for text in (md, html):
        assert f"per-workload changes save {usd(workload)}" in text
        assert f"node mix (consolidate-nodes) saves {usd(node_mix)}. The two overlap" in text
        assert "the same money, not on top" in text
        assert usd(workload + node_mix) not in text  # never the sum
