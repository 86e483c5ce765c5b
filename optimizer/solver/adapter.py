"""Catalog instance types → solver node types (allocatable capacity, market prices, MIG geometry)."""

from __future__ import annotations

from optimizer.config import SolverConfig
from optimizer.solver.model import ON_DEMAND, SPOT, MigSlice, NodeType


def allocatable(vcpu: float, memory_bytes: int, cfg: SolverConfig) -> tuple[float, int]:
    """What pods may request on a node of this size after system/kubelet/DaemonSet reservations."""
    cpu = max(0.0, vcpu - cfg.node_reserved_cpu_cores)
    mem = max(0, int(memory_bytes * (1 - cfg.node_reserved_mem_fraction)) - cfg.node_reserved_mem_bytes)
    return cpu, mem


def mig_slices(gpu_model: str | None) -> tuple[MigSlice, ...]:
    from optimizer.catalog import mig_profiles

    return tuple(MigSlice(p.name, p.compute_slices, p.memory_slices, tuple(p.placements), p.max_instances,
                          p.memory_bytes) for p in mig_profiles(gpu_model))


def node_types_from_catalog(catalog, *, region: str = "us-east-1", cfg: SolverConfig | None = None,
                            spot: bool = True, checkpoint_interval_h: float = 1.0) -> list[NodeType]:
    """One on-demand NodeType per priced instance type, and a spot one where a spot price is known,
    priced at its expected cost with the interruption band's rework (catalog.cost.spot_expected_hourly).

    Fractional-GPU types (g6f: 1/8..1/2 of an L4) are left out: their slice is not a whole device the
    solver can split further."""
    from optimizer.catalog.cost import spot_expected_hourly

    cfg = cfg or SolverConfig()
    out: list[NodeType] = []
    for it in catalog.instance_types(region=region):
        if it.gpu_count and (it.gpu_count != int(it.gpu_count) or it.gpu_vendor not in (None, "nvidia")):
            continue
        cpu, mem = allocatable(it.vcpu, it.memory_bytes, cfg)
        gpus = int(it.gpu_count or 0)
        mig = mig_slices(it.gpu_model) if gpus else ()
        common = dict(cpu=cpu, mem=mem, gpus=gpus, gpu_model=it.gpu_model if gpus else None,
                      gpu_memory=int(it.gpu_memory_bytes or 0) if gpus else 0, mig=mig,
                      gpu_pods_only=bool(gpus) and cfg.gpu_nodes_tainted)
        od = it.on_demand.get(region)
        if od is not None and od > 0:
            out.append(NodeType(it.name, ON_DEMAND, float(od), **common))
        sp = it.spot.get(region)
        if spot and sp is not None and sp > 0:
            hourly = spot_expected_hourly(float(sp), it.interruption_band.get(region), checkpoint_interval_h)
            out.append(NodeType(it.name, SPOT, hourly, **common))
    return out
