"""What every decision module gets (``Context``) and gives back (``Candidate``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from optimizer.config import OptimizerConfig, ValueClassPolicy
from optimizer.costing import CostModel
from optimizer.demand import Demand, risk_from_confidence
from optimizer.inventory import Inventory, NodeInfo, Workload

RISKS = ("low", "medium", "high")


@dataclass
class Shape:
    """A pod's footprint, now or proposed: what consolidation packs."""

    cpu: float
    mem: int
    gpus: int = 0
    gpu_milli: int = 0
    mig_profile: str | None = None
    gpu_model: str | None = None  # canonical
    spot_ok: bool = False
    replicas: float = 1.0


@dataclass
class Candidate:
    action: str
    current: dict
    proposed: dict
    hourly_current: float
    hourly_proposed: float
    rationale: str
    risk: str
    tags: frozenset[str] = frozenset()  # requests | gpu-shape | market | replicas | release
    shape: Shape | None = None  # the pod after this change (None: unchanged)
    extra: dict = field(default_factory=dict)
    market: str | None = None  # "spot": the pods move to spot nodes (their node's own change)
    instance_type: str | None = None  # the pods move to nodes of this type (their node's own change)
    pods_per_node: int = 1  # pods of the workload per node of ``instance_type``

    @property
    def hourly_savings(self) -> float:
        return self.hourly_current - self.hourly_proposed


