"""numba kernel of the GPU charge's per-row arithmetic (``charges.charge_gpus``; the rules: SPEC.md).

The same operations as the numpy they replace, in the same order, so every figure is the same to the bit:
sums per group run over the rows in row order (as ``np.bincount`` adds them) and groups are numbered in
key order (as ``columns.group_codes`` numbers them), so numpy's own sum of the per-group array sees the
same values in the same order. One pass per step instead of ~25 numpy calls and their temporaries per
partition, without the GIL. Conventions of the project's kernel files: ``@njit(cache=True, nogil=True)``,
serial, calling only into this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def device_shares(ts, uuid, attributed, activity, fraction, hours, gpu_count, idle_activity):
    """Per row: the GPUs charged (``gpus``) and used (``used``); per (instant, device) group in key order:
    the busy GPU-hours (``busy``). ``ts`` are dense instant codes >= 0, ``uuid`` device codes (-1: none).

    A device's pods split it by max(equal slot, measured share), normalised to the device's fraction
    (a MIG slice's share of the GPU); an instant charging more GPUs than the node has is scaled down.
    """
    n = len(ts)
    width = 0
    n_ts = 0
    for r in range(n):
        width = max(width, uuid[r] + 2)
        n_ts = max(n_ts, ts[r] + 1)
    number = np.zeros(n_ts * width, np.int64)
    for r in range(n):
        number[ts[r] * width + uuid[r] + 1] = 1
    groups = 0
    for j in range(len(number)):
        if number[j]:
            number[j] = groups
            groups += 1
    dev = np.empty(n, np.int64)
    k = np.zeros(groups)
    total_u = np.zeros(groups)
    for r in range(n):
        g = number[ts[r] * width + uuid[r] + 1]
        dev[r] = g
        k[g] += 1.0 if attributed[r] else 0.0
        total_u[g] += activity[r] if attributed[r] else 0.0
    weight = np.zeros(n)
    wsum = np.zeros(groups)
    for r in range(n):
        g = dev[r]
        if attributed[r]:
            u = activity[r]
            share = u / total_u[g] if total_u[g] > 0 else 0.0
            slot = 1.0 / k[g] if k[g] > 0 else 0.0
            weight[r] = slot if slot > share else share
        wsum[g] += weight[r]
    gpus = np.empty(n)
    per_instant = np.zeros(n_ts)
    for r in range(n):
        g = dev[r]
        w = weight[r] / wsum[g] if wsum[g] > 0 else 0.0
        gpus[r] = fraction[r] * w
        per_instant[ts[r]] += gpus[r]
    used = np.empty(n)
    busy = np.zeros(groups)
    for r in range(n):
        if gpu_count <= 0:
            gpus[r] = gpus[r] * 0.0
        elif per_instant[ts[r]] > gpu_count:
            gpus[r] = gpus[r] * (gpu_count / per_instant[ts[r]])
        a = fraction[r] * activity[r]
        used[r] = a if a < gpus[r] else gpus[r]
        b = fraction[r] * hours[r] if activity[r] >= idle_activity else 0.0
        if b > busy[dev[r]]:
            busy[dev[r]] = b
    return gpus, used, busy
