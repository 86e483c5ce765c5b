"""``rightsizer validate``: check every file of a dataset and show what the agents collected."""

from __future__ import annotations

import sys

NAME = "validate"
HELP = "check a dataset against format v1 and summarise it (tables, nodes, GPUs, gaps)"
DESCRIPTION = """\
Read every file of a dataset (a local folder or s3://bucket/prefix), check it against dataset
format v1 (columns, types, time zones, NaN, negative values, partitions) and summarise what the
node agents collected: tables, rows and files, time range, nodes and instance types, GPUs by
model, workloads and pods, the share of GPU time attributed to a pod, and gaps in sampling.

Exit code 0 when every file is valid; 2 with one line naming the first bad file and column.
The dataset is streamed one date/node partition at a time, so memory stays small."""
EPILOG = """\
examples:
  rightsizer validate --data ./rightsizer-demo/data
  rightsizer validate --data s3://my-bucket/rightsizer --start 2026-01-05 --end 2026-01-12
  rightsizer validate --data s3://my-bucket/rightsizer -o json | jq .attributed_share

A gap is a hole between consecutive samples of a node (or of one GPU) longer than 2.5 times the
sampling interval: an agent restart, a node under memory pressure, or a lost GPU.
See docs/data-format.md for the format."""

TOP_GAP_NODES = 10


def add_arguments(parser) -> None:
    parser.add_argument("--data", required=True, metavar="ROOT",
                        help="dataset root: a local folder or s3://bucket/prefix (AWS credentials from the "
                             "usual chain: env, ~/.aws, IRSA)")
    parser.add_argument("--start", metavar="ISO", help="only samples at or after this UTC time (e.g. 2026-01-05)")
    parser.add_argument("--end", metavar="ISO", help="only samples before this UTC time (exclusive)")
    from recommender.cli.output import add_output_flag

    add_output_flag(parser, aliases=("--json",), what="the summary (csv: one field,value row per dotted field)")


def run(args) -> int:
    from recommender.cli.output import flatten, write_csv, write_document
    from store.errors import UserError
    from store.inspect import inspect_dataset
    from store.reader import parse_time

    start, end = parse_time(args.start, "start"), parse_time(args.end, "end")
    if start and end and start >= end:
        raise UserError(f"--start {args.start} is not before --end {args.end}")
    if args.output != "table" or not sys.stderr.isatty():
        summary = inspect_dataset(args.data, start, end)
    else:
        summary = _with_progress(inspect_dataset, args.data, start, end)
    if args.output == "table":
        _render(summary)
    elif args.output == "csv":
        write_csv(flatten(summary.to_json_dict()), ("field", "value"))
    else:
        write_document(summary.to_json_dict(), args.output)
    return 0


def _with_progress(inspect, data, start, end):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("checking partitions"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("check", total=None)
        return inspect(data, start, end, progress=lambda done, total: bar.update(task, completed=done, total=total))


def _render(s) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False)
    out.print(f"[bold]Dataset[/] {s.uri}: [green]valid[/] (format v1)")
    if s.window != (None, None):
        out.print(f"Window: {_iso(s.window[0]) or 'beginning'} to {_iso(s.window[1]) or 'end'}")
    tables = Table(title="Tables", title_justify="left")
    for col, just in (("table", "left"), ("files", "right"), ("partitions", "right"), ("rows", "right"),
                      ("first sample", "left"), ("last sample", "left")):
        tables.add_column(col, justify=just)
    for t in s.tables:
        tables.add_row(t.table, f"{t.files:,}", f"{t.partitions:,}", f"{t.rows:,}", _iso(t.first) or "-",
                       _iso(t.last) or "-")
    out.print(tables)
    span = f"{_iso(s.first)} to {_iso(s.last)} ({_duration((s.last - s.first).total_seconds())})" if s.first else "no samples"
    out.print(f"Time range: {span}")
    types = ", ".join(f"{n}× {t}" for t, n in s.instance_types.items()) or "unknown (no 'nodes' rows)"
    caps = ", ".join(f"{n} {c}" for c, n in s.capacity_types.items())
    out.print(f"Nodes: {len(s.nodes)} ({types}){'; ' + caps if caps else ''}")
    out.print(f"Workloads: {s.workloads:,} ({s.pods:,} pods in {s.namespaces:,} namespaces)")
    if s.gpu_models:
        gpus = Table(title=f"GPUs by model: {s.gpus:,} GPUs, {s.gpu_hours:,.1f} GPU-hours sampled",
                     title_justify="left")
        for col in ("gpu_model", "GPUs", "MIG slices", "nodes", "GPU-hours", "attributed to a pod"):
            gpus.add_column(col, justify="left" if col == "gpu_model" else "right")
        for m in s.gpu_models:
            gpus.add_row(m.gpu_model, f"{m.gpus:,}", f"{m.mig_slices:,}", f"{m.nodes:,}", f"{m.gpu_hours:,.1f}", _pct(m.attributed_share))
        out.print(gpus)
        out.print(f"GPU time attributed to a pod: {_pct(s.attributed_share)} "
                  f"({s.gpu_hours - s.attributed_gpu_hours:,.1f} GPU-hours allocated to nobody)")
    else:
        out.print("GPUs: none sampled")
    if s.node_gaps:
        total = sum(g.gaps for g in s.node_gaps)
        gaps = Table(title=f"Sampling gaps (> {s.gap_factor:g}× interval): {total:,} on {len(s.node_gaps)} of "
                           f"{len(s.nodes)} nodes; top {min(TOP_GAP_NODES, len(s.node_gaps))}", title_justify="left")
        for col in ("node", "measured on", "gaps", "longest", "missing", "GPU-only gaps"):
            gaps.add_column(col, justify="left" if col == "node" else "right")
        for g in s.node_gaps[:TOP_GAP_NODES]:
            gaps.add_row(g.node, _SOURCE.get(g.source, "-"), f"{g.gaps:,}", _duration(g.longest_s), _duration(g.missing_s), f"{g.gpu_gaps:,}")
        out.print(gaps)
        if any(g.source == "container" for g in s.node_gaps[:TOP_GAP_NODES]):
            out.print("* CPU-only node: no container rows also means nothing ran there, not only a lost sample")
    else:
        out.print(f"Sampling gaps: none (no hole longer than {s.gap_factor:g}× the interval)")
    for w in s.warnings:
        out.print(f"[yellow]warning:[/] {w}")


_SOURCE = {"gpu": "GPU rows", "container": "containers*"}


def _iso(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
