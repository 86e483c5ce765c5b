"""Vectorized time series: a pod's load a(t) in 0..1 for one day, and the GPU and container samples that follow.

Everything is numpy over a whole day at once (8,640 samples at 10 s); noise is float32 from a generator
seeded per (pod or GPU, day), so a chunk never depends on which chunks were made before it.
"""

from __future__ import annotations

import numpy as np

from simulator.behaviours import ContainerTemplate, GpuLoad
from simulator.shapes import GpuModel

F32 = np.float32
PEAK_HOUR_UTC = 17.0  # US afternoon
WEEKEND_FACTOR = 0.6


def _smooth(rng: np.random.Generator, n: int, every: int, scale: float) -> np.ndarray:
    """Noise that wanders slowly: normal values every ``every`` samples, interpolated between."""
    k = n // every + 2
    coarse = rng.standard_normal(k, dtype=F32) * F32(scale)
    return np.interp(np.arange(n, dtype=F32) / F32(every), np.arange(k, dtype=F32), coarse).astype(F32)


def diurnal(ts_s: np.ndarray) -> np.ndarray:
    """1 at 17:00 UTC, 0 at 05:00 UTC, weekends (UTC) scaled by WEEKEND_FACTOR."""
    hour = (ts_s % 86_400).astype(F32) / F32(3600)
    day = 0.5 + 0.5 * np.cos(F32(2 * np.pi / 24) * (hour - F32(PEAK_HOUR_UTC)))
    weekday = (ts_s // 86_400 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return np.where(weekday >= 5, day * F32(WEEKEND_FACTOR), day).astype(F32)


def _spans(ts_s: np.ndarray, starts: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Mask of samples inside any [start, start + duration)."""
    mask = np.zeros(len(ts_s), dtype=bool)
    for s, d in zip(starts, durations, strict=True):
        lo, hi = np.searchsorted(ts_s, [s, s + d])
        mask[lo:hi] = True
    return mask


def pod_load(pattern: str, rng: np.random.Generator, ts_s: np.ndarray, interval_s: int, phase: float) -> np.ndarray:
    """The pod's load a(t) in 0..1 over one day's sample times ``ts_s`` (epoch seconds).

    ``phase`` (0..1, fixed per pod) places periodic events such as training checkpoints.
    """
    n = len(ts_s)
    every = max(1, 300 // interval_s)  # noise wanders on a 5-minute scale
    day0 = int(ts_s[0] // 86_400 * 86_400) if n else 0
    if pattern == "flat":
        a = F32(0.97) + _smooth(rng, n, every, 0.015)
    elif pattern == "diurnal":
        a = diurnal(ts_s) + _smooth(rng, n, every, 0.03) + rng.standard_normal(n, dtype=F32) * F32(0.015)
    elif pattern == "training":
        # Steady at full load; every 90 minutes a 3-minute checkpoint with the GPUs waiting on storage.
        period = 5400
        in_checkpoint = (ts_s + int(phase * period)) % period < 180
        a = np.where(in_checkpoint, F32(0.0), F32(1.0)).astype(F32)
    elif pattern == "sessions":
        # A person opens the notebook on some weekday afternoons for 15-40 minutes; otherwise it sits idle.
        a = np.zeros(n, dtype=F32)
        weekday = (day0 // 86_400 + 3) % 7 < 5
        if weekday and rng.random() < 0.7:
            start = day0 + int(rng.integers(13 * 3600, 21 * 3600))
            mask = _spans(ts_s, np.array([start]), np.array([int(rng.integers(15, 41)) * 60]))
            a[mask] = F32(0.75) + rng.standard_normal(int(mask.sum()), dtype=F32) * F32(0.12)
    elif pattern == "bursts":
        # 7-11 bursts of 15-35 minutes of traffic a day (daytime), nothing in between.
        k = int(rng.integers(7, 12))
        starts = day0 + rng.integers(7 * 3600, 23 * 3600, size=k)
        mask = _spans(ts_s, np.sort(starts), rng.integers(15, 36, size=k) * 60)
        a = np.zeros(n, dtype=F32)
        a[mask] = F32(0.85) + rng.standard_normal(int(mask.sum()), dtype=F32) * F32(0.08)
    else:
        raise ValueError(f"unknown load pattern {pattern!r}")
    return np.clip(a, 0.0, 1.0).astype(F32)


def gpu_samples(load: GpuLoad, model: GpuModel, a: np.ndarray, rng: np.random.Generator, sparse: bool) -> dict:
    """One GPU's columns for a pod with load ``a``. ``sparse``: idle time is exactly idle (no noise)."""
    n = len(a)
    u0, u1 = load.util
    util = F32(u0) + F32(u1 - u0) * a + rng.standard_normal(n, dtype=F32) * F32(0.01 if u1 < 0.2 else 0.02)
    if sparse:
        util = np.where(a > 0, util, F32(0.0))
    util = np.clip(util, 0.0, 1.0).astype(F32)
    cap = model.memory_bytes
    if load.mem_abs:
        lo, hi = load.mem_abs
    else:
        lo, hi = load.mem[0] * cap, load.mem[1] * cap
    mem = F32(lo) + F32(hi - lo) * a + _smooth(rng, n, 30, 0.002 * (hi or cap))
    mem = np.clip(mem, 0, 0.95 * cap).astype(np.int64)
    out = {"gpu_util": util, "mem_used_bytes": mem, "power_w": power(model, util, rng)}
    if model.gpm:
        sm = np.clip(util * F32(load.sm_k) * (F32(1) + rng.standard_normal(n, dtype=F32) * F32(0.03)), 0, 1)
        out["sm_active"] = sm.astype(F32)
        out["sm_occupancy"] = (sm * F32(0.45)).astype(F32)
        out["tensor_active"] = (sm * F32(load.tensor_k)).astype(F32)
        out["dram_active"] = np.clip(util * F32(load.dram_k), 0, 1).astype(F32)
    return out


def idle_gpu_samples(model: GpuModel, n: int, rng: np.random.Generator) -> dict:
    """A GPU no pod holds: no kernels, no memory in use, idle power."""
    util = np.zeros(n, dtype=F32)
    out = {"gpu_util": util, "mem_used_bytes": np.zeros(n, dtype=np.int64), "power_w": power(model, util, rng)}
    if model.gpm:
        for k in ("sm_active", "sm_occupancy", "tensor_active", "dram_active"):
            out[k] = np.zeros(n, dtype=F32)  # separate arrays: a pod's samples are copied into slices
    return out


def power(model: GpuModel, util: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Board power: idle draw plus a share of (TDP - idle) that grows with utilization, a little noise."""
    span = F32(model.tdp_w - model.idle_w)
    p = F32(model.idle_w) + span * (F32(0.88) * util) + rng.standard_normal(len(util), dtype=F32) * F32(
        0.01 * model.tdp_w)
    return np.clip(p, 0.95 * model.idle_w, model.tdp_w).astype(F32)


def container_samples(c: ContainerTemplate, a: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(cpu_cores, mem_bytes) of one container following load ``a``, as fractions of its requests."""
    n = len(a)
    c0, c1 = c.cpu_use
    cpu = F32(c.cpu_request) * (F32(c0) + F32(c1 - c0) * a) * (F32(1) + rng.standard_normal(n, dtype=F32) * F32(0.03))
    if c.cpu_limit is not None:
        cpu = np.minimum(cpu, F32(c.cpu_limit))
    m0, m1 = c.mem_use
    mem = F32(c.mem_request) * (F32(m0) + F32(m1 - m0) * a + _smooth(rng, n, 60, 0.004))
    return np.maximum(cpu, F32(0.001)).astype(F32), np.maximum(mem, 1 << 20).astype(np.int64)
