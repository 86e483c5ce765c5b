"""KV-cache-aware GPU memory of pre-allocating model servers and the use-managed-api action, on hand-made
clusters (tests/optimizer/llm_cluster.py): a vLLM pod that NVML shows holding 72 of 80 GiB whatever its load."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.config import OptimizerConfig, SolverConfig
from optimizer.decisions.managed_api import break_even_tokens_per_month
from optimizer.llm.config import LlmConfig, ManagedApiConfig
from optimizer.llm.kv_sizing import KvSizing, memory_fraction
from optimizer.llm.models import find_model
from tests.optimizer.llm_cluster import (
    GIB,
    INTERVAL_S,
    NODE_HOURLY,
    USED_BYTES,
    Server,
    build,
    intervals,
    recommend,
    recommend_result,
)

GPU_SHAPES = ("use-mig-slice", "share-gpu", "change-instance-type")
# Llama 3.1 8B by hand from its config.json: 8.03 B parameters in bfloat16; K and V of 32 layers × 8 KV
# heads × 128 dims × 2 bytes per token
WEIGHTS_8B = 8_030_000_000 * 2
KV_BYTES_PER_TOKEN_8B = 2 * 32 * 8 * 128 * 2
DAYS = 2
BUSY = Server("chat", "gpu-a", prompt_tokens=5_000_000, generation_tokens=1_800_000)  # ~30 B tokens a month
QUIET = Server("quiet", "gpu-b", kv=(0.01, 0.05))  # 18,000 + 4,000 tokens per 10 minutes


@pytest.mark.parametrize("name", ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/llama-3.1-8b-instruct",
                                  "Meta-Llama-3.1-8B-Instruct", "/models/Llama-3.1-8B-Instruct/", "llama3.1:8b",
                                  "LLAMA_3.1_8B_INSTRUCT", "meta-llama/Llama-3.1-8B"])
def test_model_names_match_whatever_their_spelling(name):
    spec = find_model(name)
    assert spec is not None and spec.id == "meta-llama/Llama-3.1-8B-Instruct"
    assert spec.kv_bytes_per_token == KV_BYTES_PER_TOKEN_8B == 131_072
    assert spec.weights_bytes == WEIGHTS_8B


@pytest.mark.parametrize("name", ["meta-llama/Llama-3.1-8B-Instruct-FP8", "hugging-quants/Llama-3.1-8B-Instruct-AWQ",
                                  "llama-3.1-8b-instruct-gptq-int4", "my-chat-model", "", None,
                                  "meta-llama/Llama-3.1-9B-Instruct"])
def test_quantized_or_unknown_models_match_nothing(name):
    assert find_model(name) is None


def test_model_table_rows_have_sources_and_known_shapes():
    from optimizer.llm.models import model_table

    rows = {m.id: m for m in model_table()}
    assert len(rows) >= 11 and all(m.source.startswith("https://huggingface.co/") for m in rows.values())
    # GQA shapes from config.json, by hand: 70B 80 layers × 8 KV heads × 128; Qwen2.5 7B 28 × 4 × 128;
    # Gemma 2 9B 42 × 8 × 256 (head_dim set explicitly)
    assert rows["meta-llama/Llama-3.3-70B-Instruct"].kv_bytes_per_token == 2 * 80 * 8 * 128 * 2
    assert rows["Qwen/Qwen2.5-7B-Instruct"].kv_bytes_per_token == 2 * 28 * 4 * 128 * 2
    assert rows["google/gemma-2-9b-it"].kv_bytes_per_token == 2 * 42 * 8 * 256 * 2


@pytest.fixture(scope="module")
def doc(tmp_path_factory, catalog):
    root = build(tmp_path_factory.mktemp("llm") / "d", [BUSY, QUIET], days=DAYS)
    return recommend(root, catalog)


def _rec(doc, name):
    found = [r for r in doc["recommendations"] if r["workload"]["name"] == name]
    assert len(found) == 1, [r["action"] for r in found]
    return found[0]


def test_kv_aware_need_downsizes_a_server_that_nvml_shows_at_90_percent(doc):
    """chat: 72 of 80 GiB held, KV usage at most 15 % of a 450,000-token pool of a Llama 3.1 8B."""
    rec = _rec(doc, "chat")
    assert rec["action"] in GPU_SHAPES
    pool = 450_000 * KV_BYTES_PER_TOKEN_8B
    runtime = USED_BYTES - WEIGHTS_8B - pool  # measured: what is left of the 72 GiB besides weights and pool
    floor = WEIGHTS_8B + runtime + 0.15 * pool  # weights + runtime + the observed KV peak
    new_memory = rec["proposed"]["gpu_memory_bytes"] * rec["proposed"].get("gpu_fraction", 1.0)
    assert floor <= new_memory < 80 * GIB
    kv = rec["details"]["kv_aware"]
    assert kv["weights_bytes"] == WEIGHTS_8B and kv["kv_pool_bytes"] == pool and kv["runtime_bytes"] == runtime
    assert kv["need_bytes"] >= floor * 1.10 - 1  # production: 10 % above the peak at least
    # the server's pre-allocated share on the new device holds the need
    assert rec["proposed"]["server_memory_fraction"] * rec["proposed"]["gpu_memory_bytes"] >= kv["need_bytes"]
    assert "KV-cache-aware" in rec["rationale"] and "72.0 GiB NVML shows vllm holding" in rec["rationale"]
    assert "--gpu-memory-utilization" in rec["rationale"]


def test_without_the_tokens_table_the_same_pod_is_sized_by_nvml_and_not_downsized(tmp_path, catalog):
    doc = recommend(build(tmp_path / "d", [BUSY], days=DAYS, tokens=False), catalog)
    assert not [r for r in doc["recommendations"] if r["action"] in GPU_SHAPES]


def test_use_managed_api_only_when_cheaper_at_the_measured_mix(doc):
    chat, quiet = _rec(doc, "chat"), _rec(doc, "quiet")
    # chat: 6.8 M tokens per 10 minutes is ~$6,500 a month on Bedrock, more than its GPU: no API candidate
    assert chat["action"] != "use-managed-api"
    assert all(a["action"] != "use-managed-api" for a in chat["details"].get("alternatives", []))
    assert quiet["action"] == "use-managed-api"
    n, window_h = intervals(DAYS), DAYS * 24
    assert n * INTERVAL_S / 3600 == window_h
    api_monthly = (n * 18_000 * 0.22 + n * 4_000 * 0.22) / 1e6 / window_h * 730  # $0.22/$0.22 per 1M
    assert quiet["monthly_cost_proposed"] == pytest.approx(api_monthly, abs=0.005)
    assert quiet["proposed"]["managed_model"] == "meta.llama3-1-8b-instruct-v1:0"
    # the KV-aware slice it could also have is listed, not lost
    alt = quiet["details"]["alternatives"]
    assert [a["action"] for a in alt] == ["use-mig-slice"] and alt[0]["monthly_cost_proposed"] > api_monthly


def test_use_managed_api_money_counts_the_api_spend(doc):
    quiet = _rec(doc, "quiet")
    api = quiet["monthly_cost_proposed"]
    # quiet is alone on its p5.4xlarge: the node goes, the API spend comes
    assert quiet["monthly_bill_savings"] == pytest.approx(NODE_HOURLY * 730 - api, abs=0.01)
    assert quiet["details"]["bill_effect"]["nodes_removed"] == ["gpu-b"]
    bill = doc["summary"]["node_bill"]
    assert bill["managed_api_monthly"] == pytest.approx(api, abs=0.01)
    assert doc["summary"]["monthly_bill_savings"] == pytest.approx(
        bill["today_monthly"] - bill["plan_monthly"] - bill["managed_api_monthly"], abs=0.02)
    assert doc["summary"]["bill_savings_by_action"]["use-managed-api"] < NODE_HOURLY * 730


def test_break_even_volume_on_hand_numbers(doc):
    # $5,022.40 a month of pods against $0.22 per 1M tokens either way: 22.829 B tokens a month
    assert break_even_tokens_per_month(5022.40, 3, 1, 0.22, 0.22) == pytest.approx(5022.40 / 0.22e-6, rel=1e-12)
    # 3 prompt : 1 generation at $0.30 / $0.60: $0.375 per 1M blended -> 13.393 B tokens a month
    assert break_even_tokens_per_month(5022.40, 3e9, 1e9, 0.30, 0.60) == pytest.approx(13_393_066_666.67, rel=1e-9)
    quiet = _rec(doc, "quiet")
    blended = (18_000 * 0.22 + 4_000 * 0.22) / 22_000 / 1e6
    assert quiet["details"]["break_even_tokens_per_month"] == pytest.approx(
        quiet["monthly_cost_current"] / blended, rel=1e-4)


def test_production_policy_of_the_managed_api(tmp_path, catalog):
    root = build(tmp_path / "d", [QUIET], days=DAYS)
    result = recommend_result(root, catalog)
    (proposal,) = [r for r in result.recommendations if r.name == "quiet"]
    assert proposal.details["proposal_only"] and proposal.risk in ("medium", "high")
    from recommender.suggestions import write_suggestions

    # an application change: no patch to apply, even with the workload's containers known
    assert write_suggestions([proposal], tmp_path / "out", inventory=result.inventory) == {}
    never = OptimizerConfig(solver=SolverConfig(num_workers=1, stage1_time_s=5),
                            llm=LlmConfig(managed=ManagedApiConfig(production="never")))
    assert all(r["action"] != "use-managed-api" for r in recommend(root, catalog, never)["recommendations"])
    unmapped = OptimizerConfig(solver=SolverConfig(num_workers=1, stage1_time_s=5),
                               llm=LlmConfig(managed=ManagedApiConfig(models={})))
    assert all(r["action"] != "use-managed-api" for r in recommend(root, catalog, unmapped)["recommendations"])


def _kv(fraction=0.9, server="vllm") -> KvSizing:
    return KvSizing(server, "m", None, 16 * GIB, "model table", 2 * GIB, True, 54 * GIB, "capacity", 0.15, 0.2,
                    None, 72 * GIB, None, None, fraction)


def test_memory_fraction_on_the_new_shape():
    # a 0.5 time-slicing share of an 80 GiB GPU: the server may take half, not its 0.9
    assert memory_fraction(_kv(), 30 * GIB, 80 * GIB, 40 * GIB) == 0.5
    # a 39.4 GiB slice that needs 37 GiB: 0.9 of it is too little, so 0.94
    assert memory_fraction(_kv(), 37 * GIB, 39.4 * GIB, 39.4 * GIB) == 0.94
    # a 48 GiB GPU with room: the current share stays (float32 0.9 from the table is 0.9)
    assert memory_fraction(_kv(0.8999999761581421), 30 * GIB, 48 * GIB, 48 * GIB) == 0.9


# -- properties against references simple enough to write by hand ------------------------------------------


@settings(max_examples=200, deadline=None)
@given(weights=st.integers(1 * GIB, 150 * GIB), runtime=st.integers(0, 8 * GIB), pool=st.integers(GIB, 600 * GIB),
       p99=st.floats(0, 1), extra=st.floats(0, 1), headroom=st.floats(0, 0.5), margin=st.floats(0, 0.5))
def test_the_need_is_never_below_weights_runtime_and_the_kv_peak(weights, runtime, pool, p99, extra, headroom,
                                                                 margin):
    from types import SimpleNamespace

    from optimizer.llm.kv_sizing import apply

    peak = p99 + (1 - p99) * extra
    kv = KvSizing("vllm", "m", None, weights, "model table", runtime, True, pool, "capacity", p99, peak, None,
                  weights + runtime + pool, None, None, 0.9)
    d = SimpleNamespace(gpu_mem_observed=None, gpu_mem_max=None, gpu_mem_need=None, kv=None)
    apply(d, kv, SimpleNamespace(mem_headroom=headroom, mem_peak_margin=margin))
    floor = weights + runtime + peak * pool
    assert d.gpu_mem_need >= floor * (1 + margin) - 1
    assert d.gpu_mem_need >= (weights + runtime + p99 * pool) * (1 + headroom) - 1
    assert d.kv is kv and d.gpu_mem_max == kv.peak_bytes >= floor - 1


@settings(max_examples=200, deadline=None)
@given(monthly=st.floats(1, 1e6), prompt=st.integers(1, 10**12), generation=st.integers(0, 10**12),
       price_in=st.floats(0.01, 100), price_out=st.floats(0.01, 100))
def test_at_the_break_even_volume_the_api_costs_what_the_pods_cost(monthly, prompt, generation, price_in, price_out):
    volume = break_even_tokens_per_month(monthly, prompt, generation, price_in, price_out)
    share = prompt / (prompt + generation)
    api = (volume * share * price_in + volume * (1 - share) * price_out) / 1e6
    assert api == pytest.approx(monthly, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(visible=st.floats(10 * GIB, 200 * GIB), share=st.sampled_from([1.0, 0.5, 0.25]), need_share=st.floats(0.01, 1),
       now=st.floats(0.3, 0.98))
def test_the_server_share_fits_the_shape_and_holds_the_need(visible, share, need_share, now):
    allotted = visible * share
    need = allotted * need_share
    f = memory_fraction(_kv(now), need, visible, allotted)
    assert f <= share + 1e-9  # never more of the device than the shape gives the pod
    assert f * visible >= need - visible * 1e-9  # and never less than the need


@pytest.mark.parametrize("kv_later, flagged", [(None, False), ((0.05, 0.8), True)])
def test_backtest_replays_a_kv_aware_proposal_by_the_kv_cache_it_uses(tmp_path, catalog, kv_later, flagged):
    """Replayed by NVML memory every interval of a pre-allocating server would be 'over' the slice (72 GiB held);
    replayed by weights + runtime + KV usage × pool only a KV cache that outgrows the slice is."""
    from datetime import timedelta

    from optimizer.backtest import backtest
    from store.reader import Dataset
    from tests.optimizer.llm_cluster import START

    root = build(tmp_path / "d", [Server("chat", "gpu-a", prompt_tokens=5_000_000, generation_tokens=1_800_000,
                                         kv_later=kv_later)], days=DAYS)
    cfg = OptimizerConfig(solver=SolverConfig(num_workers=1, stage1_time_s=5))
    doc = backtest(Dataset(root), catalog, cfg, START + timedelta(days=1), solver=False).to_json_dict()
    rows = [r for r in doc["recommendations"] if r["id"].endswith("/llm/deployment/chat")]
    assert len(rows) == 1 and rows[0]["id"].split("/")[0] in GPU_SHAPES and rows[0]["intervals"] >= intervals(1)
    if flagged:  # KV usage up to 80 % of the 54.9 GiB pool: 61 GiB, over the 39.4 GiB slice in the busy hours
        assert rows[0]["flagged"] and 0 < rows[0]["oom_intervals"] < intervals(1)
    else:
        assert rows[0]["oom_intervals"] == 0 and not rows[0]["flagged"]
