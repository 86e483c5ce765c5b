"""The NVML adapter: pynvml calls -> DeviceSample, with every NVMLError handled per call.

The same code drives real pynvml and the fake in ``agent.gpu.fake`` (a module-shaped object with the same
function names that raises the real ``pynvml.NVMLError_*`` classes), so the tests exercise this file.

Error policy (the agent never crashes on an NVML error; docs/agent.md, Failure behaviour), decided per
call and per device:
- NotSupported / FunctionNotFound / a missing symbol: that metric is null for that device from then on;
- GpuIsLost / Unknown / GpuNotFound: the device is marked lost (no rows), counted, and retried with backoff;
- NotFound from process utilization: no process ran a kernel since the last read (idle), not an error;
- LibraryNotFound / DriverNotLoaded at init: GPU metrics are off, said once; CPU/memory sampling goes on;
- anything else: that value is null for this tick, counted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.gpu.backend import DeviceSample, ProcessSample

log = logging.getLogger("rightsizer.agent.gpu")

# GPM metric name in the dataset -> pynvml constant name (ids 2, 3, 5, 10).
GPM_METRICS = (
    ("sm_active", "NVML_GPM_METRIC_SM_UTIL"),
    ("sm_occupancy", "NVML_GPM_METRIC_SM_OCCUPANCY"),
    ("tensor_active", "NVML_GPM_METRIC_ANY_TENSOR_UTIL"),
    ("dram_active", "NVML_GPM_METRIC_DRAM_BW_UTIL"),
)
# NVML asks for GPM samples at least 100 ms apart.
GPM_MIN_INTERVAL_S = 0.1
LOST_BACKOFF_MAX_S = 60.0


class _DeviceLost(Exception):
    pass


def mig_profile_name(slice_count: int, memory_mb: int) -> str:
    """``1g.10gb`` from a MIG device's attributes, rounded up as the NVIDIA device plugin names them."""
    return f"{slice_count}g.{math.ceil(memory_mb / 1024)}gb"


@dataclass
class _Gpm:
    prev: object = None
    cur: object = None
    prev_t: float | None = None


@dataclass
class _Device:
    handle: object
    uuid: str
    model: str
    mig_profile: str | None = None
    parent: _Device | None = None
    gi_id: int | None = None
    children: list[_Device] = field(default_factory=list)
    unsupported: set[str] = field(default_factory=set)
    gpm: _Gpm | None = None
    last_seen_us: int = 0
    lost_failures: int = 0
    retry_at: float | None = None

    @property
    def physical(self) -> _Device:
        return self.parent or self


