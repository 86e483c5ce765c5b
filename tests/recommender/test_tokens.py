"""$ per 1M tokens (tokens.csv), the token guard rails (alerts.json, the webhook) and the report's LLM
serving section, on the hand-made cluster: a time-shared A10G (chat serves two models, embed one) and MIG
slices of an A100 (train on 3g.40gb, notebook on 1g.10gb running TGI, which has no model label)."""

from __future__ import annotations

import copy
import csv
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optimizer.catalog.cost import split_node_price
from recommender.alerts.webhook import slack_payload
from recommender.config import parse_config
from recommender.outputs import OutputContext, write_outputs
from recommender.tokens import CSV_COLUMNS, token_costs
from recommender.tokens.costs import TokenRow, _split
from store.reader import Dataset
from tests.recommender.fakes import ServingSpec, build_dataset, fake_recommendations, write_tokens
from tests.tools import render_in_chromium

DAYS, INTERVAL = 10, 3600.0
SPIKE_DAY = 8  # 2026-11-10, a Tuesday
MODEL_A, MODEL_B, EMBED = "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "BAAI/bge-m3"


def _specs(spike: bool) -> list[ServingSpec]:
    return [
        ServingSpec("ml", "chat-0", "gpu-1", "vllm", MODEL_A, 90_000, 30_000, prefill_s=12.0, decode_s=48.0,
                    cached=30_000, kv_usage=0.15),
        ServingSpec("ml", "chat-0", "gpu-1", "vllm", MODEL_B, 20_000, 10_000),  # no prefill/decode times
        ServingSpec("ml", "embed-0", "gpu-1", "vllm", EMBED, 50_000, 1, spike_day=SPIKE_DAY if spike else None,
                    spike=6.0),
        ServingSpec("research", "train-0", "gpu-2", "sglang", MODEL_A, 400_000, 100_000, prefill_s=30.0,
                    decode_s=90.0, cached=100_000),
        ServingSpec("research-dev", "nb-0", "gpu-2", "tgi", None, 8_000, 2_000),
    ]


CONFIG = {"tokens": {"budgets": {"teams": {"research": {"monthly_tokens": 10_000_000_000, "monthly_usd": 1}},
                                 "models": {MODEL_A: {"monthly_tokens": 1_000_000}}}},
          "thresholds": {"spike_min_usd": 1e9}}  # cost spikes off: the planted spike is in tokens only


def _run(root, out, catalog, *, spike: bool):
    build_dataset(root, days=DAYS, interval_s=INTERVAL)
    write_tokens(root, _specs(spike), days=DAYS, interval_s=INTERVAL)
    from optimizer.llm.usage import read_tokens, serving_usage

    result = copy.deepcopy(fake_recommendations())
    result.serving_usage = serving_usage(read_tokens(Dataset(str(root)), None, None))  # as the run keeps them
    ctx = OutputContext(dataset=Dataset(str(root)), catalog=catalog, out_dir=out, config=parse_config(CONFIG),
                        result=result)
    write_outputs(ctx)
    return ctx


@pytest.fixture(scope="module")
def run(tmp_path_factory, catalog):
    return _run(tmp_path_factory.mktemp("tokens") / "data", tmp_path_factory.mktemp("out"), catalog, spike=True)


@pytest.fixture(scope="module")
def quiet(tmp_path_factory, catalog):
    return _run(tmp_path_factory.mktemp("quiet") / "data", tmp_path_factory.mktemp("qout"), catalog, spike=False)


