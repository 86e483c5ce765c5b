"""Compile the profile kernels into NUMBA_CACHE_DIR, so later runs load them instead of compiling.

Run once at image build time (see the Dockerfile). It goes through the public entry point,
``optimizer.profiles.compute_profiles``, on a tiny dataset written with the project's own writer, so
every kernel a real ``rightsizer recommend`` or ``profile`` run uses gets compiled and cached, whatever
the kernels are called. If ``optimizer.profiles`` has its own ``warmup`` module, that is used instead.
Without ``optimizer.profiles`` installed it says so and exits 0. Any other error fails the build.

Usage: NUMBA_CACHE_DIR=/var/cache/rightsizer/numba python scripts/warm_numba_cache.py
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

ENTITIES = ("workload", "pod", "container", "gpu", "node")
TOY_SAMPLES = 360  # one hour at 10 s: enough for every percentile and burst statistic to be computed
TOY_INTERVAL_S = 10.0


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def write_toy_dataset(root: str | Path) -> None:
    """One node, one GPU shared by two pods of one Deployment, one hour of samples (dataset format v1)."""
    from store.writer import DatasetWriter

    start = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    ts = [start + dt.timedelta(seconds=TOY_INTERVAL_S * (i + 1)) for i in range(TOY_SAMPLES)]
    n = len(ts)
    pods = ["toy-7d4b9-a", "toy-7d4b9-b"]
    writer = DatasetWriter(str(root))
    gpu_ts, gpu_pod, util, mem = [], [], [], []
    for k, pod in enumerate(pods):
        gpu_ts += ts
        gpu_pod += [pod] * n
        util += [((i * 7 + k * 13) % 100) / 100.0 for i in range(n)]
        mem += [(4 + (i % 5)) * 2**30 for i in range(n)]
    m = len(gpu_ts)
    writer.write("gpu", {
        "ts": gpu_ts, "node": ["toy-node"] * m, "interval_s": [TOY_INTERVAL_S] * m,
        "gpu_uuid": ["GPU-00000000-0000-0000-0000-000000000000"] * m, "gpu_model": ["NVIDIA L4"] * m,
        "namespace": ["toy"] * m, "pod": gpu_pod, "container": ["server"] * m,
        "gpu_util": util, "sm_active": [u * 0.6 for u in util],
        "mem_used_bytes": mem, "mem_total_bytes": [24 * 2**30] * m, "power_w": [40.0 + 30 * u for u in util],
    })
    writer.write("container", {
        "ts": gpu_ts, "node": ["toy-node"] * m, "interval_s": [TOY_INTERVAL_S] * m,
        "namespace": ["toy"] * m, "pod": gpu_pod, "container": ["server"] * m,
        "cpu_cores": [0.5 + u for u in util], "mem_bytes": [3 * 2**30 + (i % 7) * 2**20 for i in range(m)],
    })
    writer.write("pods", {
        "ts": [start] * 2, "node": ["toy-node"] * 2, "namespace": ["toy"] * 2, "pod": pods,
        "pod_uid": ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"],
        "workload_kind": ["Deployment"] * 2, "workload_name": ["toy"] * 2,
        "labels": [json.dumps({"team": "toy"})] * 2, "container": ["server"] * 2,
        "cpu_request": [2.0] * 2, "cpu_limit": [None] * 2, "mem_request": [8 * 2**30] * 2,
        "mem_limit": [8 * 2**30] * 2, "gpu_resource": ["nvidia.com/gpu"] * 2, "gpu_request": [0.5] * 2,
    })
    writer.write("nodes", {
        "ts": [start], "node": ["toy-node"], "instance_type": ["g6.2xlarge"], "capacity_type": ["on-demand"],
        "zone": ["us-east-1a"], "region": ["us-east-1"], "cpu_capacity": [8.0], "mem_capacity": [32 * 2**30],
        "gpu_count": [1], "gpu_model": ["NVIDIA L4"], "labels": ["{}"],
    })


def cached_files(cache_dir: Path) -> int:
    return sum(1 for p in cache_dir.rglob("*") if p.suffix in {".nbi", ".nbc"})


def warm() -> str:
    """Compile and cache the kernels; returns a one-line account of what was done."""
    if not _module_exists("optimizer.profiles"):
        return "optimizer.profiles is not installed: nothing to compile"
    if _module_exists("optimizer.profiles.warmup"):
        importlib.import_module("optimizer.profiles.warmup").main()
        return "ran optimizer.profiles.warmup"
    from optimizer.profiles import compute_profiles

    with tempfile.TemporaryDirectory(prefix="rightsizer-warmup-") as root:
        write_toy_dataset(root)
        for entity in ENTITIES:
            compute_profiles(root, entity=entity)
    return f"computed {', '.join(ENTITIES)} profiles of a toy dataset"


def main() -> int:
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if not cache:
        print("error: set NUMBA_CACHE_DIR to the directory the cache should be written to", file=sys.stderr)
        return 2
    cache_dir = Path(cache)
    cache_dir.mkdir(parents=True, exist_ok=True)
    done = warm()
    print(f"numba cache {cache_dir}: {done}; {cached_files(cache_dir)} cache files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
