"""Spikes in daily cost against a robust, weekday-aware trailing baseline (median and MAD).

For each complete day and each series (a team, a workload), the baseline is the trailing
``spike_baseline_days`` days of the same weekday when there are at least ``spike_min_history_days`` of
them, else the same day type (Mon-Fri or Sat-Sun), else all trailing days. A day is a spike when its
robust z-score, its ratio to the baseline median and its excess in dollars all pass their thresholds,
so a flat series (MAD 0) never alerts on cents and a tiny workload never alerts on noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from datetime import date as Date

import numpy as np
import pandas as pd

from recommender.config import Thresholds

MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normal data


@dataclass(frozen=True)
class Spike:
    scope: str          # team | workload
    name: str           # team name, or namespace/kind/name
    date: str
    cost: float
    baseline: float     # median of the baseline days
    delta_usd: float    # cost - baseline
    factor: float | None  # cost / baseline (None when the baseline is $0: new spend)
    z: float
    baseline_days: int
    baseline_kind: str  # same weekday | weekdays | weekend days | all days

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("cost", "baseline", "delta_usd"):
            d[key] = round(d[key], 2)
        d["factor"] = None if self.factor is None else round(self.factor, 2)
        d["z"] = round(self.z, 1) if math.isfinite(self.z) else None
        return d


def complete_days(dates, window_start: datetime | None, window_end: datetime | None,
                  share: float = 0.9) -> set[str]:
    """The UTC days (YYYY-MM-DD) of which the analysis window covers at least ``share`` of the 24 hours.

    Only the window's edges make a day partial. A day's node-hours say nothing about it: a day on which a
    one-off job adds a node has more node-hours than any other, and judging days against the fullest one
    would then call every other day partial and hide exactly the spike that day is.
    """
    if window_start is None or window_end is None:
        return set()
    out = set()
    for d in dates:
        day0 = datetime.combine(Date.fromisoformat(str(d)), time(), tzinfo=UTC)
        covered = (min(window_end, day0 + timedelta(days=1)) - max(window_start, day0)).total_seconds()
        if covered >= share * 86400:
            out.add(str(d))
    return out


def detect_spikes(series: pd.DataFrame, scope: str, th: Thresholds, days: set[str] | None = None, *,
                  min_delta: float | None = None) -> list[Spike]:
    """``series``: index = date strings (YYYY-MM-DD), one column per name, daily cost in USD (or another
    daily amount, such as tokens, with ``min_delta`` in its unit instead of ``th.spike_min_usd``)."""
    min_delta = th.spike_min_usd if min_delta is None else min_delta
    if series.empty:
        return []
    series = series.sort_index()
    if days is not None:
        series = series[series.index.isin(days)]
    dates = [Date.fromisoformat(d) for d in series.index]
    values = series.to_numpy(float)
    out = []
    for i, day in enumerate(dates):
        window = [j for j in range(i) if 0 < (day - dates[j]).days <= th.spike_baseline_days]
        chosen, kind = _baseline_days(day, window, dates, th.spike_min_history_days)
        if not chosen:
            continue
        for c, name in enumerate(series.columns):
            x = values[i, c]
            hist = values[chosen, c]
            median = float(np.median(hist))
            mad = float(np.median(np.abs(hist - median)))
            scale = max(MAD_TO_SIGMA * mad, 0.02 * median)
            delta = float(x - median)
            z = delta / scale if scale > 0 else (math.inf if delta > 0 else 0.0)  # from $0: new spend
            factor = float(x / median) if median > 0 else None
            if z < th.spike_z or delta < min_delta:
                continue
            if factor is not None and factor < th.spike_min_factor:
                continue
            out.append(Spike(scope, str(name), series.index[i], float(x), median, delta, factor, float(z),
                             len(chosen), kind))
    return sorted(out, key=lambda s: (-s.delta_usd, s.date))


def _baseline_days(day: Date, window: list[int], dates: list[Date], need: int) -> tuple[list[int], str]:
    weekend = day.weekday() >= 5
    same = [j for j in window if dates[j].weekday() == day.weekday()]
    if len(same) >= need:
        return same, "same weekday"
    same_type = [j for j in window if (dates[j].weekday() >= 5) == weekend]
    if len(same_type) >= need:
        return same_type, "weekend days" if weekend else "weekdays"
    if len(window) >= need:
        return window, "all days"
    return [], ""
