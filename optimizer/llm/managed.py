"""Managed-API prices (USD per 1M input / output tokens) and the mapping from a self-hosted model to the
managed model that serves the same weights.

The bundled ``data/bedrock-prices.json`` is a dated snapshot of Amazon Bedrock's on-demand prices, every
number with its date and source; ``rightsizer catalog refresh-bedrock`` writes a file of the same format
from the AWS Price List API (optimizer/llm/bedrock_refresh.py). A price the file does not have, in the
region asked, is never guessed: that workload gets no managed-API comparison.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from optimizer.llm.models import normalize_model_name
from store.errors import UserError

BUNDLED = "bedrock-prices.json"


@dataclass(frozen=True)
class ManagedPrice:
    model_id: str
    name: str
    region: str
    input_per_1m: float
    output_per_1m: float
    as_of: str | None
    source: str
    verified: bool

    def cost(self, prompt_tokens: float, generation_tokens: float) -> float:
        """USD for these tokens."""
        return (prompt_tokens * self.input_per_1m + generation_tokens * self.output_per_1m) / 1e6

    def to_json_dict(self) -> dict:
        return {"model_id": self.model_id, "name": self.name, "region": self.region,
                "input_usd_per_1m": self.input_per_1m, "output_usd_per_1m": self.output_per_1m,
                "as_of": self.as_of, "source": self.source, "verified": self.verified}


@dataclass
class ManagedPrices:
    service: str
    snapshot_date: str
    source: str
    origin: str  # the file read, or <bundled ...>
    prices: dict[tuple[str, str], ManagedPrice]  # (region, model id) -> price

    def price(self, model_id: str, region: str) -> ManagedPrice | None:
        return self.prices.get((region, model_id))

    def model_ids(self) -> list[str]:
        return sorted({m for _, m in self.prices})

    def to_json_dict(self) -> dict:
        regions: dict[str, dict] = {}
        for (region, mid), p in sorted(self.prices.items()):
            regions.setdefault(region, {})[mid] = {
                "name": p.name, "input_usd_per_1m": p.input_per_1m, "output_usd_per_1m": p.output_per_1m,
                "as_of": p.as_of, "source": p.source, "verified": p.verified}
        return {"service": self.service, "pricing": "on-demand inference, USD per 1M input / output tokens",
                "snapshot_date": self.snapshot_date, "source": self.source, "regions": regions}

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json_dict(), indent=1) + "\n", encoding="utf-8")


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or math.isinf(value) \
            or value < 0:
        raise UserError(f"{where}: expected a non-negative number of USD per 1M tokens, got {value!r}")
    return float(value)


def parse_prices(doc: object, origin: str) -> ManagedPrices:
    if not isinstance(doc, dict) or not isinstance(doc.get("regions"), dict):
        raise UserError(f"{origin}: expected an object with a 'regions' object (region -> model id -> prices)")
    prices: dict[tuple[str, str], ManagedPrice] = {}
    for region, models in doc["regions"].items():
        if not isinstance(models, dict):
            raise UserError(f"{origin}: regions.{region}: expected an object of model id -> prices")
        for mid, row in models.items():
            where = f"{origin}: regions.{region}.{mid}"
            if not isinstance(row, dict):
                raise UserError(f"{where}: expected an object")
            prices[(region, mid)] = ManagedPrice(
                model_id=mid, name=str(row.get("name") or mid), region=region,
                input_per_1m=_number(row.get("input_usd_per_1m"), f"{where}.input_usd_per_1m"),
                output_per_1m=_number(row.get("output_usd_per_1m"), f"{where}.output_usd_per_1m"),
                as_of=row.get("as_of"), source=str(row.get("source") or doc.get("source") or origin),
                verified=bool(row.get("verified", False)))
    return ManagedPrices(str(doc.get("service") or "Amazon Bedrock"), str(doc.get("snapshot_date") or "unknown"),
                         str(doc.get("source") or origin), origin, prices)


def load_managed_prices(path: str | Path | None = None) -> ManagedPrices:
    """The bundled snapshot (``path=None``) or a price file written by ``catalog refresh-bedrock``."""
    if path is None:
        text = resources.files("optimizer.llm").joinpath("data", BUNDLED).read_text(encoding="utf-8")
        origin = f"<bundled {BUNDLED}>"
    else:
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{origin}: cannot read managed price file ({exc.strerror})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{origin}: not valid JSON (line {exc.lineno})") from None
    return parse_prices(doc, origin)


def mapping_key(name: str) -> str:
    """How a mapping key and a served model name are compared: ``normalize_model_name`` (the org prefix,
    case and separators folded). Unlike the size lookup, ``-Instruct`` is kept: a base model and its
    instruction-tuned version are not the same offer."""
    return normalize_model_name(name)


def managed_model_for(served: str | None, mapping: dict[str, str | None]) -> str | None:
    """The managed model id the mapping gives a served model name, or None."""
    if not served:
        return None
    want = mapping_key(served)
    for key, value in mapping.items():
        if mapping_key(key) == want:
            return value
    return None


def check_mapping(mapping: dict[str, str | None], prices: ManagedPrices, where: str) -> None:
    """Every mapped model must be priced in the price file, and no two keys may name the same model; the
    first problem is a ``UserError`` naming its key (``where`` is e.g. ``config.yaml: managed_api.models``)."""
    seen: dict[str, str] = {}
    known = set(prices.model_ids())
    for key, value in mapping.items():
        norm = mapping_key(key)
        if not norm:
            raise UserError(f"{where}.{key}: not a model name")
        if norm in seen:
            raise UserError(f"{where}.{key}: names the same model as '{seen[norm]}'")
        seen[norm] = key
        if value is not None and value not in known:
            raise UserError(f"{where}.{key}: unknown managed model {value!r}; the price file "
                            f"({prices.origin}) has: {', '.join(sorted(known))}")
