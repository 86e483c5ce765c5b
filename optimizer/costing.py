"""Prices of nodes and of a pod's share of a node (OpenCost-style split of a node's price into GPU, CPU and RAM parts), from the catalog."""

from __future__ import annotations

from optimizer.inventory import NodeInfo

HOURS_PER_MONTH = 730.0


class Pricing:
    """Node and pod prices for one catalog and default region; unknown instance types are counted and
    priced as None (their workloads get no dollar recommendation rather than a wrong one)."""

    def __init__(self, catalog, region: str = "us-east-1"):
        self.catalog = catalog
        self.region = region
        self.unknown: set[str] = set()
        self.spot_fallback: set[str] = set()

    def instance(self, name: str | None):
        if not name:
            return None
        try:
            return self.catalog.get(name)
        except Exception:  # UnknownInstanceType (a UserError): record and go on without a price
            self.unknown.add(name)
            return None

    def hourly(self, name: str | None, capacity_type: str | None = "on-demand", region: str | None = None) -> float | None:
        if self.instance(name) is None:
            return None
        region = region or self.region
        price = self.catalog.price(name, region=region, capacity_type=capacity_type or "on-demand")
        if price is None and region != self.region:
            price = self.catalog.price(name, region=self.region, capacity_type=capacity_type or "on-demand")
        if price is None and capacity_type == "spot":
            # no spot quote in the catalog: the on-demand price is an upper bound of what the node costs
            price = self.hourly(name, "on-demand", region)
            if price is not None:
                self.spot_fallback.add(name)
        return price

    def node_hourly(self, node: NodeInfo) -> float | None:
        return self.hourly(node.instance_type, node.capacity_type, node.region)

    def share_hourly(self, instance_type: str | None, hourly: float | None, cpu: float, mem: int,
                     gpu_units: float) -> float | None:
        """What ``cpu`` cores, ``mem`` bytes and ``gpu_units`` GPUs cost on that node (price split into
        GPU/CPU/RAM parts, each part shared in proportion to the node's capacity)."""
        from optimizer.catalog.cost import split_node_price

        it = self.instance(instance_type)
        if it is None or hourly is None:
            return None
        parts = split_node_price(it, hourly)
        total = 0.0
        if it.gpu_count:
            total += parts["gpu"] * min(1.0, gpu_units / it.gpu_count)
        total += parts["cpu"] * min(1.0, cpu / max(1, it.vcpu))
        total += parts["ram"] * min(1.0, mem / max(1, it.memory_bytes))
        return total

    def pod_hourly(self, node: NodeInfo | None, cpu: float, mem: int, gpu_units: float) -> float | None:
        if node is None:
            return None
        return self.share_hourly(node.instance_type, self.node_hourly(node), cpu, mem, gpu_units)


def monthly(hourly: float) -> float:
    return round(hourly * HOURS_PER_MONTH, 2)
