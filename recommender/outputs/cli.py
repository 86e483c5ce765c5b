"""The flags and the glue the ``recommend`` command needs for the outputs of this package.

    from recommender.outputs.cli import add_output_arguments, build_context
    add_output_arguments(parser)              # --notify URL, --manifests DIR (skips flags already defined)
    ...
    with OutputTarget(args.out) as out_dir:
        ctx = build_context(args, dataset=..., catalog=..., config=..., out_dir=out_dir,
                            recommendations=doc, profiles=profiles)
        write_outputs(ctx)
        if ctx.delivery and not ctx.delivery.delivered:
            print(f"warning: {ctx.delivery.describe()}", file=sys.stderr)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recommender.config import Config
from recommender.outputs import OutputContext


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    defined = set(parser._option_string_actions)  # noqa: SLF001 (argparse has no public accessor)
    if "--notify" not in defined:
        parser.add_argument("--notify", metavar="URL", default=None,
                            help="post budget and spike alerts to this Slack-compatible webhook after writing the "
                                 "files (a failed delivery is reported, never loses output)")
    if "--notify-required" not in defined:
        parser.add_argument("--notify-required", action="store_true", default=None,
                            help="a failed --notify delivery fails the run with exit code 3 (after every file is "
                                 "written), so a CronJob shows it; default: notify.required in the config")
    if "--report-url" not in defined:
        parser.add_argument("--report-url", metavar="URL", default=None,
                            help="the report's address for the webhook message (default: notify.report_url, "
                                 "else report.html under --out: its s3:// URI or absolute path)")
    if "--manifests" not in defined:
        parser.add_argument("--manifests", metavar="DIR", default=None,
                            help="folder with the original workload manifests (default: ROOT/manifests when the "
                                 "data root has one); used to keep tolerations and container names in suggestions")


def manifests_dir_for(data_root: str, explicit: str | None) -> Path | None:
    if explicit:
        from store.errors import UserError

        path = Path(explicit)
        if not path.is_dir():
            raise UserError(f"--manifests: '{explicit}' is not a folder")
        return path
    if data_root and not data_root.startswith("s3://"):
        candidate = Path(data_root) / "manifests"
        if candidate.is_dir():
            return candidate
    return None


def load_catalog(catalog_path: str | None, config: Config):
    """The catalog with the config's price overrides applied."""
    from optimizer.catalog import Catalog

    return Catalog.load(catalog_path, overrides=config.price_overrides)


def report_url_for(out: str | None, out_dir: Path, explicit: str | None, config: Config) -> str:
    """Where the webhook message sends readers: the given URL, the config's, else report.html where --out
    puts it (the s3:// URI of the sink, not the temporary local copy; a local folder as an absolute path)."""
    if explicit or config.notify.report_url:
        return explicit or config.notify.report_url
    if out and out.startswith("s3://"):
        return f"{out.rstrip('/')}/report.html"
    return str((Path(out_dir) / "report.html").resolve())


def notify_required(args, config: Config) -> bool:
    flag = getattr(args, "notify_required", None)
    return config.notify.required if flag is None else bool(flag)


def build_context(args, *, dataset, catalog, config: Config, out_dir: Path, recommendations: dict | None,
                  profiles=None, start=None, end=None, progress=None) -> OutputContext:
    from store.errors import UserError

    data_root = getattr(args, "data", None) or ""
    notify_url = getattr(args, "notify", None)
    if notify_required(args, config) and not (notify_url or config.notify.webhook_url):
        raise UserError("--notify-required: no webhook to deliver to (give --notify URL or notify.webhook_url)")
    return OutputContext(
        dataset=dataset, catalog=catalog, out_dir=Path(out_dir), config=config, recommendations=recommendations,
        profiles=profiles, start=start, end=end, notify_url=notify_url,
        manifests_dir=manifests_dir_for(data_root, getattr(args, "manifests", None)), progress=progress,
        report_url=report_url_for(getattr(args, "out", None), out_dir, getattr(args, "report_url", None), config))
