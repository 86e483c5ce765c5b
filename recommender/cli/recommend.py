"""``rightsizer recommend``: profiles → recommendations with dollars, written to a folder, top savings shown."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from store.errors import UserError

NAME = "recommend"
HELP = "recommend cheaper shapes (requests, GPU model, MIG, sharing, spot, scale-to-zero, consolidation)"
DESCRIPTION = """\
Read a v1 dataset (written by rightsizer-agent or rightsizer simulate), profile every workload, and
write DIR/recommendations.json: one coherent proposal per workload (right-sized requests, a cheaper GPU
model or instance type, a MIG slice or a shared GPU, spot for restartable work, scale-to-zero for bursty
inference, reclaiming idle GPUs), GPUs allocated to nobody per node, and the cheapest node mix for the
whole cluster from the CP-SAT solver. Each one carries its monthly cost now and proposed, a confidence,
a risk and a rationale with the measured numbers. Policies per value class (production, experimental,
background) come from optimizer/config.py; see docs/recommendations.md.
"""
EPILOG = """\
examples:
  rightsizer recommend --data ./sim --out ./report
  rightsizer recommend --data s3://bucket/rightsizer --out s3://bucket/reports/2026-w02 --region eu-west-1
  rightsizer recommend --data ./sim --out ./report --start 2026-01-05 --end 2026-01-12 --top 20
  rightsizer recommend --prometheus http://prometheus:9090 --out ./report          # last 7 days
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="ROOT", help="dataset root: a local folder or s3://bucket/prefix")
    p.add_argument("--prometheus", metavar="URL", help="instead of --data: import the window (default the last "
                   "7 days) from this Prometheus-compatible server into a cache folder first (docs/prometheus.md)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder, replaced as a whole by each run (or s3://bucket/prefix: written locally, "
                        "uploaded under a staging prefix, then published)")
    p.add_argument("--config", metavar="FILE", help="rightsizer config file (YAML): labels, value-class policies, budgets")
    p.add_argument("--catalog", metavar="FILE", help="instance catalog file (default: the bundled AWS snapshot)")
    p.add_argument("--region", metavar="R", help="AWS region for prices when the nodes table does not say "
                                                  "(default: the config's, else us-east-1)")
    p.add_argument("--start", metavar="ISO", help="window start (inclusive), e.g. 2026-01-05")
    p.add_argument("--end", metavar="ISO", help="window end (exclusive)")
    p.add_argument("--top", default="10", metavar="N", help="rows in the terminal table of top savings (default 10)")
    p.add_argument("--solver-seconds", default="20", metavar="S",
                   help="time limit of the consolidation solver's first stage (default 20)")
    p.add_argument("--no-consolidate", action="store_true", help="skip the cluster-wide node-mix solve")
    p.add_argument("--engine", default="local", choices=["local", "dask"],
                   help="where the profiles run: this machine's threads (default) or a dask.distributed cluster")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="dask scheduler address (tcp://host:8786) for --engine dask; default: a local cluster")
    p.add_argument("--refresh-prices", action="store_true",
                   help="first fetch live shapes and prices (AWS Price List and spot history, through boto3) for "
                        "every region the nodes table names; needs the IAM actions in docs/deploy.md")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress (default: when stderr is a terminal)")
    from recommender.cli.importer import add_prometheus_arguments
    from recommender.outputs.cli import add_output_arguments

    add_prometheus_arguments(p, required=False)
    add_output_arguments(p)


def _number(value: str, flag: str, kind=int, lo: float = 0):
    try:
        n = kind(str(value).strip())
    except ValueError:
        raise UserError(f"{flag}: '{value}' is not a {'whole ' if kind is int else ''}number") from None
    if n != n or n in (float("inf"), float("-inf")):
        raise UserError(f"{flag}: '{value}' is not a finite number")
    if n < lo:
        raise UserError(f"{flag}: {n} must be at least {lo}")
    return n


