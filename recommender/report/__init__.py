"""The weekly report: report.html (self-contained, inline SVG charts) and report.md, rendered from
``build_report_data(allocation=..., result=<RecommendationSet>)`` (model.py)."""

from __future__ import annotations

from pathlib import Path

from recommender.report.model import ReportData, build_report_data

__all__ = ["ReportData", "build_report_data", "write_report"]


def write_report(data: ReportData, out_dir: str | Path) -> list[Path]:
    from recommender.report.html import render_html
    from recommender.report.markdown import render_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html, md = out / "report.html", out / "report.md"
    html.write_text(render_html(data), encoding="utf-8")
    md.write_text(render_markdown(data), encoding="utf-8")
    return [html, md]
