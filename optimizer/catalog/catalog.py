"""The instance catalog: load the bundled snapshot (or a user/refreshed file), apply price overrides,
look types and prices up.

Every dollar of a report comes through ``Catalog.price``; an instance type it does not know raises
``UnknownInstanceType`` naming it, so nothing is ever priced at 0 by accident.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path

from optimizer.catalog.arch import arch_from_name, normalize_arch
from optimizer.catalog.gpus import canonical_gpu_model
from optimizer.catalog.model import ARCHES, Allocatable, InstanceType
from store.errors import UserError

BUNDLED = "aws-catalog.json"
CAPACITY_TYPES = ("on-demand", "spot")
BANDS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")
OVERRIDE_COLUMNS = ("instance_type", "region", "on_demand", "spot")
# CPU-only families the catalog carries as system / CPU-workload nodes next to GPU nodes (Intel, AMD,
# Graviton). The build script and the live refresh keep exactly these plus every GPU/accelerator type.
CPU_FAMILIES = (
    "m5", "c5", "r5", "m6i", "c6i", "r6i", "m6a", "c6a", "r6a",
    "m7i", "c7i", "r7i", "m7a", "c7a", "r7a", "m7g", "c7g", "r7g", "t3",
)


class UnknownInstanceType(UserError):
    """An instance type the catalog has no entry for. ``name`` is the type as met."""

    def __init__(self, name: str, detail: str | None = None):
        self.name = name
        hint = detail or ("add its shape with --catalog FILE (see docs/catalog.md), or refresh the catalog "
                          "with 'rightsizer catalog refresh'")
        super().__init__(f"unknown instance type {name!r}: {hint}")


def _bundled_text() -> tuple[str, str]:
    ref = resources.files("optimizer.catalog").joinpath("data", BUNDLED)
    return ref.read_text(encoding="utf-8"), f"<bundled {BUNDLED}>"


def _number(value: object, where: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise UserError(f"{where}: expected a non-negative number, got {value!r}")
    return float(value)


def _parse_arch(entry: dict, name: str, here: str) -> str | None:
    """The entry's ``arch``; a file without one (older catalogs, hand-written shapes) gets the
    architecture the EC2 name implies, or None for names that are not EC2's."""
    if entry.get("arch") is None:
        return arch_from_name(name)
    arch = normalize_arch(entry["arch"]) if isinstance(entry["arch"], str) else None
    if arch is None:
        raise UserError(f"{here}: key 'arch' must be one of {', '.join(ARCHES)}, got {entry['arch']!r}")
    return arch


def _parse_allocatable(entry: dict, here: str) -> Allocatable | None:
    """The entry's ``allocatable`` object, or None when the file has none (the EKS rule applies then)."""
    value = entry.get("allocatable")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise UserError(f"{here}: key 'allocatable' must be an object with cpu_milli, memory_bytes, pods")
    for key in ("cpu_milli", "memory_bytes", "pods"):
        if key not in value:
            raise UserError(f"{here}: allocatable: missing key '{key}'")
    numbers = {k: int(_number(value[k], f"{here}: allocatable.{k}")) for k in ("cpu_milli", "memory_bytes", "pods")}
    return Allocatable(**numbers, source=str(value.get("source") or "catalog file"))


