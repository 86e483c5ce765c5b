"""One node being filled: CPU, memory and each GPU's state (whole, time-sliced share, or MIG layout).

``NodeBin.place`` is the single fit check every packer uses (FFD, the CP-SAT answer check, the openb
benchmark), so all of them agree on what "fits" means.
"""

from __future__ import annotations

from functools import lru_cache

from optimizer.solver.model import GPU_MILLI, MIG_COMPUTE_SLICES, MigSlice, NodeType, PodSpec

# Geometry of the A100/H100 80 GB profiles and placements as `nvidia-smi mig -lgipp` lists them (NVIDIA MIG user guide).
# The catalog supplies the real table per model; this default serves tests and benchmarks.
MIG_80GB = (
    MigSlice("1g.10gb", 1, 1, (0, 1, 2, 3, 4, 5, 6), 7, 10 * 1024**3),
    MigSlice("1g.20gb", 1, 2, (0, 2, 4, 6), 4, 20 * 1024**3),
    MigSlice("2g.20gb", 2, 2, (0, 2, 4), 3, 20 * 1024**3),
    MigSlice("3g.40gb", 3, 4, (0, 4), 2, 40 * 1024**3),
    MigSlice("4g.40gb", 4, 4, (0,), 1, 40 * 1024**3),
    MigSlice("7g.80gb", 7, 8, (0,), 1, 80 * 1024**3),
)


@lru_cache(maxsize=65536)
def mig_layout_fits(slices: tuple[MigSlice, ...]) -> bool:
    """True if these MIG instances can coexist on one GPU: compute ≤ 7 slices, per-profile instance
    limits, and non-overlapping placements at valid starts on the 8-slot memory axis (searched)."""
    if sum(s.compute for s in slices) > MIG_COMPUTE_SLICES:
        return False
    counts: dict[str, int] = {}
    for s in slices:
        counts[s.name] = counts.get(s.name, 0) + 1
        if counts[s.name] > s.max_instances:
            return False
    order = sorted(slices, key=lambda s: (-s.mem_slots, s.name))

    def place(i: int, occupied: int) -> bool:
        if i == len(order):
            return True
        s = order[i]
        for start in s.starts:
            mask = ((1 << s.mem_slots) - 1) << start
            if start + s.mem_slots <= 8 and not occupied & mask and place(i + 1, occupied | mask):
                return True
        return False

    return place(0, 0)


def maximal_mig_layouts(slices: tuple[MigSlice, ...]) -> list[tuple[int, ...]]:
    """Every multiset of these profiles that one GPU holds and that no further slice of them fits,
    as counts per profile (in the order given). Any GPU's real MIG layout is contained in one."""
    found: set[tuple[int, ...]] = set()

    def extend(counts: list[int], layout: tuple[MigSlice, ...], start: int) -> None:
        grew = False
        for i, s in enumerate(slices):
            if mig_layout_fits(_sorted_slices(layout + (s,))):
                grew = True
                if i >= start:
                    counts[i] += 1
                    extend(counts, layout + (s,), i)
                    counts[i] -= 1
        if not grew:
            found.add(tuple(counts))

    extend([0] * len(slices), (), 0)
    return sorted(found)


def _sorted_slices(slices: tuple[MigSlice, ...]) -> tuple[MigSlice, ...]:
    return tuple(sorted(slices, key=lambda s: (s.name, s.mem_slots)))


