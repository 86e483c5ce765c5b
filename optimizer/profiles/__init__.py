"""Utilization profiles: time-weighted, mergeable histograms per entity and metric (numba core).

    from optimizer.profiles import compute_profiles
    profiles = compute_profiles("s3://bucket/rightsizer", entity="workload")
    profiles.stats(("ml", "Deployment", "llm-serving"), "gpu_activity").p95

See docs/profiles.md for the bin schemes, entities, metrics and the streaming/merge model.
"""

from optimizer.profiles.api import MetricStats, ProfileSet, compute_profiles

__all__ = ["MetricStats", "ProfileSet", "compute_profiles"]
