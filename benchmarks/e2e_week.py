"""End to end on a week of 1,000 GPUs at 10 s, in one run, each step a child process (wall and peak RSS):

1. a plain pyarrow scan of the columns ``recommend`` needs (gpu, container, pods, nodes tables);
2. ``rightsizer recommend`` (profiles, observed cluster, allocation, decisions, node plan, every output);
3. ``rightsizer profile`` (workload profiles);
4. an equivalent DuckDB query: per workload, percentiles, max and mean of GPU activity and GPU memory per
   pod-instant and of CPU and memory per pod-instant (the samples are all 10 s, so unweighted quantiles are
   the time-weighted ones).

    python benchmarks/e2e_week.py --data /path/to/week1000      # generate it once with profiles_bench.make_week

Prints one table with the ratios the DESIGN targets name (recommend ≤ 5× the scan and ≤ 45 s; profile ≥ 2×
faster than DuckDB; recommend peak RSS ≤ 1.5 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPU_COLS = ["ts", "interval_s", "node", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod", "container",
            "gpu_util", "sm_active", "mem_used_bytes", "mem_total_bytes"]
CONTAINER_COLS = ["ts", "interval_s", "node", "namespace", "pod", "container", "cpu_cores", "mem_bytes"]


def scan(root: str) -> dict:
    import pyarrow.dataset as ds

    rows = 0
    for table, cols in (("gpu", GPU_COLS), ("container", CONTAINER_COLS), ("pods", None), ("nodes", None)):
        d = ds.dataset(f"{root}/{table}", format="parquet", partitioning="hive")
        names = [c for c in (cols or d.schema.names) if c in d.schema.names]
        for batch in d.to_batches(columns=names):
            rows += batch.num_rows
    return {"rows": rows}


DUCKDB_SQL = """
WITH owners AS (
  SELECT namespace, pod, any_value(workload_kind) AS kind, any_value(workload_name) AS name
  FROM read_parquet('{root}/pods/**/*.parquet', hive_partitioning = false) GROUP BY namespace, pod),
g AS (
  SELECT namespace, pod, ts, avg(coalesce(sm_active, gpu_util)) AS act, sum(mem_used_bytes) AS mem
  FROM read_parquet('{root}/gpu/**/*.parquet', hive_partitioning = false) WHERE pod IS NOT NULL
  GROUP BY namespace, pod, ts),
c AS (
  SELECT namespace, pod, ts, sum(cpu_cores) AS cpu, sum(mem_bytes) AS mem
  FROM read_parquet('{root}/container/**/*.parquet', hive_partitioning = false) GROUP BY namespace, pod, ts)
SELECT o.namespace, o.kind, o.name, 'gpu' AS src,
       quantile_cont(g.act, [0.5, 0.9, 0.95, 0.99]) AS act_q, max(g.act), avg(g.act),
       quantile_cont(g.mem, [0.5, 0.9, 0.95, 0.99]) AS mem_q, max(g.mem), avg(g.mem), count(*)
FROM g JOIN owners o USING (namespace, pod) GROUP BY o.namespace, o.kind, o.name
UNION ALL
SELECT o.namespace, o.kind, o.name, 'container',
       quantile_cont(c.cpu, [0.5, 0.9, 0.95, 0.99]), max(c.cpu), avg(c.cpu),
       quantile_cont(c.mem, [0.5, 0.9, 0.95, 0.99]), max(c.mem), avg(c.mem), count(*)
FROM c JOIN owners o USING (namespace, pod) GROUP BY o.namespace, o.kind, o.name
"""


def duckdb_query(root: str, threads: int) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    out = con.execute(DUCKDB_SQL.format(root=root)).fetchall()
    return {"rows": len(out)}


def child(args: list[str], *, module: bool = False) -> tuple[float, int, str]:
    """Run ``python -m recommender ARGS`` (module) or this script in child mode; (wall s, peak RSS bytes, stdout)."""
    cmd = [sys.executable, "-m", "recommender", *args] if module else [sys.executable, __file__, *args]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
    return wall, usage.ru_maxrss * 1024, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the week dataset (profiles_bench.make_week writes one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--child", choices=("scan", "duckdb"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "scan":
        print(json.dumps(scan(a.data)))
        return
    if a.child == "duckdb":
        print(json.dumps(duckdb_query(a.data, a.threads)))
        return
    work = Path(tempfile.mkdtemp(prefix="e2e-week-"))
    r: dict = {"data": a.data, "threads": a.threads, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    for name, args, module in (
            ("scan", ["--child", "scan", "--data", a.data], False),
            ("recommend", ["recommend", "--data", a.data, "--out", str(work / "out"), "--no-progress", "--top", "0"],
             True),
            ("profile", ["profile", "--data", a.data, "--out", str(work / "profiles.parquet"), "--threads",
                         str(a.threads)], True),
            ("duckdb", ["--child", "duckdb", "--data", a.data, "--threads", str(a.threads)], False)):
        wall, rss, _ = child(args, module=module)
        r[name] = {"wall_s": round(wall, 1), "peak_rss_gib": round(rss / 2**30, 2)}
        print(name, r[name], file=sys.stderr)
    rec, sc, prof, duck = (r[k]["wall_s"] for k in ("recommend", "scan", "profile", "duckdb"))
    r["recommend_over_scan"] = round(rec / sc, 2)
    r["duckdb_over_profile"] = round(duck / prof, 2)
    lines = [f"week data {a.data}, {a.threads} threads, started {r['started']}", "",
             "| step | wall | peak RSS |", "|---|---:|---:|"]
    lines += [f"| {k} | {r[k]['wall_s']:.1f} s | {r[k]['peak_rss_gib']:.2f} GiB |"
              for k in ("scan", "recommend", "profile", "duckdb")]
    lines += ["", f"recommend / scan = {r['recommend_over_scan']:.2f}x (target ≤ 5x, ≤ 45 s; peak RSS ≤ 1.5 GiB)",
              f"DuckDB / profile = {r['duckdb_over_profile']:.2f}x (target ≥ 2x)"]
    print("\n".join(lines))
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
