"""``--node-instance-type-from FILE``: node facts kube-state-metrics does not expose (no allow-listed labels).

CSV with a header naming ``node`` and ``instance_type`` (optionally ``capacity_type``, ``zone``,
``region``), JSON: ``{"node": "p5.48xlarge"}`` or ``{"node": {"instance_type": ..., ...}}``, or a dataset
root (a folder with a ``nodes`` table, or ``s3://…``), e.g. the agent's sink: each node's latest row.
"""

from __future__ import annotations

import csv
import json
import os

from store.errors import UserError
from store.schema import CAPACITY_TYPES

FIELDS = ("instance_type", "capacity_type", "zone", "region")


def load_instance_types(path: str) -> dict[str, dict[str, str]]:
    flag = "--node-instance-type-from"
    if path.startswith("s3://") or os.path.isdir(path):
        return _from_dataset(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UserError(f"{flag}: {path}: cannot read ({exc.strerror or exc})") from None
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise UserError(f"{flag}: {path}: not valid JSON ({exc})") from None
        out = {}
        for node, value in raw.items():
            facts = {"instance_type": value} if isinstance(value, str) else value
            if not isinstance(facts, dict):
                raise UserError(f"{flag}: {path}: key '{node}': expected an instance type or an object")
            out[node] = _check(path, node, facts)
        return out
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or "node" not in rows[0] or "instance_type" not in rows[0]:
        raise UserError(f"{flag}: {path}: a CSV needs a header with columns node and instance_type")
    return {r["node"].strip(): _check(path, r["node"], r) for r in rows if (r.get("node") or "").strip()}


def _check(path: str, node: str, facts: dict) -> dict[str, str]:
    unknown = [k for k in facts if k not in FIELDS and k != "node"]
    if unknown:
        raise UserError(f"--node-instance-type-from: {path}: node '{node}': unknown key '{unknown[0]}' "
                        f"(expected {', '.join(FIELDS)})")
    out = {k: str(v).strip() for k, v in facts.items() if k in FIELDS and v not in (None, "")}
    cap = out.get("capacity_type")
    if cap and cap not in CAPACITY_TYPES:
        raise UserError(f"--node-instance-type-from: {path}: node '{node}': capacity_type '{cap}' is not one of "
                        f"{', '.join(CAPACITY_TYPES)}")
    return out


def _from_dataset(root: str) -> dict[str, dict[str, str]]:
    from store.reader import Dataset

    data = Dataset(root)
    if "nodes" not in data.tables():
        raise UserError(f"--node-instance-type-from: {root} has no nodes table")
    rows = data.read("nodes", columns=["ts", "node", *FIELDS]).to_pylist()
    out: dict[str, dict[str, str]] = {}
    for row in sorted(rows, key=lambda r: r["ts"]):  # the latest row per node wins
        facts = {k: row[k] for k in FIELDS if row[k]}
        if facts:
            out[row["node"]] = {**out.get(row["node"], {}), **facts}
    return out
