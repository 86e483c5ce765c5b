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
  rightsizer recommend --data ./sim --out ./report -o json | jq .summary.monthly_savings
  rightsizer recommend --data /var/lib/rightsizer/data --out ./report --list-autoscalers   # in a pod
  rightsizer recommend --data ./sim --out ./report --list-autoscalers --kubeconfig ~/.kube/prod

Progress: one line per stage on stderr (also in a CronJob's log), bars on a terminal; --no-progress
silences both. -o picks the terminal summary's format (the files in DIR are the same either way).

Autoscalers: with --list-autoscalers the HorizontalPodAutoscalers (autoscaling/v2) and KEDA ScaledObjects
(keda.sh/v1alpha1) of every namespace are listed first (read-only list calls; in a pod the service
account, else --kubeconfig or $KUBECONFIG or ~/.kube/config) and appended to the dataset's autoscalers
table, so a later run on the same data knows them too. Needs list on horizontalpodautoscalers.autoscaling
and scaledobjects.keda.sh (the Helm chart grants exactly that to the report job). A listing that fails
is a warning and a note in the report, not a failed run. Without the flag the dataset's latest listing
is used, if it has one.
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
    p.add_argument("--list-autoscalers", action="store_true",
                   help="first list HPAs and KEDA ScaledObjects from the Kubernetes API and append them to the "
                        "dataset's autoscalers table (see below)")
    p.add_argument("--kubeconfig", metavar="FILE",
                   help="kubeconfig for --list-autoscalers outside a pod (default: $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal); a line per stage on stderr is "
                        "shown either way unless --no-progress")
    from recommender.cli.importer import add_prometheus_arguments
    from recommender.cli.output import add_output_flag

    add_output_flag(p, what="the summary (the top savings, the totals and the files written)")
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
    from optimizer.demand import CONTAINER_PROFILE_TABLES
    from optimizer.inventory import InventoryScan
    from optimizer.llm.usage import read_tokens, serving_usage
    from optimizer.profiles import compute_profiles, compute_profiles_many
    from optimizer.recommend import build_recommendations
    from optimizer.replicas import BusyReplicas, tap_for
    from optimizer.scan import SmallTablesOnce, meanwhile, tap_columns
    from recommender.allocation import allocate
    from recommender.allocation.engine import AllocationScan
    from recommender.config import load_config
    from recommender.outputs import write_outputs
    from recommender.outputs.cli import (
        build_context,
        load_catalog,
        manifests_dir_for,
        notify_required,
        notify_url,
    )
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
    progress = sys.stderr.isatty() if args.progress is None else args.progress  # bars
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
    required = notify_required(args, file_config, notify)
    catalog = load_catalog(args.catalog, file_config)
    cfg = _optimizer_config(args, file_config)
    # one line per stage on stderr, also when not on a terminal (a CronJob's log shows where a run is)
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if args.progress is not False else (lambda m: None)
    if getattr(args, "refresh_prices", False):
        catalog = _refreshed(catalog, dataset, end, cfg.region, say)
    costs = CostModel(catalog, cfg.region)
    listing = _list_autoscalers(args, say)
    # the tokens table's summaries are summed on a thread of their own meanwhile: the scan's threads
    # leave some of the two cores idle (docs/recommendations.md, the one read)
    serving = meanwhile(lambda: serving_usage(read_tokens(dataset, start, end)))
    inventory = allocation = replica_use = None
    if profiles is None:
        # one read of every sample partition: both profile levels, the observed cluster and the cost
        # allocation (with the same cost model as the recommendations) are fed from it (optimizer/scan.py)
        say("profiling workloads and containers, attributing cost")

        def observe():  # the change logs (pods, nodes): read while the scan reads its first partitions
            observed = InventoryScan(dataset, start, end, cfg.value_class, cfg.labels)
            charged = AllocationScan(dataset, catalog, file_config, observed=observed, start=start, end=end,
                                     cost_model=costs)
            busy = tap_for(observed, cfg.decisions)  # replicas busy at once, for set-replicas
            return observed.pod_workload, (observed, charged, busy)

        observing = meanwhile(observe)
        both = compute_profiles_many(dataset, entities=("workload", "container"), start=start, end=end,
                                     progress=progress, engine=engine, scheduler=scheduler,
                                     tables=CONTAINER_PROFILE_TABLES, later=observing,
                                     later_columns=tap_columns(InventoryScan, AllocationScan, BusyReplicas))
        observed, charged, busy = observing.result()[1]
        profiles, containers = both["workload"], both["container"]
        inventory, allocation = observed.finish(), charged.result()
        replica_use = busy.finish()
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
                                   if window_h else 0.0, nodes_seen=allocation.nodes_seen, replica_use=replica_use,
                                   autoscalers=listing.by_target if listing else None, serving=serving.result())
    if listing is not None and listing.note:
        result.notes.append(listing.note)
    # What the readers set aside or could not place (repeated rows, skewed clocks, unknown pods).
    result.notes.extend(n for n in dataset.integrity.notes() if n not in result.notes)

    # Written into a staging folder; the set replaces the previous one only once all of it is there.
    with target as out_dir:
        ctx = build_context(args, dataset=dataset, catalog=catalog, config=file_config, out_dir=Path(out_dir),
                            result=result, inventory=result.inventory, allocation=allocation, profiles=profiles,
                            start=start, end=end, progress=say, published_dir=args.out, notify=notify)
        staged = write_outputs(ctx)
    written = [] if target.is_s3 else [Path(target.final_path(p)) for p in staged]
    if ctx.delivery is not None and not ctx.delivery.delivered:
        print(f"warning: {ctx.delivery.describe()}", file=sys.stderr)
    fmt = getattr(args, "output", "table")
    print_summary(result, top, written, fmt)
    if target.is_s3:  # on stderr under -o json|yaml|csv, so stdout stays one parseable document
        print(f"published {len(target.uploaded)} files to {args.out.rstrip('/')}/ (manifest.json last)",
              file=sys.stdout if fmt == "table" else sys.stderr)
    if ctx.delivery is not None and not ctx.delivery.delivered and required:
        return DELIVERY_FAILED
    return 0


