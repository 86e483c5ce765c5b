"""Scripted devices for the fake NVML (``--backend fake:SCENARIO``): the data the fake answers with.

Percentages are as NVML reports them (0..100); memory in bytes; power in milliwatts. Times in the
``lost`` windows are seconds since ``nvmlInit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class FakeProcess:
    pid: int
    sm_util: float  # percent of the device
    mem_bytes: int


@dataclass(frozen=True)
class FakeMig:
    uuid: str
    slices: int
    memory_mb: int
    gi_id: int
    mem_used: int
    processes: tuple[FakeProcess, ...] = ()
    gpm: dict[int, float] | None = None  # GPM metric id -> percent (Hopper MIG only)


@dataclass(frozen=True)
class FakeGpu:
    uuid: str
    name: str
    mem_total: int
    mem_used: int
    util: float
    power_mw: int
    processes: tuple[FakeProcess, ...] = ()
    gpm: dict[int, float] | None = None  # None: not a GPM device (pre-Hopper)
    mig: tuple[FakeMig, ...] = ()
    mig_capable: bool = True
    wave: float = 0.0  # utilization swings by +-wave percent over 5 minutes (demo realism)
    unsupported: frozenset[str] = frozenset()  # functions that raise NotSupported on this device
    lost: tuple[tuple[float, float], ...] = ()  # windows where every call raises GpuIsLost


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    gpus: tuple[FakeGpu, ...] = ()
    library_missing: bool = False
    extra: dict = field(default_factory=dict)


# GPM metric ids (pynvml NVML_GPM_METRIC_*): SM_UTIL 2, SM_OCCUPANCY 3, ANY_TENSOR_UTIL 5, DRAM_BW_UTIL 10.
def _gpm(sm, occ, tensor, dram):
    return {2: sm, 3: occ, 5: tensor, 10: dram}


H100 = FakeGpu(uuid="GPU-0a1b2c3d-0000-4000-8000-000000000001", name="NVIDIA H100 80GB HBM3",
               mem_total=80 * GIB, mem_used=30 * GIB, util=85.0, power_mw=450_000,
               processes=(FakeProcess(1001, 85.0, 30 * GIB),), gpm=_gpm(62.0, 35.0, 40.0, 55.0))
A100 = FakeGpu(uuid="GPU-0a1b2c3d-0000-4000-8000-000000000002", name="NVIDIA A100-SXM4-40GB",
               mem_total=40 * GIB, mem_used=12 * GIB, util=40.0, power_mw=210_000,
               processes=(FakeProcess(1002, 40.0, 12 * GIB),))
A100_MIG = FakeGpu(uuid="GPU-0a1b2c3d-0000-4000-8000-000000000003", name="NVIDIA A100-SXM4-80GB",
                   mem_total=80 * GIB, mem_used=0, util=0.0, power_mw=180_000,
                   mig=(FakeMig("MIG-5e6f7a8b-0000-4000-8000-000000000031", 1, 9856, 13, 4 * GIB,
                                (FakeProcess(1003, 0.0, 4 * GIB),)),
                        FakeMig("MIG-5e6f7a8b-0000-4000-8000-000000000032", 3, 40192, 2, 25 * GIB,
                                (FakeProcess(1004, 0.0, 25 * GIB),))))
T4_SHARED = FakeGpu(uuid="GPU-0a1b2c3d-0000-4000-8000-000000000004", name="Tesla T4",
                    mem_total=15 * GIB, mem_used=9 * GIB, util=70.0, power_mw=55_000, mig_capable=False,
                    processes=(FakeProcess(1005, 45.0, 5 * GIB), FakeProcess(1006, 25.0, 3 * GIB)))


H100_MIG = FakeGpu(uuid="GPU-0a1b2c3d-0000-4000-8000-000000000005", name="NVIDIA H100 80GB HBM3",
                   mem_total=80 * GIB, mem_used=0, util=0.0, power_mw=300_000, gpm=_gpm(50.0, 25.0, 30.0, 40.0),
                   mig=(FakeMig("MIG-5e6f7a8b-0000-4000-8000-000000000051", 1, 9856, 9, 3 * GIB,
                                (FakeProcess(1007, 0.0, 3 * GIB),), gpm=_gpm(20.0, 10.0, 5.0, 15.0)),
                        FakeMig("MIG-5e6f7a8b-0000-4000-8000-000000000052", 3, 40192, 1, 20 * GIB,
                                (FakeProcess(1008, 0.0, 20 * GIB),), gpm=_gpm(70.0, 40.0, 60.0, 55.0))))


def _bench_gpus(n_gpus: int = 8, procs_per_gpu: int = 8) -> tuple[FakeGpu, ...]:
    gpus = []
    for g in range(n_gpus):
        procs = tuple(FakeProcess(2000 + g * procs_per_gpu + k, 10.0, 2 * GIB) for k in range(procs_per_gpu))
        gpus.append(FakeGpu(uuid=f"GPU-be0c0000-0000-4000-8000-{g:012d}", name="NVIDIA H100 80GB HBM3",
                            mem_total=80 * GIB, mem_used=procs_per_gpu * 2 * GIB, util=80.0, power_mw=400_000,
                            processes=procs, gpm=_gpm(60.0, 30.0, 35.0, 50.0), wave=10.0))
    return tuple(gpus)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("mixed", "H100 with GPM, A100 without, MIG A100 (1g.10gb + 3g.40gb), T4 shared by two pods",
             (H100, A100, A100_MIG, T4_SHARED)),
    Scenario("h100", "one H100 with GPM", (H100,)),
    Scenario("a100", "one A100 without GPM", (A100,)),
    Scenario("mig", "A100-80GB in MIG mode with 1g.10gb and 3g.40gb instances", (A100_MIG,)),
    Scenario("h100-mig", "H100 in MIG mode (1g.10gb + 3g.40gb) with per-instance GPM", (H100_MIG,)),
    Scenario("shared-t4", "one T4 time-sliced between two pods", (T4_SHARED,)),
    Scenario("not-supported", "A100 whose power reading raises NotSupported",
             (replace(A100, unsupported=frozenset({"nvmlDeviceGetPowerUsage"})),)),
    Scenario("gpu-lost", "H100 and A100; the A100 is lost from 3 s to 6 s after start, then back",
             (H100, replace(A100, lost=((3.0, 6.0),)))),
    Scenario("no-library", "libnvidia-ml.so is missing", library_missing=True),
    Scenario("bench", "8 H100s with 8 processes each (64 processes)", _bench_gpus()),
)}
DEFAULT_SCENARIO = "mixed"
