"""The NVML adapter driven through the pynvml-shaped fake (real pynvml error classes and structs)."""

from collections import Counter

import pynvml
import pytest

from agent.gpu.fake import FakeNvml
from agent.gpu.nvml import NvmlBackend, mig_profile_name
from agent.gpu.scenarios import A100, A100_MIG, GIB, H100, SCENARIOS, T4_SHARED
from tests.agent.fakes import FakeClock


def backend(scenario, clock=None):
    clock = clock or FakeClock()
    errors = Counter()
    fake = FakeNvml(scenario, clock=clock)
    b = NvmlBackend(fake, clock=clock, on_error=lambda call, err: errors.update([(call, err)]))
    return b, fake, clock, errors


def by_uuid(samples):
    return {s.uuid: s for s in samples}


def test_h100_reports_gpm_from_the_second_sample_on():
    b, _, clock, _ = backend("h100")
    assert b.start()
    first = b.sample()[0]
    assert first.sm_active is None  # GPM needs two samples
    clock.advance(1.0)
    s = b.sample()[0]
    assert s.model == H100.name
    assert s.gpu_util == pytest.approx(H100.util / 100)
    assert s.sm_active == pytest.approx(H100.gpm[2] / 100)
    assert s.sm_occupancy == pytest.approx(H100.gpm[3] / 100)
    assert s.tensor_active == pytest.approx(H100.gpm[5] / 100)
    assert s.dram_active == pytest.approx(H100.gpm[10] / 100)
    assert s.power_w == pytest.approx(H100.power_mw / 1000)
    assert (s.mem_used, s.mem_total) == (H100.mem_used, H100.mem_total)
    assert [(p.pid, p.mem_bytes) for p in s.processes] == [(1001, 30 * GIB)]


def test_gpm_samples_closer_than_100ms_are_not_compared():
    b, fake, clock, _ = backend("h100")
    b.start()
    b.sample()
    clock.advance(0.05)
    assert b.sample()[0].sm_active is None
    assert fake.calls.get("nvmlGpmMetricsGet", 0) == 0


def test_a100_has_no_gpm_and_is_not_counted_as_an_error():
    b, fake, clock, errors = backend("a100")
    b.start()
    for _ in range(3):
        clock.advance(1)
        s = b.sample()[0]
    assert s.sm_active is None and s.tensor_active is None
    assert s.gpu_util == pytest.approx(A100.util / 100)
    assert "nvmlGpmSampleGet" not in fake.calls
    assert not errors


def test_mig_instances_become_devices_with_profile_and_slice_memory():
    b, _, clock, _ = backend("mig")
    b.start()
    clock.advance(1)
    s = by_uuid(b.sample())
    assert set(s) == {m.uuid for m in A100_MIG.mig}
    small, big = s[A100_MIG.mig[0].uuid], s[A100_MIG.mig[1].uuid]
    assert (small.mig_profile, big.mig_profile) == ("1g.10gb", "3g.40gb")
    assert small.mem_total == 9856 * 1024 * 1024 and small.mem_used == 4 * GIB
    assert small.parent_uuid == A100_MIG.uuid
    # utilization and power are device-level / unsupported on MIG: null, never 0
    assert small.gpu_util is None and small.power_w is None and small.sm_active is None
    assert [p.pid for p in big.processes] == [1004] and big.processes[0].sm_util is None


def test_hopper_mig_instances_get_their_own_gpm_activity():
    from agent.gpu.scenarios import H100_MIG

    b, fake, clock, errors = backend("h100-mig")
    b.start()
    b.sample()
    clock.advance(1)
    s = by_uuid(b.sample())
    for mig in H100_MIG.mig:
        assert s[mig.uuid].sm_active == pytest.approx(mig.gpm[2] / 100)
        assert s[mig.uuid].tensor_active == pytest.approx(mig.gpm[5] / 100)
    assert fake.calls["nvmlGpmMigSampleGet"] == 4 and not errors


@pytest.mark.parametrize("slices,mb,name", [(1, 9856, "1g.10gb"), (3, 40192, "3g.40gb"), (1, 4864, "1g.5gb"),
                                            (7, 81408, "7g.80gb"), (2, 19968, "2g.20gb")])
def test_mig_profile_names_match_the_device_plugin(slices, mb, name):
    assert mig_profile_name(slices, mb) == name


def test_shared_gpu_reports_each_process_share_and_memory():
    b, _, clock, _ = backend("shared-t4")
    b.start()
    clock.advance(1)
    s = b.sample()[0]
    got = {p.pid: (p.sm_util, p.mem_bytes) for p in s.processes}
    want = {p.pid: (pytest.approx(p.sm_util / 100), p.mem_bytes) for p in T4_SHARED.processes}
    assert got == want


def test_process_utilization_passes_last_seen_in_microseconds_and_notfound_means_idle():
    b, fake, clock, errors = backend("shared-t4")
    b.start()
    clock.advance(1)
    b.sample()
    dev = b.devices[0]
    assert dev.last_seen_us == int(clock() * 1_000_000)
    # same instant again: the driver has nothing newer -> NotFound -> every process idle, no error counted
    s = b.sample()[0]
    assert all(p.sm_util == 0.0 for p in s.processes)
    assert not errors


def test_not_supported_call_is_null_from_then_on_and_counted_once():
    b, fake, clock, errors = backend("not-supported")
    b.start()
    for _ in range(4):
        clock.advance(1)
        s = b.sample()[0]
        assert s.power_w is None and s.gpu_util is not None
    assert errors[("nvmlDeviceGetPowerUsage", "NotSupported")] == 1
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 1


def test_lost_gpu_is_skipped_counted_retried_and_comes_back():
    b, _, clock, errors = backend("gpu-lost")
    b.start()
    healthy_uuid, lost_uuid = (g.uuid for g in SCENARIOS["gpu-lost"].gpus)
    seen = []
    for _ in range(12):
        clock.advance(1)
        samples = by_uuid(b.sample())
        assert healthy_uuid in samples  # the other GPU never misses a tick
        seen.append(lost_uuid in samples)
    # present at t=1,2; lost in [3,6); back afterwards (retry backoff 1, 2, 4 s may delay it a little)
    assert seen[:2] == [True, True]
    assert seen[2] is False
    assert seen[-1] is True and seen[-3:] == [True, True, True]
    assert sum(v for (c, e), v in errors.items() if e == "GpuIsLost") >= 1


def test_missing_library_turns_gpu_metrics_off_once(caplog):
    b, _, _, errors = backend("no-library")
    assert b.start() is False
    assert "GPU metrics are off" in caplog.text
    assert b.sample() == [] and b.sample() == []
    assert caplog.text.count("GPU metrics are off") == 1
    assert errors[("nvmlInit", "LibraryNotFound")] == 1


def test_fake_raises_the_real_pynvml_classes():
    fake = FakeNvml("h100")
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    with pytest.raises(pynvml.NVMLError_FunctionNotFound):
        fake.nvmlDeviceGetBoardId(fake.nvmlDeviceGetHandleByIndex(0))
    assert fake.NVMLError_NotSupported is pynvml.NVMLError_NotSupported
