"""Amazon Bedrock on-demand token prices from the AWS Price List API (``pricing:GetProducts``, ServiceCode
``AmazonBedrock``), for one region, merged over a managed price file (the bundled snapshot by default).

Each product is one price: attributes ``model`` (``titanModel`` for Amazon's Titan), ``inferenceType``
(input or output tokens; cache reads and writes are separate products) and ``feature`` (``On-demand
Inference``; batch and provisioned throughput are other features), a price dimension in ``1K tokens`` (or
``1M tokens``). Only on-demand input and output token prices are kept; a model with two different prices for
the same direction (an undocumented variant) is left out and reported rather than one of them picked.

Price List names (``Llama 3.1 8B Instruct``) are matched to the file's model ids by the words and numbers of
the name, ignoring case and punctuation; a model the file does not have is added under its Price List name,
which a mapping may then name. Prices the API did not return keep their snapshot date and source: every
number in the file says where it comes from. Paging follows ``NextToken``; throttled pages are retried
(the catalog refresh's caller), and any failure is one line naming the call.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from optimizer.catalog.refresh import PRICING_ENDPOINT_REGION, _Caller
from optimizer.llm.managed import ManagedPrice, ManagedPrices

SERVICE_CODE = "AmazonBedrock"
SOURCE = "AWS Price List API (pricing:GetProducts, ServiceCode AmazonBedrock)"
UNITS = {"1k tokens": 1000.0, "1m tokens": 1.0}  # multiplier to USD per 1M tokens
# inferenceType values that are not the plain input/output token price
_VARIANT = re.compile(r"cache|batch|provisioned|latency|priority|flex|image|video|audio|second", re.I)


def name_key(name: str) -> tuple[str, ...]:
    """The words and numbers of a model name, lower case, in order: 'Llama3.1-8B-Instruct' and
    'Llama 3.1 8B Instruct' are the same key."""
    return tuple(re.findall(r"[a-z]+|\d+", name.lower()))


def parse_product(item: str | dict) -> tuple[str, str, float] | None:
    """(Price List model name, "input" | "output", USD per 1M tokens) of one on-demand token product."""
    doc = json.loads(item) if isinstance(item, str) else item
    attrs = (doc.get("product") or {}).get("attributes") or {}
    model = attrs.get("model") or attrs.get("titanModel")
    kind = str(attrs.get("inferenceType") or "")
    feature = str(attrs.get("feature") or "")
    if not model or "on-demand" not in feature.lower() or _VARIANT.search(kind) or _VARIANT.search(feature):
        return None
    direction = "input" if re.search(r"\binput", kind, re.I) else "output" if re.search(r"\boutput", kind, re.I) \
        else None
    if direction is None:
        return None
    for term in ((doc.get("terms") or {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            factor = UNITS.get(str(dim.get("unit", "")).strip().lower())
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if factor is not None and usd not in (None, ""):
                return str(model), direction, round(float(usd) * factor, 6)
    return None


def refresh_bedrock(region: str, *, base: ManagedPrices, pricing=None, now: datetime | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    log: Callable[[str], None] = lambda _msg: None) -> ManagedPrices:
    """A copy of ``base`` with ``region``'s Bedrock token prices from the Price List API."""
    kept = "the bundled Bedrock price snapshot" if base.origin.startswith("<bundled") else base.origin
    call = _Caller(region, base.snapshot_date, catalog=kept, sleep=sleep)
    now = now or datetime.now(UTC)
    if pricing is None:
        pricing = _client(call)
    found: dict[str, dict[str, set[float]]] = {}
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
    for page in call.pages(pricing, "get_products", "pricing:GetProducts", ServiceCode=SERVICE_CODE,
                           FormatVersion="aws_v1", Filters=filters, MaxResults=100):
        for item in page.get("PriceList", []):
            parsed = parse_product(item)
            if parsed is not None:
                model, direction, usd = parsed
                found.setdefault(model, {}).setdefault(direction, set()).add(usd)
    by_key = {name_key(p.name): p.model_id for (r, _), p in base.prices.items()}
    by_key.update({name_key(mid): mid for (_, mid) in base.prices})
    prices = dict(base.prices)
    today = now.date().isoformat()
    fresh = 0
    for model, directions in sorted(found.items()):
        if set(directions) != {"input", "output"} or any(len(v) != 1 for v in directions.values()):
            log(f"{model}: skipped, the Price List gives {_describe(directions)} (one input and one output price "
                "expected)")
            continue
        mid = by_key.get(name_key(model))
        if mid is None:
            mid = model
            log(f"{model}: not in {kept}; added under its Price List name")
        old = prices.get((region, mid))
        prices[(region, mid)] = ManagedPrice(mid, old.name if old else model, region, next(iter(directions["input"])),
                                             next(iter(directions["output"])), today, SOURCE, True)
        fresh += 1
    stale = sum(1 for (r, _), p in prices.items() if r == region and p.source != SOURCE)
    if stale:
        log(f"{stale} prices in {region} not returned by the Price List API keep their snapshot date and source")
    log(f"{fresh} models priced from the Price List API in {region}")
    return replace(base, snapshot_date=today, source=f"{SOURCE} for {region}, over {base.source}",
                   origin=base.origin, prices=prices)


def _describe(directions: dict[str, set[float]]) -> str:
    parts = [f"{d} {', '.join(f'{v:g}' for v in sorted(vs))}" for d, vs in sorted(directions.items())]
    return "; ".join(parts) or "nothing"


def _client(call: _Caller):
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    try:
        return boto3.session.Session().client("pricing", region_name=PRICING_ENDPOINT_REGION, config=cfg)
    except Exception as exc:  # broken config files
        raise call.error("boto3 client setup", f"{type(exc).__name__}: {exc}") from None