def _optimizer_config(args, file_config):
    """The optimizer's config: the config file's region, labels and value-class policies; --region and
    --solver-seconds on top."""
    from optimizer.config import SolverConfig
    from recommender.config import optimizer_config

    solver = SolverConfig(stage1_time_s=_number(args.solver_seconds, "--solver-seconds", float, 1),
                          num_workers=max(1, min(8, os.cpu_count() or 1)))
    return optimizer_config(file_config, region=args.region, solver=solver)


def run(args, *, profiles=None, containers=None) -> int:
    """``profiles`` / ``containers``: workload / container profiles already computed over the same data and
    window (the demo's)."""
    from optimizer.costing import CostModel
    from optimizer.inventory import InventoryScan
    from optimizer.profiles import compute_profiles, compute_profiles_many
    from optimizer.recommend import build_recommendations
    from optimizer.scan import SmallTablesOnce
    from recommender.allocation import allocate
    from recommender.allocation.engine import AllocationScan
    from recommender.config import load_config
    from recommender.outputs import write_outputs
    from recommender.outputs.cli import build_context, load_catalog, manifests_dir_for, notify_url
    from recommender.outputs.target import OutputTarget
    from store.reader import Dataset, parse_time

    if bool(args.data) == bool(getattr(args, "prometheus", None)):
        raise UserError("recommend: give exactly one of --data ROOT or --prometheus URL")
    if getattr(args, "prometheus", None):  # import into the cache folder, then recommend on it (resumes: only new chunks)
        from recommender.cli.importer import import_for_recommend

        args.data, args.start, args.end = import_for_recommend(args)
    top = _number(args.top, "--top", int, 0)
    engine, scheduler = getattr(args, "engine", "local"), getattr(args, "scheduler", None)
    if scheduler and engine != "dask":
        raise UserError("--scheduler needs --engine dask")
    start, end = parse_time(args.start, "start"), parse_time(args.end, "end")
    if start and end and start >= end:
        raise UserError(f"--start ({start.isoformat()}) must be before --end ({end.isoformat()})")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    # Every check of the arguments before the computation: a bad --out or --notify is exit 2 at once.
    target = OutputTarget(args.out)
    target.check()
    manifests_dir_for(args.data, getattr(args, "manifests", None))
    dataset = SmallTablesOnce(Dataset(args.data))  # pods and nodes: read and validated once per run
    missing = [t for t in ("pods", "nodes") if t not in dataset.tables()]
    if missing:
        raise UserError(f"--data: {args.data} has no {' or '.join(missing)} table (is it a rightsizer dataset root?)")

    file_config = load_config(args.config)
    notify = notify_url(args, file_config)
    catalog = load_catalog(args.catalog, file_config)
    cfg = _optimizer_config(args, file_config)
    say = (lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None)
    if getattr(args, "refresh_prices", False):
        catalog = _refreshed(catalog, dataset, end, cfg.region, say)
    costs = CostModel(catalog, cfg.region)
    inventory = allocation = None
    if profiles is None:
        # one read of every sample partition: both profile levels, the observed cluster and the cost
        # allocation (with the same cost model as the recommendations) are fed from it (optimizer/scan.py)
        say("profiling workloads and containers, attributing cost")
        observed = InventoryScan(dataset, start, end, cfg.value_class, cfg.labels)
        charged = AllocationScan(dataset, catalog, file_config, start=start, end=end, cost_model=costs)
        both = compute_profiles_many(dataset, entities=("workload", "container"), start=start, end=end,
                                     progress=progress, taps=(observed, charged), engine=engine,
                                     scheduler=scheduler, owners=observed.pod_workload)
        profiles, containers = both["workload"], both["container"]
        inventory, allocation = observed.finish(), charged.result()
    elif containers is None:
        say("profiling containers")
        containers = compute_profiles(dataset, start=start, end=end, entity="container", progress=progress)
    if allocation is None:
        # each workload's current cost is its allocated cost (recommender/allocation/SPEC.md)
        say("attributing cost")
        allocation = allocate(dataset, catalog, file_config, start=start, end=end, cost_model=costs)
    window_h = allocation.window_days * 24
    say("deciding")
    result = build_recommendations(dataset, profiles, catalog, cfg, container_profiles=containers, start=start,
                                   end=end, consolidate_cluster=not args.no_consolidate, cost_model=costs,
                                   inventory=inventory, allocated_costs=allocation.workload_costs(),
                                   allocated_monthly_cost=round(allocation.total_cost / window_h * 730, 2)
                                   if window_h else 0.0, nodes_seen=allocation.nodes_seen)
    # What the readers set aside or could not place (repeated rows, skewed clocks, unknown pods).
    result.notes.extend(n for n in dataset.integrity.notes() if n not in result.notes)

    # Written into a staging folder; the set replaces the previous one only once all of it is there.
    with target as out_dir:
        ctx = build_context(args, dataset=dataset, catalog=catalog, config=file_config, out_dir=Path(out_dir),
                            result=result, allocation=allocation, profiles=profiles, start=start, end=end,
                            progress=say, published_dir=args.out, notify=notify)
        staged = write_outputs(ctx)
    written = [] if target.is_s3 else [Path(target.final_path(p)) for p in staged]
    if ctx.delivery is not None and not ctx.delivery.delivered:
        print(f"warning: {ctx.delivery.describe()}", file=sys.stderr)
    print_table(result, top, written)
    if target.is_s3:
        print(f"published {len(target.uploaded)} files to {args.out.rstrip('/')}/ (manifest.json last)")
    return 0


