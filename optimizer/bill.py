"""What the node bill does (recommender/allocation/SPEC.md, "Bill effect"): today's nodes, one
recommendation applied alone to today's cluster without repacking, and the plan.

Alone, a change moves the bill only through a node: a node is removed when the change leaves it empty,
and replaced when the change is the node's own (spot, another instance type) and the workload is the only
one on it. A change that frees room on a node that stays (smaller requests, a MIG slice, a share, GPUs
released) saves nothing on the bill until the node plan packs the freed room away. Moving a model server to
a managed API removes the nodes only it used and adds the API's spend: its bill change is the nodes' price
minus that spend, negative when its nodes stay for other pods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optimizer.decisions.base import Candidate, Context, Shape
from optimizer.inventory import Workload

DAEMON_KINDS = ("DaemonSet",)  # their pods come and go with the node: they never keep one alive


@dataclass
class BillEffect:
    hourly: float  # how much the node bill drops per hour (negative: it grows)
    sentence: str  # said in the rationale
    removed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


def occupants(ctx: Context) -> dict[str, set]:
    """Node -> workloads with a pod running on it at the window's end (DaemonSets left out)."""
    inv = ctx.inventory
    out: dict[str, set] = {}
    for key, w in inv.workloads.items():
        if w.kind in DAEMON_KINDS:
            continue
        for p in w.pods:
            if inv.alive_at_end(p):
                out.setdefault(p.node, set()).add(key)
    return out


def today_nodes(ctx: Context) -> list:
    """The nodes running at the window's end that have a price (the node bill today)."""
    inv = ctx.inventory
    return [n for n in inv.nodes.values() if inv.node_alive_at_end(n) and ctx.pricing.node_hourly(n) is not None]


def _units(ctx: Context, shape: Shape, node) -> float:
    try:
        return ctx.gpu_units(shape, node)
    except KeyError:
        return 0.0


def _freed(ctx: Context, w: Workload, cand: Candidate, nodes: list[str]) -> str:
    """'frees 0.43 of a GPU on gpu-a100-1' for the room a change frees on nodes that stay."""
    base, new = ctx.base_shape(w), cand.shape or ctx.base_shape(w)
    parts = []
    for name in nodes:
        node = ctx.inventory.nodes.get(name)
        pods = sum(1 for p in w.pods if p.node == name and ctx.inventory.alive_at_end(p))
        gpu = pods * (_units(ctx, base, node) - _units(ctx, new, node))
        cpu = pods * (base.cpu - new.cpu)
        mem = pods * (base.mem - new.mem) / 1024**3
        bits = [f"{gpu:.2f} of a GPU" if gpu > 0.005 else "", f"{cpu:g} cores" if cpu > 0.0005 else "",
                f"{mem:.1f} GiB" if mem > 0.05 else ""]
        bits = [b for b in bits if b]
        if bits:
            parts.append(f"{' and '.join(bits)} on {name}")
    return "frees " + "; ".join(parts[:3]) if parts else "frees room"


