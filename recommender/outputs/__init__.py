"""Output writers of ``rightsizer recommend``: each takes the run's ``OutputContext`` and writes files.

``WRITERS`` is the one registry, run in order (later writers use what earlier ones computed):
allocation.csv, tokens.csv, alerts.json, suggestions/, recommendations.json (once, with each suggestion's file
filled in), report.html + report.md.
``write_outputs`` runs them, then delivers alerts to the webhook (``--notify``) — after every file is on
disk, so a failed delivery never loses output. The recommend command writes into ``OutputTarget``'s
staging folder, so the set replaces the previous one only once every writer and the delivery are done.

The recommend command builds the context (dataset, catalog, config, profiles, the typed
``RecommendationSet``, the observed cluster it was decided on and the allocation it was priced with) and
calls ``write_outputs(ctx)``; see ``OutputContext``. Every writer reads the typed result: the suggestions
and the report take its ``Recommendation``s and ``NotEvaluated``s, the webhook text its ``NodeBill``.
recommendations.json is serialised from it once, after the suggestions gave each recommendation its file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from recommender.config import Config

if TYPE_CHECKING:
    from optimizer.inventory import Inventory
    from optimizer.result import RecommendationSet


@dataclass
class OutputContext:
    dataset: object                       # store.reader.Dataset
    catalog: object                       # optimizer.catalog.Catalog
    out_dir: Path                         # a local folder (OutputTarget's staging folder in a real run)
    result: RecommendationSet             # the typed result every writer reads
    config: Config = field(default_factory=Config)
    inventory: Inventory | None = None    # the observed cluster it was decided on (default: result.inventory)
    profiles: object | None = None        # optimizer.profiles.ProfileSet (workload entity)
    start: datetime | None = None
    end: datetime | None = None
    notify_url: str | None = None
    manifests_dir: Path | None = None     # original objects (ROOT/manifests when the data root has them)
    report_url: str | None = None         # the report's address for readers of the webhook message
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    progress: Callable[[str], None] | None = None
    published_dir: str | None = None      # where out_dir's files end up (--out), for messages that name them
    # filled in by the writers
    document: dict | None = None          # recommendations.json as written (serialised once from ``result``)
    allocation: object | None = None
    tokens: object | None = None          # recommender.tokens.TokenCosts ($ per 1M tokens, tokens.csv)
    alerts: object | None = None
    delivery: object | None = None
    written: list[Path] = field(default_factory=list)

    def say(self, message: str) -> None:
        if self.progress:
            self.progress(message)

    @property
    def observed(self) -> Inventory | None:
        """The observed cluster: the one given, else the one the result was decided on."""
        return self.inventory if self.inventory is not None else self.result.inventory


def write_recommendations(ctx: OutputContext) -> list[Path]:
    """DIR/recommendations.json: the optimizer's document (docs/recommendations.md describes its keys),
    serialised once from the typed result, after the suggestions gave each recommendation its file; the
    window's token totals (tokens.csv's) are added as ``summary.tokens``."""
    doc = ctx.result.to_json_dict()
    if ctx.tokens is not None and not ctx.tokens.empty:  # additive key: the window's token totals
        doc["summary"]["tokens"] = ctx.tokens.summary()
    ctx.document = doc
    path = ctx.out_dir / "recommendations.json"
    _write_json(path, doc)
    return [path]


def write_allocation(ctx: OutputContext) -> list[Path]:
    from recommender.allocation import allocate

    if ctx.allocation is None:  # the recommend command computes it before deciding, with the same cost model
        ctx.say("attributing cost")
        ctx.allocation = allocate(ctx.dataset, ctx.catalog, ctx.config, start=ctx.start, end=ctx.end)
    path = ctx.out_dir / "allocation.csv"
    _atomic(path, lambda tmp: ctx.allocation.write_csv(tmp))
    return [path]


def write_tokens(ctx: OutputContext) -> list[Path]:
    """DIR/tokens.csv: the serving workloads' allocated cost over the tokens they served (header only when
    the dataset has no tokens table); recommender/tokens/SPEC.md."""
    from recommender.tokens import token_costs

    usage = ctx.result.serving_usage if ctx.result is not None else None  # the run's, summed once
    observed = ctx.result.inventory if ctx.result is not None else None  # the run's observed cluster
    ctx.tokens = token_costs(ctx.dataset, ctx.allocation, ctx.config, start=ctx.start, end=ctx.end, usage=usage,
                             pod_workload=observed.pod_workload if observed is not None else None)
    path = ctx.out_dir / "tokens.csv"
    _atomic(path, lambda tmp: ctx.tokens.write_csv(tmp))
    return [path]


def write_alerts(ctx: OutputContext) -> list[Path]:
    from recommender.alerts import build_alerts

    ctx.say("checking budgets and spikes")
    ctx.alerts = build_alerts(ctx.allocation, ctx.config, generated_at=ctx.generated_at, tokens=ctx.tokens)
    path = ctx.out_dir / "alerts.json"
    _write_json(path, ctx.alerts.to_json_dict())
    return [path]


def write_suggestions_folder(ctx: OutputContext) -> list[Path]:
    from recommender.suggestions import write_suggestions

    ctx.say("writing suggestions")
    files = write_suggestions(ctx.result.recommendations, ctx.out_dir, inventory=ctx.observed,
                              manifests_dir=ctx.manifests_dir, profiles=ctx.profiles,
                              idle_activity=ctx.config.thresholds.gpu_idle_activity)
    for rec in ctx.result.recommendations:
        if str(rec.id) in files:
            rec.suggestion_file = files[str(rec.id)]
    # every file of the folder: a suggestion may have two (a partial object and its JSON patch)
    return sorted(p for p in (ctx.out_dir / "suggestions").iterdir() if p.is_file())


def write_reports(ctx: OutputContext) -> list[Path]:
    from recommender.report import build_report_data, write_report

    ctx.say("rendering the report")
    data = build_report_data(allocation=ctx.allocation, result=ctx.result, alerts=ctx.alerts,
                             profiles=ctx.profiles, config=ctx.config, generated_at=ctx.generated_at,
                             tokens=ctx.tokens)
    data.notes.extend(getattr(ctx.allocation, "notes", []))
    return write_report(data, ctx.out_dir)


WRITERS: list[Callable[[OutputContext], list[Path]]] = [
    write_allocation, write_tokens, write_alerts, write_suggestions_folder, write_recommendations, write_reports,
]


def write_outputs(ctx: OutputContext) -> list[Path]:
    """Run every writer, then deliver alerts (if a webhook is set); returns the files written."""
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    for writer in WRITERS:
        ctx.written.extend(writer(ctx))
    url = ctx.notify_url or ctx.config.notify.webhook_url
    if url and ctx.alerts is not None:
        notify(ctx, url)
    return ctx.written


def notify(ctx: OutputContext, url: str):
    """Post the alerts to a Slack-compatible webhook; record the outcome in alerts.json."""
    from recommender.alerts.webhook import check_url, post_json, slack_payload

    check_url(url)
    doc = ctx.alerts.to_json_dict()
    if not doc["alerts"]:
        return None
    ctx.say("delivering alerts")
    link = ctx.report_url or f"{ctx.published_dir or ctx.out_dir}/report.html"
    ctx.delivery = post_json(url, slack_payload(doc, report_hint=link, result=ctx.result),
                             timeout_s=ctx.config.notify.timeout_s)
    ctx.alerts.delivery = ctx.delivery
    _write_json(ctx.out_dir / "alerts.json", ctx.alerts.to_json_dict())
    return ctx.delivery


def _write_json(path: Path, doc: dict) -> None:
    _atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8"))


def _atomic(path: Path, write: Callable[[str], None]) -> None:
    """Write through a temp file in the same folder and rename: never a half-written output file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; every output file has one mode (see outputs.target)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
