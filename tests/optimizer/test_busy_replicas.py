"""The busy-replica count (optimizer/replicas.py) against a plain reference on random gpu rows: per workload
and 5-minute bucket, the pods with a row there, those with an active sample there, and the sum of their
mean load (the higher of compute and DRAM activity) there."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.replicas import BusyReplicas

T0 = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
BUCKET_MS = 300_000
# pods (namespace, name) -> workload; "llm-0" exists in two namespaces, "solo-0" is a one-pod workload
OWNERS = {("prod", "llm-0"): ("prod", "StatefulSet", "llm"), ("prod", "llm-1"): ("prod", "StatefulSet", "llm"),
          ("stage", "llm-0"): ("stage", "StatefulSet", "llm"), ("stage", "llm-1"): ("stage", "StatefulSet", "llm"),
          ("prod", "emb-a"): ("prod", "Deployment", "emb"), ("prod", "emb-b"): ("prod", "Deployment", "emb"),
          ("prod", "solo-0"): ("prod", "Deployment", "solo"), ("prod", "job-a"): ("prod", "Job", "batch"),
          ("prod", "job-b"): ("prod", "Job", "batch")}
PODS = sorted(OWNERS)
NODE_OF = {pod: f"n{i % 3}" for i, pod in enumerate(PODS)}  # a pod stays on its node

row = st.tuples(st.integers(0, len(PODS)),  # len(PODS): a GPU no pod holds
                st.integers(0, 2 * 86_400 - 1),  # second of the two days
                st.floats(0, 1), st.one_of(st.none(), st.floats(0, 1)), st.one_of(st.none(), st.floats(0, 1)))


def _reference(rows, idle):
    marks = defaultdict(lambda: [set(), set(), defaultdict(list)])  # (wk, bucket) -> [present, busy, pod -> acts]
    for i, sec, util, sm, dram in rows:
        if i == len(PODS) or OWNERS[PODS[i]][1] not in ("Deployment", "StatefulSet"):
            continue
        wk = OWNERS[PODS[i]]
        bucket = (T0 + sec * 1000) // BUCKET_MS
        act = sm if sm is not None else util
        marks[(wk, bucket)][0].add(PODS[i])
        marks[(wk, bucket)][2][PODS[i]].append(max(act, dram or 0.0))  # load: compute or memory bandwidth
        if act >= idle:
            marks[(wk, bucket)][1].add(PODS[i])
    out = defaultdict(list)
    for (wk, bucket), (present, busy, acts) in sorted(marks.items()):
        if sum(1 for p in OWNERS if OWNERS[p] == wk) >= 2:
            out[wk].append((bucket, len(present), len(busy), sum(sum(a) / len(a) for a in acts.values())))
    return dict(out)


@settings(max_examples=60, deadline=None)
@given(st.lists(row, max_size=300))
def test_counts_equal_the_reference(rows):
    tap = BusyReplicas(OWNERS, 300.0, 0.05)
    parts = defaultdict(list)
    for r in rows:
        node = NODE_OF[PODS[r[0]]] if r[0] < len(PODS) else "n0"
        parts[((T0 + r[1] * 1000) // 86_400_000, node)].append(r)
    for (day, node), part in sorted(parts.items()):
        pods = [PODS[i] if i < len(PODS) else (None, None) for i, *_ in part]
        tap.add("gpu", str(day), node, pa.table({
            "ts": pa.array([T0 + r[1] * 1000 for r in part], pa.int64()).cast(pa.timestamp("ms", "UTC")),
            "namespace": [p[0] for p in pods], "pod": [p[1] for p in pods],
            "gpu_util": pa.array([r[2] for r in part], pa.float32()),
            "sm_active": pa.array([r[3] for r in part], pa.float32()),
            "dram_active": pa.array([r[4] for r in part], pa.float32())}))
    got = tap.finish()
    def f32(x):
        return None if x is None else float(np.float32(x))

    want = _reference([(i, s, f32(u), f32(m), f32(d)) for i, s, u, m, d in rows], 0.05)
    assert set(got) == set(want)
    for wk, use in got.items():
        buckets = [b for b, *_ in want[wk]]
        assert list(use.present) == [p for _, p, _, _ in want[wk]]
        assert list(use.busy) == [b for _, _, b, _ in want[wk]]
        assert np.allclose(use.work, [w for *_, w in want[wk]], rtol=1e-9, atol=1e-12)
        assert list(use.hour) == [(b * BUCKET_MS % 86_400_000) // 3_600_000 for b in buckets]


def test_a_bucket_that_does_not_divide_a_day_is_refused():
    import dataclasses

    import pytest

    from optimizer.config import ConfigValueError, DecisionConfig, OptimizerConfig, check_config

    cfg = OptimizerConfig(decisions=dataclasses.replace(DecisionConfig(), replicas_bucket_s=7.0))
    with pytest.raises(ConfigValueError, match="decisions.replicas_bucket_s: must be a number of seconds that divides"):
        check_config(cfg)
    with pytest.raises(ValueError, match="must divide a day"):
        BusyReplicas(OWNERS, 7.0)
