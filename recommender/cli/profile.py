"""``rightsizer profile``: time-weighted utilization profiles per workload (or pod, container, GPU, node)."""

from __future__ import annotations

import argparse
import os
import sys

from store.errors import UserError

NAME = "profile"
HELP = "time-weighted percentiles of GPU/CPU/memory use per workload (or pod, container, GPU, node)"
DESCRIPTION = """\
Read a v1 dataset partition by partition and summarise each entity's usage over the window:
p50/p90/p95/p99/max/mean, idle fraction (activity below 5 %), seconds and samples, plus duty cycle
and bursts. Percentiles are time-weighted and reported as the upper edge of a fine histogram bin
(0.5 % for utilization, <= 1.6 % relative for bytes and cores): never below the exact value.

Metrics: gpu_util, sm_active (only where the GPU reports it), gpu_activity (sm_active where present,
else gpu_util; the activity_source column says which), gpu_mem_bytes (per pod: summed over its GPUs
at each instant), cpu_cores and mem_bytes (per pod: summed over its containers at each instant).
A workload row pools the per-pod series of all its pods: it describes a typical pod."""
EPILOG = """\
examples:
  rightsizer profile --data ./week                          table of every workload
  rightsizer profile --data s3://bucket/rightsizer --start 2026-01-05 --end 2026-01-12 --out profiles.parquet
  rightsizer profile --data ./week --entity gpu --out gpus.csv
  rightsizer profile --data ./week -o json | jq '.[] | select(.metric == "gpu_activity")'
  rightsizer profile --data ./week --engine dask --scheduler tcp://scheduler:8786 --out profiles.json

output columns (--out): the entity key (workload: namespace, kind, name), metric, p50, p90, p95, p99,
max, mean, idle_fraction, seconds, samples, duty_cycle, burst_count, mean_burst_s, max_idle_run_s,
activity_source. Formats by extension: .parquet, .csv, .json (records). Without --out, -o picks what is
printed: a table (its "hours" column is the row's sampled time: pod-hours for a workload, which pools
its pods; GPU-hours for a GPU), or the same rows as json, yaml or csv.

A dataset without a pods table (an agent run with --no-kubernetes) has no workloads, pods or
containers: profile it with --entity gpu or --entity node."""

FORMATS = (".parquet", ".csv", ".json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="ROOT", help="dataset root: a folder or s3://bucket/prefix")
    p.add_argument("--start", metavar="ISO", help="window start, inclusive (e.g. 2026-01-05 or 2026-01-05T00:00Z)")
    p.add_argument("--end", metavar="ISO", help="window end, exclusive")
    p.add_argument("--out", metavar="FILE", help="write .parquet, .csv or .json; omit to print a table")
    p.add_argument("--entity", default="workload", choices=["workload", "pod", "container", "gpu", "node"],
                   help="what one row describes (default: workload)")
    p.add_argument("--engine", default="local", choices=["local", "dask"],
                   help="local threads (default) or a dask.distributed cluster (pip install 'rightsizer[dask]')")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="dask scheduler address (tcp://host:8786); default: a local cluster")
    p.add_argument("--threads", type=int, metavar="N", help="aggregation threads (default: the CPUs available)")
    from recommender.cli.output import add_output_flag

    add_output_flag(p, what="the profiles when there is no --out (json and yaml: a list of rows)")


