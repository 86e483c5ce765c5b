"""Tunable defaults of the optimizer, in one documented place.

Every number that changes a recommendation lives here as a field of a frozen dataclass, with the
reason for its default next to it. The recommender's YAML config file maps onto these sections; code
never hard-codes a threshold of its own. Sections are added per stage (profiles first); a section is
constructed with keyword overrides, e.g. ``ProfileConfig(idle_threshold=0.02)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProfileConfig:
    """How utilization profiles are binned and summarised (optimizer/profiles, docs/profiles.md)."""

    utilization_bins: int = 200
    """Linear bins over 0..1 for fraction metrics (gpu_util, sm_active, gpu_activity): 200 gives 0.5 %
    wide bins, so a percentile is at most 0.005 above the exact value. An extra bin holds exact zeros."""

    bytes_min_exp2: int = 20
    """Byte metrics (gpu_mem_bytes, mem_bytes) use log-linear bins from 2**20 (1 MiB) ..."""

    bytes_max_exp2: int = 41
    """... to 2**41 (2 TiB). Values below go to one (0, 1 MiB) bin, above to an overflow bin whose
    percentile is the exact observed maximum."""

    cores_min_exp2: int = -10
    """CPU cores use log-linear bins from 2**-10 (0.00098 cores, one millicore) ..."""

    cores_max_exp2: int = 10
    """... to 2**10 (1024 cores)."""

    log_sub_bins: int = 64
    """Bins per octave (power of two) in log-linear schemes: each bin is at most 1/64 = 1.56 % of its
    lower edge wide, under the 2 % relative error that right-sizing memory needs. Must be a power of
    two (the bulk kernel reads the bin from the float's mantissa bits)."""

    idle_threshold: float = 0.05
    """A GPU activity sample below this fraction (5 % SM activity or utilization) counts as idle: the
    idle fraction, duty cycle and burst statistics all use it."""

    cpu_idle_threshold_cores: float = 0.05
    """A CPU sample below this many cores (50 millicores) counts as idle for cpu_cores."""

    run_gap_factor: float = 0.5
    """Consecutive samples of one series belong to the same run when the next one starts no later than
    this fraction of its interval after the previous one ended; a longer gap (missing data, a pod that
    stopped) ends the run."""

    timezone: str = "UTC"
    """Time zone (IANA name) of the 168-bin hour-of-week profile; Monday 00:00 is bin 0."""


DEFAULT_PROFILE_CONFIG = ProfileConfig()
