"""Real NVML: runs only where NVML initialises (an NVIDIA driver and GPU), skipped everywhere else —
also under REQUIRE_TOOLS=1, since a GPU is hardware, not a tool CI can install.

Checks the adapter's readings against NVML's own ranges and, where ``nvidia-smi`` exists, against it.
Runnable without pytest too: ``python tests/gpu/test_real_nvml.py`` (scripts/gpu-check.sh does that when
pytest is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import pytest
except ImportError:  # plain-script mode
    pytest = None

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _nvml_ready() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return f"NVML does not initialise here ({type(exc).__name__}: {exc})"
    return None if count else "NVML initialises but reports no GPU"


SKIP_REASON = _nvml_ready()
if pytest is not None:
    pytestmark = [pytest.mark.gpu, pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")]


def _backend():
    from agent.gpu.nvml import NvmlBackend

    errors: list[tuple[str, str]] = []
    b = NvmlBackend(None, on_error=lambda call, err: errors.append((call, err)))
    assert b.start(), b.off_reason
    return b, errors


def test_inventory_names_and_uuids():
    b, _ = _backend()
    try:
        inv = b.device_inventory()
        assert inv
        for uuid, model in inv:
            assert uuid.startswith("GPU-"), uuid
            assert model and not model.startswith("b'"), model  # str, not bytes
    finally:
        b.close()


def test_readings_are_in_range_and_gpm_works_where_supported():
    import pynvml

    b, errors = _backend()
    try:
        b.sample()
        time.sleep(0.3)  # GPM needs two samples >= 100 ms apart; real hardware, not a timing assertion
        samples = b.sample()
        assert samples, "no device sampled"
        for s in samples:
            assert s.mem_total > 0 and 0 <= s.mem_used <= s.mem_total, s
            if s.mig_profile is None:
                assert s.gpu_util is not None and 0 <= s.gpu_util <= 1, s
                assert s.power_w is None or 1 <= s.power_w <= 2000, s
            else:
                assert s.gpu_util is None and s.power_w is None and s.parent_uuid, s
            for v in (s.sm_active, s.sm_occupancy, s.tensor_active, s.dram_active):
                assert v is None or 0 <= v <= 1, s
            for p in s.processes:
                assert p.pid > 0 and (p.sm_util is None or 0 <= p.sm_util <= 1)
        for dev in b.devices:
            if pynvml.nvmlGpmQueryDeviceSupport(dev.handle).isSupportedDevice:
                rows = [s for s in samples if s.uuid == dev.uuid or s.parent_uuid == dev.uuid]
                assert all(s.sm_active is not None for s in rows), (
                    f"{dev.model} supports GPM but sm_active is null; NVML errors: {errors}")
        assert not [e for e in errors if e[1] in ("GpuIsLost", "Unknown")], errors
    finally:
        b.close()


def test_memory_total_matches_nvidia_smi():
    smi = shutil.which("nvidia-smi")
    if smi is None:
        if pytest is not None:
            pytest.skip("nvidia-smi not on PATH")
        return
    out = subprocess.run([smi, "--query-gpu=uuid,memory.total", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    want = {u.strip(): int(m) for u, m in (line.split(",") for line in out.strip().splitlines())}
    b, _ = _backend()
    try:
        got = {s.uuid: s.mem_total // 2**20 for s in b.sample() if s.mig_profile is None}
    finally:
        b.close()
    for uuid, mib in got.items():
        assert abs(mib - want[uuid]) <= 1, (uuid, mib, want[uuid])


def test_agent_ticks_write_one_row_per_device_per_tick():
    from agent.config import AgentConfig
    from agent.loop import Agent
    from store.reader import Dataset

    with tempfile.TemporaryDirectory() as tmp:
        cfg = AgentConfig(node_name="gpu-test", sink=os.path.join(tmp, "sink"), spool_dir=os.path.join(tmp, "spool"),
                          kubernetes=False, backend="nvml", flush_interval_s=3600)
        agent = Agent(cfg)
        agent.start(background=False)
        devices = 0
        for _ in range(3):
            agent.tick()
            devices = len(agent.metrics.latest.rows)
            time.sleep(0.2)
        agent.shutdown()
        table = Dataset(cfg.sink).read("gpu")
        assert devices > 0 and table.num_rows == 3 * devices


if __name__ == "__main__":
    if SKIP_REASON:
        print(f"SKIP: {SKIP_REASON}")
        sys.exit(0)
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"PASS {name}")
            except Exception as exc:  # report every check, then fail
                failed += 1
                print(f"FAIL {name}: {type(exc).__name__}: {exc}")
    sys.exit(1 if failed else 0)
