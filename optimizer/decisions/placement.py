"""Where a pod of the plan may go (docs/solver.md, Placement): the CPU architectures its images run on,
and what the DaemonSets take on every node.

- **Architecture.** A workload stays on the architectures of the nodes its pods ran on: the node's
  ``kubernetes.io/arch`` label, else the catalog's arch of its instance type. The pod label
  ``rightsizer.io/arch`` (``solver.arch_label``) widens or sets it: ``any``, or a comma list such as
  ``amd64,arm64``; ``solver.multi_arch_images: true`` makes every workload ``any``. A workload whose
  nodes' architecture is known nowhere keeps to the architectures of the cluster's nodes.
- **DaemonSets** run one pod on every node, so they are not packed: each candidate node keeps room for
  them. Per observed node, the requests of the DaemonSet pods on it at the end of the window are summed
  (at their proposed sizes where a change is recommended); per node kind (with GPUs, without) the
  largest sum of each resource over the nodes of that kind is reserved on every node of that kind, the
  largest over all nodes when the cluster has no node of that kind.
"""

from __future__ import annotations

from optimizer.catalog.arch import normalize_arch
from optimizer.decisions.base import Context
from optimizer.inventory import NodeInfo, Workload
from optimizer.solver.adapter import DaemonSetLoad, DaemonSetReserve

DAEMONSET = "DaemonSet"
ANY_ARCH = "any"


def node_arch(node: NodeInfo | None, catalog) -> str | None:
    """The node's architecture in the catalog's names (x86_64, arm64), None where nothing tells."""
    if node is None:
        return None
    arch = normalize_arch(node.arch)
    if arch is None and node.instance_type and node.instance_type in catalog:
        arch = catalog.get(node.instance_type).arch
    return arch


def label_archs(value: str | None) -> frozenset[str] | None | bool:
    """The architectures a ``rightsizer.io/arch`` label value allows: None for ``any``, a set for a
    list of names, False when the label is absent or names no architecture this knows."""
    if not value or not value.strip():
        return False
    if value.strip().lower() == ANY_ARCH:
        return None
    names = {normalize_arch(v) for v in value.split(",")}
    if None in names:
        return False
    return frozenset(names)


def workload_archs(w: Workload, ctx: Context) -> frozenset[str] | None:
    """Architectures the workload's pods may be placed on; None for any."""
    cfg = ctx.config.solver
    if cfg.multi_arch_images:
        return None
    labelled = label_archs(w.labels.get(cfg.arch_label))
    if labelled is not False:
        return labelled
    seen = {node_arch(ctx.node_of(p), ctx.catalog) for p in w.pods} - {None}
    if seen:
        return frozenset(seen)
    cluster = {node_arch(n, ctx.catalog) for n in ctx.inventory.nodes.values()} - {None}
    return frozenset(cluster) or None


def daemonset_reserve(ctx: Context, shapes: dict) -> DaemonSetReserve:
    """Room the DaemonSets take on every node of the plan (module docstring). ``shapes``: workload key
    -> proposed Shape."""
    inv = ctx.inventory
    per_node: dict[str, list[float]] = {}
    for key, w in inv.workloads.items():
        if w.kind != DAEMONSET:
            continue
        shape = shapes.get(key)
        cpu = shape.cpu if shape else w.cpu_request()
        mem = shape.mem if shape else w.mem_request()
        for p in w.pods:
            node = inv.nodes.get(p.node)
            # a pod never sampled is counted: the pods table says it is there
            if node is None or not inv.node_alive_at_end(node) or (p.last_ms is not None and not inv.alive_at_end(p)):
                continue
            load = per_node.setdefault(p.node, [0.0, 0, 0])
            load[0] += cpu
            load[1] += mem
            load[2] += 1

    def largest(names: list[str]) -> DaemonSetLoad:
        loads = [per_node[n] for n in names if n in per_node]
        if not loads:
            return DaemonSetLoad()
        return DaemonSetLoad(cpu=max(x[0] for x in loads), mem=int(max(x[1] for x in loads)),
                             pods=int(max(x[2] for x in loads)))

    alive = [n for n in inv.nodes.values() if inv.node_alive_at_end(n)]
    gpu = [n.name for n in alive if n.gpu_count]
    cpu_only = [n.name for n in alive if not n.gpu_count]
    everywhere = largest([n.name for n in alive])
    return DaemonSetReserve(gpu_nodes=largest(gpu) if gpu else everywhere,
                            cpu_nodes=largest(cpu_only) if cpu_only else everywhere)
