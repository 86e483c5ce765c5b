"""The one output flag every listing command shares: ``-o/--output table|json|yaml|csv``.

Like kubectl and Helm, the same flag picks the format of what a command prints on stdout. ``--json``
(validate's older flag) and ``--format`` (catalog show's) stay as aliases of it. ``table`` is for people
(rich tables, widths that follow the terminal); the other three are for scripts and parse back:
``json`` and ``yaml`` carry the same document, ``csv`` one header row and one row per record.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO

FORMATS = ("table", "json", "yaml", "csv")


def add_output_flag(parser: argparse.ArgumentParser, *, aliases: Sequence[str] = (), what: str = "the result") -> None:
    """``-o/--output`` (default table), plus ``--format FMT`` and/or ``--json`` when named in ``aliases``."""
    parser.add_argument("-o", "--output", dest="output", choices=FORMATS, default="table", metavar="FORMAT",
                        help=f"how to print {what} on stdout: {', '.join(FORMATS)} (default: table)")
    if "--format" in aliases:
        parser.add_argument("--format", dest="output", choices=FORMATS, metavar="FORMAT",
                            help="same as -o/--output")
    if "--json" in aliases:
        parser.add_argument("--json", dest="output", action="store_const", const="json",
                            help="same as -o json")


def write_document(doc, fmt: str, out: IO[str] | None = None) -> None:
    """A JSON-able document as ``json`` or ``yaml`` on ``out`` (stdout by default)."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump(doc, out, indent=2, default=str)
        out.write("\n")
    elif fmt == "yaml":
        import yaml

        # round-tripped through JSON first so that dates, numpy numbers and tuples become plain YAML scalars
        yaml.safe_dump(json.loads(json.dumps(doc, default=str)), out, sort_keys=False, allow_unicode=True)
    else:
        raise ValueError(f"write_document: {fmt!r} is not json or yaml")


def write_csv(rows: Iterable[Mapping], columns: Sequence[str], out: IO[str] | None = None) -> None:
    """One header row, then one row per mapping; None becomes an empty cell, nested values JSON."""
    writer = csv.DictWriter(out or sys.stdout, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float) and value != value:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return value


def flatten(doc, prefix: str = "") -> list[dict]:
    """A nested document as ``field,value`` rows with dotted paths (``tables.0.rows``): the CSV form of a
    summary that is one object rather than a list of records."""
    rows: list[dict] = []
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            rows += flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(doc, (list, tuple)):
        for i, value in enumerate(doc):
            rows += flatten(value, f"{prefix}.{i}" if prefix else str(i))
        if not doc:
            rows.append({"field": prefix, "value": ""})
    else:
        rows.append({"field": prefix, "value": doc})
    return rows