class NodeBin:
    """A node of ``node_type`` and what is placed on it so far."""

    __slots__ = ("node_type", "cpu", "mem", "slots", "whole", "share", "mig", "pods")

    def __init__(self, node_type: NodeType):
        self.node_type = node_type
        self.cpu = node_type.cpu_m
        self.mem = node_type.mem_mib
        self.slots = node_type.max_pods if node_type.max_pods is not None else 1 << 30  # pods it may still take
        g = node_type.gpus
        self.whole = [False] * g  # GPU given whole to one pod
        self.share = [0] * g  # milli used by time-sliced pods (0 = not shared)
        self.mig: list[tuple[MigSlice, ...]] = [() for _ in range(g)]
        self.pods: list[str] = []

    def copy(self) -> NodeBin:
        c = NodeBin(self.node_type)
        c.cpu, c.mem, c.slots, c.whole, c.share = self.cpu, self.mem, self.slots, list(self.whole), list(self.share)
        c.mig, c.pods = list(self.mig), list(self.pods)
        return c

    def free_gpus(self) -> int:
        return sum(1 for i in range(len(self.whole)) if not self.whole[i] and not self.share[i] and not self.mig[i])

    def gpu_milli_used(self) -> int:
        used = 0
        for i in range(len(self.whole)):
            if self.whole[i]:
                used += GPU_MILLI
            used += self.share[i]
            used += sum(s.milli for s in self.mig[i])
        return used

    def _idle_gpu(self) -> int | None:
        """The first GPU with nothing on it: no whole-GPU pod, no share, no MIG slice."""
        for i in range(len(self.whole)):
            if not self.whole[i] and not self.share[i] and not self.mig[i]:
                return i
        return None

    def _share_slot(self, milli: int) -> int | None:
        """Best fit: the fullest shared GPU with room, else an idle GPU."""
        best, best_used = None, -1
        for i, used in enumerate(self.share):
            if used and used + milli <= GPU_MILLI and used > best_used:
                best, best_used = i, used
        return best if best is not None else self._idle_gpu()

    def _mig_slot(self, s: MigSlice) -> int | None:
        best, best_used = None, -1
        for i, layout in enumerate(self.mig):
            if layout:
                used = sum(x.mem_slots for x in layout)
                if used > best_used and mig_layout_fits(_sorted_slices(layout + (s,))):
                    best, best_used = i, used
        return best if best is not None else self._idle_gpu()

    def fits(self, pod: PodSpec) -> bool:
        return self._plan(pod) is not False

    def _plan(self, pod: PodSpec):
        if pod.cpu_m > self.cpu or pod.mem_mib > self.mem or self.slots <= 0:
            return False
        if pod.gpus:
            return None if self.free_gpus() >= pod.gpus else False
        if pod.gpu_milli:
            i = self._share_slot(pod.gpu_milli)
            return False if i is None else i
        if pod.mig_profile:
            s = self.node_type.mig_slice(pod.mig_profile)
            if s is None:
                return False
            i = self._mig_slot(s)
            return False if i is None else (i, s)
        return None

    def place_on_gpu(self, pod: PodSpec, name: str, gpu: int) -> bool:
        """Place a time-sliced or MIG pod on GPU ``gpu`` specifically (a model chose the GPU); checked
        like ``place``. Returns whether it was placed."""
        if pod.cpu_m > self.cpu or pod.mem_mib > self.mem or self.slots <= 0 or not 0 <= gpu < len(self.whole) \
                or self.whole[gpu]:
            return False
        if pod.gpu_milli:
            if self.mig[gpu] or self.share[gpu] + pod.gpu_milli > GPU_MILLI:
                return False
            plan = gpu
        elif pod.mig_profile:
            s = self.node_type.mig_slice(pod.mig_profile)
            if s is None or self.share[gpu] or not mig_layout_fits(_sorted_slices(self.mig[gpu] + (s,))):
                return False
            plan = (gpu, s)
        else:
            return False
        self._take(pod, name, plan)
        return True

    def place(self, pod: PodSpec, name: str | None = None) -> bool:
        """Place ``pod`` (as ``name``: pods of one class share a spec) if it fits; the caller checked the
        GPU model with ``type_allows``. Returns whether it was placed."""
        plan = self._plan(pod)
        if plan is False:
            return False
        self._take(pod, name or pod.name, plan)
        return True

    def _take(self, pod: PodSpec, name: str, plan) -> None:
        """Book ``pod`` on this node by a plan of ``_plan``'s form (the GPU of a share, (GPU, slice) of a
        MIG pod, None otherwise)."""
        self.cpu -= pod.cpu_m
        self.mem -= pod.mem_mib
        self.slots -= 1
        if pod.gpus:
            need = pod.gpus
            for i in range(len(self.whole)):
                if need and not self.whole[i] and not self.share[i] and not self.mig[i]:
                    self.whole[i] = True
                    need -= 1
        elif pod.gpu_milli:
            self.share[plan] += pod.gpu_milli
        elif pod.mig_profile:
            i, s = plan
            self.mig[i] = self.mig[i] + (s,)
        self.pods.append(name)


def type_allows(node_type: NodeType, pod: PodSpec) -> bool:
    """Whether ``pod`` could ever run on an empty node of this type (market, architecture, GPU model,
    sizes)."""
    if node_type.market == "spot" and not pod.spot_ok:
        return False
    if pod.archs is not None and node_type.arch not in pod.archs:
        return False
    if node_type.max_pods is not None and node_type.max_pods < 1:
        return False
    if node_type.market != "spot" and not pod.on_demand_ok:
        return False
    if pod.uses_gpu:
        if node_type.gpus <= 0:
            return False
        if pod.gpu_models is not None and node_type.gpu_model not in pod.gpu_models:
            return False
        if pod.gpu_memory_min and node_type.gpu_memory < pod.gpu_memory_min:
            return False
        if pod.gpus > node_type.gpus:
            return False
        if pod.mig_profile and node_type.mig_slice(pod.mig_profile) is None:
            return False
    elif node_type.gpu_pods_only:
        return False
    return pod.cpu_m <= node_type.cpu_m and pod.mem_mib <= node_type.mem_mib
