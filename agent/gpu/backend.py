"""What a GPU backend hands the agent each tick: plain dataclasses, never ctypes structs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ProcessSample:
    """One process on a device. ``sm_util`` is a 0..1 share of the device (None where NVML can't say)."""

    pid: int
    sm_util: float | None
    mem_bytes: int | None


@dataclass(frozen=True)
class DeviceSample:
    """One whole GPU, or one MIG instance (``mig_profile`` set, ``parent_uuid`` its GPU)."""

    uuid: str
    model: str
    mem_used: int
    mem_total: int
    mig_profile: str | None = None
    parent_uuid: str | None = None
    gpu_util: float | None = None
    power_w: float | None = None
    sm_active: float | None = None
    sm_occupancy: float | None = None
    tensor_active: float | None = None
    dram_active: float | None = None
    processes: tuple[ProcessSample, ...] = field(default_factory=tuple)


class GpuBackend(Protocol):
    """A source of device samples. ``start`` returns False when GPU metrics are off for good."""

    def start(self) -> bool: ...

    def sample(self) -> list[DeviceSample]: ...

    def device_inventory(self) -> list[tuple[str, str]]:
        """(uuid, model) of every physical GPU found at start."""
        ...

    def close(self) -> None: ...


class ErrorSink(Protocol):
    def __call__(self, call: str, error: str) -> None: ...


def make_backend(spec: str, *, clock=time.time, on_error=None):
    """``nvml`` | ``fake`` | ``fake:SCENARIO`` -> a GpuBackend. Raises KeyError for an unknown scenario."""
    from agent.gpu.nvml import NvmlBackend

    kind, _, scenario = spec.partition(":")
    if kind == "nvml" and not scenario:
        return NvmlBackend(None, clock=clock, on_error=on_error)
    if kind == "fake":
        from agent.gpu.fake import FakeNvml
        from agent.gpu.scenarios import DEFAULT_SCENARIO

        return NvmlBackend(FakeNvml(scenario or DEFAULT_SCENARIO, clock=clock), clock=clock, on_error=on_error)
    raise KeyError(spec)
