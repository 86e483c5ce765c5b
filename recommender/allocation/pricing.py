"""Hourly rates per node: the catalog price split into GPU, CPU and RAM parts (OpenCost Appendix A).

``NodeRates`` turns a node (instance type, market, region) into $/GPU-hour, $/core-hour and $/GiB-hour,
so that a pod's share of a resource for ``s`` seconds costs ``amount * rate * s / 3600``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from store.errors import UserError

if TYPE_CHECKING:
    from optimizer.inventory import NodeInfo

GIB = 1024**3


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
    """Node rates and MIG shares from the one cost model (``optimizer.costing.CostModel``); a node it cannot
    price is left out (``unpriced``), never priced from another region or market."""

    def __init__(self, catalog, *, region: str = "us-east-1", cost_model=None):
        from optimizer.costing import CostModel

        self.catalog = catalog
        self.region = region
        self.model = cost_model or CostModel(catalog, region)
        self.notes: list[str] = []  # caveats, shown in the report

    @property
    def unpriced(self) -> list:
        return self.model.unpriced

    def node_rates(self, node: NodeInfo) -> NodeRates | None:
        """The observed node's rates (its latest nodes row); None when it cannot be priced."""
        price = self.model.node_price(node.name, node.instance_type, node.capacity_type or "on-demand",
                                      node.region)
        if price is None:
            return None
        return NodeRates(
            node=node.name, instance_type=price.instance_type, capacity_type=price.capacity_type, region=price.region,
            hourly=price.hourly, gpu_hourly=price.gpu_hourly, cpu_hourly=price.cpu_hourly,
            ram_hourly=price.ram_hourly, gpu_count=price.gpu_count,
            vcpu=float(price.vcpu or node.cpu_capacity or 0),
            memory_gib=float(price.memory_bytes or node.mem_capacity or 0) / GIB, gpu_model=price.gpu_model)

    def mig_fraction(self, profile: str, gpu_model: str | None) -> float:
        """The share of a whole GPU a MIG instance of ``profile`` is charged: its SMs over the GPU's."""
        try:
            return self.model.mig_share(gpu_model, profile)
        except KeyError:
            raise UserError(f"gpu table: MIG profile '{profile}' on {gpu_model or 'an unknown GPU model'} is not in "
                            "the catalog's MIG geometry (optimizer/catalog/mig.py); its share of the GPU is "
                            "unknown") from None
