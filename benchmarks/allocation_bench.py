"""Cost attribution throughput: ``allocate`` over a generated week, against reading the same columns.

    python benchmarks/allocation_bench.py                         # 1,000 GPUs, 7 days, 10 s (the end-to-end target size)
    python benchmarks/allocation_bench.py --gpus 200 --interval-s 60

Prints: rows, the time to read the gpu and container columns allocation needs (the I/O and validation
floor, same reader), the allocation time, their ratio, rows/s and peak RSS. Allocation streams one
(date, node) partition at a time, so peak RSS should not grow with the number of days.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.week_data import write_week  # noqa: E402
from optimizer.catalog import Catalog  # noqa: E402
from recommender.allocation import allocate  # noqa: E402
from recommender.allocation.engine import _CONTAINER_COLS, _GPU_COLS  # noqa: E402
from store.reader import Dataset  # noqa: E402


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpus", type=int, default=1000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--interval-s", type=int, default=10)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    root = tempfile.mkdtemp(prefix="alloc-bench-")
    try:
        t = time.perf_counter()
        write_week(root, gpus=args.gpus, days=args.days, interval_s=args.interval_s)
        print(f"generated in {time.perf_counter() - t:.1f} s: {root}")
        ds = Dataset(root)
        t = time.perf_counter()
        rows = 0
        for table, cols in (("gpu", _GPU_COLS), ("container", _CONTAINER_COLS)):
            for part in ds.iter_partitions(table, columns=cols):
                rows += part.data.num_rows
        read_s = time.perf_counter() - t
        rss_before = _rss_mib()
        t = time.perf_counter()
        result = allocate(ds, Catalog.load())
        alloc_s = time.perf_counter() - t
        print(f"rows (gpu + container): {rows:,}")
        print(f"read the same columns:  {read_s:7.1f} s")
        print(f"allocate:               {alloc_s:7.1f} s  ({alloc_s / read_s:.2f}x the read; {rows / alloc_s:,.0f} rows/s)")
        print(f"peak RSS: {_rss_mib():,.0f} MiB (before allocate: {rss_before:,.0f} MiB)")
        print(f"total cost ${result.total_cost:,.2f}, {len(result.rows)} rows")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
