"""``rightsizer simulate``: write a realistic GPU cluster dataset with its ground truth."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from store.errors import UserError

NAME = "simulate"
HELP = "write a simulated GPU cluster as a v1 dataset, with truth.json and the workload manifests"
DESCRIPTION = """\
Simulate a Kubernetes GPU cluster on AWS (p5/p4d/p4de/g6e/g6/g5/g4dn and m7i nodes, on-demand and spot)
and write what rightsizer-agent would have recorded there: the gpu, container, pods and nodes tables of
dataset format v1, and the tokens table of its LLM servers (what a Prometheus import of their metrics
gives). Next to the data it writes ROOT/truth.json (each workload's behaviour, the actions a
correct optimizer proposes for it, and the true numbers of its data) and ROOT/manifests/ (the
Deployments, StatefulSets, Jobs and CronJobs as applied). Same arguments, same data. See docs/simulator.md.
"""
EPILOG = """\
examples:
  rightsizer simulate --out ./sim                                # 20 nodes, 7 days, 60 s samples
  rightsizer simulate --out ./big --nodes 360 --days 7 --interval-s 10 --seed 7   # ~1,000 GPUs
  rightsizer simulate --out ./sim --start 2026-01-05 --force     # fixed window, replace ./sim
  rightsizer simulate --out ./eu --region eu-west-1              # nodes in eu-west-1a/b/c
  rightsizer simulate --out ./tiny --nodes 4 --days 2            # the first four recipes; the rest left out
"""

OUTPUTS = ("gpu", "container", "pods", "nodes", "tokens", "manifests", "truth.json")
MAX_NODES = 5000
MAX_DAYS = 92


def add_arguments(p) -> None:
    # Numbers are parsed in run() so that a bad value gets the CLI's one-line error and exit code 2.
    p.add_argument("--out", required=True, metavar="ROOT", help="dataset root: a local folder or s3://bucket/prefix")
    p.add_argument("--nodes", default="20", metavar="N",
                   help="nodes in the cluster, the spike day's extra nodes included (default 20; from 12 every "
                        "behaviour appears; fewer keep the behaviours that fit and list the rest as left out)")
    p.add_argument("--region", default="us-east-1", metavar="R",
                   help="AWS region of the nodes (the nodes table's region and zones, node labels and names; "
                        "default us-east-1). Prices are the catalog's, looked up by recommend in that region")
    p.add_argument("--days", default="7", metavar="D", help=f"days to simulate (default 7, at most {MAX_DAYS})")
    p.add_argument("--interval-s", default="60", metavar="S",
                   help="seconds between samples; must divide a day (default 60; the agent's default is 1)")
    p.add_argument("--seed", default="1", metavar="K", help="random seed: same seed, same data (default 1)")
    p.add_argument("--start", metavar="DATE",
                   help="first UTC day, e.g. 2026-01-05 (default: a Monday, whole weeks before the current week)")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty ROOT, replacing a previous simulation's tables, manifests and truth")
    p.add_argument("--workers", default=None, metavar="W", help="threads (default: CPU count, at most 4)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")


def _int(value: str | None, flag: str, lo: int, hi: int) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise UserError(f"{flag}: '{value}' is not a whole number") from None
    if not lo <= n <= hi:
        raise UserError(f"{flag}: {n} is out of range ({lo}..{hi})")
    return n


def _check_out(out: str, force: bool) -> None:
    """Refuse a non-empty ROOT unless --force; with --force remove only what a simulation writes."""
    if out.startswith("s3://"):
        from store.location import open_location

        if open_location(out).list_files() and not force:
            raise UserError(f"--out: {out} is not empty; pass --force to write over it")
        return
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out: {out} exists and is not a folder")
    entries = sorted(os.listdir(out)) if os.path.isdir(out) else []
    if entries and not force:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise UserError(f"--out: {out} is not empty ({shown}); pass --force to replace a previous simulation there")
    for name in OUTPUTS:
        path = os.path.join(out, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def run(args) -> int:
    from datetime import UTC

    from simulator import build_plan, chunks, default_start, simulate
    from store.reader import parse_time

    days = _int(args.days, "--days", 1, MAX_DAYS)
    nodes = _int(args.nodes, "--nodes", 1, MAX_NODES)  # build_plan says how many every behaviour needs
    interval = _int(args.interval_s, "--interval-s", 1, 3600)
    if 86_400 % interval:
        raise UserError(f"--interval-s: {interval} does not divide a day (86400 s); try 1, 10, 15, 30, 60 or 300")
    seed = _int(args.seed, "--seed", 0, 2**32 - 1)
    workers = _int(args.workers, "--workers", 1, 64) if args.workers is not None else None
    if args.start:
        start = parse_time(args.start, "start")
        if (start.hour, start.minute, start.second, start.microsecond) != (0, 0, 0, 0):
            raise UserError(f"--start: '{args.start}' is not midnight UTC; give a date such as 2026-01-05")
    else:
        start = default_start(days)
    from simulator.shapes import check_region

    region = check_region(getattr(args, "region", None) or "us-east-1")
    plan = build_plan(nodes, days, interval, seed, start.astimezone(UTC), region)
    _check_out(args.out, args.force)

    show = args.progress if args.progress is not None else sys.stderr.isatty()
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("node-days"),
                            TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        with progress:
            task = progress.add_task("simulate", total=chunks(plan))
            result = simulate(args.out, nodes=nodes, days=days, interval_s=interval, seed=seed, plan=plan,
                              workers=workers, on_chunk=lambda: progress.advance(task))
    else:
        result = simulate(args.out, nodes=nodes, days=days, interval_s=interval, seed=seed, plan=plan,
                          workers=workers)
    _summary(result, args.out)
    for item in plan.left_out:  # on stderr: what a user asked for did not all fit
        print(f"left out: {item.describe()}", file=sys.stderr)
    return 0


def _summary(result, out: str) -> None:
    plan, rows = result.plan, result.counts.rows
    out = out.rstrip("/")
    truth = result.truth
    print(f"simulated {len(plan.nodes)} nodes ({plan.gpu_count} GPUs) and {len(plan.workloads)} workloads, "
          f"{plan.days} day(s) at {plan.interval_s} s: {truth['start']} .. {truth['end']}")
    print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()) + f" ({result.counts.files:,} files)")
    behaviours: dict[str, int] = {}
    for w in truth["workloads"]:
        behaviours[w["behaviour"]] = behaviours.get(w["behaviour"], 0) + 1
    print("  behaviours: " + ", ".join(f"{b} {n}" for b, n in sorted(behaviours.items())))
    if truth["spike"]:
        s = truth["spike"]
        print(f"  cost spike: team {s['team']} on {s['date']} ({s['factor']:.1f}x its usual daily cost)")
    print(f"wrote {out}/ (data), {out}/truth.json, {out}/manifests/ in {result.seconds:.1f} s")
