"""``rightsizer demo``: simulate a small GPU cluster and run every stage of the pipeline on it."""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass

NAME = "demo"
HELP = "simulate a small GPU cluster and run every stage on it (no cluster or AWS account needed)"
DESCRIPTION = """\
Run the whole pipeline on a simulated cluster, the way it runs on yours:

  1. simulate   a week of a 20-node GPU cluster on AWS into DIR/data (what rightsizer-agent would record)
  2. validate   every file against dataset format v1, and summarise what the agents saw
  3. profile    per-workload percentiles of GPU activity, GPU memory, CPU and memory -> DIR/profiles.csv
  4. recommend  cheaper shapes with dollars, cost allocation, budgets and spike alerts, the weekly report
                and kubectl-ready YAML, $ per 1M tokens -> DIR/report/ (team and token budgets from
                DIR/rightsizer.yaml, which the demo writes once from the simulated teams' usual spend and
                tokens; edit it and run again)
  5. check      the recommendations against the simulator's ground truth (DIR/data/truth.json)

The simulated cluster plants known behaviours: over-provisioned and memory-bound inference, well-sized
serving, training on on-demand nodes, idle notebooks, bursty inference, oversized CPU requests, GPUs
allocated to nobody, a one-day cost spike, and LLM servers (vLLM, TGI) whose token counters give the
report's cost per 1M tokens. A second run reuses DIR/data unless --force is given.
"""
EPILOG = """\
examples:
  rightsizer demo                                   # ./rightsizer-demo: 20 nodes, 7 days at 60 s
  rightsizer demo --out /tmp/demo --nodes 40 --force
then:
  open ./rightsizer-demo/report/report.html
  kubectl kustomize ./rightsizer-demo/report/suggestions   # the YAML patches, applied to nothing
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="rightsizer-demo", metavar="DIR", help="demo folder (default ./rightsizer-demo)")
    p.add_argument("--nodes", default="20", metavar="N", help="simulated nodes (default 20)")
    p.add_argument("--days", default="7", metavar="D", help="simulated days (default 7)")
    p.add_argument("--interval-s", default="60", metavar="S", help="seconds between samples (default 60)")
    p.add_argument("--seed", default="1", metavar="K", help="random seed (default 1)")
    p.add_argument("--force", action="store_true", help="simulate again even if DIR/data already holds a cluster")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress bars (default: when stderr is a terminal)")


@dataclass
class Stage:
    name: str
    outcome: str
    seconds: float


def run(args) -> int:
    import sys

    from rich.console import Console

    console = Console(highlight=False) if sys.stdout.isatty() else Console(highlight=False, width=120)
    data = os.path.join(args.out, "data")
    report = os.path.join(args.out, "report")
    stages: list[Stage] = []

    def stage(name: str, step):
        console.rule(f"[bold]{len(stages) + 1}. {name}")
        t0 = time.perf_counter()
        outcome = step()
        stages.append(Stage(name, outcome, time.perf_counter() - t0))

    stage("simulate", lambda: _simulate(args, data))
    stage("validate", lambda: _validate(data))
    profiles = []  # the profile stage's result, handed on so recommend does not compute it again
    stage("profile", lambda: _profile(data, os.path.join(args.out, "profiles.csv"), profiles))
    stage("recommend", lambda: _recommend(args, data, report, *profiles[0]))
    stage("check", lambda: _check(data, report, console))
    _summary(console, stages, args.out, data, report)
    return 0


def _simulate(args, data: str) -> str:
    from recommender.cli import simulate

    if not args.force and os.path.exists(os.path.join(data, "truth.json")):
        print(f"using the cluster already simulated in {data} (--force to simulate again)")
        return "reused the cluster simulated before"
    sim = argparse.Namespace(out=data, nodes=args.nodes, days=args.days, interval_s=args.interval_s,
                             seed=args.seed, start=None, force=True, workers=None, progress=args.progress)
    simulate.run(sim)
    with open(os.path.join(data, "truth.json")) as f:
        truth = json.load(f)
    return (f"{len(truth['nodes'])} nodes, {len(truth['workloads'])} workloads, "
            f"{truth['start'][:10]} to {truth['end'][:10]}")


def _validate(data: str) -> str:
    from store.inspect import inspect_dataset

    s = inspect_dataset(data)
    rows = sum(t.rows for t in s.tables)
    files = sum(t.files for t in s.tables)
    models = ", ".join(f"{m.gpus}× {m.gpu_model}" for m in s.gpu_models)
    share = f"{s.attributed_share:.0%}" if s.attributed_share is not None else "n/a"
    print(f"{rows:,} rows in {files:,} files, all valid (format v1)")
    print(f"{len(s.nodes)} nodes; GPUs: {models}")
    print(f"{s.workloads} workloads in {s.namespaces} namespaces; {share} of GPU time attributed to a pod")
    return f"{rows:,} rows valid; {s.gpus} GPUs; {share} of GPU time attributed"


def _profile(data: str, path: str, keep: list) -> str:
    from optimizer.demand import CONTAINER_PROFILE_TABLES
    from optimizer.profiles import compute_profiles_many
    from recommender.cli.profile import write_frame

    # The container level too, from the same read: the recommend stage needs both.
    both = compute_profiles_many(data, entities=("workload", "container"), tables=CONTAINER_PROFILE_TABLES)
    profiles = both["workload"]
    keep.append((profiles, both["container"]))
    frame = profiles.to_frame()
    write_frame(frame, path)
    print(f"{len(profiles.keys())} workloads × {frame['metric'].nunique()} metrics -> {path}")
    return f"{len(frame)} profile rows ({len(profiles.keys())} workloads)"


def _demo_config(out: str, data: str) -> str:
    """DIR/rightsizer.yaml with a monthly budget per simulated team (kept if it exists: the user's to edit)."""
    path = os.path.join(out, "rightsizer.yaml")
    if os.path.exists(path):
        return path
    with open(os.path.join(data, "truth.json")) as f:
        hint = json.load(f).get("budgets_hint") or {}
    lines = ["# rightsizer config for the demo; every key is documented in docs/configuration.md.",
             f"# Budgets: {hint.get('note', 'one per simulated team')}.", "budgets:", "  teams:"]
    lines += [f"    {team}: {{monthly_usd: {usd}}}" for team, usd in sorted(hint.get("teams", {}).items())]
    lines = lines if hint.get("teams") else lines[:2]
    models = (hint.get("tokens") or {}).get("models") or {}
    if models:  # token guard rails (docs/llm.md): a monthly token budget per served model
        lines += [f"# Token budgets: {hint['tokens']['note']}.", "tokens:", "  budgets:", "    models:"]
        lines += [f"      {model}: {{monthly_tokens: {n}}}" for model, n in sorted(models.items())]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _recommend(args, data: str, report: str, profiles, containers) -> str:
    from recommender.cli import recommend

    parser = argparse.ArgumentParser(prog="rightsizer recommend")
    recommend.add_arguments(parser)
    argv = ["--data", data, "--out", report, "--config", _demo_config(args.out, data)]
    if args.progress is not None:
        argv.append("--progress" if args.progress else "--no-progress")
    recommend.run(parser.parse_args(argv), profiles=profiles, containers=containers)
    with open(os.path.join(report, "recommendations.json")) as f:
        summary = json.load(f)["summary"]
    bill = summary.get("node_bill") or {}
    outcome = (f"{summary['recommendations']} recommendations; node bill savings ${summary['monthly_bill_savings']:,.0f} "
               f"of today's ${bill.get('today_monthly', 0):,.0f} a month ({bill.get('priced', 'all nodes priced')}); "
               f"showback change ${summary['monthly_savings']:,.0f}")
    tokens = summary.get("tokens")
    if tokens and tokens.get("usd_per_1m_tokens") is not None:
        from recommender.alerts.tokens import tokens_text

        outcome += (f"; {tokens_text(tokens['prompt_tokens'] + tokens['generation_tokens'])} LLM tokens at "
                    f"${tokens['usd_per_1m_tokens']:,.3f} per 1M (tokens.csv)")
    return outcome


def _check(data: str, report: str, console) -> str:
    from simulator.score import score

    with open(os.path.join(data, "truth.json")) as f:
        truth = json.load(f)
    with open(os.path.join(report, "recommendations.json")) as f:
        document = json.load(f)
    result = score(truth, document)
    for miss in result.misses:
        console.print(f"[yellow]differs:[/] {miss.workload} ({miss.behaviour}): expected "
                      f"{' or '.join(miss.expected) or 'nothing'}, got {', '.join(miss.got) or 'nothing'}")
    outcome = (f"{result.workloads_right}/{result.workloads} workloads got the action their behaviour calls for; "
               f"{result.idle_nodes_right}/{result.idle_nodes} nodes with unallocated GPUs reclaimed")
    if result.waiting:
        outcome += (f" ({len(result.waiting)} LLM serving workload(s) expect KV-cache-aware sizing or "
                    f"use-managed-api, which this optimizer does not make yet: {', '.join(result.waiting)})")
    print(outcome)
    return outcome


def _summary(console, stages: list[Stage], out: str, data: str, report: str) -> None:
    from rich.table import Table

    table = Table(title="rightsizer demo", title_justify="left")
    table.add_column("stage")
    table.add_column("result", overflow="fold")
    table.add_column("time", justify="right")
    for s in stages:
        table.add_row(s.name, s.outcome, f"{s.seconds:.1f} s")
    table.add_row("[bold]total", "", f"[bold]{sum(s.seconds for s in stages):.1f} s")
    console.rule()
    console.print(table)
    from recommender.cli.recommend import suggestions_summary

    suggestions = os.path.join(report, "suggestions")
    in_folder = suggestions_summary(os.listdir(suggestions)) if os.path.isdir(suggestions) else "no files"
    paths = Table.grid(padding=(0, 2))
    for path, what in ((data, "the dataset (format v1), truth.json and the original manifests"),
                       (os.path.join(out, "rightsizer.yaml"), "the config the demo used: team budgets"),
                       (os.path.join(out, "profiles.csv"), "per-workload utilization profiles"),
                       (os.path.join(report, "report.html"), "the weekly report: open it in a browser"),
                       (os.path.join(report, "report.md"), "the same report in Markdown"),
                       (os.path.join(report, "recommendations.json"), "every recommendation with its numbers"),
                       (os.path.join(report, "allocation.csv"), "cost by team, project, use case, workload"),
                       (os.path.join(report, "tokens.csv"), "$ per 1M tokens by model, workload and team"),
                       (os.path.join(report, "alerts.json"), "budget and spike alerts"),
                       (suggestions + os.sep, in_folder)):
        if os.path.exists(path):
            paths.add_row(path, what)
    console.print("[bold]Outputs")
    console.print(paths)
