"""Typed rows of the dataset's state tables, shared by the writer side (agent) and the readers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContainerSpec:
    """One container's resources as the ``pods`` table records them (cores, bytes; None = not set)."""

    name: str
    cpu_request: float | None
    cpu_limit: float | None
    mem_request: int | None
    mem_limit: int | None
    gpu_resource: str | None  # e.g. nvidia.com/gpu or nvidia.com/mig-1g.10gb
    gpu_request: float | None