def alone(ctx: Context, w: Workload, cand: Candidate, occupied: dict[str, set]) -> BillEffect:
    """The node bill change if only this recommendation is applied to today's cluster, without repacking."""
    inv = ctx.inventory
    mine = sorted({p.node for p in w.pods if inv.alive_at_end(p)
                   if p.node in inv.nodes and ctx.pricing.node_hourly(inv.nodes[p.node]) is not None})
    if not mine:
        if "managed" in cand.tags:
            return BillEffect(-cand.hourly_proposed, "no pod of it runs on a priced node at the window's end; the "
                              f"API spend of ${cand.hourly_proposed * 730:,.2f}/month is added")
        return BillEffect(0.0, "no pod of it runs on a priced node at the window's end, so alone it moves no node")
    sole = [n for n in mine if occupied.get(n, set()) <= {w.key}]
    shared = [n for n in mine if n not in sole]
    hourly = {n: ctx.pricing.node_hourly(inv.nodes[n]) for n in mine}
    later = "the bill drops only with the node plan"
    if "managed" in cand.tags:  # the pods leave for a managed API: its spend is a new bill line
        api = cand.hourly_proposed
        spend = f"the API spend of ${api * 730:,.2f}/month is added"
        if not sole:
            return BillEffect(-api, f"its nodes ({', '.join(shared[:3])}) keep other pods and {spend}")
        return BillEffect(sum(hourly[n] for n in sole) - api, f"{', '.join(sole[:3])} are removed and {spend}",
                          removed=sole)
    if "replica-count" in cand.tags:  # set-replicas: fewer replicas, each freeing its GPUs
        return _fewer_replicas(ctx, w, cand, mine, sole, hourly)
    if "replicas" in cand.tags:  # scale-to-zero: a node only it uses is off while it is scaled to zero
        active = float(cand.extra.get("active_fraction", 1.0))
        if not sole:
            return BillEffect(0.0, f"its nodes ({', '.join(shared[:3])}) keep other pods; {later}")
        saved = sum(hourly[n] for n in sole) * (1 - active)
        return BillEffect(saved, f"{', '.join(sole[:3])} run only while it does ({100 * active:.0f} % of the time)",
                          removed=sole)
    if cand.market == "spot" or cand.instance_type:  # the node's own change: replace nodes only it uses
        if not sole:
            return BillEffect(0.0, f"it shares {', '.join(shared[:3])} with other pods, which stay; {later}")
        checkpoint = cand.extra.get("checkpoint_interval_h", ctx.config.decisions.default_checkpoint_interval_h)
        old = sum(hourly[n] for n in sole)
        if cand.instance_type:
            region = inv.nodes[sole[0]].region or ctx.config.region
            market = "spot" if cand.market == "spot" else inv.nodes[sole[0]].capacity_type
            price = (ctx.spot_expected(cand.instance_type, region, checkpoint) if market == "spot"
                     else ctx.pricing.type_hourly(cand.instance_type, "on-demand", region))
            if price is None:
                return BillEffect(0.0, f"no {market} price for {cand.instance_type} in {region}")
            pods = sum(1 for p in w.pods if p.node in sole and inv.alive_at_end(p))
            count = max(1, math.ceil(pods / max(1, cand.pods_per_node)))
            return BillEffect(old - count * price, f"{', '.join(sole[:3])} replaced by {count}× {cand.instance_type}",
                              replaced=sole)
        new = 0.0
        for n in sole:
            node = inv.nodes[n]
            price = hourly[n] if node.capacity_type == "spot" else ctx.spot_expected(node.instance_type, node.region,
                                                                                    checkpoint)
            if price is None:
                return BillEffect(0.0, f"no spot price for {node.instance_type} in {node.region}")
            new += price
        return BillEffect(old - new, f"{', '.join(sole[:3])} replaced by spot nodes of the same type", replaced=sole)
    return BillEffect(0.0, f"{_freed(ctx, w, cand, mine)}; {later}")


def _fewer_replicas(ctx: Context, w: Workload, cand: Candidate, mine: list[str], sole: list[str],
                    hourly: dict[str, float]) -> BillEffect:
    """Removed replicas free their GPUs; the bill drops only by the nodes they are sure to empty. Which pods
    a scale-down deletes is the ReplicaSet's choice, so the count is a lower bound: nodes holding one pod
    of this workload and nothing else, as many as the removed replicas exceed every other pod of it, the
    cheapest first; for the share of the time the cut applies (an autoscaler's minimum: its quiet hours)."""
    from collections import Counter

    inv = ctx.inventory
    alive = [p for p in w.pods if inv.alive_at_end(p) and p.node in hourly]
    per_node = Counter(p.node for p in alive)
    removed = min(int(cand.extra.get("removed_replicas", 0)), max(0, len(alive) - 1))
    singles = sorted((n for n in sole if per_node[n] == 1), key=lambda n: (hourly[n], n))
    emptied = singles[:max(0, removed - (len(alive) - len(singles)))]
    gpus = removed * int(w.gpus_per_pod or 0)
    freed = f"removing {removed} of its {len(alive)} replicas frees {gpus} GPU{'s' if gpus != 1 else ''}"
    if not emptied:
        where = f"its nodes ({', '.join(mine[:3])}) keep other pods" if not singles else \
            "which pods go is the ReplicaSet's choice and they need not empty a node"
        return BillEffect(0.0, f"{freed}, but {where}; the bill drops only with the node plan")
    share = float(cand.extra.get("cut_time_fraction", 1.0))
    when = "" if share >= 0.999 else f" for the {100 * share:.0f} % of the time the cut applies"
    return BillEffect(sum(hourly[n] for n in emptied) * share,
                      f"{freed} and empties at least {len(emptied)} node{'s' if len(emptied) != 1 else ''} only it "
                      f"uses ({', '.join(emptied[:3])}){when}, which the cluster autoscaler removes",
                      removed=emptied)


def node_alone(ctx: Context, node, gpus: int, occupied: dict[str, set]) -> BillEffect:
    """A node's unallocated GPUs: the bill drops only when nothing else keeps the node."""
    hourly = ctx.pricing.node_hourly(node)
    if hourly is None or not ctx.inventory.node_alive_at_end(node):
        return BillEffect(0.0, f"{node.name} is not running at the window's end")
    if not occupied.get(node.name) and gpus >= (node.gpu_count or 0):
        return BillEffect(hourly, f"no pod runs on {node.name}: removing it", removed=[node.name])
    return BillEffect(0.0, f"frees {gpus} GPU{'s' if gpus != 1 else ''} on {node.name}, which stays for its other "
                           "pods; the bill drops only with the node plan")
