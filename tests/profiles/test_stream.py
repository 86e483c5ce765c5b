"""Profiles from datasets: per-pod combination at equal timestamps, entities, edge cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.profiles import compute_profiles
from optimizer.profiles.bins import schemes
from optimizer.profiles.stream import group_instants
from tests.profiles.datagen import container_row, gpu_row, pod_row, write
from tests.profiles.reference import weighted_percentile, within_one_bin

GiB = 2**30
S = schemes()


def test_gpu_memory_is_summed_per_pod_before_percentiles(tmp_path):
    # Two GPUs whose memory alternates: each GPU's p99 is 30 GiB, but the pod never uses more than 40 GiB.
    rows = []
    for i in range(1, 101):
        hi, lo = (30 * GiB, 10 * GiB) if i % 2 else (10 * GiB, 30 * GiB)
        rows.append(gpu_row(i * 10.0, "n1", "g1", pod="p", mem=hi, util=0.2))
        rows.append(gpu_row(i * 10.0, "n1", "g2", pod="p", mem=lo, util=0.6))
    write(tmp_path, "gpu", rows)
    write(tmp_path, "pods", [pod_row("n1", "p", "Deployment", "web")])
    prof = compute_profiles(str(tmp_path))
    mem = prof.stats(("ml", "Deployment", "web"), "gpu_mem_bytes")
    assert within_one_bin(mem.p99, 40 * GiB, S.bytes) and mem.max == 40 * GiB
    util = prof.stats(("ml", "Deployment", "web"), "gpu_util")
    assert util.p50 == pytest.approx(0.4, abs=0.005) and util.samples == 100 and util.seconds == 1000.0


def test_cpu_and_memory_are_summed_over_containers(tmp_path):
    rng = np.random.default_rng(3)
    rows, totals = [], []
    for i in range(1, 301):
        a, b = rng.uniform(0, 2), rng.uniform(0, 2)
        rows += [container_row(i * 10.0, "n1", "p", "app", cpu=a, mem=GiB),
                 container_row(i * 10.0, "n1", "p", "proxy", cpu=b, mem=GiB // 2)]
        totals.append(float(np.float32(a)) + float(np.float32(b)))
    write(tmp_path, "container", rows)
    write(tmp_path, "pods", [pod_row("n1", "p", "StatefulSet", "db", container=c) for c in ("app", "proxy")])
    s = compute_profiles(str(tmp_path)).stats(("ml", "StatefulSet", "db"), "cpu_cores")
    exact = weighted_percentile(np.array(totals), np.full(300, 10.0), 0.95)
    assert within_one_bin(s.p95, exact, S.cores)
    assert s.mean == pytest.approx(np.mean(totals), rel=1e-6)
    mem = compute_profiles(str(tmp_path)).stats(("ml", "StatefulSet", "db"), "mem_bytes")
    assert mem.max == 1.5 * GiB and mem.p50 >= 1.5 * GiB


def test_workload_pools_its_pods_and_unknown_pods_are_their_own_workload(tmp_path):
    rows = [gpu_row(i * 10.0, "n1", "g1", pod="a", util=0.1) for i in range(1, 31)]
    rows += [gpu_row(i * 10.0, "n2", "g9", pod="b", util=0.9) for i in range(1, 11)]
    rows += [gpu_row(i * 10.0, "n2", "g8", pod="stray", util=0.5) for i in range(1, 11)]
    rows += [gpu_row(i * 10.0, "n2", "g7", util=0.0) for i in range(1, 11)]  # allocated to nobody
    write(tmp_path, "gpu", rows)
    write(tmp_path, "pods", [pod_row("n1", "a", "Deployment", "llm"), pod_row("n2", "b", "Deployment", "llm")])
    prof = compute_profiles(str(tmp_path))
    assert sorted(prof.keys()) == [("ml", "Deployment", "llm"), ("ml", "Pod", "stray")]
    s = prof.stats(("ml", "Deployment", "llm"), "gpu_util")
    assert s.samples == 40 and s.p50 == pytest.approx(0.1) and s.p90 == pytest.approx(0.9)
    assert s.burst_count == 2 and s.mean_burst_s == 200.0  # one per pod
    gpus = compute_profiles(str(tmp_path), entity="gpu")
    assert gpus.stats(("n2", "g7"), "gpu_util").idle_fraction == 1.0
    assert len(gpus.keys()) == 4


def test_activity_uses_sm_active_where_present(tmp_path):
    rows = [gpu_row(i * 10.0, "n1", "h100", pod="new", util=0.9, sm=0.3) for i in range(1, 21)]
    rows += [gpu_row(i * 10.0, "n2", "a100", pod="old", util=0.7, model="NVIDIA A100-SXM4-80GB")
             for i in range(1, 21)]
    write(tmp_path, "gpu", rows)
    prof = compute_profiles(str(tmp_path), entity="pod")
    assert prof.activity_source(("ml", "new")) == "sm_active"
    assert prof.activity_source(("ml", "old")) == "gpu_util"
    assert prof.stats(("ml", "new"), "gpu_activity").p50 == pytest.approx(0.3)
    assert prof.stats(("ml", "old"), "gpu_activity").p50 == pytest.approx(0.7)
    assert prof.stats(("ml", "old"), "sm_active") is None  # no rows where no data exists
    frame = prof.to_frame()
    assert not ((frame["pod"] == "old") & (frame["metric"] == "sm_active")).any()
    act = frame[frame["metric"] == "gpu_activity"].set_index("pod")["activity_source"]
    assert act.to_dict() == {"new": "sm_active", "old": "gpu_util"}


def test_one_sample_all_zeros_and_zero_weight(tmp_path):
    write(tmp_path, "gpu", [gpu_row(10.0, "n1", "g1", pod="one", util=0.37, mem=3 * GiB)]
          + [gpu_row(i * 10.0, "n1", "g2", pod="zero", util=0.0, mem=0) for i in range(1, 6)])
    # (Rows of interval 0 never reach the profiles: the store refuses them, tests/store/test_integrity.py.)
    prof = compute_profiles(str(tmp_path), entity="pod")
    one = prof.stats(("ml", "one"), "gpu_util")
    assert [one.p50, one.p99, one.max] == pytest.approx([0.37] * 3) and one.samples == 1 and one.seconds == 10.0
    zero = prof.stats(("ml", "zero"), "gpu_util")
    assert (zero.p50, zero.p99, zero.max, zero.mean, zero.idle_fraction) == (0.0, 0.0, 0.0, 0.0, 1.0)
    assert prof.stats(("ml", "zero"), "gpu_mem_bytes").p99 == 0.0


def test_out_of_order_timestamps_and_entities_in_some_partitions(tmp_path):
    # Written in reverse time order, over two days; pod "late" exists on the second day only.
    rows = [gpu_row(t, "n1", "g1", pod="p", util=0.8 if (t // 10) % 7 else 0.0) for t in range(172_800, 0, -10)]
    rows += [gpu_row(86_400 + i * 10.0, "n1", "g2", pod="late", util=0.5) for i in range(1, 50)]
    write(tmp_path, "gpu", rows[::3] + rows[1::3] + rows[2::3])  # three segments per partition
    prof = compute_profiles(str(tmp_path), entity="pod")
    s = prof.stats(("ml", "p"), "gpu_util")
    assert s.samples == 17_280 and s.seconds == 172_800.0
    # One idle sample every 7: bursts are the runs of 6 active samples between them (midnight joins).
    assert s.burst_count == pytest.approx(17_280 / 7, abs=2)
    assert s.mean_burst_s == pytest.approx(60.0, abs=1.0) and s.max_idle_run_s == 10.0
    assert prof.stats(("ml", "late"), "gpu_util").samples == 49


def test_a_burst_across_midnight_is_one_burst(tmp_path):
    start = 86_400 - 600  # active from 23:50 to 00:10 next day, idle around it
    rows = [gpu_row(t, "n1", "g1", pod="p", util=0.9 if start < t <= start + 1200 else 0.0)
            for t in range(86_400 - 3600, 86_400 + 3600, 10)]
    write(tmp_path, "gpu", rows)
    s = compute_profiles(str(tmp_path), entity="pod").stats(("ml", "p"), "gpu_util")
    assert s.burst_count == 1 and s.mean_burst_s == 1200.0
    assert s.max_idle_run_s == pytest.approx(3600 - 600 - 10 + 10, abs=10)
    assert s.duty_cycle == pytest.approx(1200 / 7200)


def test_window_and_hour_of_week(tmp_path):
    # Monday 00:00 + 26 h = Tuesday 02:00 UTC -> hour-of-week 26.
    rows = [gpu_row(26 * 3600 + i * 10.0, "n1", "g1", pod="p", util=0.25) for i in range(1, 361)]
    rows += [gpu_row(50 * 3600 + i * 10.0, "n1", "g1", pod="p", util=0.75) for i in range(1, 361)]
    write(tmp_path, "gpu", rows)
    prof = compute_profiles(str(tmp_path), entity="pod")
    how = prof.hour_of_week(("ml", "p"), "gpu_util")
    assert how.shape == (168,) and how[26] == pytest.approx(0.25) and how[50] == pytest.approx(0.75)
    assert np.isnan(how[[0, 27, 49, 51]]).all()
    edges, weights = prof.histogram(("ml", "p"), "gpu_util")
    assert weights.sum() == 7200.0 and edges.shape == weights.shape
    cut = compute_profiles(str(tmp_path), entity="pod", start="2026-01-06T00:00Z", end="2026-01-07T00:00Z")
    assert cut.stats(("ml", "p"), "gpu_util").samples == 360
    assert cut.window[0].isoformat() == "2026-01-06T00:00:00+00:00"


def test_node_and_container_entities(tmp_path):
    rows = []
    for i in range(1, 11):
        rows += [gpu_row(i * 10.0, "n1", "g1", pod="p", container="train", util=1.0, mem=10 * GiB),
                 gpu_row(i * 10.0, "n1", "g2", util=0.0, mem=GiB)]
    write(tmp_path, "gpu", rows)
    write(tmp_path, "container", [container_row(i * 10.0, "n1", "p", "train", cpu=2.0, mem=GiB) for i in range(1, 11)])
    node = compute_profiles(str(tmp_path), entity="node")
    assert node.stats(("n1",), "gpu_util").p50 == pytest.approx(0.5)  # mean over the node's GPUs
    assert node.stats(("n1",), "gpu_mem_bytes").max == 11 * GiB  # summed over them
    cont = compute_profiles(str(tmp_path), entity="container")
    assert cont.keys() == [("ml", "p", "train")]
    assert cont.stats(("ml", "p", "train"), "cpu_cores").p50 == pytest.approx(2.0, rel=0.016)


def test_hour_of_week_in_a_configured_timezone(tmp_path):
    from optimizer.config import ProfileConfig

    # Monday 02:00 UTC is Sunday 21:00 in New York (UTC-5 in January): hour-of-week 6 * 24 + 21.
    write(tmp_path, "gpu", [gpu_row(2 * 3600 + i * 10.0, "n1", "g1", pod="p", util=0.5) for i in range(1, 61)])
    prof = compute_profiles(str(tmp_path), entity="pod", config=ProfileConfig(timezone="America/New_York"))
    how = prof.hour_of_week(("ml", "p"), "gpu_util")
    assert how[6 * 24 + 21] == pytest.approx(0.5) and np.isfinite(how).sum() == 1


def test_empty_dataset_gives_no_rows(tmp_path):
    write(tmp_path, "pods", [pod_row("n1", "p", "Deployment", "web")])
    prof = compute_profiles(str(tmp_path))
    assert prof.keys() == [] and prof.to_frame().empty and prof.stats(("ml", "Deployment", "web"), "gpu_util") is None


def test_several_entity_levels_from_one_read_equal_separate_runs(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    from optimizer.profiles import compute_profiles_many
    from simulator import simulate
    from store.reader import Dataset

    simulate(str(tmp_path), nodes=12, days=2, interval_s=600, seed=3, start=datetime(2026, 1, 5, tzinfo=UTC),
             workers=1)
    levels = ("workload", "container", "gpu")
    alone = {e: compute_profiles(str(tmp_path), entity=e, threads=2).to_frame() for e in levels}
    reads = []
    real = Dataset.read_fragment
    monkeypatch.setattr(Dataset, "read_fragment", lambda self, *a, **k: reads.append(a[1].path) or real(self, *a, **k))
    together = compute_profiles_many(str(tmp_path), entities=levels, threads=2)
    assert list(together) == list(levels)
    for e in levels:
        assert together[e].to_frame().equals(alone[e]), e
    assert len(reads) == len(set(reads)) > 0  # every file read once for all three levels


def test_a_level_limited_to_the_container_table_has_its_cpu_and_memory_and_no_gpu_metrics(tmp_path):
    import dataclasses
    from datetime import UTC, datetime

    from optimizer.demand import CONTAINER_PROFILE_TABLES
    from optimizer.profiles import compute_profiles_many
    from simulator import simulate

    simulate(str(tmp_path), nodes=12, days=1, interval_s=600, seed=4, start=datetime(2026, 1, 5, tzinfo=UTC),
             workers=1)
    full = compute_profiles(str(tmp_path), entity="container", threads=2)
    both = compute_profiles_many(str(tmp_path), entities=("workload", "container"), threads=2,
                                 tables=CONTAINER_PROFILE_TABLES)
    assert both["workload"].to_frame().equals(compute_profiles(str(tmp_path), threads=2).to_frame())
    limited = both["container"]
    with_cpu = [k for k in full.keys() if full.stats(k, "cpu_cores") is not None]  # noqa: SIM118 (a method)
    assert with_cpu and sorted(limited.keys()) == sorted(with_cpu)  # noqa: SIM118
    gpu_keys = [k for k in full.keys() if full.stats(k, "gpu_mem_bytes") is not None]  # noqa: SIM118
    assert gpu_keys  # the full level has GPU metrics per container; the limited one has none
    for key in with_cpu:
        for metric in ("cpu_cores", "mem_bytes"):
            np.testing.assert_equal(dataclasses.asdict(limited.stats(key, metric)),  # NaN fields equal too
                                    dataclasses.asdict(full.stats(key, metric)), err_msg=f"{key} {metric}")
        assert limited.stats(key, "gpu_mem_bytes") is None
    with pytest.raises(ValueError, match="tables"):
        compute_profiles_many(str(tmp_path), entities=("container",), tables={"gpu": ("container",)})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), st.one_of(st.none(), st.floats(0, 10))),
                min_size=1, max_size=40), st.booleans())
def test_group_instants_combines_equal_series_and_instants_and_sorts_by_them(rows, unique):
    # rows of one container per instant are already one per (series, ts): the same answer as combining
    if unique:
        rows = list({(s, t): (s, t, v) for s, t, v in rows}.values())
    series = np.array([r[0] for r in rows], np.int64)
    ts = np.array([r[1] * 10_000 for r in rows], np.int64)
    interval = np.full(len(rows), 10.0)
    values = np.array([np.nan if r[2] is None else r[2] for r in rows])
    s, t, _, out = group_instants(series, ts, interval, {"sum": (values, "sum"), "max": (values, "max"),
                                                          "mean": (values, "mean")})
    expected: dict = {}
    for a, b, v in rows:
        expected.setdefault((a, b * 10_000), []).append(v)
    assert list(zip(s.tolist(), t.tolist(), strict=True)) == sorted(expected)
    for i, key in enumerate(sorted(expected)):
        present = [v for v in expected[key] if v is not None]
        if not present:
            assert all(np.isnan(out[k][i]) for k in ("sum", "max", "mean"))
            continue
        assert out["sum"][i] == pytest.approx(sum(present))
        assert out["max"][i] == max(present)
        assert out["mean"][i] == pytest.approx(sum(present) / len(present))