@dataclass
class Context:
    inventory: Inventory
    pricing: CostModel
    catalog: object
    config: OptimizerConfig
    # workload key -> its allocated cost per hour now (allocation.csv's cost over the window ÷ its hours);
    # without it the current cost is the request-based share of the nodes the pods ran on
    allocated: dict | None = None
    # workload key -> its serving pods' token summaries (optimizer/llm/usage.py), from the tokens table
    serving: dict = field(default_factory=dict)
    managed_prices: object = None  # optimizer.llm.managed.ManagedPrices, or None
    # workload key -> its autoscaler (the latest listing, optimizer/autoscalers.py) and its replicas busy at
    # once (optimizer/replicas.py); empty when unknown
    autoscalers: dict = field(default_factory=dict)
    replica_use: dict = field(default_factory=dict)

    def policy(self, w: Workload) -> ValueClassPolicy:
        return self.config.value_class.policies[w.value_class.name]

    def node_of(self, pod) -> NodeInfo | None:
        return self.inventory.nodes.get(pod.node)

    def replicas(self, w: Workload) -> float:
        """Average pods running over the window (time-weighted)."""
        return w.pod_seconds / self.inventory.window_seconds

    def region_of(self, w: Workload) -> str:
        """The region of the nodes the workload runs on (the most pod time); candidates are priced there."""
        seconds: dict[str, float] = {}
        for p in w.pods:
            node = self.node_of(p)
            region = (node.region if node else None) or self.config.region
            seconds[region] = seconds.get(region, 0.0) + p.seconds
        return max(seconds, key=lambda r: (seconds[r], r)) if seconds else self.config.region

    def current_hourly(self, w: Workload, gpu_units_per_pod: float | None = None, cpu: float | None = None,
                       mem: int | None = None) -> float | None:
        """The workload's cost per hour now: its allocated cost when the run has one (the same number as
        allocation.csv), else the request-based share of its nodes. With a replaced request or GPU count,
        what the pods would cost in that shape on the same nodes (the request-based share)."""
        unchanged = gpu_units_per_pod is None and cpu is None and mem is None
        if unchanged and self.allocated is not None and w.key in self.allocated:
            return self.allocated[w.key]
        shape = self.base_shape(w)
        if cpu is not None or mem is not None:
            shape = Shape(cpu if cpu is not None else shape.cpu, mem if mem is not None else shape.mem, shape.gpus,
                          shape.gpu_milli, shape.mig_profile, shape.gpu_model, shape.spot_ok, shape.replicas)
        if gpu_units_per_pod is not None:
            shape = Shape(shape.cpu, shape.mem, 0, int(round(gpu_units_per_pod * 1000)), None, shape.gpu_model,
                          shape.spot_ok, shape.replicas)
        return self.shape_hourly(w, shape)

    def gpu_units(self, shape: Shape, node: NodeInfo | None) -> float:
        """GPUs a pod of this shape takes: whole GPUs, a time-slicing share, or a MIG slice's SM share."""
        if shape.gpus:
            return float(shape.gpus)
        if shape.gpu_milli:
            return shape.gpu_milli / 1000
        if shape.mig_profile:
            return self.pricing.mig_share(node.gpu_model if node and node.gpu_model else shape.gpu_model,
                                          shape.mig_profile)
        return 0.0

    def spot_expected(self, instance_type: str, region: str | None, checkpoint_h: float) -> float | None:
        """Expected spot $/h of useful work with rework (catalog.cost.spot_expected_hourly); None without a
        spot price in that region."""
        from optimizer.catalog.cost import spot_expected_hourly

        region = region or self.config.region
        spot = self.pricing.type_hourly(instance_type, "spot", region)
        it = self.pricing.instance(instance_type)
        if spot is None or it is None:
            return None
        return spot_expected_hourly(spot, it.interruption_band.get(region), checkpoint_h)

    def shape_hourly(self, w: Workload, shape: Shape, *, market: str | None = None,
                     instance_type: str | None = None, pods_per_node: int = 1,
                     checkpoint_h: float | None = None) -> float | None:
        """What the workload's pods cost per hour in ``shape`` (time-weighted over the window, × the shape's
        active fraction). On their current nodes: the share of each node's price the shape takes, at
        the node's own market or, with ``market="spot"``, at the node type's expected spot price. With
        ``instance_type``: nodes of that type in the workload's region, ``pods_per_node`` pods each.
        None when a price is missing (never guessed)."""
        hours_h = checkpoint_h if checkpoint_h is not None else self.config.decisions.default_checkpoint_interval_h
        if instance_type is not None:
            region = self.region_of(w)
            node_market = market or next((self.node_of(p).capacity_type for p in w.pods if self.node_of(p)), None)
            price = (self.spot_expected(instance_type, region, hours_h) if node_market == "spot"
                     else self.pricing.type_hourly(instance_type, "on-demand", region))
            if price is None:
                return None
            return price / max(1, pods_per_node) * self.replicas(w) * shape.replicas
        total = 0.0
        for p in w.pods:
            node = self.node_of(p)
            price = self.pricing.node_price(node.name, node.instance_type, node.capacity_type, node.region) \
                if node else None
            if price is None:
                return None
            hourly = price.hourly
            if market == "spot" and node.capacity_type != "spot":
                hourly = self.spot_expected(node.instance_type, node.region, hours_h)
                if hourly is None:
                    return None
            share = price.share_hourly(shape.cpu, shape.mem, self.gpu_units(shape, node)) * hourly / price.hourly \
                if price.hourly else 0.0
            total += share * p.seconds / self.inventory.window_seconds
        return total * shape.replicas

    def base_shape(self, w: Workload) -> Shape:
        """The pod as it is: requests, GPUs (canonical model), MIG slice, and spot if it runs there now."""
        from optimizer.catalog import canonical_gpu_model

        on_spot = any(self.node_of(p) and self.node_of(p).capacity_type == "spot" for p in w.pods)
        model = canonical_gpu_model(w.gpu_model) if w.gpu_model else None
        gpus = int(w.gpus_per_pod or 0)
        return Shape(cpu=w.cpu_request(), mem=w.mem_request(), gpus=0 if w.mig_profile else gpus,
                     mig_profile=w.mig_profile, gpu_model=model, spot_ok=on_spot)

    def risk(self, d: Demand, floor: str = "low") -> str:
        base = risk_from_confidence(d.confidence)
        return RISKS[max(RISKS.index(base), RISKS.index(floor))]


def mig_fraction(ctx: Context, node: NodeInfo | None, profile: str) -> float:
    """Share of one GPU a MIG slice takes: its SMs over the GPU's (the one rule, optimizer/costing.py)."""
    return ctx.pricing.mig_share(node.gpu_model if node else None, profile)


def gib(b: float | None) -> str:
    return "?" if b is None else f"{b / 1024**3:.1f} GiB"


def pct(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.0f}%"
