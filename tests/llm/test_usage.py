"""The tokens table summed per serving pod and model (optimizer/llm/usage.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from optimizer.llm.usage import bucket_quantile, serving_usage
from store.schema import conform

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _rows():
    rows = []
    for i in range(4):
        rows.append({"ts": T0 + timedelta(minutes=i + 1), "node": "n1", "interval_s": 60.0, "namespace": "ml",
                     "pod": "chat-0", "container": "vllm", "server": "vllm", "model": "llama-3.1-8b",
                     "prompt_tokens": 1000 * (i + 1), "generation_tokens": 100, "cached_prompt_tokens": None,
                     "requests": 2, "kv_cache_usage": [0.1, 0.2, 0.9, 0.3][i],
                     "kv_cache_capacity_tokens": 50_000, "prefill_seconds": 1.5, "decode_seconds": 4.5,
                     "prompt_tokens_hist": '{"512": 1, "2048": 2, "+Inf": 2}',
                     "gpu_memory_utilization": 0.9})
    rows.append({"ts": T0 + timedelta(minutes=1), "node": "n2", "interval_s": 60.0, "namespace": "ml",
                 "pod": "tgi-0", "container": None, "server": "tgi", "model": None, "prompt_tokens": 7,
                 "generation_tokens": 3, "requests": None})
    cols = {k: [r.get(k) for r in rows] for k in {k for r in rows for k in r}}
    return conform("tokens", cols)


def test_sums_per_pod_and_model_with_nulls_kept_apart_from_zero():
    chat, tgi = serving_usage(_rows())
    assert (chat.pod, chat.prompt_tokens, chat.generation_tokens, chat.requests) == ("chat-0", 10_000, 400, 8)
    assert chat.tokens == 10_400 and chat.seconds == 240.0 and chat.rows == 4
    assert chat.cached_prompt_tokens is None  # not exported: None, never 0
    assert chat.prefill_seconds == pytest.approx(6.0) and chat.decode_seconds == pytest.approx(18.0)
    assert chat.kv_usage_max == pytest.approx(0.9) and chat.kv_usage_p99 == pytest.approx(0.9)
    assert chat.kv_capacity_tokens == 50_000 and chat.gpu_memory_utilization == pytest.approx(0.9)
    assert chat.prompt_hist == {512.0: 4, 2048.0: 8, float("inf"): 8}
    assert (tgi.model, tgi.requests, tgi.kv_usage_p99, tgi.prompt_hist) == (None, None, None, {})


def test_empty_or_absent_table_gives_nothing():
    assert serving_usage(None) == []
    assert serving_usage(conform("tokens", {c: [] for c in ("ts", "node", "interval_s", "namespace", "pod",
                                                           "server")})) == []


def test_bucket_quantile_interpolates_within_a_bucket_and_never_extrapolates_past_the_last_bound():
    hist = {100.0: 50, 200.0: 100, float("inf"): 100}
    assert bucket_quantile(hist, 0.5) == pytest.approx(100.0)
    assert bucket_quantile(hist, 0.75) == pytest.approx(150.0)
    assert bucket_quantile({100.0: 0, float("inf"): 10}, 0.99) == pytest.approx(100.0)
    assert bucket_quantile({}, 0.99) is None
