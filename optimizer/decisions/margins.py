"""The safety margins a proposed GPU shape must keep (docs/recommendations.md, Margins), as checks the
shape decisions share: memory above both the percentile's headroom and the observed peak's margin,
compute within the target at the activity percentile and, for classes with ``peak_check``, within the
shape at the busiest interval, and a stated (and for production bounded) latency factor on a slower GPU."""

from __future__ import annotations

from optimizer.config import ValueClassPolicy
from optimizer.decisions.base import gib
from optimizer.demand import Demand


def fits_peak(policy: ValueClassPolicy, d: Demand, capacity_gpus: float) -> bool:
    """Whether the busiest interval's compute need (peak activity × GPUs, in GPUs of the current model)
    fits in ``capacity_gpus`` (a slice's SM share, a share's fraction, GPUs × relative throughput).
    Always true for classes without the peak check, and when no peak was measured."""
    if not policy.peak_check or d.peak_compute_need is None:
        return True
    return capacity_gpus >= d.peak_compute_need - 1e-9


def latency_factor(relative_throughput: float) -> float:
    """How many times as long a compute-bound request takes on a GPU with this relative throughput."""
    return 1.0 / relative_throughput if relative_throughput > 0 else float("inf")


def latency_allowed(policy: ValueClassPolicy, factor: float) -> bool:
    return policy.max_latency_factor is None or factor <= policy.max_latency_factor + 1e-9


def memory_text(policy: ValueClassPolicy, d: Demand) -> str:
    """The memory rule with its numbers: max(percentile × (1 + headroom), max × (1 + peak margin))."""
    if d.gpu_mem_need is None or d.gpu_mem_observed is None or d.gpu_mem_max is None:
        return ""
    return (f"GPU memory kept at least max({policy.mem_percentile} {gib(d.gpu_mem_observed)} × "
            f"{1 + policy.mem_headroom:.2f}, max {gib(d.gpu_mem_max)} × {1 + policy.mem_peak_margin:.2f}) = "
            f"{gib(d.gpu_mem_need)}")


def peak_text(policy: ValueClassPolicy, d: Demand, capacity_gpus: float, what: str) -> str:
    """The peak check's sentence (classes with ``peak_check``): the busiest interval against the shape."""
    if not policy.peak_check or d.peak_compute_need is None:
        return ""
    return (f"the busiest interval needs {d.peak_compute_need:.2f} of a GPU, within {what}'s "
            f"{capacity_gpus:.3f}")


def extend(rationale: str, *clauses: str) -> str:
    """The rationale with each non-empty clause appended after a semicolon: still one sentence (the
    contract of ``rationale``, docs/recommendations.md)."""
    clauses = tuple(c for c in clauses if c)
    if not clauses:
        return rationale
    return rationale.rstrip(".") + "; " + "; ".join(clauses) + "."
