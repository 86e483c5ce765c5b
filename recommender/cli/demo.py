"""``rightsizer demo``: simulate a small GPU cluster and run every stage on it."""

from __future__ import annotations

import argparse
import os

NAME = "demo"
HELP = "simulate a small GPU cluster and run every stage on it (no cluster or AWS account needed)"
DESCRIPTION = """\
Write a simulated Kubernetes GPU cluster (rightsizer simulate) into DIR/data, then run rightsizer
recommend on it into DIR/report: recommendations.json and the terminal table of top savings (plus the
report, allocation, alerts and suggestions where those outputs are installed). The simulated cluster has
known answers (DIR/data/truth.json): over-provisioned inference, idle notebooks, bursty inference,
training on on-demand nodes, oversized CPU requests and GPUs allocated to nobody.
"""
EPILOG = """\
examples:
  rightsizer demo                                  # ./rightsizer-demo, 20 nodes, 3 days at 300 s
  rightsizer demo --out /tmp/demo --days 7 --force
then:
  rightsizer recommend --data ./rightsizer-demo/data --out ./rightsizer-demo/report --top 25
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="rightsizer-demo", metavar="DIR", help="demo folder (default ./rightsizer-demo)")
    p.add_argument("--nodes", default="20", metavar="N", help="simulated nodes (default 20)")
    p.add_argument("--days", default="3", metavar="D", help="simulated days (default 3)")
    p.add_argument("--interval-s", default="300", metavar="S", help="seconds between samples (default 300)")
    p.add_argument("--seed", default="1", metavar="K", help="random seed (default 1)")
    p.add_argument("--force", action="store_true", help="simulate again even if DIR/data already holds a cluster")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress (default: when stderr is a terminal)")


def run(args) -> int:
    from recommender.cli import recommend, simulate

    data = os.path.join(args.out, "data")
    if args.force or not os.path.exists(os.path.join(data, "truth.json")):
        sim = argparse.Namespace(out=data, nodes=args.nodes, days=args.days, interval_s=args.interval_s,
                                 seed=args.seed, start=None, force=True, workers=None, progress=args.progress)
        code = simulate.run(sim)
        if code:
            return code
    else:
        print(f"using the cluster already simulated in {data} (--force to simulate again)")
    parser = argparse.ArgumentParser(prog="rightsizer recommend")
    recommend.add_arguments(parser)
    argv = ["--data", data, "--out", os.path.join(args.out, "report")]
    if args.progress is not None:
        argv.append("--progress" if args.progress else "--no-progress")
    return recommend.run(parser.parse_args(argv))
