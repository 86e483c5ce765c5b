"""The writers end to end on a three-week dataset: files, suggestion links, alert delivery, S3 upload,
and report.html rendered by real headless Chromium."""

from __future__ import annotations

import copy
import csv
import json
import re

import pytest

from optimizer.inventory import build_inventory
from optimizer.recommend import RecommendationSet
from recommender.config import parse_config
from recommender.outputs import OutputContext, write_outputs
from recommender.outputs.target import OutputTarget
from store.reader import Dataset
from tests.recommender.fakes import ServingSpec, build_dataset, fake_recommendations, write_tokens
from tests.tools import render_in_chromium

SPIKE_DAY = 16  # 2026-11-18


@pytest.fixture(scope="module")
def run(tmp_path_factory, catalog):
    from optimizer.profiles import compute_profiles

    root = build_dataset(tmp_path_factory.mktemp("weeks") / "data", days=21, interval_s=1800,
                         cost_factor=lambda pod, day: 10.0 if (pod.workload == "train" and day == SPIKE_DAY) else 1.0)
    out = tmp_path_factory.mktemp("out")
    result = fake_recommendations()  # write_outputs writes recommendations.json from it
    config = parse_config({"budgets": {"teams": {"research": {"monthly_usd": 600}, "web": {"monthly_usd": 1e5}}},
                           "thresholds": {"spike_min_usd": 5, "spike_min_factor": 1.2},
                           "notify": {"timeout_s": 2}})
    # the container specs of the suggestions come from the observed cluster
    ctx = OutputContext(dataset=Dataset(root), catalog=catalog, out_dir=out, config=config,
                        result=copy.deepcopy(result), inventory=build_inventory(Dataset(root)),
                        profiles=compute_profiles(root))
    write_outputs(ctx)
    return ctx


