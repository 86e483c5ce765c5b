"""What every decision module gets (``Context``) and gives back (``Candidate``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from optimizer.config import OptimizerConfig, ValueClassPolicy
from optimizer.costing import Pricing
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

    @property
    def hourly_savings(self) -> float:
        return self.hourly_current - self.hourly_proposed


@dataclass
class Context:
    inventory: Inventory
    pricing: Pricing
    catalog: object
    config: OptimizerConfig

    def policy(self, w: Workload) -> ValueClassPolicy:
        return self.config.value_class.policies[w.value_class.name]

    def node_of(self, pod) -> NodeInfo | None:
        return self.inventory.nodes.get(pod.node)

    def replicas(self, w: Workload) -> float:
        """Average pods running over the window (time-weighted)."""
        return w.pod_seconds / self.inventory.window_seconds

    def current_hourly(self, w: Workload, gpu_units_per_pod: float | None = None, cpu: float | None = None,
                       mem: int | None = None) -> float | None:
        """Average $/h of the workload on its current nodes (pod-time weighted); requests or GPU units can
        be replaced to price a change that keeps the node type."""
        total = 0.0
        for p in w.pods:
            node = self.node_of(p)
            units = len(p.gpus) if gpu_units_per_pod is None else gpu_units_per_pod
            if p.mig_profile and gpu_units_per_pod is None:
                units = mig_fraction(self, node, p.mig_profile)
            h = self.pricing.pod_hourly(node, w.cpu_request() if cpu is None else cpu,
                                        w.mem_request() if mem is None else mem, units)
            if h is None:
                return None
            total += h * p.seconds / self.inventory.window_seconds
        return total

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
    """Share of one GPU a MIG slice takes: the larger of its compute (of 7) and memory (of 8) slices."""
    from optimizer.catalog import canonical_gpu_model, mig_profiles

    model = canonical_gpu_model(node.gpu_model) if node and node.gpu_model else None
    for p in mig_profiles(model):
        if p.name == profile:
            return max(p.compute_slices / 7, p.memory_slices / 8)
    return 1.0


def gib(b: float | None) -> str:
    return "?" if b is None else f"{b / 1024**3:.1f} GiB"


def pct(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.0f}%"