def _list_autoscalers(args, say):
    """``--list-autoscalers``: the listing, recorded in the dataset; None without the flag."""
    if not getattr(args, "list_autoscalers", False):
        if getattr(args, "kubeconfig", None):
            raise UserError("--kubeconfig needs --list-autoscalers")
        return None
    from recommender.autoscalers import record_listing

    say("listing HorizontalPodAutoscalers and KEDA ScaledObjects")
    listing = record_listing(args.data, kubeconfig=args.kubeconfig)
    if listing.note:
        print(f"warning: {listing.note}", file=sys.stderr)
    else:
        say(f"{len(listing.by_target)} autoscalers listed, recorded in {args.data.rstrip('/')}/autoscalers")
    return listing


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


DELIVERY_FAILED = 3  # --notify-required: every file is written, the webhook did not take the alerts


SUMMARY_COLUMNS = ("id", "action", "namespace", "kind", "name", "team", "monthly_cost_current",
                   "monthly_cost_proposed", "monthly_savings", "monthly_bill_savings", "risk", "confidence")


def print_summary(result, top: int, written: list[Path], fmt: str) -> None:
    """The terminal summary: a table for people, or the same top rows, totals and paths for scripts."""
    if fmt == "table":
        print_table(result, top, written)
        return
    from recommender.cli.output import write_csv, write_document

    rows = [{"id": r.id, "action": r.action, "namespace": r.namespace, "kind": r.kind, "name": r.name,
             "team": r.team, "monthly_cost_current": r.monthly_cost_current,
             "monthly_cost_proposed": r.monthly_cost_proposed, "monthly_savings": r.monthly_savings,
             "monthly_bill_savings": r.monthly_bill_savings, "risk": r.risk, "confidence": r.confidence}
            for r in result.recommendations[:top]]
    if fmt == "csv":
        write_csv(rows, SUMMARY_COLUMNS)
    else:
        write_document({"summary": result.summary(), "top": rows, "written": [str(p) for p in written]}, fmt)


def print_table(result, top: int, written: list[Path]) -> None:
    from rich.console import Console
    from rich.table import Table

    from recommender.report.format import bill_sentence, usd

    console = Console() if sys.stdout.isatty() else Console(width=160)
    table = Table(title=f"Top savings ({len(result.recommendations)} recommendations)", show_lines=False)
    for col, justify in (("action", "left"), ("workload", "left"), ("team", "left"), ("now /mo", "right"),
                         ("proposed /mo", "right"), ("showback /mo", "right"), ("bill /mo", "right"),
                         ("risk", "left"), ("conf.", "right")):
        table.add_column(col, justify=justify, overflow="fold")
    for r in result.recommendations[:top]:
        who = f"{r.namespace}/{r.kind}/{r.name}" if r.namespace else f"{r.kind}/{r.name}"
        table.add_row(r.action, who, r.team or "-", usd(r.monthly_cost_current), usd(r.monthly_cost_proposed),
                      usd(r.monthly_savings), usd(r.monthly_bill_savings), r.risk, f"{r.confidence:.2f}")
    if top:
        console.print(table)
    # monthly_cost: the nodes' cost over the window at a 730-hour month (report.md's "per month at this rate")
    console.print(f"cluster node cost {usd(result.monthly_cost)} per month; node bill savings "
                  f"{bill_sentence(result)}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}")
    # one line per file, except the suggestion patches: one line for their folder
    folders: dict[Path, list[Path]] = {}
    for path in written:
        if path.parent.name == "suggestions":
            folders.setdefault(path.parent, []).append(path)
        else:
            console.print(f"wrote {path}", highlight=False)
    for folder, files in folders.items():
        console.print(f"wrote {folder}{os.sep} ({suggestions_summary(files)})", highlight=False)


SUGGESTION_EXTRAS = ("kustomization.yaml", "README.md")


def suggestions_summary(files) -> str:
    """``7 YAML patches + kustomization.yaml + README.md``: the same words and count everywhere (the demo
    counts the folder with it too), the patches counted without the two files beside them."""
    names = {Path(f).name for f in files}
    patches = sum(1 for n in names if n.endswith(".yaml") and n not in SUGGESTION_EXTRAS)
    extras = [n for n in SUGGESTION_EXTRAS if n in names]
    return " + ".join([f"{patches} YAML patch{'es' if patches != 1 else ''}", *extras])
