"""MIG GPU-instance profiles and the placement rules of one GPU.

Geometry (NVIDIA MIG User Guide, "Supported MIG Profiles"): a MIG-capable GPU has 7 compute slices and
8 memory slices. A profile takes ``compute_slices`` of the 7 and a run of ``memory_slices`` consecutive
memory slots that must *start* at one of its ``placements`` (``nvidia-smi mig -lgipp``:
``{0,1,2,3,4,5,6}:1`` for 1g.10gb, ``{0,2,4,6}:2`` for 1g.20gb, ``{0,2,4}:2`` for 2g.20gb, ``{0,4}:4`` for
3g.40gb, ``{0}:4`` for 4g.40gb, ``{0}:8`` for 7g.80gb). So at most 7 x 1g.10gb fit (slot 7 hosts no 1g),
3g.40gb starts only at slots 0 and 4, and 3g.40gb + 3g.40gb fill the memory axis although one compute
slice is left. ``+me`` variants carry the media engines and exist once per GPU.

SM counts (``sm_count``): the SM column of ``nvidia-smi mig -lgip`` as the NVIDIA MIG User Guide prints
it ("Getting Started with MIG", listing GPU instance profiles): A100 1g/2g/3g/4g/7g = 14/28/42/56/98 SMs
of 108 (A100 Tensor Core GPU Architecture whitepaper); H100 SXM5 80GB 1g.10gb 16, 1g.20gb 26, 2g 32, 3g 60,
4g 64, 7g 132 of 132 (H100 Tensor Core GPU Architecture whitepaper: 132 SMs on SXM5). H200 is the same
GH100 chip with 132 SMs and takes the H100 SXM5 counts. ``sm_share`` (SMs of the slice over the whole
GPU's) is the one share of a GPU that a slice is priced at (optimizer/costing.py).

``memory_bytes`` is what ``nvidia-smi mig -lgip`` prints as usable memory (lowest value seen across
public captures, since it moves a little with the driver). H200 3g.71gb/4g.71gb are estimated (no public
capture found): 65 GiB, below half of the 140 GiB 7g.141gb. The driver is the authority: the agent
records the profile each slice really has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from optimizer.catalog.gpus import canonical_gpu_model
from optimizer.catalog.model import GIB, MigProfile

COMPUTE_SLICES = 7
MEMORY_SLOTS = 8

# (name suffix size, compute slices, memory slices, max instances, placements) — shared geometry.
_GEOMETRY = (
    ("1g.{s1}", 1, 1, 7, (0, 1, 2, 3, 4, 5, 6)),
    ("1g.{s1}+me", 1, 1, 1, (0, 1, 2, 3, 4, 5, 6)),
    ("1g.{s2}", 1, 2, 4, (0, 2, 4, 6)),
    ("2g.{s2}", 2, 2, 3, (0, 2, 4)),
    ("3g.{s4}", 3, 4, 2, (0, 4)),
    ("4g.{s4}", 4, 4, 1, (0,)),
    ("7g.{s8}", 7, 8, 1, (0,)),
)

# model -> (names for 1/2/4/8 memory slices, usable GiB for profiles in _GEOMETRY order)
_MODELS: dict[str, tuple[dict[str, str], tuple[float, ...]]] = {
    "A100-40GB": ({"s1": "5gb", "s2": "10gb", "s4": "20gb", "s8": "40gb"},
                  (4.75, 4.75, 9.62, 9.62, 19.50, 19.50, 39.25)),
    "A100-80GB": ({"s1": "10gb", "s2": "20gb", "s4": "40gb", "s8": "80gb"},
                  (9.50, 9.50, 19.50, 19.50, 39.25, 39.25, 78.50)),
    "H100-80GB": ({"s1": "10gb", "s2": "20gb", "s4": "40gb", "s8": "80gb"},
                  (9.75, 9.75, 19.62, 19.62, 39.38, 39.38, 79.12)),
    "H200": ({"s1": "18gb", "s2": "35gb", "s4": "71gb", "s8": "141gb"},
             (16.00, 16.00, 32.50, 32.50, 65.00, 65.00, 140.00)),
}


# model -> (SMs of the whole GPU, SMs per profile in _GEOMETRY order); sources in the module docstring
_SMS: dict[str, tuple[int, tuple[int, ...]]] = {
    "A100-40GB": (108, (14, 14, 14, 28, 42, 56, 98)),
    "A100-80GB": (108, (14, 14, 14, 28, 42, 56, 98)),
    "H100-80GB": (132, (16, 16, 26, 32, 60, 64, 132)),
    "H200": (132, (16, 16, 26, 32, 60, 64, 132)),
}


def _build(model: str) -> tuple[MigProfile, ...]:
    sizes, gib = _MODELS[model]
    gpu_sms, sms = _SMS[model]
    return tuple(
        MigProfile(name=pattern.format(**sizes), compute_slices=c, memory_slices=m,
                   memory_bytes=int(round(g * GIB)), max_instances=n, placements=p, sm_count=k,
                   gpu_sm_count=gpu_sms)
        for (pattern, c, m, n, p), g, k in zip(_GEOMETRY, gib, sms, strict=True)
    )


_PROFILES: dict[str, tuple[MigProfile, ...]] = {model: _build(model) for model in _MODELS}


def mig_profiles(model: str | None) -> list[MigProfile]:
    """The MIG profiles of a GPU model (canonical or NVML name), smallest first; [] without MIG."""
    canonical = canonical_gpu_model(model) if model else None
    return list(_PROFILES.get(canonical or "", ()))


def mig_profile(model: str, name: str) -> MigProfile:
    for p in mig_profiles(model):
        if p.name == name:
            return p
    known = ", ".join(p.name for p in mig_profiles(model)) or "none"
    raise KeyError(f"no MIG profile {name!r} on {model}; known: {known}")


def layout_problems(model: str, placed: Iterable[tuple[str, int]]) -> list[str]:
    """Why a set of (profile name, start slot) is not a valid MIG layout of one GPU; [] when it is.

    Rules: each profile exists on the model and starts at one of its placements; the memory runs do not
    overlap; the compute slices add up to at most 7; no profile exceeds its max instance count.
    """
    problems: list[str] = []
    profiles = {p.name: p for p in mig_profiles(model)}
    if not profiles:
        return [f"{model} has no MIG profiles"]
    used = [None] * MEMORY_SLOTS
    compute = 0
    counts: Counter[str] = Counter()
    for name, start in placed:
        p = profiles.get(name)
        if p is None:
            problems.append(f"{name} is not a MIG profile of {model}")
            continue
        counts[name] += 1
        compute += p.compute_slices
        if start not in p.placements:
            problems.append(f"{name} cannot start at slot {start} (valid: {list(p.placements)})")
            continue
        for slot in range(start, start + p.memory_slices):
            if used[slot] is not None:
                problems.append(f"{name} at slot {start} overlaps {used[slot]} on memory slot {slot}")
                break
            used[slot] = f"{name}@{start}"
    if compute > COMPUTE_SLICES:
        problems.append(f"{compute} compute slices used, a GPU has {COMPUTE_SLICES}")
    for name, n in counts.items():
        if name in profiles and n > profiles[name].max_instances:
            problems.append(f"{n} x {name}, at most {profiles[name].max_instances} per GPU")
    return problems


def is_valid_layout(model: str, placed: Iterable[tuple[str, int]]) -> bool:
    """True when the placed profiles can coexist on one GPU of ``model`` (see ``layout_problems``)."""
    return not layout_problems(model, list(placed))


def find_placement(model: str, names: Sequence[str]) -> list[tuple[str, int]] | None:
    """Start slots for a multiset of profiles on one GPU, or None when they cannot share one GPU.

    Depth-first over the (few) placements, largest profile first; a GPU has at most 7 instances, so this
    is instant.
    """
    profiles = {p.name: p for p in mig_profiles(model)}
    if not profiles or any(n not in profiles for n in names):
        return None
    order = sorted(names, key=lambda n: (-profiles[n].memory_slices, -profiles[n].compute_slices, n))
    if sum(profiles[n].compute_slices for n in order) > COMPUTE_SLICES:
        return None
    if any(c > profiles[n].max_instances for n, c in Counter(order).items()):
        return None
    free = [True] * MEMORY_SLOTS
    chosen: list[tuple[str, int]] = []

    def place(i: int) -> bool:
        if i == len(order):
            return True
        p = profiles[order[i]]
        for start in p.placements:
            span = range(start, start + p.memory_slices)
            if all(free[s] for s in span):
                for s in span:
                    free[s] = False
                chosen.append((p.name, start))
                if place(i + 1):
                    return True
                chosen.pop()
                for s in span:
                    free[s] = True
        return False

    return list(chosen) if place(0) else None


def maximal_layouts(model: str, include_media_extensions: bool = False) -> list[tuple[str, ...]]:
    """Every multiset of profiles that fits one GPU and to which no further profile can be added.

    The optimizer picks one of these per GPU (or any sub-multiset of one). Profiles are listed largest
    first within a layout; ``+me`` variants are left out unless asked for.
    """
    names = [p.name for p in mig_profiles(model) if include_media_extensions or not p.name.endswith("+me")]
    found: set[tuple[str, ...]] = set()

    def grow(current: tuple[str, ...], start_index: int) -> None:
        extended = False
        for i in range(len(names)):
            candidate = tuple(sorted((*current, names[i])))
            if find_placement(model, candidate) is not None:
                extended = True
                if i >= start_index:
                    grow(candidate, i)
        if not extended and current:
            found.add(current)

    grow((), 0)
    size = {p.name: (p.memory_slices, p.compute_slices) for p in mig_profiles(model)}
    return sorted(tuple(sorted(layout, key=lambda n: (size[n], n), reverse=True)) for layout in found)