def _refreshed(catalog, dataset, end, default_region: str, say):
    """The catalog with every region of the nodes table refreshed from the AWS APIs (``catalog refresh``)."""
    import pyarrow.compute as pc

    from optimizer.catalog.refresh import refresh_region

    column = dataset.read("nodes", None, end, columns=["region"]).column("region")
    regions = sorted({r for r in pc.unique(column).to_pylist() if r}) or [default_region]
    for region in regions:
        say(f"refreshing prices for {region} from the AWS APIs")
        catalog = refresh_region(region, base=catalog, log=say)
    return catalog


def print_table(result, top: int, written: list[Path]) -> None:
    from rich.console import Console
    from rich.table import Table

    from recommender.report.format import bill_sentence, usd

    console = Console() if sys.stdout.isatty() else Console(width=160)
    summary = result.summary()
    table = Table(title=f"Top savings ({summary['recommendations']} recommendations)", show_lines=False)
    for col, justify in (("action", "left"), ("workload", "left"), ("team", "left"), ("now $/mo", "right"),
                         ("proposed $/mo", "right"), ("showback $/mo", "right"), ("bill $/mo", "right"),
                         ("risk", "left"), ("conf.", "right")):
        table.add_column(col, justify=justify, overflow="fold")
    for r in result.recommendations[:top]:
        who = f"{r.namespace}/{r.kind}/{r.name}" if r.namespace else f"{r.kind}/{r.name}"
        table.add_row(r.action, who, r.team or "-", f"{r.monthly_cost_current:,.0f}",
                      f"{r.monthly_cost_proposed:,.0f}", f"{r.monthly_savings:,.0f}", f"{r.monthly_bill_savings:,.0f}",
                      r.risk, f"{r.confidence:.2f}")
    if top:
        console.print(table)
    # monthly_cost: the nodes' cost over the window at a 730-hour month (report.md's "per month at this rate")
    console.print(f"cluster node cost {usd(summary['monthly_cost'])} per month; node bill savings "
                  f"{bill_sentence(summary)}", highlight=False)
    for note in summary.get("notes", []):
        console.print(f"note: {note}")
    # one line per file, except the suggestion patches: one line for their folder
    folders: dict[Path, int] = {}
    for path in written:
        if path.parent.name == "suggestions":
            folders[path.parent] = folders.get(path.parent, 0) + 1
        else:
            console.print(f"wrote {path}", highlight=False)
    for folder, count in folders.items():
        console.print(f"wrote {folder}{os.sep} ({count} files: YAML patches, kustomization.yaml, README.md)",
                      highlight=False)
