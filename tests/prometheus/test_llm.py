"""LLM serving series → tokens rows: counter increments, row keys, nodes and discovery, on hand-made answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importers.prometheus.client import ClientConfig, PromClient
from importers.prometheus.llm import LlmDialect, build, discover_llm, queries
from importers.prometheus.llm.counters import increments, sibling_increments
from importers.prometheus.series import Grid
from tests.prometheus.fake import ok, serve

NAN = math.nan
STEP = 60
GRID = Grid(1200.0, 60.0, 4)  # rows at 1200..1380; the queries start at 1140


def test_increments_reset_gap_and_first_point():
    v = np.array([100.0, 130.0, 130.0, 20.0, 50.0, NAN, 70.0, 90.0])
    got = increments(v)
    assert np.isnan(got[0])  # no value before the first point: no increment
    assert got[1:5].tolist() == [30.0, 0.0, 20.0, 30.0]  # 130 → 20: a restart, the increment is 20
    assert np.isnan(got[5]) and np.isnan(got[6])  # the gap, and the point after it: no row, never 0
    assert got[7] == 20.0


def _reference(values: list[float | None]) -> list[float | None]:
    out: list[float | None] = [None]
    for prev, cur in zip(values, values[1:], strict=False):
        if prev is None or cur is None:
            out.append(None)
        elif cur < prev:
            out.append(cur)
        else:
            out.append(cur - prev)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 10**9).map(float)), min_size=0, max_size=60))
def test_increments_equal_a_plain_loop(values):
    got = increments(np.array([NAN if v is None else v for v in values], dtype=np.float64))
    want = _reference(values)[:len(values)]
    assert [None if np.isnan(g) else g for g in got] == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=50), st.sets(st.integers(1, 49), max_size=5),
       st.integers(0, 10**9))
def test_increments_add_up_to_what_the_server_counted(steps, restarts, base):
    """A counter sampled at every step (restarting to 0 within some steps): the increments sum to the true
    count whenever a restart's new value is below the value before it; a restart no reader can see (the
    new value caught up within the step) only ever loses tokens, never adds any."""
    values, cum = [float(base)], float(base)
    for i, x in enumerate(steps, start=1):
        cum = float(x) if i in restarts else cum + x
        values.append(cum)
    detectable = all(values[i] < values[i - 1] for i in restarts if i < len(values))
    total = np.nansum(increments(np.array(values)))
    assert total == sum(steps) if detectable else total <= sum(steps)


def test_a_lazily_created_child_counts_from_zero():
    stop = np.array([10.0, 12.0, 15.0, 15.0])
    failure = np.array([NAN, NAN, 2.0, 3.0])  # TGI creates tgi_request_failure{err} on the first failure
    gap = np.array([NAN, 5.0, 6.0, 6.0])  # born while no sibling was scraped the step before: unknown
    got = sibling_increments([stop, failure])
    assert np.isnan(got[1][1]) and got[1][2:].tolist() == [2.0, 1.0]
    alone = sibling_increments([np.array([NAN, NAN, 1.0, 2.0]), gap])
    assert np.isnan(alone[1][1]) and alone[1][2] == 1.0
    # a second copy of a counter appearing mid-way has counted since the server started: not one step's count
    copy = sibling_increments([stop, np.array([NAN, NAN, 15.0, 15.0])])
    assert np.isnan(copy[1][2]) and copy[1][3] == 0.0


def s(labels: dict, values: list[float | None], t0: float = GRID.t0 - GRID.step) -> dict:
    return {"metric": labels, "values": [[t0 + i * GRID.step, str(v)] for i, v in enumerate(values) if v is not None]}


def pod(ns: str, name: str, **more) -> dict:
    return {"namespace": ns, "pod": name, "container": "server", **more}


DIALECT = LlmDialect(("vllm", "tgi"), frozenset({"vllm:prompt_tokens_total", "vllm:generation_tokens_total"}),
                     (("ml", "chat-0"),), (("ml", "chat-0", ("n1", "n2")),))


def _rows(results: dict, dialect: LlmDialect = DIALECT) -> list[dict]:
    table = build(results, GRID, STEP, dialect)
    return sorted(table.to_pylist(), key=lambda r: (r["pod"], r["model"] or "", r["ts"]))


def test_a_pod_recreated_on_another_node_mid_chunk_goes_to_each_node_in_turn():
    labels = pod("ml", "chat-0", model_name="llama")
    res = {"vllm|vllm:prompt_tokens_total": [s(labels, [500, 600, 40, 90, 100])],  # restarted within (1260, 1320]
           "vllm|vllm:generation_tokens_total": [s(labels, [50, 60, 4, 9, 10])],
           "pod_info": [s({"namespace": "ml", "pod": "chat-0", "node": "n1"}, [1, 1, 1, None, None]),
                        s({"namespace": "ml", "pod": "chat-0", "node": "n2"}, [None, None, 1, 1, 1])]}
    rows = _rows(res)
    assert [r["prompt_tokens"] for r in rows] == [100, 40, 50, 10]
    assert [r["generation_tokens"] for r in rows] == [10, 4, 5, 1]
    # at 1320 both nodes report the pod (it moved within the step): the newer placement
    assert [r["node"] for r in rows] == ["n1", "n2", "n2", "n2"]
    assert {(r["server"], r["model"], r["interval_s"]) for r in rows} == {("vllm", "llama", 60.0)}
    assert [r["ts"].timestamp() for r in rows] == [1200, 1260, 1320, 1380]


def test_a_renamed_model_is_a_new_row_key_whose_first_point_has_no_row():
    old, new = pod("ml", "chat-0", model_name="llama-3.1"), pod("ml", "chat-0", model_name="llama-3.3")
    res = {"vllm|vllm:prompt_tokens_total": [s(old, [10, 20, None, None, None]), s(new, [None, None, 5, 8, 20])],
           "pod_info": [s({"namespace": "ml", "pod": "chat-0", "node": "n1"}, [1] * 5)]}
    rows = _rows(res)
    assert [(r["model"], r["ts"].timestamp(), r["prompt_tokens"]) for r in rows] == [
        ("llama-3.1", 1200, 10), ("llama-3.3", 1320, 3), ("llama-3.3", 1380, 12)]
    assert all(r["generation_tokens"] is None for r in rows)  # no series: null, never 0


def test_dialects_triton_tgi_and_series_without_a_pod():
    res = {
        "vllm|vllm:prompt_tokens_total": [
            s({**pod("llm", "triton-0"), "model": "mistral", "version": "1"}, [0, 7, 9, 9, 9]),
            s({"namespace": "monitoring", "pod": "collector-1", "exported_namespace": "ml", "exported_pod": "chat-0",
               "exported_container": "vllm", "model_name": "llama"}, [1, 2, 3, 4, 5]),
            s({"model_name": "phi", "job": "static"}, [1, 2, 3, 4, 5])],  # no pod: skipped
        "tgi|tgi_request_input_length_sum": [s(pod("llm", "tgi-0"), [100, 150, 150, 190, 200])],
        "tgi|tgi_request_success": [s(pod("llm", "tgi-0"), [1, 2, 2, 4, 5])],
        "tgi|tgi_request_failure": [s({**pod("llm", "tgi-0"), "err": "overloaded"}, [None, None, 1, 1, 2])],
        "tgi|tgi_request_input_length_bucket": [s({**pod("llm", "tgi-0"), "le": le}, v) for le, v in (
            ("100.0", [1, 1, 1, 2, 2]), ("+Inf", [1, 2, 2, 4, 5]))],
        "pod_info": [s({"namespace": ns, "pod": p, "node": "n1"}, [1] * 5)
                     for ns, p in (("llm", "triton-0"), ("llm", "tgi-0"), ("ml", "chat-0"), ("monitoring", "collector-1"))],
    }
    rows = _rows(res)
    by = {}
    for r in rows:
        by.setdefault((r["namespace"], r["pod"], r["server"], r["model"]), []).append(r)
    assert set(by) == {("llm", "triton-0", "triton", "mistral"), ("llm", "tgi-0", "tgi", None),
                       ("ml", "chat-0", "vllm", "llama")}
    assert [r["prompt_tokens"] for r in by[("llm", "triton-0", "triton", "mistral")]] == [7, 2, 0, 0]
    chat = by[("ml", "chat-0", "vllm", "llama")]
    assert {r["container"] for r in chat} == {"vllm"}  # exported_container, not the collector's
    tgi = by[("llm", "tgi-0", "tgi", None)]
    assert [r["prompt_tokens"] for r in tgi] == [50, 0, 40, 10]
    # successes + failures; the failure series appears at 1260 (first failure): its 1 counts there
    assert [r["requests"] for r in tgi] == [1, 1, 2, 2]
    assert [json.loads(r["prompt_tokens_hist"]) for r in tgi] == [
        {"100": 0, "+Inf": 1}, {"100": 0, "+Inf": 0}, {"100": 1, "+Inf": 2}, {"100": 0, "+Inf": 1}]
    assert all(r["kv_cache_usage"] is None and r["cached_prompt_tokens"] is None for r in tgi)


def test_nim_and_sglang_names():
    nim, sg = pod("llm", "nim-0", model_name="meta/llama-3.1-8b-instruct"), pod("llm", "sg-0", model_name="qwen", tp_rank="0")
    res = {"nim|prompt_tokens_total": [s(nim, [10, 20, 30, 40, 50])],
           "nim|generation_tokens_total": [s(nim, [1, 2, 3, 4, 5])],
           "nim|gpu_cache_usage_perc": [s(nim, [0.5] * 5)],
           "sglang|sglang:prompt_tokens_total": [s(sg, [0, 5, 10, 15, 20])],
           "sglang|sglang:cached_tokens_total": [s(sg, [0, 1, 2, 3, 4])],
           "sglang|sglang:token_usage": [s(sg, [0.25] * 5)],
           "pod_info": [s({"namespace": "llm", "pod": p, "node": "n1"}, [1] * 5) for p in ("nim-0", "sg-0")]}
    rows = _rows(res)
    assert {(r["pod"], r["server"], r["model"]) for r in rows} == {
        ("nim-0", "nim", "meta/llama-3.1-8b-instruct"), ("sg-0", "sglang", "qwen")}
    nim_rows = [r for r in rows if r["server"] == "nim"]
    assert [(r["prompt_tokens"], r["generation_tokens"], r["kv_cache_usage"]) for r in nim_rows] == [(10, 1, 0.5)] * 4
    sg_rows = [r for r in rows if r["server"] == "sglang"]
    assert [(r["prompt_tokens"], r["cached_prompt_tokens"], r["kv_cache_usage"]) for r in sg_rows] == [(5, 1, 0.25)] * 4
    assert all(r["generation_tokens"] is None and r["kv_cache_capacity_tokens"] is None for r in sg_rows)


def test_kv_cache_gauges_and_cache_config_engines():
    a, b = pod("ml", "chat-0", model_name="llama", engine="0"), pod("ml", "chat-0", model_name="llama", engine="1")
    info = {"block_size": "16", "gpu_memory_utilization": "0.85"}
    res = {"vllm|vllm:prompt_tokens_total": [s(a, [0, 1, 2, 3, 4]), s(b, [0, 10, 20, 30, 40])],
           "vllm|vllm:kv_cache_usage_perc": [s(a, [0.1, 0.2, 0.4, None, 1.2]), s(b, [0.1, 0.4, None, None, 0.9])],
           # the info of each engine; engine 1 restarted at 1320 with a larger pool (both seen at that step)
           "vllm|vllm:cache_config_info": [
               s({**a, **info, "num_gpu_blocks": "1000"}, [1] * 5),
               s({**b, **info, "num_gpu_blocks": "1000"}, [1, 1, 1, 1, None]),
               s({**b, **info, "num_gpu_blocks": "1500"}, [None, None, None, 1, 1]),
               # a pool not allocated yet: no size, not a 0
               s({**a, "engine": "2", "num_gpu_blocks": "None", "block_size": "16"}, [1] * 5)],
           "pod_info": [s({"namespace": "ml", "pod": "chat-0", "node": "n1"}, [1] * 5)]}
    rows = _rows(res)
    assert [r["prompt_tokens"] for r in rows] == [11, 11, 11, 11]  # engines summed
    assert rows[0]["kv_cache_usage"] == pytest.approx(0.3) and rows[1]["kv_cache_usage"] == pytest.approx(0.4)
    assert rows[2]["kv_cache_usage"] is None and rows[3]["kv_cache_usage"] == 1.0  # a gap; clipped to 1
    assert [r["kv_cache_capacity_tokens"] for r in rows] == [32_000, 32_000, 40_000, 40_000]
    assert [r["gpu_memory_utilization"] for r in rows] == pytest.approx([0.85] * 4)


def test_a_pod_kube_state_metrics_never_saw_has_no_rows_and_a_gap_in_pod_info_takes_the_nearest_node():
    labels = pod("ml", "chat-0", model_name="llama")
    counter = [s(labels, [0, 1, 2, 3, 4])]
    nowhere = LlmDialect(DIALECT.families, DIALECT.metrics, DIALECT.pods, ())
    assert _rows({"vllm|vllm:prompt_tokens_total": counter}, nowhere) == []
    # no kube_pod_info in this chunk, two nodes in the window: unknown → no rows
    assert _rows({"vllm|vllm:prompt_tokens_total": counter}) == []
    single = LlmDialect(DIALECT.families, DIALECT.metrics, DIALECT.pods, (("ml", "chat-0", ("n3",)),))
    assert {r["node"] for r in _rows({"vllm|vllm:prompt_tokens_total": counter}, single)} == {"n3"}
    info = [s({"namespace": "ml", "pod": "chat-0", "node": "n2"}, [None, None, 1, None, None])]
    rows = _rows({"vllm|vllm:prompt_tokens_total": counter, "pod_info": info})
    assert [r["node"] for r in rows] == ["n2"] * 4
    # a node label on the target (relabelled from the pod's node) wins, point by point; where the labelled
    # series has no point (another metric's series has), kube_pod_info places it
    rows = _rows({"vllm|vllm:prompt_tokens_total": [s({**labels, "node": "n9"}, [0, 1, 2, None, None]),
                                                    s({**labels, "node": "n8"}, [None, None, 0, 5, 6])],
                  "vllm|vllm:generation_tokens_total": [s(labels, [0, 1, 2, 3, 4])], "pod_info": info})
    assert [(r["node"], r["prompt_tokens"], r["generation_tokens"]) for r in rows] == [
        ("n9", 1, 1), ("n8", 1, 1), ("n8", 5, 1), ("n8", 1, 1)]


def test_queries_read_raw_values_from_one_step_before_and_collapse_duplicate_scrapes():
    q = queries(DIALECT, GRID, STEP)
    text, grid = q["vllm|vllm:prompt_tokens_total"]
    assert grid == Grid(1140.0, 60.0, 5)
    assert text.startswith("max without (job, instance, endpoint, service, ")
    assert "last_over_time(vllm:prompt_tokens_total[60s])" in text and "increase" not in text
    assert 'kube_pod_info{node!="",pod=~"chat\\\\-0"}' in q["pod_info"][0]


def test_discovery_says_which_columns_will_be_null():
    names = ["vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:kv_cache_usage_perc",
             "tgi_request_input_length_sum", "tgi_request_generated_tokens_sum", "tgi_request_success"]
    series = {"vllm:prompt_tokens_total": [pod("ml", "chat-0", model_name="llama"),
                                           {**pod("ml", "triton-0"), "model": "mistral"},
                                           {"job": "static-vllm", "model_name": "phi"}],
              "tgi_request_input_length_sum": [pod("ml", "tgi-0")],
              "kube_pod_info": [{"namespace": "ml", "pod": "chat-0", "node": "n1"},
                                {"namespace": "ml", "pod": "triton-0", "node": "n1"}]}

    def respond(req):
        match = req.params.get("match[]", "")
        if req.path == "/api/v1/label/__name__/values":
            return ok(names)
        if req.path == "/api/v1/series":
            return ok(series.get(match.split("{")[0], []))
        return ok([])

    fake, stop = serve(respond)
    try:
        d = discover_llm(PromClient(ClientConfig(fake.url)), 0, 3600)
    finally:
        stop()
    text = "\n".join(f.line() for f in d.findings)
    assert d.dialect.families == ("vllm", "tgi") and d.servers == {"vllm": 1, "triton": 1, "tgi": 1}
    assert "tokens.cached_prompt_tokens" in text and "vllm:prefix_cache_hits_total is not exported" in text
    assert "tokens.kv_cache_capacity_tokens" in text and "vllm:cache_config_info is not exported" in text
    assert "tokens.kv_cache_usage" not in text  # vllm:kv_cache_usage_perc is there
    assert "(job static-vllm) are skipped" in text
    assert "no kube_pod_info for ml/tgi-0" in text
    assert d.dialect.node_map() == {("ml", "chat-0"): ("n1",), ("ml", "triton-0"): ("n1",)}


def test_discovery_without_llm_series_is_one_line():
    fake, stop = serve(lambda req: ok([]))
    try:
        d = discover_llm(PromClient(ClientConfig(fake.url)), 0, 3600)
    finally:
        stop()
    assert not d.dialect.present and d.summary() == "LLM servers: none"
    assert [f.status for f in d.findings] == ["empty"] and "--enable-metrics" in d.findings[0].fix