def run(args: argparse.Namespace) -> int:
    if args.out and not args.out.lower().endswith(FORMATS):
        raise UserError(f"--out: '{args.out}' must end in .parquet, .csv or .json")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads: {args.threads} must be at least 1")
    if args.scheduler and args.engine != "dask":
        raise UserError("--scheduler needs --engine dask")
    if args.out and args.output != "table":
        raise UserError(f"--out {args.out} and -o {args.output}: pick one (--out writes a file in the format of "
                        "its extension, -o prints to stdout)")
    from optimizer.profiles import compute_profiles
    from store.reader import Dataset

    dataset = Dataset(args.data)
    needs_pods = args.entity in POD_ENTITIES
    has_pods = "pods" in dataset.tables()
    if args.entity == "workload" and not has_pods and dataset.tables():
        raise UserError(NO_PODS.format(root=args.data))
    profiles = compute_profiles(dataset, start=args.start, end=args.end, entity=args.entity,
                                threads=args.threads, engine=args.engine, scheduler=args.scheduler,
                                progress=sys.stderr.isatty() and args.output == "table")
    frame = profiles.to_frame()
    if frame.empty and needs_pods and not has_pods:  # pods and containers are only known from the pods table
        raise UserError(NO_PODS.format(root=args.data))
    if args.out:
        write_frame(frame, args.out)
        print(f"wrote {len(frame)} rows ({len(profiles.keys())} {args.entity}s) to {args.out}", file=sys.stderr)
    elif args.output == "table":
        print_table(frame, profiles)
    else:
        _print_rows(frame, args.output)
    return 0


POD_ENTITIES = ("workload", "pod", "container")
NO_PODS = ("--data: {root} has no pods table: use --entity gpu (or --entity node); workloads, pods and "
           "containers come from the pods table, which the agent writes when it runs with Kubernetes")
# What one row's "seconds" adds up, for the table's header: a workload pools the series of its pods.
HOURS_LABEL = {"workload": "pod-hours", "pod": "hours", "container": "hours", "gpu": "GPU-hours",
               "node": "hours"}


def _print_rows(frame, fmt: str) -> None:
    from recommender.cli.output import write_document

    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    # NaN is not JSON; pandas' own JSON writer turns it into null, and the records parse back
    import json

    write_document(json.loads(frame.to_json(orient="records")), fmt)


def write_frame(frame, path: str) -> None:
    """Write atomically (temp name, then rename): a failed run never leaves half a file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    lower = path.lower()
    try:
        if lower.endswith(".parquet"):
            frame.to_parquet(tmp, index=False)
        elif lower.endswith(".csv"):
            frame.to_csv(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", indent=1)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"--out: cannot write '{path}' ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def print_table(frame, profiles) -> None:
    from rich.console import Console
    from rich.table import Table

    start, end = profiles.window
    span = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC" if start and end else "no data"
    table = Table(title=f"{profiles.entity} profiles, {span}", title_justify="left")
    key_cols = list(frame.columns[:frame.columns.get_loc("metric")])
    for c in [*key_cols, "metric", "p50", "p95", "p99", "max", "mean", "idle", HOURS_LABEL.get(profiles.entity, "hours")]:
        table.add_column(c, justify="left" if c in key_cols or c == "metric" else "right")
    for row in frame.itertuples(index=False):
        d = row._asdict()
        metric = d["metric"]
        label = metric + (f" ({d['activity_source']})" if metric == "gpu_activity" and d["activity_source"] else "")
        table.add_row(*(str(d[c]) for c in key_cols), label,
                      *(_fmt(metric, d[c]) for c in ("p50", "p95", "p99", "max", "mean")),
                      "" if d["idle_fraction"] != d["idle_fraction"] else f"{d['idle_fraction']:.0%}",
                      format_hours(d["seconds"]))
    if frame.empty:
        table.caption = "no samples in this window"
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def format_hours(seconds: float) -> str:
    """Sampled seconds as hours: three decimals below an hour (a one-minute agent run is 0.017, not 0.0)."""
    hours = float(seconds) / 3600
    return f"{hours:.3f}" if hours < 1 else f"{hours:,.1f}"


def _fmt(metric: str, v: float) -> str:
    if v != v:
        return "-"
    if metric.endswith("bytes"):
        for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if v >= size:
                return f"{v / size:.1f} {unit}"
        return f"{v:.0f} B"
    if metric == "cpu_cores":
        return f"{v:.2f}"
    return f"{v:.1%}"
