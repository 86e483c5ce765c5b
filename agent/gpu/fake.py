"""A fake ``pynvml``: the same function names and signatures, the real ``pynvml.NVMLError_*`` classes and
ctypes structs, answering from a scripted ``Scenario``. ``NvmlBackend(FakeNvml(...))`` runs the very code
that drives real NVML.

Behaviour copied from nvml.h: utilization rates and per-process utilization raise NotSupported on MIG;
``nvmlDeviceGetProcessUtilization`` raises NotFound when no sample is newer than ``lastSeen``; GPM needs two
samples >= 100 ms apart; ``nvmlDeviceGetMigDeviceHandleByIndex`` raises NotFound on an empty slot.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import pynvml

from agent.gpu.scenarios import DEFAULT_SCENARIO, SCENARIOS, FakeGpu, FakeMig, Scenario


@dataclass(frozen=True)
class _Handle:
    gpu: FakeGpu
    mig: FakeMig | None = None


def _err(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


class FakeNvml:
    """Module-shaped fake. Constants, error classes and struct types come from the real pynvml."""

    def __init__(self, scenario: Scenario | str = DEFAULT_SCENARIO, clock: Callable[[], float] = time.time):
        if isinstance(scenario, str):
            if scenario not in SCENARIOS:
                raise KeyError(scenario)
            scenario = SCENARIOS[scenario]
        self.scenario = scenario
        self.clock = clock
        self.calls: dict[str, int] = {}
        self._t0: float | None = None
        self._gpm_buffers: dict[int, ctypes.Array] = {}
        self._gpm_samples: dict[int, tuple[str, float]] = {}

    def __getattr__(self, name):
        value = getattr(pynvml, name)
        if callable(value) and name.startswith("nvml") and not isinstance(value, type):
            def missing(*args, **kwargs):
                raise _err(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
            return missing
        return value

    # -- helpers ---------------------------------------------------------------------------------------
    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self._t0 is None:
            raise _err(pynvml.NVML_ERROR_UNINITIALIZED)

    def _dev(self, name: str, handle: _Handle) -> _Handle:
        self._count(name)
        t = self.clock() - self._t0
        if any(a <= t < b for a, b in handle.gpu.lost):
            raise _err(pynvml.NVML_ERROR_GPU_IS_LOST)
        if name in handle.gpu.unsupported:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return handle

    def _mig_enabled(self, gpu: FakeGpu) -> bool:
        return bool(gpu.mig)

    # -- init ------------------------------------------------------------------------------------------
    def nvmlInit(self):
        self.calls["nvmlInit"] = self.calls.get("nvmlInit", 0) + 1
        if self.scenario.library_missing:
            raise _err(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        self._t0 = self.clock()

    def nvmlShutdown(self):
        self._count("nvmlShutdown")
        self._t0 = None

    def nvmlDeviceGetCount(self):
        self._count("nvmlDeviceGetCount")
        return len(self.scenario.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        self._count("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.scenario.gpus):
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(self.scenario.gpus[index])

    def nvmlDeviceGetUUID(self, handle):
        h = self._dev("nvmlDeviceGetUUID", handle)
        return h.mig.uuid if h.mig else h.gpu.uuid

    def nvmlDeviceGetName(self, handle):
        return self._dev("nvmlDeviceGetName", handle).gpu.name

    # -- MIG -------------------------------------------------------------------------------------------
    def nvmlDeviceGetMigMode(self, device):
        h = self._dev("nvmlDeviceGetMigMode", device)
        if not h.gpu.mig_capable or h.mig:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if self._mig_enabled(h.gpu) else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, device):
        h = self._dev("nvmlDeviceGetMaxMigDeviceCount", device)
        return 7 if self._mig_enabled(h.gpu) else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, device, index):
        h = self._dev("nvmlDeviceGetMigDeviceHandleByIndex", device)
        if index >= len(h.gpu.mig):
            raise _err(pynvml.NVML_ERROR_NOT_FOUND)
        return _Handle(h.gpu, h.gpu.mig[index])

    def nvmlDeviceIsMigDeviceHandle(self, device):
        return ctypes.c_uint(1 if self._dev("nvmlDeviceIsMigDeviceHandle", device).mig else 0)

    def nvmlDeviceGetAttributes(self, device):
        h = self._dev("nvmlDeviceGetAttributes", device)
        attrs = pynvml.c_nvmlDeviceAttributes()
        if h.mig:
            attrs.gpuInstanceSliceCount = attrs.computeInstanceSliceCount = h.mig.slices
            attrs.memorySizeMB = h.mig.memory_mb
            attrs.multiprocessorCount = 14 * h.mig.slices
        else:
            attrs.gpuInstanceSliceCount = attrs.computeInstanceSliceCount = 7
            attrs.memorySizeMB = h.gpu.mem_total // (1024 * 1024)
        return attrs

    nvmlDeviceGetAttributes_v2 = nvmlDeviceGetAttributes

    def nvmlDeviceGetGpuInstanceId(self, device):
        h = self._dev("nvmlDeviceGetGpuInstanceId", device)
        if not h.mig:
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return h.mig.gi_id

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, migDevice):
        return _Handle(self._dev("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", migDevice).gpu)

    # -- readings --------------------------------------------------------------------------------------
    def _util(self, gpu: FakeGpu) -> float:
        if not gpu.wave:
            return gpu.util
        t = self.clock() - self._t0
        return min(100.0, max(0.0, gpu.util + gpu.wave * math.sin(2 * math.pi * t / 300.0)))

    def nvmlDeviceGetUtilizationRates(self, handle):
        h = self._dev("nvmlDeviceGetUtilizationRates", handle)
        if h.mig or h.gpu.mig:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        util = pynvml.c_nvmlUtilization_t()
        util.gpu = int(round(self._util(h.gpu)))
        util.memory = int(round(self._util(h.gpu) / 2))
        return util

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        h = self._dev("nvmlDeviceGetMemoryInfo", handle)
        mem = pynvml.c_nvmlMemory_t()
        if h.mig:
            mem.total, mem.used = h.mig.memory_mb * 1024 * 1024, h.mig.mem_used
        else:
            mem.total = h.gpu.mem_total
            mem.used = sum(m.mem_used for m in h.gpu.mig) if h.gpu.mig else h.gpu.mem_used
        mem.free = mem.total - mem.used
        return mem

    def nvmlDeviceGetPowerUsage(self, handle):
        h = self._dev("nvmlDeviceGetPowerUsage", handle)
        if h.mig:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return h.gpu.power_mw

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        h = self._dev("nvmlDeviceGetComputeRunningProcesses", handle)
        if h.mig:
            procs = [(p, h.mig.gi_id) for p in h.mig.processes]
        else:
            procs = [(p, 0xFFFFFFFF) for p in h.gpu.processes]
            procs += [(p, m.gi_id) for m in h.gpu.mig for p in m.processes]
        return [pynvml.nvmlFriendlyObject({"pid": p.pid, "usedGpuMemory": p.mem_bytes, "gpuInstanceId": gi,
                                           "computeInstanceId": 0 if gi != 0xFFFFFFFF else gi})
                for p, gi in procs]

    def nvmlDeviceGetProcessUtilization(self, handle, timeStamp):
        h = self._dev("nvmlDeviceGetProcessUtilization", handle)
        if h.mig or h.gpu.mig:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        now_us = int(self.clock() * 1_000_000)
        busy = [p for p in h.gpu.processes if p.sm_util > 0]
        if not busy or now_us <= timeStamp:
            raise _err(pynvml.NVML_ERROR_NOT_FOUND)
        scale = self._util(h.gpu) / h.gpu.util if h.gpu.util else 1.0
        out = []
        for p in busy:
            s = pynvml.c_nvmlProcessUtilizationSample_t()
            s.pid, s.timeStamp = p.pid, now_us
            s.smUtil = int(round(min(100.0, p.sm_util * scale)))
            s.memUtil = s.smUtil // 2
            out.append(s)
        return out

    # -- GPM -------------------------------------------------------------------------------------------
    def nvmlGpmQueryDeviceSupport(self, device):
        h = self._dev("nvmlGpmQueryDeviceSupport", device)
        support = pynvml.c_nvmlGpmSupport_t()
        support.version = pynvml.NVML_GPM_SUPPORT_VERSION
        support.isSupportedDevice = 1 if h.gpu.gpm is not None else 0
        return support

    def nvmlGpmSampleAlloc(self):
        self._count("nvmlGpmSampleAlloc")
        buf = ctypes.create_string_buffer(16)
        ptr = ctypes.cast(buf, pynvml.c_nvmlGpmSample_t)
        self._gpm_buffers[ctypes.addressof(buf)] = buf
        return ptr

    def nvmlGpmSampleFree(self, gpmSample):
        self._count("nvmlGpmSampleFree")
        addr = ctypes.cast(gpmSample, ctypes.c_void_p).value
        self._gpm_buffers.pop(addr, None)
        self._gpm_samples.pop(addr, None)

    def _gpm_take(self, name: str, h: _Handle, sample) -> object:
        if h.gpu.gpm is None:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        addr = ctypes.cast(sample, ctypes.c_void_p).value
        if addr not in self._gpm_buffers:
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        self._gpm_samples[addr] = (h.mig.uuid if h.mig else h.gpu.uuid, self.clock())
        return sample

    def nvmlGpmSampleGet(self, device, gpmSample):
        h = self._dev("nvmlGpmSampleGet", device)
        return self._gpm_take("nvmlGpmSampleGet", h, gpmSample)

    def nvmlGpmMigSampleGet(self, device, gpuInstanceId, gpmSample):
        h = self._dev("nvmlGpmMigSampleGet", device)
        mig = next((m for m in h.gpu.mig if m.gi_id == gpuInstanceId), None)
        if mig is None:
            raise _err(pynvml.NVML_ERROR_NOT_FOUND)
        return self._gpm_take("nvmlGpmMigSampleGet", _Handle(h.gpu, mig), gpmSample)

    def nvmlGpmMetricsGet(self, metricsGet):
        self._count("nvmlGpmMetricsGet")
        if metricsGet.version != pynvml.NVML_GPM_METRICS_GET_VERSION:
            raise _err(pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        a = self._gpm_samples.get(ctypes.cast(metricsGet.sample1, ctypes.c_void_p).value)
        b = self._gpm_samples.get(ctypes.cast(metricsGet.sample2, ctypes.c_void_p).value)
        if a is None or b is None or a[0] != b[0] or b[1] - a[1] < 0.1:
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        values = self._gpm_values(a[0])
        for k in range(metricsGet.numMetrics):
            m = metricsGet.metrics[k]
            if values is not None and m.metricId in values:
                m.value, m.nvmlReturn = values[m.metricId], pynvml.NVML_SUCCESS
            else:
                m.value, m.nvmlReturn = 0.0, pynvml.NVML_ERROR_NOT_SUPPORTED
        return metricsGet

    def _gpm_values(self, uuid: str) -> dict[int, float] | None:
        for gpu in self.scenario.gpus:
            if gpu.uuid == uuid:
                return gpu.gpm
            for m in gpu.mig:
                if m.uuid == uuid:
                    return m.gpm if m.gpm is not None else gpu.gpm
        return None