def _parse_type(entry: object, where: str) -> InstanceType:
    if not isinstance(entry, dict):
        raise UserError(f"{where}: expected an object, got {type(entry).__name__}")
    for key in ("name", "vcpu", "memory_bytes"):
        if key not in entry:
            raise UserError(f"{where}: missing key '{key}'")
    name = entry["name"]
    if not isinstance(name, str) or not name:
        raise UserError(f"{where}: key 'name' must be a non-empty string")
    here = f"{where} ({name})"
    prices = {}
    for key in ("on_demand", "spot"):
        m = entry.get(key) or {}
        if not isinstance(m, dict):
            raise UserError(f"{here}: key '{key}' must map region to $/h")
        prices[key] = {r: _number(v, f"{here}: {key}[{r}]") for r, v in m.items()}
    bands = entry.get("interruption_band") or {}
    if not isinstance(bands, dict) or any(b not in BANDS for b in bands.values()):
        raise UserError(f"{here}: key 'interruption_band' must map region to one of {', '.join(BANDS)}")
    gpu_count = _number(entry.get("gpu_count", 0) or 0, f"{here}: gpu_count")
    model = entry.get("gpu_model")
    vendor = entry.get("gpu_vendor")
    if gpu_count and vendor in (None, "nvidia") and model is not None:
        canonical = canonical_gpu_model(model)
        if canonical is None:
            raise UserError(f"{here}: unknown NVIDIA gpu_model {model!r}")
        model, vendor = canonical, "nvidia"
    return InstanceType(
        name=name,
        family=str(entry.get("family") or name.split(".", 1)[0]),
        gpu_vendor=vendor if gpu_count else None,
        gpu_model=model if gpu_count else None,
        gpu_count=gpu_count,
        gpu_memory_bytes=int(_number(entry.get("gpu_memory_bytes", 0) or 0, f"{here}: gpu_memory_bytes")),
        vcpu=int(_number(entry["vcpu"], f"{here}: vcpu")),
        memory_bytes=int(_number(entry["memory_bytes"], f"{here}: memory_bytes")),
        on_demand=prices["on_demand"],
        spot=prices["spot"],
        interruption_band=dict(bands),
        arch=_parse_arch(entry, name, here),
        allocatable=_parse_allocatable(entry, here),
    )


