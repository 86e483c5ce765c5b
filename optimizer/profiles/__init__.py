"""Utilization profiles: time-weighted, mergeable histograms per entity and metric (numba core).

    from optimizer.profiles import compute_profiles
    profiles = compute_profiles("s3://bucket/rightsizer", entity="workload")
    profiles.stats(("ml", "Deployment", "llm-serving"), "gpu_activity").p95

See docs/profiles.md for the bin schemes, entities, metrics and the streaming/merge model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["MetricStats", "ProfileSet", "compute_profiles", "compute_profiles_many"]

if TYPE_CHECKING:
    from optimizer.profiles.api import MetricStats, ProfileSet, compute_profiles, compute_profiles_many


def __getattr__(name: str):
    # The dataset API pulls in pyarrow and the store (about 1 s of imports); a caller of the bare core
    # (``from optimizer.profiles import core``) does not pay for it.
    if name in __all__:
        from optimizer.profiles import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
