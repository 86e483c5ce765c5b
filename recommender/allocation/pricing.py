"""Hourly rates per node: the catalog price split into GPU, CPU and RAM parts (OpenCost Appendix A).

``NodeRates`` turns a node (instance type, market, region) into $/GPU-hour, $/core-hour and $/GiB-hour,
so that a pod's share of a resource for ``s`` seconds costs ``amount * rate * s / 3600``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from store.errors import UserError

GIB = 1024**3
_MIG_SLICES = re.compile(r"^(\d+)g\.")
# Compute slices of a whole GPU for MIG-capable models when the catalog does not say (A100/H100/H200: 7).
DEFAULT_MIG_SLICES = 7


@dataclass(frozen=True)
class NodeRates:
    node: str
    instance_type: str | None
    capacity_type: str
    region: str
    hourly: float
    gpu_hourly: float  # the GPU part of the node, all GPUs
    cpu_hourly: float
    ram_hourly: float
    gpu_count: float
    vcpu: float
    memory_gib: float
    gpu_model: str | None

    @property
    def per_gpu(self) -> float:
        return self.gpu_hourly / self.gpu_count if self.gpu_count else 0.0

    @property
    def per_core(self) -> float:
        return self.cpu_hourly / self.vcpu if self.vcpu else 0.0

    @property
    def per_gib(self) -> float:
        return self.ram_hourly / self.memory_gib if self.memory_gib else 0.0


class Pricer:
    """Prices nodes with a catalog (the ``optimizer.catalog.Catalog`` API) and a price splitter."""

    def __init__(self, catalog, *, region: str = "us-east-1",
                 split: Callable[[object, float], dict] | None = None,
                 mig_profiles: Callable[[str], list] | None = None):
        if split is None or mig_profiles is None:
            from optimizer.catalog import mig_profiles as _mig_profiles
            from optimizer.catalog.cost import split_node_price as _split

            split = split or _split
            mig_profiles = mig_profiles or _mig_profiles
        self.catalog = catalog
        self.region = region
        self._split = split
        self._mig_profiles = mig_profiles
        self._slices: dict[str, int] = {}
        self.notes: list[str] = []  # pricing fallbacks, shown in the report

    def node_rates(self, node: str, info: dict) -> NodeRates:
        """``info`` is the node's latest ``nodes`` row as a dict."""
        name = info.get("instance_type")
        capacity_type = info.get("capacity_type") or "on-demand"
        region = info.get("region") or self.region
        if not name:
            raise UserError(f"nodes table: node '{node}' has no instance_type; cannot price it")
        it = self.catalog.get(name)  # raises UnknownInstanceType (a UserError) naming the type
        hourly = self.catalog.price(name, region=region, capacity_type=capacity_type)
        if hourly is None and capacity_type == "spot":
            # The catalog may lack a spot price (e.g. CPU types); on-demand is the safe upper bound.
            hourly = self.catalog.price(name, region=region, capacity_type="on-demand")
            if hourly is not None:
                self.notes.append(f"node {node}: no spot price for {name} in {region}; priced at on-demand")
        if hourly is None:
            raise UserError(f"node '{node}': no {capacity_type} price for instance type '{name}' in {region} "
                            "(add one with a price overrides file: config key price_overrides)")
        parts = self._split(it, float(hourly))
        return NodeRates(
            node=node, instance_type=name, capacity_type=capacity_type, region=region, hourly=float(hourly),
            gpu_hourly=float(parts.get("gpu", 0.0)), cpu_hourly=float(parts.get("cpu", 0.0)),
            ram_hourly=float(parts.get("ram", 0.0)),
            gpu_count=float(it.gpu_count or 0), vcpu=float(it.vcpu or info.get("cpu_capacity") or 0),
            memory_gib=float(it.memory_bytes or info.get("mem_capacity") or 0) / GIB,
            gpu_model=getattr(it, "gpu_model", None),
        )

    def mig_fraction(self, profile: str, gpu_model: str | None) -> float:
        """The share of a whole GPU that a MIG instance of ``profile`` (``1g.10gb``) is: its compute slices."""
        m = _MIG_SLICES.match(profile or "")
        if not m:
            return 1.0
        total = self._total_slices(gpu_model)
        return min(1.0, int(m.group(1)) / total)

    def _total_slices(self, gpu_model: str | None) -> int:
        if not gpu_model:
            return DEFAULT_MIG_SLICES
        if gpu_model not in self._slices:
            try:
                profiles = self._mig_profiles(gpu_model) or []
            except Exception:  # an unknown model: fall back to the common 7-slice layout
                profiles = []
            slices = [int(getattr(p, "compute_slices", 0) or 0) for p in profiles]
            self._slices[gpu_model] = max(slices) if slices and max(slices) > 0 else DEFAULT_MIG_SLICES
        return self._slices[gpu_model]