class Catalog:
    """Instance types with their prices per region. Build with ``Catalog.load``."""

    def __init__(self, types: dict[str, InstanceType], *, snapshot_date: str, source: str,
                 excluded: dict[str, str] | None = None, origin: str = "", overrides: str | None = None):
        self._types = types
        self.snapshot_date = snapshot_date
        self.source = source
        self.excluded = dict(excluded or {})
        self.origin = origin
        self.overrides = overrides

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | None = None, *, overrides: str | None = None) -> Catalog:
        """The bundled snapshot (``path=None``) or a catalog JSON file (the same format, e.g. written by
        ``rightsizer catalog refresh``), then the price override CSV if given. Bad files raise UserError
        naming the file and the entry."""
        if path is None:
            text, origin = _bundled_text()
        else:
            origin = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise UserError(f"{path}: cannot read catalog file: {exc.strerror or exc}") from None
        catalog = cls.from_json_text(text, origin)
        return catalog.with_overrides(overrides) if overrides else catalog

    @classmethod
    def from_json_text(cls, text: str, origin: str) -> Catalog:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{origin}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("instance_types"), list):
            raise UserError(f"{origin}: expected a catalog object with an 'instance_types' list")
        types: dict[str, InstanceType] = {}
        for i, entry in enumerate(doc["instance_types"]):
            it = _parse_type(entry, f"{origin}: instance_types[{i}]")
            if it.name in types:
                raise UserError(f"{origin}: instance_types[{i}]: duplicate instance type {it.name!r}")
            types[it.name] = it
        return cls(types, snapshot_date=str(doc.get("snapshot_date") or "unknown"),
                   source=str(doc.get("source") or origin), excluded=doc.get("excluded") or {}, origin=origin)

    def with_overrides(self, path: str) -> Catalog:
        """A copy with prices from a CSV ``instance_type,region,on_demand,spot`` (header row required;
        an empty cell keeps the catalog's price). For negotiated, reserved or on-prem prices."""
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
        except OSError as exc:
            raise UserError(f"{path}: cannot read price override file: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise UserError(f"{path}: not a CSV text file ({exc})") from None
        if not rows:
            raise UserError(f"{path}: empty file; expected a header row {','.join(OVERRIDE_COLUMNS)}")
        header = [h.strip() for h in rows[0]]
        missing = [c for c in OVERRIDE_COLUMNS if c not in header]
        if missing:
            raise UserError(f"{path}: row 1: missing column '{missing[0]}' (expected header "
                            f"{','.join(OVERRIDE_COLUMNS)}, got {','.join(header)})")
        col = {c: header.index(c) for c in OVERRIDE_COLUMNS}
        types = dict(self._types)
        seen: set[tuple[str, str]] = set()
        for line, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise UserError(f"{path}: row {line}: {len(row)} fields, the header has {len(header)}")
            cell = {c: row[i].strip() for c, i in col.items()}
            name, region = cell["instance_type"], cell["region"]
            if name not in types:
                raise UserError(f"{path}: row {line}, column instance_type: unknown instance type {name!r} "
                                "(overrides re-price catalog types; add new shapes with --catalog FILE)")
            if not region:
                raise UserError(f"{path}: row {line}, column region: empty")
            if (name, region) in seen:
                raise UserError(f"{path}: row {line}: second row for {name} in {region}")
            seen.add((name, region))
            it = types[name]
            od, sp = dict(it.on_demand), dict(it.spot)
            for column, target in (("on_demand", od), ("spot", sp)):
                if not cell[column]:
                    continue
                try:
                    value = float(cell[column])
                except ValueError:
                    value = math.nan
                if math.isnan(value) or math.isinf(value) or value < 0:
                    raise UserError(f"{path}: row {line}, column {column}: {cell[column]!r} is not a "
                                    "non-negative price in $/h")
                target[region] = value
            types[name] = replace(it, on_demand=od, spot=sp)
        return Catalog(types, snapshot_date=self.snapshot_date, source=self.source, excluded=self.excluded,
                       origin=self.origin, overrides=str(path))

    # -- lookups ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._types)

    def __iter__(self) -> Iterator[InstanceType]:
        return iter(self._types.values())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    @property
    def regions(self) -> list[str]:
        return sorted({r for it in self._types.values() for r in it.on_demand})

    def get(self, name: str) -> InstanceType:
        """The instance type; ``UnknownInstanceType`` (a UserError naming it) when the catalog lacks it."""
        try:
            return self._types[name]
        except KeyError:
            why = self.excluded.get(name)
            raise UnknownInstanceType(name, f"left out of the catalog: {why}" if why else None) from None

    def instance_types(self, region: str = "us-east-1", gpu_model: str | None = None,
                       include_non_nvidia: bool = False) -> list[InstanceType]:
        """Types with an on-demand price in ``region``, sorted by that price. ``gpu_model`` (canonical or
        NVML name) keeps only that GPU; without it CPU-only types are included too. AMD GPUs and AWS or
        Qualcomm accelerators are left out unless ``include_non_nvidia``."""
        want = None
        if gpu_model is not None:
            want = canonical_gpu_model(gpu_model) or gpu_model
        out = []
        for it in self._types.values():
            if region not in it.on_demand:
                continue
            if it.gpu_vendor not in (None, "nvidia") and not include_non_nvidia:
                continue
            if want is not None and it.gpu_model != want:
                continue
            out.append(it)
        return sorted(out, key=lambda it: (it.on_demand[region], it.name))

    def price(self, name: str, region: str = "us-east-1", capacity_type: str = "on-demand") -> float | None:
        """$/h of one instance: on-demand, or the spot average. None when the catalog has the type but no
        price for it there; ``UnknownInstanceType`` when it does not have the type at all."""
        if capacity_type not in CAPACITY_TYPES:
            raise UserError(f"capacity type must be one of {', '.join(CAPACITY_TYPES)}, got {capacity_type!r}")
        it = self.get(name)
        prices = it.on_demand if capacity_type == "on-demand" else it.spot
        return prices.get(region)

    def interruption_band(self, name: str, region: str = "us-east-1") -> str | None:
        return self.get(name).interruption_band.get(region)

    # -- writing ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": 1,
            "snapshot_date": self.snapshot_date,
            "source": self.source,
            "currency": "USD",
            "price_unit": "per instance-hour, Linux, shared tenancy",
            "regions": self.regions,
            "excluded": dict(sorted(self.excluded.items())),
            "instance_types": [it.to_dict() for it in sorted(self._types.values(), key=lambda t: t.name)],
        }

    def write(self, path: str) -> None:
        """Write atomically (temp file + rename): a reader never sees half a catalog."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
            tmp.replace(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise UserError(f"{path}: cannot write catalog: {exc.strerror or exc}") from None
