"""The ``rightsizer`` command line.

Each subcommand is a small module in this package with ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; ``COMMANDS`` lists them in the order ``--help`` shows. Heavy imports (numba,
ortools, pandas) happen inside ``run`` so that ``rightsizer --help`` stays instant.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

from recommender.cli.allocator import keep_freed_memory
from store.errors import UserError

COMMANDS = [
    "demo",
    "simulate",
    "importer",
    "validate",
    "profile",
    "recommend",
    "backtest",
    "catalog",
    "completion",
]

EPILOG = """\
Typical first run:
  rightsizer demo                         simulate a small GPU cluster and run every stage on it
Then, on your own data (written by rightsizer-agent):
  rightsizer validate --data s3://bucket/rightsizer
  rightsizer profile  --data s3://bucket/rightsizer --out profiles.csv
  rightsizer recommend --data s3://bucket/rightsizer --out ./report

Exit codes: 0 ok, 2 bad input (the message names the file, column or value), 1 internal error.
"""


def package_version() -> str:
    """The installed distribution's version (pyproject.toml's, through the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rightsizer")
    except PackageNotFoundError:  # run from a source tree that was never pip-installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rightsizer",
        description="Right-size GPU and CPU workloads on Kubernetes: profile what they really use, "
        "attribute the cost, and recommend cheaper shapes with the savings in dollars.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rightsizer {package_version()}")
    parser.add_argument("--debug", action="store_true", help="print a traceback on internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"recommender.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"recommender.cli.{name}":
                continue  # not built yet in this checkout
            raise
        p = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=getattr(module, "EPILOG", None))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):  # like 'rightsizer catalog' without an action: usage, exit 2
        parser.print_help(sys.stderr)
        return 2
    keep_freed_memory()  # the scans' partition-sized temporaries (recommender/cli/allocator.py)
    try:
        return _run(args)
    finally:
        # An error's traceback can keep pyarrow readers (and their native threads) in reference cycles;
        # collected at interpreter teardown, after Arrow's own state is gone, they abort the process
        # ("terminate called without an active exception", apache/arrow#34314). Collect them here.
        gc.collect()


def _run(args) -> int:
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the contract: exit 1 on internal errors, one line unless --debug
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
