"""The flags and the glue the ``recommend`` command needs for the outputs of this package.

    from recommender.outputs.cli import add_output_arguments, build_context
    add_output_arguments(parser)              # --notify URL, --notify-file FILE, --manifests DIR
    ...
    target = OutputTarget(args.out)
    target.check()                            # with notify_url(args, config): before the computation
    with target as out_dir:
        ctx = build_context(args, dataset=..., catalog=..., config=..., out_dir=out_dir, result=result,
                            inventory=inventory, profiles=profiles, published_dir=args.out)
        write_outputs(ctx)
        if ctx.delivery and not ctx.delivery.delivered:
            print(f"warning: {ctx.delivery.describe()}", file=sys.stderr)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from recommender.config import Config
from recommender.outputs import OutputContext


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    defined = set(parser._option_string_actions)  # noqa: SLF001 (argparse has no public accessor)
    if "--notify" not in defined:
        parser.add_argument("--notify", metavar="URL", default=None,
                            help="post budget and spike alerts to this Slack-compatible webhook after writing the "
                                 "files (a failed delivery is reported, never loses output). The URL carries a "
                                 "token and is visible to every user of the machine in the process list: prefer "
                                 f"--notify-file or the {NOTIFY_ENV} environment variable")
    if "--notify-file" not in defined:
        parser.add_argument("--notify-file", metavar="FILE", default=None,
                            help="read the webhook URL from this file (e.g. a mounted Kubernetes Secret)")
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


NOTIFY_ENV = "RIGHTSIZER_NOTIFY_URL"


def notify_url(args, config: Config) -> str | None:
    """The webhook URL: --notify, else --notify-file's content, else $RIGHTSIZER_NOTIFY_URL, else the config's
    notify.webhook_url; checked (http or https) so that a bad one fails before any computation."""
    from recommender.alerts.webhook import check_url
    from store.errors import UserError

    url = getattr(args, "notify", None)
    source = "--notify"
    path = getattr(args, "notify_file", None)
    if not url and path:
        try:
            url = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--notify-file: cannot read '{path}': {getattr(exc, 'strerror', None) or exc}") from None
        if not url:
            raise UserError(f"--notify-file: '{path}' is empty")
        source = "--notify-file"
    if not url and os.environ.get(NOTIFY_ENV, "").strip():
        url, source = os.environ[NOTIFY_ENV].strip(), NOTIFY_ENV
    if not url:
        url, source = config.notify.webhook_url, "notify.webhook_url"
    if not url:
        return None
    try:
        return check_url(url)
    except UserError as exc:
        raise UserError(str(exc).replace("--notify:", f"{source}:", 1)) from None


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
    puts it (the s3:// URI of the sink; a local folder as an absolute path, never the staging copy)."""
    if explicit or config.notify.report_url:
        return explicit or config.notify.report_url
    if out and out.startswith("s3://"):
        return f"{out.rstrip('/')}/report.html"
    return os.path.join(os.path.abspath(out or out_dir), "report.html")


def notify_required(args, config: Config, url: str | None = None) -> bool:
    """--notify-required (else notify.required); with ``url`` (from ``notify_url``) also checks, before the
    computation, that there is a webhook to require."""
    from store.errors import UserError

    flag = getattr(args, "notify_required", None)
    required = config.notify.required if flag is None else bool(flag)
    if required and url is None and not getattr(args, "notify", None) and not config.notify.webhook_url:
        raise UserError(f"--notify-required: no webhook to deliver to (give --notify URL, --notify-file FILE, "
                        f"{NOTIFY_ENV} or notify.webhook_url)")
    return required


def build_context(args, *, dataset, catalog, config: Config, out_dir: Path, result, inventory=None,
                  allocation=None, profiles=None, start=None, end=None, progress=None,
                  published_dir: str | None = None, notify: str | None = None) -> OutputContext:
    """``notify``: the URL from ``notify_url`` (resolved before the computation); default: --notify.
    ``result``: the typed RecommendationSet (serialised once by the writers); ``inventory``: the observed
    cluster it was decided on (default: ``result.inventory``); ``allocation``: the allocation it was
    priced with."""
    data_root = getattr(args, "data", None) or ""
    return OutputContext(
        dataset=dataset, catalog=catalog, out_dir=Path(out_dir), config=config, result=result,
        inventory=inventory, allocation=allocation, profiles=profiles, start=start, end=end,
        notify_url=notify or getattr(args, "notify", None),
        manifests_dir=manifests_dir_for(data_root, getattr(args, "manifests", None)), progress=progress,
        published_dir=published_dir,
        report_url=report_url_for(published_dir or getattr(args, "out", None), out_dir,
                                  getattr(args, "report_url", None), config))
