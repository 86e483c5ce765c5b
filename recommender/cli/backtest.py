"""``rightsizer backtest``: recommend from the data before a split, replay the data after it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from store.errors import UserError

NAME = "backtest"
HELP = "recommend from the data before --split, replay the data after it: OOMs, compute above target, the bill"
DESCRIPTION = """\
Profile and recommend from the data before ISO (as `rightsizer recommend` would have on that day), then
replay every sample interval after it against the proposed shapes: per recommendation the share of the
intervals in which the later usage would have exceeded the proposed memory (an OOM) or the compute target,
and the node bill before the split, after it, and with the plan. Writes DIR/backtest.json,
DIR/backtest.md and DIR/backtest.html. See docs/recommendations.md (Backtest).
"""
EPILOG = """\
examples:
  rightsizer backtest --data ./two-weeks --split 2026-01-12 --out ./backtest
  rightsizer backtest --data s3://bucket/rightsizer --split 2026-02-02T00:00:00Z --out ./bt --no-consolidate
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="ROOT", help="dataset root: a local folder or s3://bucket/prefix")
    p.add_argument("--split", required=True, metavar="ISO", help="recommend from before, replay after (e.g. 2026-01-12)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--config", metavar="FILE", help="rightsizer config file (YAML)")
    p.add_argument("--catalog", metavar="FILE", help="instance catalog file (default: the bundled AWS snapshot)")
    p.add_argument("--region", metavar="R", help="AWS region for prices when the nodes table does not say")
    p.add_argument("--solver-seconds", default="20", metavar="S", help="consolidation solver time (default 20)")
    p.add_argument("--no-consolidate", action="store_true", help="skip the cluster-wide node-mix solve")


def run(args) -> int:
    from optimizer.backtest import backtest, check_split, html, markdown
    from recommender.cli.recommend import _optimizer_config
    from recommender.config import load_config
    from recommender.outputs.cli import load_catalog
    from store.reader import Dataset

    split = check_split(args.split)
    dataset = Dataset(args.data)
    missing = [t for t in ("pods", "nodes", "gpu") if t not in dataset.tables()]
    if missing:
        raise UserError(f"--data: {args.data} has no {' or '.join(missing)} table (is it a rightsizer dataset root?)")
    file_config = load_config(args.config)
    catalog = load_catalog(args.catalog, file_config)
    cfg = _optimizer_config(args, file_config)
    result = backtest(dataset, catalog, cfg, split, solver=not args.no_consolidate, allocation_config=file_config)
    doc = result.to_json_dict()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("backtest.json", json.dumps(doc, indent=2) + "\n"), ("backtest.md", markdown(doc)),
                       ("backtest.html", html(doc))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)  # whole files only: a failure leaves the previous ones
    s = doc["summary"]
    print(f"{s['checked']} of {s['recommendations']} recommendations replayed after {doc['split']}: "
          f"{s['oom_intervals']} OOM intervals ({', '.join(s['flagged']) or 'none flagged'}), compute above "
          f"target in {100 * s['compute_exceeded_share']:.1f} % of their intervals")
    for name in ("backtest.json", "backtest.md", "backtest.html"):
        print(f"wrote {out / name}")
    return 0
