"""Typed records of the catalog: instance types, GPU models, MIG profiles.

These are the seam other parts code against (see the Catalog section of the interfaces note): frozen
dataclasses, sizes in bytes, prices in USD per hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

GIB = 1024**3
MIB = 1024**2
ARCHES = ("x86_64", "arm64")  # EC2 ProcessorInfo.SupportedArchitectures names
SOURCE_KARPENTER = "karpenter-reference"  # Karpenter's generated instance-type table
SOURCE_EKS_RULE = "eks-rule"  # computed by Karpenter's EKS rule (optimizer/catalog/allocatable.py)


class FrozenMap(dict):
    """A read-only dict (region -> value) that still pickles, so catalogs travel to worker processes."""

    def _readonly(self, *args, **kwargs):
        raise TypeError("catalog price maps are read-only; build a new InstanceType with dataclasses.replace")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _readonly

    def __reduce__(self):
        return (FrozenMap, (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))


def _frozen_map(value: Mapping[str, object] | None) -> Mapping[str, object]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value or {})


@dataclass(frozen=True)
class Allocatable:
    """Allocatable resources of an empty node of one type, and where the numbers came from."""

    cpu_milli: int
    memory_bytes: int
    pods: int
    source: str

    @property
    def cpu(self) -> float:
        return self.cpu_milli / 1000

    def to_dict(self) -> dict:
        return {"cpu_milli": self.cpu_milli, "memory_bytes": self.memory_bytes, "pods": self.pods,
                "source": self.source}


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type (or an on-prem node shape loaded from a user catalog).

    ``gpu_count`` is a float because fractional GPU types exist: a g6f.large gets 1/8 of an L4.
    ``gpu_memory_bytes`` is the memory of one GPU *device the instance sees*: for whole-GPU types that
    is the full GPU (81920 MiB on p5), for fractional types it is the slice (2861 MiB on g6f.large),
    exactly as EC2 DescribeInstanceTypes reports ``GpuInfo.Gpus[].MemoryInfo.SizeInMiB``. A fit check
    against it is therefore never optimistic. ``gpu_devices`` and ``total_gpu_memory_bytes`` give the
    device count and the instance total without re-deriving that rule.

    ``on_demand``, ``spot`` (7-day average across availability zones) and ``interruption_band``
    (AWS Spot Advisor label such as ``"5-10%"``) map region -> value; a region missing from a map
    means "not known there", never 0.

    ``arch`` is the CPU architecture (``x86_64`` or ``arm64``, EC2's names; Kubernetes calls x86_64
    ``amd64``), None when a user catalog does not say and the name does not tell. ``allocatable`` is
    what pods may request on an empty node (Kubernetes allocatable: capacity less kubelet reservations
    and eviction threshold, before any DaemonSet), with the source of its numbers; None when the
    catalog file has no such entry (``node_allocatable`` then applies the EKS rule).
    """

    name: str
    family: str
    gpu_vendor: str | None
    gpu_model: str | None
    gpu_count: float
    gpu_memory_bytes: int
    vcpu: int
    memory_bytes: int
    on_demand: Mapping[str, float] = field(default_factory=dict)
    spot: Mapping[str, float] = field(default_factory=dict)
    interruption_band: Mapping[str, str] = field(default_factory=dict)
    arch: str | None = None
    allocatable: Allocatable | None = None

    def __post_init__(self) -> None:
        # Read-only maps so a shared catalog cannot be edited by one caller under another's feet.
        object.__setattr__(self, "on_demand", _frozen_map(self.on_demand))
        object.__setattr__(self, "spot", _frozen_map(self.spot))
        object.__setattr__(self, "interruption_band", _frozen_map(self.interruption_band))

    def __hash__(self) -> int:  # the maps are not hashable; the name identifies a type in one catalog
        return hash(self.name)

    @property
    def has_gpu(self) -> bool:
        return self.gpu_count > 0

    @property
    def is_fractional_gpu(self) -> bool:
        return 0 < self.gpu_count < 1

    @property
    def gpu_devices(self) -> int:
        """GPU devices visible on the node (``nvidia.com/gpu`` capacity): 1 for a fractional type."""
        if self.gpu_count <= 0:
            return 0
        return max(1, int(self.gpu_count))

    @property
    def total_gpu_memory_bytes(self) -> int:
        return self.gpu_devices * self.gpu_memory_bytes

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "gpu_vendor": self.gpu_vendor,
            "gpu_model": self.gpu_model,
            "gpu_count": self.gpu_count,
            "gpu_memory_bytes": self.gpu_memory_bytes,
            "vcpu": self.vcpu,
            "memory_bytes": self.memory_bytes,
            "on_demand": dict(sorted(self.on_demand.items())),
            "spot": dict(sorted(self.spot.items())),
            "interruption_band": dict(sorted(self.interruption_band.items())),
            **({"arch": self.arch} if self.arch else {}),
            **({"allocatable": self.allocatable.to_dict()} if self.allocatable else {}),
        }


@dataclass(frozen=True)
class GpuSpec:
    """Vendor data-sheet numbers for one GPU model (per GPU, dense tensor math, no sparsity)."""

    name: str
    memory_bytes: int
    memory_bandwidth_gbs: float
    fp16_tflops: float
    fp32_tflops: float
    mig_supported: bool
    source: str


@dataclass(frozen=True)
class MigProfile:
    """A MIG GPU-instance profile.

    The GPU is 7 compute slices by 8 memory slices. ``placements`` are the valid start indices on the
    8-slot memory axis (``nvidia-smi mig -lgipp``); the instance occupies ``memory_slices`` slots from
    there. ``memory_bytes`` is the usable memory ``nvidia-smi mig -lgip`` reports, which is a little below
    the name (a 1g.10gb has 9.75 GiB), so fit checks against it are not optimistic.
    """

    name: str
    compute_slices: int
    memory_slices: int
    memory_bytes: int
    max_instances: int
    placements: tuple[int, ...]
    sm_count: int = 0  # streaming multiprocessors of the slice (``nvidia-smi mig -lgip``, column SM)
    gpu_sm_count: int = 0  # SMs of the whole GPU with MIG off

    @property
    def sm_share(self) -> float:
        """The slice's share of the GPU's compute: its SMs over the whole GPU's (A100 3g: 42 / 108). A GPU
        split into MIG instances loses some SMs (7g.80gb on an A100 has 98 of 108), so the shares of a full
        layout add up to less than 1; without SM counts, the compute slices of 7."""
        if self.sm_count and self.gpu_sm_count:
            return self.sm_count / self.gpu_sm_count
        return self.compute_slices / 7

    @property
    def resource_name(self) -> str:
        """The Kubernetes extended resource under the device plugin's mixed strategy."""
        return f"nvidia.com/mig-{self.name}"
