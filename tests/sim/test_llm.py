"""The simulated LLM servers: their tokens rows are whole requests of the Azure trace's sizes, their GPU
memory is pre-allocated whatever the load while the KV cache follows it, and the rest of the cluster is
the same as without them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml

from simulator import build_plan, simulate
from simulator.llm import PROMPT_BUCKETS
from store.reader import Dataset
from tests.sim.helpers import gpu_rows, quantile

START = datetime(2026, 1, 5, tzinfo=UTC)
# Azure LLM inference trace 2023, conversation (its README): mean 1,154.7 prompt and 211.1 generated tokens
TRACE_PROMPT_MEAN, TRACE_GENERATED_MEAN = 1154.7, 211.1


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    root = tmp_path_factory.mktemp("llm")
    simulate(str(root), nodes=14, days=2, interval_s=300, seed=5, start=START, workers=2)
    truth = json.loads((root / "truth.json").read_text())
    return root, truth, Dataset(str(root))


def _workload(truth, behaviour):
    (w,) = [w for w in truth["workloads"] if w["behaviour"] == behaviour]
    return w


def _rows(data, w) -> pa.Table:
    t = data.read("tokens")
    return t.filter(pc.is_in(t.column("pod"), pa.array(w["pods"])))


def test_counters_are_sums_of_whole_requests(llm):
    _, truth, data = llm
    for behaviour in ("llm-kv-oversized", "llm-low-volume"):
        w = _workload(truth, behaviour)
        rows = _rows(data, w).to_pydict()
        spec = w["llm"]
        prompt, gen, req = (np.array(rows[c]) for c in ("prompt_tokens", "generation_tokens", "requests"))
        # an interval without a finished request has no tokens; one with has at least one token per request
        assert ((req == 0) == (prompt == 0)).all() and ((req == 0) == (gen == 0)).all()
        assert (prompt >= req).all() and (gen >= req).all()
        # prefill and decode time are the interval's tokens at the request's speeds
        np.testing.assert_allclose(np.array(rows["prefill_seconds"]) * spec["prefill_tokens_per_s"], prompt, rtol=1e-9)
        np.testing.assert_allclose(np.array(rows["decode_seconds"]) * spec["decode_tokens_per_s"], gen, rtol=1e-9)
        # the prompt-length histogram counts the same requests: +Inf is the request count, buckets cumulative
        for raw, n in zip(rows["prompt_tokens_hist"], req, strict=True):
            hist = json.loads(raw)
            counts = [hist[str(b)] for b in PROMPT_BUCKETS] + [hist["+Inf"]]
            assert counts[-1] == n and counts == sorted(counts)
        cached = np.array(rows["cached_prompt_tokens"])
        assert (cached <= prompt).all()
        # truth.json's sums are the rows' sums
        facts = spec
        assert (facts["prompt_tokens"], facts["generation_tokens"], facts["requests"]) == (
            int(prompt.sum()), int(gen.sum()), int(req.sum()))
        assert facts["cached_prompt_tokens"] == int(cached.sum())
        assert cached.sum() / prompt.sum() == pytest.approx(spec["prefix_cache_share"], abs=0.01)


def test_request_sizes_are_the_azure_traces(llm):
    _, truth, _ = llm
    chat = _workload(truth, "llm-kv-oversized")["llm"]  # about 1.5 M requests: the means are close
    assert chat["prompt_tokens"] / chat["requests"] == pytest.approx(TRACE_PROMPT_MEAN, rel=0.06)
    assert chat["generation_tokens"] / chat["requests"] == pytest.approx(TRACE_GENERATED_MEAN, rel=0.03)


def test_request_rates(llm):
    _, truth, _ = llm
    assert 0.03 <= _workload(truth, "llm-low-volume")["llm"]["requests_per_s"] <= 0.08  # an internal docs assistant
    assert _workload(truth, "llm-kv-oversized")["llm"]["requests_per_s"] > 5


def test_gpu_memory_is_preallocated_while_the_kv_cache_follows_the_load(llm):
    _, truth, data = llm
    w = _workload(truth, "llm-kv-oversized")
    tokens = _rows(data, w).to_pydict()
    kv = np.array(tokens["kv_cache_usage"], dtype=float)
    assert 0.12 <= quantile(kv, 0.99) <= 0.18  # the KV cache stays around 15 % of its pool
    assert kv.min() < 0.5 * kv.max()         # ... and follows the diurnal load
    assert w["llm"]["kv_cache_usage_p99"] == pytest.approx(quantile(kv, 0.99), abs=2 / 4096)
    gpu = gpu_rows(data, w).to_pydict()
    share = np.array(gpu["mem_used_bytes"]) / np.array(gpu["mem_total_bytes"])
    assert (share > 0.88).all() and (share < 0.92).all()  # NVML shows ~90 % whatever the load
    assert gpu["gpu_model"][0] == "NVIDIA H100 80GB HBM3"
    # the pool is what --gpu-memory-utilization 0.9 leaves after the weights and the runtime
    pool = tokens["kv_cache_capacity_tokens"][0] * w["llm"]["kv_bytes_per_token"]
    assert 0.9 * 80 * 1024**3 - pool == pytest.approx(w["llm"]["weights_bytes"] + 2 * 1024**3, abs=2 * 131072)
    assert np.allclose(tokens["gpu_memory_utilization"], 0.9)
    assert set(tokens["model"]) == {"meta-llama/Llama-3.1-8B-Instruct"} and set(tokens["server"]) == {"vllm"}


def test_manifests_carry_the_servers_memory_fraction(llm):
    root, truth, _ = llm
    for behaviour in ("llm-kv-oversized", "llm-low-volume"):
        w = _workload(truth, behaviour)
        doc = yaml.safe_load((root / w["manifest"]).read_text())
        args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--gpu-memory-utilization") + 1] == "0.9"
        assert w["requires"] == "llm-sizing"


def test_tgi_rows_have_no_model_and_no_kv_cache(llm):
    _, truth, data = llm
    (w,) = [w for w in truth["workloads"] if w["behaviour"] == "bursty-inference"]
    rows = _rows(data, w).to_pydict()
    assert set(rows["server"]) == {"tgi"} and set(rows["model"]) == {None}
    assert set(rows["kv_cache_usage"]) == {None} and set(rows["prefill_seconds"]) == {None}
    assert sum(rows["prompt_tokens"]) == w["llm"]["prompt_tokens"] > 0


def test_the_rest_of_the_cluster_is_the_same_without_them():
    small, big = (build_plan(n, 2, 300, 5, START) for n in (12, 14))
    assert [x.recipe for x in small.left_out] == ["llm-chat", "llm-docs"]
    assert big.left_out == []
    assert [(n.name, n.shape.name) for n in big.nodes[: len(small.nodes)]] == [(n.name, n.shape.name) for n in small.nodes]
    assert [n.shape.name for n in big.nodes[len(small.nodes):]] == ["p5.4xlarge", "g5.xlarge"]
    assert [(p.name, p.uid) for w in small.workloads for p in w.pods] == \
        [(p.name, p.uid) for w in big.workloads[: len(small.workloads)] for p in w.pods]
