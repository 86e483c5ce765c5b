"""The one cost model: what a node costs, what a pod's share of it costs, what a MIG slice is worth.

Used by the allocation (recommender/allocation), the decisions (optimizer/decisions) and the node-mix
solver's node prices (optimizer/solver/adapter), so that showback, proposals and the bill agree. The rules
are written out in recommender/allocation/SPEC.md; in short:

- a node is priced in its own region (the ``nodes`` table's ``region``; the configured region only where
  that column is null) at its own market (on-demand or spot). A price the catalog does not have is never
  guessed: not another region's, not on-demand for a spot node. The node is *unpriced*: it is listed with
  the reason (``unpriced``) and left out of every dollar figure, which then says "priced N of M nodes";
- a node's hourly price is split into GPU, CPU and RAM parts (``catalog.cost.split_node_price``); a pod
  pays each part in proportion to what it takes of the node's GPUs, vCPUs and memory;
- a MIG slice takes ``MigProfile.sm_share`` of a GPU: its SMs over the whole GPU's (A100 3g.40gb: 42/108);
- candidate node types are priced in the region of the node they would replace.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.catalog.cost import HOURS_PER_MONTH as _HOURS

HOURS_PER_MONTH = float(_HOURS)


@dataclass(frozen=True)
class NodePrice:
    """One node's hourly price and its GPU/CPU/RAM parts (USD per hour)."""

    node: str
    instance_type: str
    capacity_type: str
    region: str
    hourly: float
    gpu_hourly: float  # the GPU part, all GPUs
    cpu_hourly: float
    ram_hourly: float
    gpu_count: float
    vcpu: float
    memory_bytes: int
    gpu_model: str | None

    def share_hourly(self, cpu: float, mem: float, gpu_units: float) -> float:
        """What ``cpu`` cores, ``mem`` bytes and ``gpu_units`` GPUs of this node cost per hour."""
        total = 0.0
        if self.gpu_count:
            total += self.gpu_hourly * min(1.0, gpu_units / self.gpu_count)
        total += self.cpu_hourly * min(1.0, cpu / max(1.0, self.vcpu))
        total += self.ram_hourly * min(1.0, mem / max(1, self.memory_bytes))
        return total


@dataclass(frozen=True)
class UnpricedNode:
    """A node the catalog has no price for: left out of every dollar figure, listed in the outputs."""

    node: str
    instance_type: str | None
    region: str | None
    reason: str

    def to_json_dict(self) -> dict:
        return {"node": self.node, "instance_type": self.instance_type, "region": self.region, "reason": self.reason}


def mig_share(gpu_model: str | None, profile: str | None) -> float:
    """The share of one GPU a MIG slice is priced at: its SMs over the whole GPU's (``MigProfile.sm_share``).
    1.0 for no profile. A profile the catalog does not know on that model raises KeyError: the agent
    recorded a slice we have no geometry for, and a made-up share would be a guess."""
    from optimizer.catalog import canonical_gpu_model, mig_profiles

    if not profile:
        return 1.0
    model = canonical_gpu_model(gpu_model) if gpu_model else None
    for p in mig_profiles(model):
        if p.name == profile:
            return p.sm_share
    raise KeyError(f"no MIG profile {profile!r} on GPU model {gpu_model!r} in the catalog")


