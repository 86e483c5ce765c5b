"""The truth facts agree with what the profiles stage measures on the same data (a cross-check)."""

from __future__ import annotations

import pytest

profiles = pytest.importorskip("optimizer.profiles")


def test_truth_facts_match_compute_profiles(sim):
    ps = profiles.compute_profiles(sim.root, entity="workload")
    checked = 0
    for w in sim.truth["workloads"]:
        key, f = (w["namespace"], w["kind"], w["name"]), w["facts"]
        cpu = ps.stats(key, "cpu_cores")
        assert cpu.p95 == pytest.approx(f["cpu_cores_p95"], rel=0.03, abs=0.01), w["name"]
        if not w["gpus_per_pod"]:
            continue
        act, mem = ps.stats(key, "gpu_activity"), ps.stats(key, "gpu_mem_bytes")
        ours = f["sm_active_p95"] if f["activity_source"] == "sm_active" else f["gpu_util_p95"]
        assert act.p95 == pytest.approx(ours, rel=0.05, abs=0.01), w["name"]
        assert act.idle_fraction == pytest.approx(f["idle_fraction"], abs=0.002), w["name"]
        assert act.burst_count == f["burst_count"], w["name"]
        assert act.max_idle_run_s == f["max_idle_run_s"], w["name"]
        assert mem.p99 == pytest.approx(f["gpu_mem_p99_bytes"], rel=0.02), w["name"]
        checked += 1
    assert checked >= 8
