"""The cluster plan: nodes, workloads, pods and which GPUs they hold, decided up front from the seed.

Generating the samples (generate.py) then only needs the plan and a (pod or GPU, day) seed, so any
(day, node) chunk can be produced on its own and the output is the same whatever the order.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from simulator.behaviours import CYCLE, LLM_RECIPES, SPIKE_NODE_SHARE, SPIKE_RECIPE, Recipe, Template
from simulator.shapes import REGION, SHAPES, InstanceShape, zones
from store.errors import UserError

DAY_S = 86_400
# Kubernetes' alphabet for generated name suffixes (no vowels, no look-alike digits).
_SUFFIX_ALPHABET = np.array(list("bcdfghjklmnpqrstvwxz2456789"))
_DEV_NAMESPACE = re.compile(r"(^|-)(dev|test|sandbox)(-|$)")


@dataclass
class NodePlan:
    index: int
    name: str
    shape: InstanceShape
    capacity_type: str
    zone: str
    region: str
    recipe: str
    start_s: int  # epoch seconds; the node exists in [start_s, end_s)
    end_s: int
    gpu_uuids: list[str]
    gpu_pods: list[PodPlan | None] = field(default_factory=list)  # per GPU: the pod holding it
    pods: list[PodPlan] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        labels = {
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": self.shape.name,
            "karpenter.sh/capacity-type": self.capacity_type,
            "karpenter.sh/nodepool": "gpu" if self.shape.gpu else "general",
            "topology.kubernetes.io/region": self.region,
            "topology.kubernetes.io/zone": self.zone,
        }
        if self.shape.gpu:
            labels["nvidia.com/gpu.product"] = self.shape.gpu.product_label
            labels["nvidia.com/gpu.count"] = str(self.shape.gpu_count)
            labels["nvidia.com/mig.capable"] = "true" if self.shape.gpu.mig_capable else "false"
        return labels


@dataclass
class WorkloadPlan:
    index: int
    template: Template
    namespace: str
    name: str
    team: str
    value_class_label: str | None
    instance_type: str
    capacity_type: str
    pods: list[PodPlan] = field(default_factory=list)
    rs_hash: str | None = None  # Deployment: the pod-template-hash of its one ReplicaSet

    @property
    def kind(self) -> str:
        return self.template.kind

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.kind, self.name)

    @property
    def gpus_per_pod(self) -> int:
        return sum(c.gpu for c in self.template.containers)

    @property
    def value_class(self) -> str:
        """The class the optimizer should arrive at: the label, else the documented inference."""
        if self.value_class_label:
            return self.value_class_label
        if self.kind in ("Job", "CronJob"):
            return "background"
        return "experimental" if _DEV_NAMESPACE.search(self.namespace) else "production"

    @property
    def labels(self) -> dict[str, str]:
        t = self.template
        labels = {
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/part-of": t.project,
            "team": self.team,
            "project": t.project,
            "use-case": t.use_case,
        }
        if self.value_class_label:
            labels["rightsizer.io/value-class"] = self.value_class_label
        return labels


@dataclass
class PodPlan:
    index: int
    name: str
    uid: str
    workload: WorkloadPlan
    node: NodePlan
    gpus: tuple[int, ...]  # GPU indices on the node
    start_s: int
    end_s: int
    job_name: str | None = None  # CronJob runs: the Job the pod belongs to


@dataclass
class Plan:
    seed: int
    start: datetime
    days: int
    interval_s: int
    nodes: list[NodePlan]
    workloads: list[WorkloadPlan]
    spike_day: int | None  # day index of the cost spike, None when the window is too short
    region: str = REGION
    left_out: list[LeftOut] = field(default_factory=list)  # behaviours a small --nodes had no room for

    @property
    def start_s(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_s(self) -> int:
        return self.start_s + self.days * DAY_S

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def gpu_count(self) -> int:
        return sum(len(n.gpu_uuids) for n in self.nodes)


@dataclass(frozen=True)
class LeftOut:
    """A recipe of the behaviour cycle that did not fit in --nodes (truth.json ``left_out``)."""

    recipe: str
    nodes: int
    instance_type: str
    behaviours: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict:
        return {"recipe": self.recipe, "nodes": self.nodes, "instance_type": self.instance_type,
                "behaviours": list(self.behaviours), "reason": self.reason}

    def describe(self) -> str:
        return f"{self.recipe} ({', '.join(self.behaviours)}; {self.nodes} {self.instance_type}): {self.reason}"


def spike_nodes(nodes: int, days: int) -> int:
    return max(1, round(nodes * SPIKE_NODE_SHARE)) if days >= 2 else 0


def min_nodes(days: int) -> int:
    """The fewest nodes that hold one full cycle of behaviours (plus the spike day's nodes)."""
    cycle = sum(r.nodes for r in CYCLE)
    n = cycle
    while n - spike_nodes(n, days) < cycle:
        n += 1
    return n


def build_plan(nodes: int, days: int, interval_s: int, seed: int, start: datetime, region: str = REGION) -> Plan:
    """The cluster of ``nodes`` nodes. From ``min_nodes(days)`` on, every behaviour appears (the cycle of
    recipes repeats, the spike day gets its share of extra nodes); below that, the recipes are taken in
    cycle order while they fit, and the ones that do not (and the spike) are listed in ``left_out``."""
    if nodes < 1:
        raise UserError(f"--nodes: {nodes} must be at least 1")
    builder = _Builder(np.random.default_rng(seed), start.astimezone(UTC), days, region)
    left_out: list[LeftOut] = []
    llm_nodes = sum(r.nodes for r in LLM_RECIPES)
    with_llm = nodes >= min_nodes(days) + llm_nodes
    if nodes < min_nodes(days):
        n_spike = 0
        remaining = nodes
        for recipe in CYCLE:
            if recipe.nodes <= remaining:
                builder.add(recipe)
                remaining -= recipe.nodes
            else:
                left_out.append(_left_out(recipe, f"needs {recipe.nodes} node(s), {remaining} left of --nodes {nodes}"))
        if days >= 2:
            left_out.append(_left_out(SPIKE_RECIPE, f"the cost spike's extra nodes come on top of the whole cycle: "
                                                    f"--nodes {min_nodes(days)} or more"))
    else:
        n_spike = spike_nodes(nodes, days)
        remaining = nodes - n_spike - (llm_nodes if with_llm else 0)
        while remaining > 0:
            placed = False
            for recipe in CYCLE:
                if recipe.nodes <= remaining:
                    builder.add(recipe)
                    remaining -= recipe.nodes
                    placed = True
                if remaining == 0:
                    break
            if not placed:  # cannot happen while the cycle has one-node recipes; guards an endless loop
                raise AssertionError("no recipe fits the remaining nodes")
    spike_day = days // 2 if n_spike else None
    if n_spike:
        day0 = builder.start_s + spike_day * DAY_S
        # The sweep runs 01:00-23:00 UTC on nodes that exist just as long (sampled from the pod's start on,
        # so their GPUs are never "allocated to nobody": only the steady nodes' free GPUs are).
        span = (day0 + 3600, day0 + 82800)
        builder.add(SPIKE_RECIPE, copies=n_spike, node_span=span, pod_span=span)
    # The LLM serving nodes come after everything else (names, GPUs and seeds of the rest do not move).
    for recipe in LLM_RECIPES:
        if with_llm:
            builder.add(recipe)
        else:
            left_out.append(_left_out(recipe, f"the LLM serving nodes come on top of the whole cycle and the "
                                              f"spike: --nodes {min_nodes(days) + llm_nodes} or more"))
    return Plan(seed, start.astimezone(UTC), days, interval_s, builder.nodes, builder.workloads, spike_day,
                region, left_out)


def _left_out(recipe: Recipe, reason: str) -> LeftOut:
    behaviours = tuple(dict.fromkeys(slot.template.behaviour for slot in recipe.slots))
    if recipe is SPIKE_RECIPE:
        behaviours = ("cost spike",)
    return LeftOut(recipe.name, recipe.nodes, recipe.instance_type, behaviours, reason)


class _Builder:
    def __init__(self, rng: np.random.Generator, start: datetime, days: int, region: str = REGION):
        self.rng = rng
        self.zones = zones(region)
        self.region = region
        self.start_s = int(start.timestamp())
        self.end_s = self.start_s + days * DAY_S
        self.nodes: list[NodePlan] = []
        self.workloads: list[WorkloadPlan] = []
        self.pods: list[PodPlan] = []
        self._names: set[str] = set()
        self._template_count: dict[int, int] = {}

    # -- names ---------------------------------------------------------------------------------------
    def _suffix(self, n: int) -> str:
        return "".join(self.rng.choice(_SUFFIX_ALPHABET, n))

    def _uuid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def _node_name(self, zone_index: int) -> str:
        while True:  # EKS names nodes after their private IP; one /18 subnet per zone
            x = zone_index * 64 + int(self.rng.integers(0, 64))
            y = int(self.rng.integers(1, 255))
            # EC2's private DNS names: ec2.internal in us-east-1, REGION.compute.internal elsewhere
            domain = "ec2.internal" if self.region == "us-east-1" else f"{self.region}.compute.internal"
            name = f"ip-10-0-{x}-{y}.{domain}"
            if name not in self._names:
                self._names.add(name)
                return name

    # -- recipes -------------------------------------------------------------------------------------
    def add(self, recipe: Recipe, copies: int = 1, node_span: tuple[int, int] | None = None,
            pod_span: tuple[int, int] | None = None) -> None:
        """Add ``recipe``: its nodes (``copies`` times its node count) and one workload per slot."""
        shape = SHAPES[recipe.instance_type]
        count = recipe.nodes * copies
        n0, n1 = node_span or (self.start_s, self.end_s)
        p0, p1 = pod_span or (self.start_s, self.end_s)
        new_nodes = []
        for _ in range(count):
            zi = int(self.rng.integers(0, len(self.zones)))
            node = NodePlan(len(self.nodes), self._node_name(zi), shape, recipe.capacity_type, self.zones[zi],
                            self.region, recipe.name, n0, n1, [f"GPU-{self._uuid()}" for _ in range(shape.gpu_count)])
            node.gpu_pods = [None] * shape.gpu_count
            self.nodes.append(node)
            new_nodes.append(node)
        for slot in recipe.slots:
            workload = self._workload(slot.template, recipe)
            for node in new_nodes:
                for _ in range(slot.pods_per_node):
                    self._place(workload, node, p0, p1)

    def _workload(self, t: Template, recipe: Recipe) -> WorkloadPlan:
        i = self._template_count.get(id(t), 0)
        self._template_count[id(t)] = i + 1
        name = t.names[i % len(t.names)] + (f"-{i // len(t.names) + 1}" if i >= len(t.names) else "")
        team = t.teams[i % len(t.teams)] if t.teams else t.team
        label = t.alt_value_class_label if (t.alt_value_class_label and i % 2 == 1) else t.value_class_label
        w = WorkloadPlan(len(self.workloads), t, t.namespace, name, team, label, recipe.instance_type,
                         recipe.capacity_type)
        self.workloads.append(w)
        return w

    def _place(self, w: WorkloadPlan, node: NodePlan, start_s: int, end_s: int) -> None:
        need = w.gpus_per_pod
        free = [i for i, p in enumerate(node.gpu_pods) if p is None]
        if need > len(free):
            raise AssertionError(f"recipe {node.recipe}: {w.name} needs {need} GPUs, {len(free)} free")
        gpus = tuple(free[:need])
        if w.kind == "CronJob":
            self._place_cron_runs(w, node, gpus)
            return
        if w.kind == "Deployment":
            if w.rs_hash is None:
                w.rs_hash = self._suffix(10)
            name = f"{w.name}-{w.rs_hash}-{self._suffix(5)}"
        elif w.kind == "StatefulSet":
            name = f"{w.name}-{len(w.pods)}"
        else:  # Job
            name = f"{w.name}-{self._suffix(5)}"
        self._add_pod(w, node, gpus, name, start_s, end_s)

    def _place_cron_runs(self, w: WorkloadPlan, node: NodePlan, gpus: tuple[int, ...]) -> None:
        t = w.template
        every, run = t.every_minutes * 60, t.run_minutes * 60
        first = -(-self.start_s // every) * every
        for s in range(first, self.end_s, every):
            job = f"{w.name}-{s // 60}"  # CronJob names each Job after its scheduled minute
            self._add_pod(w, node, gpus, f"{job}-{self._suffix(5)}", s, min(s + run, self.end_s), job)

    def _add_pod(self, w, node, gpus, name, start_s, end_s, job_name=None) -> None:
        pod = PodPlan(len(self.pods), name, self._uuid(), w, node, gpus, start_s, end_s, job_name)
        for g in gpus:
            node.gpu_pods[g] = pod
        self.pods.append(pod)
        w.pods.append(pod)
        node.pods.append(pod)


def default_start(days: int, now: datetime | None = None) -> datetime:
    """Monday 00:00 UTC, whole weeks back so the window ends at least a week before the current week."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    monday = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=now.weekday())
    return monday - timedelta(weeks=math.ceil(days / 7) + 1)