class CostModel:
    """Node and pod prices for one catalog. ``default_region`` prices nodes whose ``region`` is null."""

    def __init__(self, catalog, default_region: str = "us-east-1"):
        self.catalog = catalog
        self.region = default_region
        self.unknown: set[str] = set()  # instance types the catalog does not have
        self._unpriced: dict[str, UnpricedNode] = {}
        self._nodes: dict[str, NodePrice] = {}
        self.regions_used: set[str] = set()

    # -- instance types ------------------------------------------------------------------------------
    def instance(self, name: str | None):
        if not name:
            return None
        try:
            return self.catalog.get(name)
        except Exception:  # UnknownInstanceType (a UserError): record and go on without a price
            self.unknown.add(name)
            return None

    def type_hourly(self, name: str | None, capacity_type: str | None, region: str | None) -> float | None:
        """The catalog's price of an instance type in one region and market; None when it has none there."""
        if self.instance(name) is None:
            return None
        region = region or self.region
        price = self.catalog.price(name, region=region, capacity_type=capacity_type or "on-demand")
        return None if price is None else float(price)

    def why_unpriced(self, name: str | None, capacity_type: str | None, region: str | None) -> str | None:
        """None when the type has a price there, else one sentence saying what is missing."""
        region = region or self.region
        market = capacity_type or "on-demand"
        if not name:
            return "the nodes table has no instance_type"
        if self.instance(name) is None:
            return f"instance type {name} is not in the catalog"
        if self.type_hourly(name, market, region) is None:
            return (f"the catalog has no {market} price for {name} in {region} "
                    f"(rightsizer catalog refresh --region {region} adds it)")
        return None

    # -- nodes ---------------------------------------------------------------------------------------
    def node_price(self, node: str, instance_type: str | None, capacity_type: str | None,
                   region: str | None) -> NodePrice | None:
        """The node's price in its own region and market, or None (then it is listed in ``unpriced``)."""
        from optimizer.catalog.cost import split_node_price

        if node in self._nodes:
            return self._nodes[node]
        if node in self._unpriced:
            return None
        region = region or self.region
        market = capacity_type or "on-demand"
        reason = self.why_unpriced(instance_type, market, region)
        if reason is not None:
            self._unpriced[node] = UnpricedNode(node, instance_type, region, reason)
            return None
        it = self.instance(instance_type)
        hourly = self.type_hourly(instance_type, market, region)
        parts = split_node_price(it, hourly)
        price = NodePrice(node, instance_type, market, region, hourly, float(parts["gpu"]), float(parts["cpu"]),
                          float(parts["ram"]), float(it.gpu_count or 0), float(it.vcpu or 0), int(it.memory_bytes or 0),
                          it.gpu_model)
        self._nodes[node] = price
        self.regions_used.add(region)
        return price

    def node_hourly(self, node) -> float | None:
        """``node``: anything with name, instance_type, capacity_type, region (an observed node)."""
        p = self.node_price(node.name, node.instance_type, node.capacity_type, node.region)
        return None if p is None else p.hourly

    def pod_hourly(self, node, cpu: float, mem: float, gpu_units: float) -> float | None:
        if node is None:
            return None
        p = self.node_price(node.name, node.instance_type, node.capacity_type, node.region)
        return None if p is None else p.share_hourly(cpu, mem, gpu_units)

    def share_of_type_hourly(self, instance_type: str, hourly: float, cpu: float, mem: float,
                             gpu_units: float) -> float | None:
        """A share of a node of ``instance_type`` at a given hourly price (a candidate node, a spot quote)."""
        from optimizer.catalog.cost import split_node_price

        it = self.instance(instance_type)
        if it is None:
            return None
        parts = split_node_price(it, hourly)
        return NodePrice("", instance_type, "", "", hourly, parts["gpu"], parts["cpu"], parts["ram"],
                         float(it.gpu_count or 0), float(it.vcpu or 0), int(it.memory_bytes or 0),
                         it.gpu_model).share_hourly(cpu, mem, gpu_units)

    @staticmethod
    def mig_share(gpu_model: str | None, profile: str | None) -> float:
        return mig_share(gpu_model, profile)

    # -- what the outputs say --------------------------------------------------------------------------
    @property
    def unpriced(self) -> list[UnpricedNode]:
        return sorted(self._unpriced.values(), key=lambda u: u.node)

    def is_priced(self, node: str) -> bool:
        return node in self._nodes

    def prices_summary(self) -> dict:
        """``summary.prices``: the snapshot the dollars come from and the regions they were taken in."""
        return {"snapshot_date": getattr(self.catalog, "snapshot_date", None),
                "source": getattr(self.catalog, "source", None),
                "overrides": getattr(self.catalog, "overrides", None),
                "regions": sorted(self.regions_used)}


def priced_sentence(priced: int, total: int) -> str:
    return f"priced {priced} of {total} nodes"


# The name the decisions and older callers use.
Pricing = CostModel


def monthly(hourly: float) -> float:
    return round(hourly * HOURS_PER_MONTH, 2)