def test_every_output_is_written(run):
    out = run.out_dir
    for name in ("allocation.csv", "alerts.json", "report.html", "report.md", "suggestions/README.md",
                 "suggestions/kustomization.yaml"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    with open(out / "allocation.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(round(float(r["total_cost"]) * 100) for r in rows) == run.allocation.total_cents
    assert {"workload", "unallocated", "idle"} == {r["row_type"] for r in rows}
    assert not list(out.rglob(".*.tmp"))  # no temp files left behind


def test_one_writer_registry_recommendations_json_first():
    from recommender.cli import recommend
    from recommender.outputs import WRITERS

    # recommendations.json after the suggestions: serialised once, with each suggestion's file in it
    assert [w.__name__ for w in WRITERS] == ["write_allocation", "write_tokens", "write_alerts",
                                             "write_suggestions_folder", "write_recommendations", "write_reports"]
    assert not hasattr(recommend, "WRITERS")


def test_the_output_stage_works_from_the_typed_result_alone(tmp_path, catalog, monkeypatch):
    """No dict goes in: the writers read the RecommendationSet (and the observed cluster it keeps), and
    recommendations.json is that result serialised once, with the window's token totals added."""
    root = build_dataset(tmp_path / "data", days=2, interval_s=3600)
    write_tokens(root, [ServingSpec("ml", "chat-0", "gpu-1", "vllm", "m", 90_000, 30_000)], days=2, interval_s=3600)
    from optimizer.llm.usage import read_tokens, serving_usage

    result = fake_recommendations()
    result.inventory = build_inventory(Dataset(root))  # what build_recommendations keeps
    result.serving_usage = serving_usage(read_tokens(Dataset(root), None, None))
    serialise = RecommendationSet.to_json_dict
    calls = []
    monkeypatch.setattr(RecommendationSet, "to_json_dict", lambda self: calls.append(self) or serialise(self))
    ctx = OutputContext(dataset=Dataset(root), catalog=catalog, out_dir=tmp_path / "out", result=result)
    assert not [name for name, value in vars(ctx).items() if isinstance(value, dict)]
    write_outputs(ctx)
    assert calls == [result]  # serialised once
    written = json.loads((ctx.out_dir / "recommendations.json").read_text())
    expected = serialise(result)
    expected["summary"]["tokens"] = ctx.tokens.summary()
    assert written == json.loads(json.dumps(expected, default=str))
    assert written["summary"]["tokens"]["prompt_tokens"] == 2 * 24 * 90_000
    assert ctx.document["summary"]["tokens"] == ctx.tokens.summary()
    # the suggestion's container came from result.inventory: the MIG swap names the pod's container
    mig = (ctx.out_dir / "suggestions/ml-deployment-embed-use-mig-slice.json-patch.yaml").read_text()
    assert '"value": "server"' in mig or "value: server" in mig
    report = (ctx.out_dir / "report.md").read_text()
    assert "**Node bill savings:** $912.00 per month (today's node bill minus the plan's; priced 3 of 3 nodes)" in report


def test_recommendations_link_their_suggestion_files(run):
    doc = json.loads((run.out_dir / "recommendations.json").read_text())
    files = {r["id"]: r["suggestion_file"] for r in doc["recommendations"]}
    # a MIG slice alone is a GPU resource swap: all of it in the JSON patch (the old key must go)
    assert files["rec-001"] == "suggestions/ml-deployment-embed-use-mig-slice.json-patch.yaml"
    assert files["rec-005"] is None  # a node reclaim changes no workload object
    for path in filter(None, files.values()):
        assert (run.out_dir / path).is_file()


def test_alerts_json_has_budget_and_planted_spike(run):
    doc = json.loads((run.out_dir / "alerts.json").read_text())
    alerts = {(a["type"], a["name"]) for a in doc["alerts"]}
    assert ("budget", "research") in alerts
    assert ("spike", "research") in alerts and ("spike", "research/Job/train") in alerts
    assert not any(a["name"] == "web" for a in doc["alerts"])
    assert doc["notification"] is None


def test_failed_delivery_is_recorded_and_files_survive(run, hook, tmp_path):
    from recommender.outputs import notify

    hook.status = 500
    delivery = notify(run, hook.url)
    assert not delivery.delivered and delivery.status == 500
    doc = json.loads((run.out_dir / "alerts.json").read_text())
    assert doc["notification"]["delivered"] is False and doc["notification"]["status"] == 500
    assert doc["alerts"] and (run.out_dir / "report.html").is_file()
    assert "research" in hook.bodies[0]["text"]


def test_s3_target_uploads_every_file(run, tmp_path):
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="reports")
        target = OutputTarget("s3://reports/weekly/2026-11-23", s3_client=client)
        with target as local:
            for p in run.out_dir.rglob("*"):
                if p.is_file():
                    dest = local / p.relative_to(run.out_dir)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(p.read_bytes())
        keys = {o["Key"] for o in client.list_objects_v2(Bucket="reports")["Contents"]}
        assert "weekly/2026-11-23/report.html" in keys
        assert "weekly/2026-11-23/suggestions/kustomization.yaml" in keys
        head = client.head_object(Bucket="reports", Key="weekly/2026-11-23/report.html")
        assert head["ContentType"].startswith("text/html")
        assert not local.exists()  # the staging folder is removed after upload


def test_s3_target_missing_bucket_fails_before_any_write(tmp_path):
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from store.errors import UserError

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")  # no bucket created
        target = OutputTarget("s3://missing/x", s3_client=client)
        with pytest.raises(UserError, match=r"--out: bucket 'missing' is not reachable: S3 (404|NoSuchBucket)"):
            target.check()
        assert target.local is None  # nothing staged


@pytest.mark.tools
def test_report_renders_in_headless_chromium(run, tmp_path):
    report = run.out_dir / "report.html"
    html = report.read_text()
    assert not re.search(r'(src|href)="https?://|@import|url\((?!#)', html)  # nothing to fetch: opens offline
    shot, dom = render_in_chromium(report, tmp_path, "report.png", 4000)
    assert shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The headline numbers, as the browser sees them.
    spend = f"${run.allocation.total_cents / 100:,.0f}"
    assert spend in dom
    assert "$912.00/mo" in dom  # the headline: the node bill savings of the result's NodeBill
    # the showback change, named as what it is: the workload recommendations' sum (the node reclaim is not one)
    assert "showback change $1,628" in dom
    for metric in ("spend", "savings", "gpu-hours", "gpu-idle", "coverage", "alerts"):
        assert f'data-metric="{metric}"' in dom
    idle = f"{run.allocation.gpu_idle_share * 100:.0f}%"
    assert re.search(rf'data-metric="gpu-idle">.*?<p class="value">{re.escape(idle)}</p>', dom, re.S)
    # Every chart figure holds a rendered, non-empty SVG.
    figures = re.findall(r'<figure class="chart" data-chart="([^"]+)">(.*?)</figure>', dom, re.S)
    names = [n for n, _ in figures]
    assert {"spend-team", "spend-project", "spend-use_case", "daily-team", "portfolio", "budgets"} <= set(names)
    assert any(n.startswith("util-") for n in names) and any(n.startswith("how-") for n in names)
    assert any(n.startswith("mem-") for n in names)
    for name, body in figures:
        assert "<svg" in body, name
        assert len(re.findall(r"<(path|rect|use|image)\b", body)) >= 3, f"chart {name} is empty"


def test_output_arguments_and_manifests_default(tmp_path):
    import argparse

    from recommender.outputs.cli import add_output_arguments, manifests_dir_for
    from store.errors import UserError

    parser = argparse.ArgumentParser()
    parser.add_argument("--notify")  # already defined by the command: not added twice
    add_output_arguments(parser)
    args = parser.parse_args(["--notify", "https://hooks.example.com/x", "--manifests", str(tmp_path)])
    assert args.notify == "https://hooks.example.com/x" and args.manifests == str(tmp_path)
    assert manifests_dir_for(str(tmp_path), None) is None
    (tmp_path / "manifests").mkdir()
    assert manifests_dir_for(str(tmp_path), None) == tmp_path / "manifests"
    assert manifests_dir_for("s3://bucket/data", None) is None
    with pytest.raises(UserError, match="--manifests"):
        manifests_dir_for(str(tmp_path), str(tmp_path / "nope"))