class NvmlBackend:
    """Samples every GPU (or MIG instance) through a pynvml-shaped module.

    ``nvml`` is the module (None = ``import pynvml`` at start). ``on_error(call, error)`` is told about every
    NVML error (the agent counts them in /metrics); ``clock`` decides lost-device retries.
    """

    def __init__(self, nvml=None, *, on_error: Callable[[str, str], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.nvml = nvml
        self.on_error = on_error or (lambda call, error: None)
        self.clock = clock
        self.devices: list[_Device] = []
        self.available = False
        self.off_reason: str | None = None
        self._logged: set[tuple] = set()

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> bool:
        if self.nvml is None:
            try:
                import pynvml
            except ImportError:
                return self._off("nvidia-ml-py (pynvml) is not installed")
            self.nvml = pynvml
        N = self.nvml
        try:
            N.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound/DriverNotLoaded, or a broken install (OSError)
            self.on_error("nvmlInit", type(exc).__name__.removeprefix("NVMLError_"))
            return self._off(f"NVML did not initialise ({exc})")
        try:
            self._enumerate()
        except Exception as exc:
            self.on_error("nvmlDeviceGetCount", type(exc).__name__.removeprefix("NVMLError_"))
            return self._off(f"cannot enumerate GPUs ({exc})")
        self.available = True
        log.info("NVML ready: %d GPU(s), %d sampled device(s)", len(self.devices),
                 sum(len(d.children) or 1 for d in self.devices))
        return True

    def _off(self, reason: str) -> bool:
        self.available = False
        self.off_reason = reason
        log.warning("GPU metrics are off: %s; CPU and memory sampling continues", reason)
        return False

    def close(self) -> None:
        if not self.available:
            return
        N = self.nvml
        for dev in self._all_devices():
            if dev.gpm:
                for s in (dev.gpm.prev, dev.gpm.cur):
                    if s is not None:
                        with contextlib.suppress(N.NVMLError):
                            N.nvmlGpmSampleFree(s)
        with contextlib.suppress(N.NVMLError):
            N.nvmlShutdown()
        self.available = False

    def device_inventory(self) -> list[tuple[str, str]]:
        return [(d.uuid, d.model) for d in self.devices]

    def _all_devices(self):
        for d in self.devices:
            yield d
            yield from d.children

    # -- enumeration -----------------------------------------------------------------------------------
    def _enumerate(self) -> None:
        N = self.nvml
        self.devices = []
        for i in range(N.nvmlDeviceGetCount()):
            try:
                h = N.nvmlDeviceGetHandleByIndex(i)
                dev = _Device(handle=h, uuid=N.nvmlDeviceGetUUID(h), model=N.nvmlDeviceGetName(h))
            except N.NVMLError as exc:
                self._note(None, "nvmlDeviceGetHandleByIndex", exc)
                continue
            self.devices.append(dev)
            try:
                if self._mig_enabled(dev):
                    self._enumerate_mig(dev)
                self._setup_gpm(dev)
            except _DeviceLost:
                dev.lost_failures, dev.retry_at = 1, self.clock() + 1.0

    def _mig_enabled(self, dev: _Device) -> bool:
        N = self.nvml
        mode = self._call(dev, "nvmlDeviceGetMigMode", N.nvmlDeviceGetMigMode, dev.handle, quiet_unsupported=True)
        return bool(mode) and mode[0] == N.NVML_DEVICE_MIG_ENABLE

    def _enumerate_mig(self, dev: _Device) -> None:
        N = self.nvml
        count = self._call(dev, "nvmlDeviceGetMaxMigDeviceCount", N.nvmlDeviceGetMaxMigDeviceCount, dev.handle) or 0
        for j in range(count):
            try:
                mh = N.nvmlDeviceGetMigDeviceHandleByIndex(dev.handle, j)
            except N.NVMLError_NotFound:
                continue  # no MIG device at this index
            except N.NVMLError as exc:
                self._note(dev, "nvmlDeviceGetMigDeviceHandleByIndex", exc)
                continue
            try:
                attrs = N.nvmlDeviceGetAttributes(mh)
                child = _Device(handle=mh, uuid=N.nvmlDeviceGetUUID(mh), model=dev.model, parent=dev,
                                mig_profile=mig_profile_name(attrs.gpuInstanceSliceCount, attrs.memorySizeMB),
                                gi_id=N.nvmlDeviceGetGpuInstanceId(mh))
            except N.NVMLError as exc:
                self._note(dev, "nvmlDeviceGetAttributes", exc)
                continue
            dev.children.append(child)

    def _setup_gpm(self, dev: _Device) -> None:
        N = self.nvml
        support = self._call(dev, "nvmlGpmQueryDeviceSupport", N.nvmlGpmQueryDeviceSupport, dev.handle,
                             quiet_unsupported=True)
        if not support or not support.isSupportedDevice:
            return
        for d in dev.children or [dev]:
            try:
                d.gpm = _Gpm(prev=N.nvmlGpmSampleAlloc(), cur=N.nvmlGpmSampleAlloc())
            except N.NVMLError as exc:
                self._note(d, "nvmlGpmSampleAlloc", exc)
                d.gpm = None

    # -- sampling --------------------------------------------------------------------------------------
    def sample(self) -> list[DeviceSample]:
        if not self.available:
            return []
        now = self.clock()
        out: list[DeviceSample] = []
        for dev in self.devices:
            if dev.retry_at is not None and now < dev.retry_at:
                continue
            try:
                rows = [self._sample_mig(c, now) for c in dev.children] if dev.children else [self._sample_gpu(dev, now)]
            except _DeviceLost:
                dev.lost_failures += 1
                dev.retry_at = now + min(LOST_BACKOFF_MAX_S, 2.0 ** (dev.lost_failures - 1))
                if dev.lost_failures == 1:
                    log.warning("GPU %s is lost; retrying with backoff", dev.uuid)
                continue
            if dev.retry_at is not None:
                log.warning("GPU %s is back after %d failed attempt(s)", dev.uuid, dev.lost_failures)
                dev.retry_at, dev.lost_failures = None, 0
            out.extend(r for r in rows if r is not None)
        return out

    def _sample_gpu(self, dev: _Device, now: float) -> DeviceSample | None:
        N = self.nvml
        mem = self._call(dev, "nvmlDeviceGetMemoryInfo", N.nvmlDeviceGetMemoryInfo, dev.handle)
        if mem is None:
            return None  # memory is a required column: no row without it
        util = self._call(dev, "nvmlDeviceGetUtilizationRates", N.nvmlDeviceGetUtilizationRates, dev.handle)
        power = self._call(dev, "nvmlDeviceGetPowerUsage", N.nvmlDeviceGetPowerUsage, dev.handle)
        gpm = self._gpm(dev, now)
        return DeviceSample(
            uuid=dev.uuid, model=dev.model, mem_used=int(mem.used), mem_total=int(mem.total),
            gpu_util=None if util is None else min(1.0, util.gpu / 100.0),
            power_w=None if power is None else power / 1000.0,
            processes=self._processes(dev, with_util=True), **gpm)

    def _sample_mig(self, dev: _Device, now: float) -> DeviceSample | None:
        N = self.nvml
        mem = self._call(dev, "nvmlDeviceGetMemoryInfo", N.nvmlDeviceGetMemoryInfo, dev.handle)
        if mem is None:
            return None
        # Utilization rates and per-process utilization are not supported on MIG (nvml.h); GPM is the only
        # per-instance activity source, and only on Hopper+.
        return DeviceSample(
            uuid=dev.uuid, model=dev.model, mig_profile=dev.mig_profile, parent_uuid=dev.parent.uuid,
            mem_used=int(mem.used), mem_total=int(mem.total),
            processes=self._processes(dev, with_util=False), **self._gpm(dev, now))

    def _gpm(self, dev: _Device, now: float) -> dict:
        if dev.gpm is None or "gpm" in dev.unsupported:
            return {}
        N, g = self.nvml, dev.gpm
        if g.prev_t is not None and now - g.prev_t < GPM_MIN_INTERVAL_S:
            return {}
        if dev.parent is not None:
            got = self._call(dev, "nvmlGpmMigSampleGet", N.nvmlGpmMigSampleGet, dev.parent.handle, dev.gi_id, g.cur)
        else:
            got = self._call(dev, "nvmlGpmSampleGet", N.nvmlGpmSampleGet, dev.handle, g.cur)
        if got is None:
            return {}
        values = {}
        if g.prev_t is not None:
            mg = N.c_nvmlGpmMetricsGet_t()
            mg.version = N.NVML_GPM_METRICS_GET_VERSION
            mg.numMetrics = len(GPM_METRICS)
            mg.sample1, mg.sample2 = g.prev, g.cur
            for k, (_, const) in enumerate(GPM_METRICS):
                mg.metrics[k].metricId = getattr(N, const)
            if self._call(dev, "nvmlGpmMetricsGet", N.nvmlGpmMetricsGet, mg) is not None:
                for k, (name, _) in enumerate(GPM_METRICS):
                    m = mg.metrics[k]
                    if m.nvmlReturn == N.NVML_SUCCESS and math.isfinite(m.value):
                        values[name] = min(1.0, max(0.0, m.value / 100.0))
        g.prev, g.cur, g.prev_t = g.cur, g.prev, now
        return values

    def _processes(self, dev: _Device, *, with_util: bool) -> tuple[ProcessSample, ...]:
        N = self.nvml
        procs = self._call(dev, "nvmlDeviceGetComputeRunningProcesses", N.nvmlDeviceGetComputeRunningProcesses,
                           dev.handle) or []
        mem = {}
        for p in procs:
            pid, used = int(p.pid), p.usedGpuMemory
            if used is None:  # not available (WDDM, or no permission): unknown, not zero
                mem.setdefault(pid, None)
            else:
                mem[pid] = (mem.get(pid) or 0) + int(used)
        util: dict[int, float] | None = None
        if with_util and "nvmlDeviceGetProcessUtilization" not in dev.unsupported:
            util = self._process_util(dev)
        pids = sorted(set(mem) | set(util or ()))
        return tuple(ProcessSample(pid=pid, mem_bytes=mem.get(pid),
                                   sm_util=None if util is None else util.get(pid, 0.0))
                     for pid in pids)

    def _process_util(self, dev: _Device) -> dict[int, float] | None:
        N = self.nvml
        try:
            rows = N.nvmlDeviceGetProcessUtilization(dev.handle, dev.last_seen_us)
        except N.NVMLError_NotFound:
            return {}  # no process ran a kernel since last_seen: idle
        except N.NVMLError as exc:
            self._handle(dev, "nvmlDeviceGetProcessUtilization", exc)
            return None
        except N.NVMLLibraryMismatchError as exc:
            self._handle(dev, "nvmlDeviceGetProcessUtilization", exc)
            return None
        sums: dict[int, list[float]] = {}
        cutoff = dev.last_seen_us
        for r in rows:
            # The driver may return samples older than last_seen; they were counted by the previous read.
            if r.timeStamp <= cutoff:
                continue
            acc = sums.setdefault(int(r.pid), [0.0, 0])
            acc[0] += r.smUtil
            acc[1] += 1
            dev.last_seen_us = max(dev.last_seen_us, int(r.timeStamp))
        return {pid: min(1.0, total / n / 100.0) for pid, (total, n) in sums.items()}

    # -- error handling --------------------------------------------------------------------------------
    def _call(self, dev: _Device, name: str, fn, *args, quiet_unsupported: bool = False):
        if name in dev.unsupported:
            return None
        N = self.nvml
        try:
            return fn(*args)
        except (N.NVMLError, N.NVMLLibraryMismatchError) as exc:
            self._handle(dev, name, exc, quiet_unsupported=quiet_unsupported)
            return None

    def _handle(self, dev: _Device | None, name: str, exc: Exception, *, quiet_unsupported: bool = False) -> None:
        N = self.nvml
        kind = type(exc).__name__.removeprefix("NVMLError_")
        unsupported = isinstance(exc, N.NVMLError_NotSupported | N.NVMLError_FunctionNotFound
                                 | N.NVMLLibraryMismatchError)
        if not (unsupported and quiet_unsupported):  # a capability probe answering "no" is not an error
            self.on_error(name, kind)
        if isinstance(exc, N.NVMLError_GpuIsLost | N.NVMLError_Unknown | N.NVMLError_GpuNotFound):
            raise _DeviceLost(name) from exc
        if unsupported:
            if dev is not None:
                dev.unsupported.add("gpm" if name.startswith("nvmlGpm") else name)
            if not quiet_unsupported:
                self._log_once(dev, name, kind, logging.INFO, "null for this device from now on")
            return
        self._log_once(dev, name, kind, logging.WARNING, "null for this sample")

    def _note(self, dev: _Device | None, name: str, exc: Exception) -> None:
        with contextlib.suppress(_DeviceLost):
            self._handle(dev, name, exc)

    def _log_once(self, dev: _Device | None, name: str, kind: str, level: int, consequence: str) -> None:
        key = (dev.uuid if dev else None, name, kind)
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, "%s on %s: %s; %s", name, dev.uuid if dev else "NVML", kind, consequence)
