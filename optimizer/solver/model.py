"""Plain data the solver works on: node types, pods, MIG geometry and the result.

The solver knows nothing about the catalog or the dataset: callers build ``NodeType`` and ``PodSpec``
values (``optimizer.solver.adapter`` does it from catalog instance types). Internally CPU is in
millicores and memory in MiB so CP-SAT sees integers; pods round up, nodes round down, so a packing
that fits in these units fits in reality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIB = 1024 * 1024
GPU_MILLI = 1000  # one whole GPU
MIG_COMPUTE_SLICES = 7
MIG_MEMORY_SLICES = 8
ON_DEMAND = "on-demand"
SPOT = "spot"


@dataclass(frozen=True)
class MigSlice:
    """One MIG profile's geometry on its GPU (NVIDIA MIG user guide; docs/solver.md): memory slices on the 8-wide axis and the
    valid start positions of the instance there."""

    name: str
    compute: int
    mem_slots: int
    starts: tuple[int, ...]
    max_instances: int
    memory_bytes: int = 0

    @property
    def milli(self) -> int:
        """Share of one GPU this slice takes, for packing heuristics: the larger of its compute and
        memory fractions. Not a relaxation (4g.40gb + 3g.40gb fit one GPU at 571 + 500 milli); the
        aggregate rows count compute and memory separately (classes.PodClass.gpu_units_on)."""
        return max(math.ceil(GPU_MILLI * self.compute / MIG_COMPUTE_SLICES),
                   math.ceil(GPU_MILLI * self.mem_slots / MIG_MEMORY_SLICES))


@dataclass(frozen=True)
class NodeType:
    """A node shape on one market. ``hourly`` is the price the solver minimises (for spot, the
    expected price including rework). ``cpu``, ``mem`` and ``max_pods`` are what the pods being packed
    may use: the node's allocatable less what the DaemonSets on every node take (the adapter builds
    them so). ``arch`` is ``x86_64`` or ``arm64``; None when not known (then only pods that run on any
    architecture go there). ``max_pods`` None: no pod-count limit."""

    name: str
    market: str
    hourly: float
    cpu: float  # allocatable cores
    mem: int  # allocatable bytes
    gpus: int = 0
    gpu_model: str | None = None
    gpu_memory: int = 0  # bytes per GPU
    mig: tuple[MigSlice, ...] = ()
    gpu_pods_only: bool = False  # GPU nodes carry the nvidia.com/gpu NoSchedule taint: no CPU-only pods
    arch: str | None = None
    max_pods: int | None = None

    @property
    def key(self) -> str:
        return f"{self.name}/{self.market}"

    @property
    def cpu_m(self) -> int:
        return int(math.floor(self.cpu * 1000 + 1e-6))

    @property
    def mem_mib(self) -> int:
        return int(self.mem // MIB)

    def mig_slice(self, name: str) -> MigSlice | None:
        for s in self.mig:
            if s.name == name:
                return s
        return None


@dataclass(frozen=True)
class PodSpec:
    """One pod to place. GPU demand is one of: ``gpus`` whole GPUs, a ``gpu_milli`` share (1..999) of one
    time-sliced GPU, or one ``mig_profile`` instance."""

    name: str
    cpu: float  # cores
    mem: int  # bytes
    gpus: int = 0
    gpu_milli: int = 0
    mig_profile: str | None = None
    gpu_models: frozenset[str] | None = None  # allowed GPU models; None = any
    gpu_memory_min: int = 0  # bytes per GPU (whole GPUs)
    spot_ok: bool = False
    on_demand_ok: bool = True
    group: str | None = None  # the workload, for spot share caps
    max_spot_fraction: float = 1.0
    archs: frozenset[str] | None = None  # CPU architectures its images run on; None = any

    def __post_init__(self):
        kinds = (self.gpus > 0) + (self.gpu_milli > 0) + (self.mig_profile is not None)
        if kinds > 1:
            raise ValueError(f"pod {self.name}: give only one of gpus, gpu_milli, mig_profile")
        if not 0 <= self.gpu_milli < GPU_MILLI:
            raise ValueError(f"pod {self.name}: gpu_milli must be in 0..999, got {self.gpu_milli}")
        if not (self.spot_ok or self.on_demand_ok):
            raise ValueError(f"pod {self.name}: allows neither spot nor on-demand")

    @property
    def cpu_m(self) -> int:
        return int(math.ceil(self.cpu * 1000 - 1e-6))

    @property
    def mem_mib(self) -> int:
        return int(-(-self.mem // MIB))

    @property
    def uses_gpu(self) -> bool:
        return self.gpus > 0 or self.gpu_milli > 0 or self.mig_profile is not None


@dataclass
class NodePlan:
    """One node of the answer and the pods on it."""

    node_type: NodeType
    pods: list[str] = field(default_factory=list)


@dataclass
class SolveResult:
    """What the solver found. Costs are $/hour; ``gap`` = (cost − lower bound) / cost."""

    nodes: list[NodePlan]
    cost: float
    lower_bound: float
    ffd_cost: float
    solve_seconds: float
    method: str  # two-stage | ffd | exact
    stage1_status: str
    unplaced: dict[str, str] = field(default_factory=dict)  # pod name -> why
    classes: int = 0
    candidate_types: int = 0

    @property
    def gap(self) -> float:
        if self.cost <= 0:
            return 0.0
        return max(0.0, (self.cost - self.lower_bound) / self.cost)

    def node_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.node_type.key] = counts.get(n.node_type.key, 0) + 1
        return counts

    def placement(self) -> dict[str, int]:
        """Pod name -> index into ``nodes``."""
        return {p: i for i, n in enumerate(self.nodes) for p in n.pods}
