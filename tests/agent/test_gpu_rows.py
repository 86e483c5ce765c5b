"""The rule that turns a device sample into per-pod rows."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.attribution.gpu_rows import gpu_rows
from agent.attribution.podresources import ContainerRef
from agent.gpu.backend import DeviceSample, ProcessSample

GIB = 1024**3


def dev(processes=(), **kw):
    base = dict(uuid="GPU-x", model="Tesla T4", mem_used=9 * GIB, mem_total=15 * GIB, gpu_util=0.7, power_w=55.0)
    base.update(kw)
    return DeviceSample(processes=tuple(processes), **base)


def test_unallocated_gpu_is_one_row_with_null_pod_and_device_totals():
    (row,) = gpu_rows(dev([ProcessSample(7, 0.3, GIB)]), [], {7: None})
    assert (row["namespace"], row["pod"], row["container"]) == (None, None, None)
    assert row["gpu_util"] == 0.7 and row["mem_used_bytes"] == 9 * GIB


def test_exclusive_pod_gets_the_device_values():
    (row,) = gpu_rows(dev(), [ContainerRef("ml", "p", "c", "nvidia.com/gpu")], {})
    assert (row["namespace"], row["pod"], row["container"]) == ("ml", "p", "c")
    assert row["gpu_util"] == 0.7 and row["mem_used_bytes"] == 9 * GIB and row["power_w"] == 55.0


def test_pod_found_only_through_its_process():
    (row,) = gpu_rows(dev([ProcessSample(7, 0.5, GIB)]), [], {7: ("ml", "p", "main")})
    assert (row["pod"], row["container"], row["gpu_util"]) == ("p", "main", 0.7)


def test_shared_gpu_splits_by_process_and_idle_allocated_pod_gets_zero():
    procs = [ProcessSample(1, 0.45, 5 * GIB), ProcessSample(2, 0.25, 3 * GIB), ProcessSample(3, 0.05, GIB)]
    alloc = [ContainerRef("web", "a", "app", "nvidia.com/gpu"), ContainerRef("web", "b", "app", "nvidia.com/gpu"),
             ContainerRef("web", "idle", "app", "nvidia.com/gpu")]
    owners = {1: ("web", "a", "app"), 2: ("web", "b", "app"), 3: ("web", "a", "sidecar")}
    rows = {r["pod"]: r for r in gpu_rows(dev(procs, sm_active=0.6), alloc, owners)}
    assert set(rows) == {"a", "b", "idle"}
    assert rows["a"]["gpu_util"] == pytest.approx(0.5) and rows["a"]["mem_used_bytes"] == 6 * GIB
    assert rows["b"]["gpu_util"] == pytest.approx(0.25) and rows["b"]["mem_used_bytes"] == 3 * GIB
    assert rows["idle"]["gpu_util"] == 0 and rows["idle"]["mem_used_bytes"] == 0
    # GPM is device-wide: split in proportion to each pod's share
    assert rows["a"]["sm_active"] == pytest.approx(0.6 * 0.5 / 0.75)
    assert sum(r["sm_active"] for r in rows.values()) == pytest.approx(0.6)


def test_shared_without_per_process_utilization_gives_null_not_zero():
    procs = [ProcessSample(1, None, 5 * GIB), ProcessSample(2, None, 3 * GIB)]
    rows = gpu_rows(dev(procs), [], {1: ("n", "a", "c"), 2: ("n", "b", "c")})
    assert [r["gpu_util"] for r in rows] == [None, None]
    assert sorted(r["mem_used_bytes"] for r in rows) == [3 * GIB, 5 * GIB]


def test_shared_without_process_attribution_is_unknown_activity_and_even_memory():
    alloc = [ContainerRef("web", "a", "app", "nvidia.com/gpu"), ContainerRef("web", "b", "app", "nvidia.com/gpu")]
    rows = gpu_rows(dev([ProcessSample(1, 0.4, GIB)], sm_active=0.5), alloc, {}, processes_known=False)
    assert [(r["pod"], r["gpu_util"], r["sm_active"]) for r in rows] == [("a", None, None), ("b", None, None)]
    assert sum(r["mem_used_bytes"] for r in rows) == 9 * GIB


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 1), st.integers(0, 10 * GIB)), min_size=1, max_size=12))
def test_split_rows_conserve_memory_and_gpm(procs):
    samples = [ProcessSample(i, u, m) for i, (_, u, m) in enumerate(procs)]
    owners = {i: ("ns", f"pod{p}", "c") for i, (p, _, _) in enumerate(procs)}
    rows = gpu_rows(dev(samples, sm_active=0.8), [], owners)
    if len(rows) > 1:
        assert sum(r["mem_used_bytes"] for r in rows) == sum(m for _, _, m in procs)
        if sum(r["gpu_util"] for r in rows) > 0:
            assert sum(r["sm_active"] for r in rows) == pytest.approx(0.8)
    assert all(0 <= (r["gpu_util"] or 0) <= 1 for r in rows)
