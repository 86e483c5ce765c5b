"""Money that matches the bill, on the simulator's cluster through ``rightsizer recommend``: the headline is
today's node bill minus the plan's, no recommendation claims a bill saving without removing or replacing a
node, allocation.csv and recommendations.json agree on every workload's current cost to the cent, and a
cluster in another region is priced there or says which nodes it cannot price."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recommender.report.format import usd

HOURS_PER_MONTH = 730


def _recommend(root: Path, out: Path) -> tuple[dict, str]:
    from recommender.cli import main

    terminal = io.StringIO()
    with contextlib.redirect_stdout(terminal):
        assert main(["recommend", "--data", str(root), "--out", str(out), "--solver-seconds", "2",
                     "--no-progress"]) == 0
    return json.loads((out / "recommendations.json").read_text()), terminal.getvalue()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from simulator import simulate

    root = tmp_path_factory.mktemp("bill") / "data"
    simulate(str(root), nodes=14, days=3, interval_s=600, seed=5)
    out = tmp_path_factory.mktemp("bill-out")
    doc, terminal = _recommend(root, out)
    truth = json.loads((root / "truth.json").read_text())
    return root, out, doc, terminal, truth


def _hours(doc) -> float:
    w = doc["window"]
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(w["end"]) - parse(w["start"])).total_seconds() / 3600


def test_no_recommendation_saves_on_the_bill_unless_it_removes_or_replaces_a_node(sim):
    _, _, doc, _, _ = sim
    recs = doc["recommendations"]
    assert any(r["monthly_savings"] > 0 and r["monthly_bill_savings"] == 0 for r in recs)  # showback only
    for r in recs:
        effect = r["details"]["bill_effect"]
        if r["monthly_bill_savings"] > 0 and r["action"] != "consolidate-nodes":
            assert effect["nodes_removed"] or effect["nodes_replaced"], r["id"]
        if r["monthly_bill_savings"] == 0 and r["action"] in ("rightsize-requests", "use-mig-slice", "share-gpu"):
            assert "the bill drops only with the node plan" in r["rationale"]
            assert re.search(r"frees [\d.]+ (of a GPU|cores)|frees [\d.]+ GiB", r["rationale"]), r["rationale"]


def test_headline_bill_savings_is_todays_node_bill_minus_the_plans(sim, catalog):
    _, _, doc, _, truth = sim
    s = doc["summary"]
    bill = s["node_bill"]
    # the plan's managed-API spend is a bill line too (use-managed-api; 0 without)
    assert s["monthly_bill_savings"] == pytest.approx(
        bill["today_monthly"] - bill["plan_monthly"] - bill["managed_api_monthly"], abs=0.011)
    # today's node bill, from the simulator's own node list: the priced nodes running at the end
    unpriced = {u["node"] for u in s["unpriced_nodes"]}
    end = truth["end"]
    today = sum(catalog.price(n["instance_type"], capacity_type=n["capacity_type"]) for n in truth["nodes"]
                if n["end"] == end and n["node"] not in unpriced)
    assert bill["today_monthly"] == pytest.approx(today * HOURS_PER_MONTH, abs=0.02)
    cluster = [r for r in doc["recommendations"] if r["action"] == "consolidate-nodes"]
    if cluster:  # the plan: the node mix for the steady pods, plus the bursts of work scaled to zero (the
        # nodes only it used, while it runs; else its share of the nodes it shares)
        node_type = {n["node"]: (n["instance_type"], n["capacity_type"]) for n in truth["nodes"]}
        bursts = 0.0
        for r in doc["recommendations"]:
            if r["action"] != "scale-to-zero":
                continue
            removed = r["details"]["bill_effect"]["nodes_removed"]
            bursts += (sum(catalog.price(*node_type[n][:1], capacity_type=node_type[n][1]) for n in removed)
                       * r["details"]["active_fraction"] * HOURS_PER_MONTH if removed else r["monthly_cost_proposed"])
        assert bill["plan_monthly"] == pytest.approx(cluster[0]["monthly_cost_proposed"] + bursts, abs=0.02)
    assert 0 < s["monthly_bill_savings"] < bill["today_monthly"]
    # each action type's share of the plan: the plan's bill without it minus with it, never negative here
    assert set(s["bill_savings_by_action"]) >= {r["action"] for r in doc["recommendations"]}
    assert s["bill_savings_by_action"]["consolidate-nodes"] >= 0


def test_allocation_csv_and_recommendations_agree_on_current_cost_to_the_cent(sim):
    _, out, doc, _, _ = sim
    with open(out / "allocation.csv", newline="") as fh:
        rows = {(r["namespace"], r["kind"], r["workload"]): float(r["total_cost"]) for r in csv.DictReader(fh)
                if r["row_type"] == "workload"}
    hours = _hours(doc)
    checked = 0
    for r in doc["recommendations"]:
        w = r["workload"]
        if w["kind"] in ("Node", "Cluster"):
            continue
        window_cost = rows[(w["namespace"], w["kind"], w["name"])]
        assert r["details"]["cost_in_window_current"] == pytest.approx(window_cost, abs=0.005)
        if r["details"]["recurring"]:
            assert r["monthly_cost_current"] == pytest.approx(window_cost * HOURS_PER_MONTH / hours, abs=0.011)
        else:
            assert r["details"]["cost_per_run"]["current"] == pytest.approx(window_cost, abs=0.011)
        checked += 1
    assert checked >= 5


def test_one_off_jobs_are_priced_per_run_and_recurring_work_per_month(sim):
    _, _, doc, _, _ = sim
    recs = [r for r in doc["recommendations"] if r["workload"]["kind"] in ("Job", "CronJob")]
    assert recs
    for r in recs:
        if r["details"]["recurring"]:
            assert r["monthly_cost_current"] > 0 and "cost_per_run" not in r["details"]
        else:
            assert r["workload"]["kind"] == "Job"
            assert r["monthly_cost_current"] == r["monthly_cost_proposed"] == r["monthly_bill_savings"] == 0
            assert r["details"]["cost_per_run"]["current"] > r["details"]["cost_per_run"]["proposed"]
            assert r["rationale"].startswith("One-off Job") and "not a monthly cost" in r["rationale"]


def test_terminal_report_and_prices_state_the_bill_headline(sim):
    _, out, doc, terminal, _ = sim
    s = doc["summary"]
    head = f"{usd(s['monthly_bill_savings'])} per month (today's node bill minus the plan's"
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert f"- **Node bill savings:** {head}" in md
    assert f"node bill savings {head}" in terminal
    card = re.search(r'data-metric="savings"><p class="label">([^<]*)</p><p class="value">([^<]*)</p>', html)
    assert card.groups() == ("Node bill savings", f"{usd(s['monthly_bill_savings'])}/mo")
    assert "not a bill saving" in md and "potential savings" not in md.lower()
    assert f"({s['node_bill']['priced']})" in md or s["node_bill"]["priced"] in md
    prices = s["prices"]
    assert prices["regions"] == ["us-east-1"] and prices["snapshot_date"]
    assert f"catalog snapshot {prices['snapshot_date']}" in md


def test_monthly_cost_is_the_allocation_run_rate(sim):
    _, out, doc, terminal, _ = sim
    md = (out / "report.md").read_text()
    cost = usd(doc["summary"]["monthly_cost"])
    assert f"({cost} per month at this rate)" in md
    assert f"cluster node cost {cost} per month" in terminal


def _move_to_region(root: Path, region: str) -> None:
    """The nodes table as a cluster in ``region`` would write it (region and zone columns)."""
    for path in (root / "nodes").rglob("*.parquet"):
        table = pq.ParquetFile(path).read()
        for name, value in (("region", region), ("zone", f"{region}a")):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, table.schema.field(i), pa.array([value] * table.num_rows, pa.string()))
        pq.write_table(table, path)


def test_a_cluster_in_eu_west_1_is_priced_there_or_lists_each_node_it_cannot_price(tmp_path, catalog):
    from simulator import simulate

    root = tmp_path / "data"
    simulate(str(root), nodes=12, days=2, interval_s=900, seed=3)
    _move_to_region(root, "eu-west-1")
    doc, terminal = _recommend(root, tmp_path / "out")
    truth = json.loads((root / "truth.json").read_text())
    s = doc["summary"]
    unpriced = {u["node"]: u for u in s["unpriced_nodes"]}
    for n in truth["nodes"]:
        eu = catalog.price(n["instance_type"], region="eu-west-1", capacity_type=n["capacity_type"])
        if eu is None:
            u = unpriced[n["node"]]
            assert u["region"] == "eu-west-1" and u["instance_type"] == n["instance_type"]
            assert "eu-west-1" in u["reason"] and "catalog refresh --region eu-west-1" in u["reason"]
        else:
            assert n["node"] not in unpriced
    assert s["prices"]["regions"] in ([], ["eu-west-1"])
    priced = [n for n in truth["nodes"] if n["node"] not in unpriced and n["end"] == truth["end"]]
    today = sum(catalog.price(n["instance_type"], region="eu-west-1", capacity_type=n["capacity_type"])
                for n in priced)
    assert s["node_bill"]["today_monthly"] == pytest.approx(today * HOURS_PER_MONTH, abs=0.02)
    assert s["node_bill"]["priced"] == f"priced {s['node_bill']['priced_nodes']} of {len(truth['nodes'])} nodes"
    assert f"priced {s['node_bill']['priced_nodes']} of {len(truth['nodes'])} nodes" in terminal


def test_a_cluster_in_us_west_2_without_bundled_cpu_prices_is_listed_not_an_error(tmp_path):
    from tests.recommender.fakes import GIB, PodSpec, build_dataset

    pods = [PodSpec("web", "api-0", "Deployment", "api", "cpu-w", {"team": "web"}, {"c": (1.0, 2 * GIB)})]
    root = build_dataset(tmp_path / "d", days=1, pods=pods, region="us-west-2",
                         nodes={"cpu-w": ("m7i.large", "on-demand", None, 0)})
    doc, terminal = _recommend(Path(root), tmp_path / "out")
    (u,) = doc["summary"]["unpriced_nodes"]
    assert (u["node"], u["instance_type"], u["region"]) == ("cpu-w", "m7i.large", "us-west-2")
    assert "catalog refresh --region us-west-2" in u["reason"]
    assert doc["summary"]["monthly_cost"] == 0 and doc["summary"]["node_bill"]["priced"] == "priced 0 of 1 nodes"
    assert "priced 0 of 1 nodes" in terminal


def test_refresh_prices_fetches_the_regions_of_the_nodes_table(tmp_path, monkeypatch):
    """``--refresh-prices`` through real boto3 clients answered by botocore's Stubber."""
    from botocore.stub import Stubber

    import optimizer.catalog.refresh as refresh
    from tests.catalog import aws_fakes as aws
    from tests.recommender.fakes import GIB, PodSpec, build_dataset

    ec2, pricing = aws.clients("us-west-2")
    ec2_stub, pricing_stub = Stubber(ec2), Stubber(pricing)
    ec2_stub.add_response("describe_instance_types", {"InstanceTypes": [aws.cpu_type("m7i.large", 2, 8192)]})
    pricing_stub.add_response("get_products", {"FormatVersion": "aws_v1",
                                               "PriceList": [aws.price_item("m7i.large", "0.1058", "W")]})
    ec2_stub.add_response("describe_spot_price_history", {"SpotPriceHistory": []})
    regions = []

    def clients(region, call):
        regions.append(region)
        return ec2, pricing

    monkeypatch.setattr(refresh, "_clients", clients)
    pods = [PodSpec("web", "api-0", "Deployment", "api", "cpu-w", {"team": "web"}, {"c": (1.0, 2 * GIB)})]
    root = build_dataset(tmp_path / "d", days=1, pods=pods, region="us-west-2",
                         nodes={"cpu-w": ("m7i.large", "on-demand", None, 0)})
    from recommender.cli import main

    with ec2_stub, pricing_stub, contextlib.redirect_stdout(io.StringIO()):
        assert main(["recommend", "--data", root, "--out", str(tmp_path / "out"), "--no-progress",
                     "--refresh-prices", "--no-consolidate"]) == 0
    assert regions == ["us-west-2"]
    doc = json.loads((tmp_path / "out" / "recommendations.json").read_text())
    s = doc["summary"]
    assert s["unpriced_nodes"] == [] and s["prices"]["regions"] == ["us-west-2"]
    assert s["monthly_cost"] == pytest.approx(0.1058 * HOURS_PER_MONTH, abs=0.01)


def test_recommend_on_dask_gives_the_same_outputs_as_the_local_pool(sim, tmp_path):
    """The engine runs the profiles; everything after them must not notice. Without the node-mix solve
    (a time-limited multi-worker CP-SAT search, not bit-reproducible under load) the documents match."""
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from recommender.cli import main

    root = sim[0]
    args = ["recommend", "--data", str(root), "--no-progress", "--no-consolidate"]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            contextlib.redirect_stdout(io.StringIO()):
        assert main([*args, "--out", str(tmp_path / "l")]) == 0
        assert main([*args, "--out", str(tmp_path / "d"), "--engine", "dask",
                     "--scheduler", cluster.scheduler_address]) == 0
    for name in ("allocation.csv", "alerts.json", "report.md"):
        a, b = (tmp_path / "l" / name).read_text(), (tmp_path / "d" / name).read_text()
        assert re.sub(r"generated.*", "", a) == re.sub(r"generated.*", "", b), name
    local, dask = (json.loads((tmp_path / d / "recommendations.json").read_text()) for d in ("l", "d"))
    local["generated_at"] = dask["generated_at"] = None
    assert dask == local and local["recommendations"]
