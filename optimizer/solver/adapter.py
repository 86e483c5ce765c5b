"""Catalog instance types → solver node types (allocatable capacity less DaemonSets, market prices,
architecture, MIG geometry)."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.config import SolverConfig
from optimizer.solver.model import ON_DEMAND, SPOT, MigSlice, NodeType

# Burstable families (CPU credits: a node that runs out is throttled to its baseline, 5-40 % of a vCPU)
BURSTABLE_FAMILIES = frozenset({"t2", "t3", "t3a", "t4g"})


@dataclass(frozen=True)
class DaemonSetLoad:
    """Requests of the DaemonSet pods one node runs: cores, bytes and pod slots they take."""

    cpu: float = 0.0
    mem: int = 0
    pods: int = 0


@dataclass(frozen=True)
class DaemonSetReserve:
    """What DaemonSets take on every node of the plan, for nodes with GPUs and for nodes without
    (GPU DaemonSets such as the device plugin or DCGM exporter select GPU nodes only)."""

    gpu_nodes: DaemonSetLoad = DaemonSetLoad()
    cpu_nodes: DaemonSetLoad = DaemonSetLoad()

    def on(self, has_gpu: bool) -> DaemonSetLoad:
        return self.gpu_nodes if has_gpu else self.cpu_nodes


def allocatable(it, daemonsets: DaemonSetLoad | None = None) -> tuple[float, int, int]:
    """(cores, bytes, pods) that pods other than DaemonSets may request on a node of catalog type ``it``:
    its Kubernetes allocatable (optimizer.catalog.node_allocatable) less ``daemonsets``."""
    from optimizer.catalog import node_allocatable

    ds = daemonsets or DaemonSetLoad()
    alloc = node_allocatable(it)
    return (max(0.0, alloc.cpu - ds.cpu), max(0, alloc.memory_bytes - ds.mem), max(0, alloc.pods - ds.pods))


def mig_slices(gpu_model: str | None) -> tuple[MigSlice, ...]:
    from optimizer.catalog import mig_profiles

    return tuple(MigSlice(p.name, p.compute_slices, p.memory_slices, tuple(p.placements), p.max_instances,
                          p.memory_bytes) for p in mig_profiles(gpu_model))


def node_types_from_catalog(catalog, *, region: str = "us-east-1", cfg: SolverConfig | None = None,
                            spot: bool = True, checkpoint_interval_h: float = 1.0,
                            daemonsets: DaemonSetReserve | None = None) -> list[NodeType]:
    """One on-demand NodeType per priced instance type, and a spot one where a spot price is known,
    priced at its expected cost with the interruption band's rework (catalog.cost.spot_expected_hourly).
    Capacity is the type's allocatable less ``daemonsets``; the architecture is the catalog's.

    Left out: fractional-GPU types (g6f: 1/8..1/2 of an L4; their slice is not a whole device the solver
    can split further), and burstable families (t2, t3, t3a, t4g) unless ``cfg.allow_burstable``."""
    from optimizer.catalog.cost import spot_expected_hourly

    cfg = cfg or SolverConfig()
    reserve = daemonsets or DaemonSetReserve()
    out: list[NodeType] = []
    for it in catalog.instance_types(region=region):
        if it.gpu_count and (it.gpu_count != int(it.gpu_count) or it.gpu_vendor not in (None, "nvidia")):
            continue
        if it.family in BURSTABLE_FAMILIES and not cfg.allow_burstable:
            continue
        gpus = int(it.gpu_count or 0)
        cpu, mem, pods = allocatable(it, reserve.on(bool(gpus)))
        mig = mig_slices(it.gpu_model) if gpus else ()
        common = dict(cpu=cpu, mem=mem, gpus=gpus, gpu_model=it.gpu_model if gpus else None,
                      gpu_memory=int(it.gpu_memory_bytes or 0) if gpus else 0, mig=mig,
                      gpu_pods_only=bool(gpus) and cfg.gpu_nodes_tainted, arch=it.arch, max_pods=pods)
        od = it.on_demand.get(region)
        if od is not None and od > 0:
            out.append(NodeType(it.name, ON_DEMAND, float(od), **common))
        sp = it.spot.get(region)
        if spot and sp is not None and sp > 0:
            hourly = spot_expected_hourly(float(sp), it.interruption_band.get(region), checkpoint_interval_h)
            out.append(NodeType(it.name, SPOT, hourly, **common))
    return out
