"""Simulator throughput: a week of about 1,000 GPUs at 10 s sampling (the issue's target: under 5 minutes).

    python benchmarks/simulate_bench.py                      # full size: ~133 M rows, ~1.4 GB on disk
    python benchmarks/simulate_bench.py --gpus 100 --days 1  # quick look

"1,000 GPUs" counts GPUs that run all week; the spike day's extra nodes come on top. Prints wall time,
rows per table, rows/s, the process's CPU time and the load average (the machine may be shared: CPU time
says what the run itself cost). The output folder is removed afterwards unless --keep or --out.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from simulator import build_plan, min_nodes, simulate  # noqa: E402


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def steady_gpus(plan) -> int:
    """GPUs on nodes that run the whole window (the spike day's extra nodes come on top)."""
    return sum(len(n.gpu_uuids) for n in plan.nodes if n.start_s <= plan.start_s and n.end_s >= plan.end_s)


def nodes_for_gpus(gpus: int, days: int, interval_s: int, seed: int, start: datetime) -> int:
    """The smallest --nodes whose cluster runs at least ``gpus`` GPUs all week (plans are cheap to build)."""
    lo, hi = min_nodes(days), min_nodes(days)
    while steady_gpus(build_plan(hi, days, interval_s, seed, start)) < gpus:
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if steady_gpus(build_plan(mid, days, interval_s, seed, start)) >= gpus:
            hi = mid
        else:
            lo = mid + 1
    return hi


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpus", type=int, default=1000, help="GPUs in the cluster (default 1000)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--interval-s", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None, help="threads (default: CPU count, at most 4)")
    ap.add_argument("--out", help="output folder (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the output")
    args = ap.parse_args(argv)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    nodes = nodes_for_gpus(args.gpus, args.days, args.interval_s, args.seed, start)
    out = args.out or tempfile.mkdtemp(prefix="rightsizer-simbench-")
    plan = build_plan(nodes, args.days, args.interval_s, args.seed, start)
    print(f"simulating {steady_gpus(plan)} GPUs all week (+{plan.gpu_count - steady_gpus(plan)} on the spike "
          f"day) on {nodes} nodes, {args.days} days at {args.interval_s} s "
          f"into {out} ({os.cpu_count()} CPUs)")
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    result = simulate(out, nodes=nodes, days=args.days, interval_s=args.interval_s, seed=args.seed, plan=plan,
                      workers=args.workers)
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    rows = sum(result.counts.rows.values())
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    for table, n in result.counts.rows.items():
        print(f"  {table:<10} {n:>13,} rows")
    print(f"  {result.counts.files:,} files, {size / 1e9:.2f} GB")
    print(f"wall {wall:.1f} s  |  {rows / wall:,.0f} rows/s  |  gpu rows {result.counts.rows['gpu'] / wall:,.0f}/s"
          f"  |  CPU time {cpu:.1f} s (user+sys)  |  load average {os.getloadavg()[0]:.1f}"
          f"  |  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if not args.keep and not args.out:
        shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