def _csv(path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _allocated(ctx) -> dict[str, str]:
    return {r["workload"]: r["total_cost"] for r in _csv(ctx.out_dir / "allocation.csv")}


def test_usd_per_1m_tokens_is_the_pods_cost_over_its_tokens_exactly(quiet, catalog):
    run = quiet
    rows = _csv(run.out_dir / "tokens.csv")
    assert list(rows[0]) == CSV_COLUMNS
    allocated = _allocated(run)
    by_workload = {(r["workload"], r["model"]): r for r in rows}
    n = int(DAYS * 86400 / INTERVAL)
    # one model per workload: the row's cost is the workload's allocation.csv cost, and $/1M = cost / tokens x 1e6
    for workload, model, tokens in (("embed", EMBED, 50_001), ("train", MODEL_A, 500_000), ("notebook", "", 10_000)):
        r = by_workload[(workload, model)]
        assert r["cost"] == allocated[workload]
        assert int(r["prompt_tokens"]) + int(r["generation_tokens"]) == tokens * n
        assert float(r["usd_per_1m_tokens"]) == float(r["cost"]) / (tokens * n) * 1e6
    # ... and the cost is the shared GPU's or the slice's: embed pays 40 % of the A10G (max(1/2, .25) vs
    # max(1/2, .75)), train 42/108 of an A100's SMs (SPEC.md), each plus its CPU and memory
    it = catalog.get("p4de.24xlarge")
    per_gpu = split_node_price(it, catalog.price("p4de.24xlarge"))["gpu"] / it.gpu_count * DAYS * 24
    train = run.allocation.rows.set_index("workload").loc["train"]
    assert train.gpu_cost == pytest.approx(42 / 108 * per_gpu, abs=0.01)
    nb = run.allocation.rows.set_index("workload").loc["notebook"]
    assert nb.gpu_cost == pytest.approx(14 / 108 * per_gpu, abs=0.01)
    assert float(by_workload[("notebook", "")]["cost"]) == pytest.approx(nb.total_cost, abs=0.005)
    assert by_workload[("notebook", "")]["server"] == "tgi"


def test_tokens_csv_sums_to_the_serving_workloads_allocated_cost(run):
    rows = _csv(run.out_dir / "tokens.csv")
    allocated = _allocated(run)
    serving = {r["workload"] for r in rows}
    assert serving == {"chat", "embed", "train", "notebook"}
    cents = sum(round(float(r["cost"]) * 100) for r in rows)
    assert cents == sum(round(float(allocated[w]) * 100) for w in serving)
    # chat's cost is split over its two models by tokens, to the cent
    a, b = (next(r for r in rows if r["workload"] == "chat" and r["model"] == m) for m in (MODEL_A, MODEL_B))
    chat = round(float(allocated["chat"]) * 100)
    assert round(float(a["cost"]) * 100) + round(float(b["cost"]) * 100) == chat
    assert abs(round(float(a["cost"]) * 100) - chat * 120 / 150) <= 1
    for r in (a, b):
        assert float(r["usd_per_1m_tokens"]) == float(r["cost"]) / (int(r["prompt_tokens"]) + int(r["generation_tokens"])) * 1e6


def test_prompt_and_generation_split_by_measured_time_else_the_generation_weight(run):
    rows = {(r["workload"], r["model"]): r for r in _csv(run.out_dir / "tokens.csv")}
    a, b = rows[("chat", MODEL_A)], rows[("chat", MODEL_B)]
    n = int(DAYS * 86400 / INTERVAL)
    # measured: prefill 12 s, decode 48 s per interval -> prompts pay 20 % of the cost
    cost = float(a["cost"])
    assert float(a["usd_per_1m_prompt_tokens"]) == pytest.approx(0.2 * cost / (90_000 * n) * 1e6, rel=1e-12)
    assert float(a["usd_per_1m_generation_tokens"]) == pytest.approx(0.8 * cost / (30_000 * n) * 1e6, rel=1e-12)
    # no times: a generated token weighs 4 prompt tokens -> 20,000 / (20,000 + 4 x 10,000) = 1/3 to prompts
    cost = float(b["cost"])
    assert float(b["usd_per_1m_prompt_tokens"]) == pytest.approx(cost / 3 / (20_000 * n) * 1e6, rel=1e-12)
    assert float(b["usd_per_1m_generation_tokens"]) == pytest.approx(cost * 2 / 3 / (10_000 * n) * 1e6, rel=1e-12)


@given(prompt=st.integers(0, 10**9), gen=st.integers(0, 10**9), cents=st.integers(0, 10**7),
       pre=st.one_of(st.none(), st.floats(0, 1e5)), dec=st.one_of(st.none(), st.floats(0, 1e5)),
       weight=st.floats(0.01, 100))
def test_the_split_never_creates_or_loses_money(prompt, gen, cents, pre, dec, weight):
    row = TokenRow("t", "p", "u", "production", "ns", "Deployment", "w", "vllm", "m", prompt, gen, None, None,
                   pre, dec, cost=cents / 100)
    _split(row, weight)
    assert row.prompt_cost + row.generation_cost == pytest.approx(row.cost, abs=1e-9)
    assert -1e-9 <= row.prompt_cost <= row.cost + 1e-9
    if prompt == 0 and gen > 0:
        assert row.prompt_cost == 0
    if gen == 0 and prompt > 0:
        assert row.generation_cost == 0


def test_without_a_tokens_table_tokens_csv_is_its_header(small_dataset, small_allocation, tmp_path):
    costs = token_costs(Dataset(small_dataset), small_allocation)
    assert costs.empty
    costs.write_csv(tmp_path / "tokens.csv")
    assert (tmp_path / "tokens.csv").read_text().strip() == ",".join(CSV_COLUMNS)


def test_summary_tokens_in_recommendations_json(run):
    doc = json.loads((run.out_dir / "recommendations.json").read_text())
    s = doc["summary"]["tokens"]
    rows = _csv(run.out_dir / "tokens.csv")
    assert s["cost"] == pytest.approx(sum(float(r["cost"]) for r in rows), abs=0.001)
    assert s["prompt_tokens"] == sum(int(r["prompt_tokens"]) for r in rows)
    assert s["serving_workloads"] == 4 and s["unpriced_tokens"] == 0


def _token_alerts(ctx) -> list[dict]:
    doc = json.loads((ctx.out_dir / "alerts.json").read_text())
    return [a for a in doc["alerts"] if a["type"].startswith("token-")]


def test_token_spike_alerts_on_the_planted_day_only(run, quiet):
    spikes = [a for a in _token_alerts(run) if a["type"] == "token-spike"]
    assert {(a["scope"], a["name"], a["date"]) for a in spikes} == {("team", "ml-platform", "2026-11-10"),
                                                                   ("model", EMBED, "2026-11-10")}
    model = next(a for a in spikes if a["scope"] == "model")
    assert model["tokens"] == 24 * 6 * 50_001 and model["baseline_tokens"] == 24 * 50_001
    assert model["factor"] == pytest.approx(6.0) and model["severity"] == "critical"
    assert not [a for a in _token_alerts(quiet) if a["type"] == "token-spike"]
    # the cost spike machinery is the same test: no cost spike was planted, none is raised
    assert not [a for a in json.loads((run.out_dir / "alerts.json").read_text())["alerts"] if a["type"] == "spike"]


def test_token_budgets_project_to_month_end(quiet):
    doc = json.loads((quiet.out_dir / "alerts.json").read_text())
    status = {(b["scope"], b["name"], b["unit"]): b for b in doc["token_budgets"]}
    research = status[("team", "research", "tokens")]
    n_day = 24 * (500_000 + 10_000)  # train + notebook per whole day
    # window 2026-11-02..12 (10 days, all in November): projection = tokens so far + the daily rate x 20 days
    assert research["month_to_date"] == pytest.approx(10 * n_day, rel=1e-9)
    assert research["projected"] == pytest.approx(30 * n_day, rel=1e-9)
    assert research["status"] == "ok"
    assert status[("team", "research", "usd")]["status"] == "over"  # $1 a month
    assert status[("model", MODEL_A, "tokens")]["status"] == "over"
    alerts = {(a["scope"], a["name"], a.get("unit")) for a in _token_alerts(quiet) if a["type"] == "token-budget"}
    assert alerts == {("team", "research", "usd"), ("model", MODEL_A, "tokens")}


def test_webhook_message_carries_the_token_alerts(run):
    doc = json.loads((run.out_dir / "alerts.json").read_text())
    text = slack_payload(doc)["text"]
    assert f"model {EMBED} served 7.2M tokens on 2026-11-10" in text
    assert f"model {MODEL_A} is projected over its 2026-11 token budget" in text


@pytest.mark.parametrize("text, message", [
    ("tokens: {generation_weight: 0}\n", "tokens.generation_weight: must be above 0, got 0"),
    ("tokens: {spike_min_tokens: -5}\n", "tokens.spike_min_tokens: must be a non-negative finite number, got -5"),
    ("tokens:\n  budgets:\n    teams:\n      ml: {}\n", "tokens.budgets.teams.ml: give monthly_tokens, monthly_usd or both"),
    ("tokens:\n  budgets:\n    models:\n      m: {monthly_tokens: lots}\n",
     "tokens.budgets.models.m.monthly_tokens: expected a number, got 'lots'"),
])
def test_bad_token_settings_exit_2_naming_the_key(tmp_path, capsys, text, message):
    from recommender.cli import main

    root = build_dataset(tmp_path / "data", days=1, interval_s=3600)
    (tmp_path / "config.yaml").write_text(text)
    code = main(["recommend", "--data", root, "--out", str(tmp_path / "out"), "--config",
                 str(tmp_path / "config.yaml"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and f"config.yaml: {message}" in err and err.count("\n") == 1


def test_report_markdown_has_the_token_section(run):
    md = (run.out_dir / "report.md").read_text()
    section = md.split("## LLM serving: cost per token", 1)[1].split("\n## ", 1)[0]
    rows = {r["model"] or "(no model label)": r for r in _csv(run.out_dir / "tokens.csv")}
    assert f"| {EMBED} | vllm |" in section and "| (no model label) | tgi |" in section
    assert "### Token guard rails" in section and "| model | servers | tokens | cost | $/1M |" in section
    # the prefix-cache hit rate of MODEL_A: (30,000 + 100,000) / (90,000 + 400,000) cached prompt tokens
    assert re.search(rf"\| {re.escape(MODEL_A)} \| sglang, vllm \|.*\| 27% \|", section)
    assert rows[EMBED]["usd_per_1m_tokens"]


@pytest.mark.tools
def test_token_section_renders_in_headless_chromium(run, tmp_path):
    shot, dom = render_in_chromium(run.out_dir / "report.html", tmp_path, "report-tokens.png", 6000)
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    section = re.search(r'<section id="tokens">(.*?)</section>', dom, re.S).group(1)
    assert "LLM serving: cost per token" in section
    figures = dict(re.findall(r'<figure class="chart" data-chart="([^"]+)">(.*?)</figure>', section, re.S))
    assert {"tokens-usd-per-1m-model", "tokens-usd-per-1m-team", "tokens-per-gpu-hour", "tokens-hourly"} <= set(figures)
    for name, body in figures.items():
        assert "<svg" in body and len(re.findall(r"<(path|rect|use)\b", body)) >= 3, name
    models = re.search(r'data-table="tokens-models">(.*?)</table>', section, re.S).group(1)
    for model in (MODEL_A, MODEL_B, EMBED, "(no model label)"):
        assert f"<td>{model}</td>" in models
    # the blended $/1M of the embed model, as tokens.csv says, and its p99 prompt length from the histogram
    embed = next(r for r in _csv(run.out_dir / "tokens.csv") if r["model"] == EMBED)
    value = float(embed["usd_per_1m_tokens"])
    shown = f"${value:,.2f}" if value >= 1 else f"${value:,.3f}"
    assert re.search(rf"<td>{re.escape(EMBED)}</td><td>vllm</td>.*?<td class=\"num\">{re.escape(shown)}</td>", models)
    assert 'data-table="token-budgets"' in section and 'data-table="token-spikes"' in section
    assert "Busiest hour" in section and "prompts take" in section


def test_tokens_of_a_workload_without_allocated_cost_are_kept_unpriced(tmp_path, catalog):
    from recommender.allocation import allocate

    root = build_dataset(tmp_path / "data", days=1, interval_s=3600)
    # a pod on a node the nodes table does not know: its samples are unpriced, so is its workload
    write_tokens(root, [ServingSpec("ml", "ghost-0", "gpu-9", "vllm", MODEL_A, 1_000, 100),
                        ServingSpec("ml", "embed-0", "gpu-1", "vllm", EMBED, 1_000, 100)], days=1, interval_s=3600)
    data = Dataset(str(root))
    costs = token_costs(data, allocate(data, catalog))
    ghost = next(r for r in costs.rows if r.workload == "ghost-0")
    assert ghost.cost is None and ghost.usd_per_1m_tokens is None and ghost.tokens == 24 * 1_100
    assert any("ml/ghost-0" in n and "no allocated cost" in n for n in costs.notes)
    assert costs.summary()["unpriced_tokens"] == 24 * 1_100
    costs.write_csv(tmp_path / "tokens.csv")
    row = next(r for r in _csv(tmp_path / "tokens.csv") if r["workload"] == "ghost-0")
    assert (row["cost"], row["usd_per_1m_tokens"], row["prompt_tokens"]) == ("", "", str(24 * 1_000))


def test_token_rows_follow_the_observed_clusters_pod_to_workload_map(tmp_path, catalog):
    from optimizer.inventory import build_inventory
    from recommender.allocation import allocate

    root = build_dataset(tmp_path / "data", days=1, interval_s=3600)
    write_tokens(root, [ServingSpec("ml", "embed-0", "gpu-1", "vllm", EMBED, 1_000, 100)], days=1, interval_s=3600)
    data = Dataset(str(root))
    alloc = allocate(data, catalog)
    observed = build_inventory(data)
    built = token_costs(data, alloc)  # no map given: the observed cluster's pods change log says
    given = token_costs(data, alloc, pod_workload=observed.pod_workload)
    assert [(r.kind, r.workload, r.cost) for r in built.rows] == [(r.kind, r.workload, r.cost) for r in given.rows]
    assert [(r.kind, r.workload) for r in given.rows] == [("Deployment", "embed")]
    # the run's map is the one used: a pod it puts in another workload is priced with that workload's cost
    moved = token_costs(data, alloc, pod_workload={("ml", "embed-0"): ("ml", "Deployment", "chat")})
    assert [r.workload for r in moved.rows] == ["chat"]
    assert moved.rows[0].cost == pytest.approx(alloc.workload_costs()[("ml", "Deployment", "chat")])
