"""Live catalog refresh from the AWS APIs (boto3) for one region.

Calls, all read-only:
  ec2:DescribeInstanceTypes      shapes; GPU and Neuron types kept client-side (the API has no GpuInfo filter)
  pricing:GetProducts            Linux, shared tenancy, no pre-installed software, capacity status Used
  ec2:DescribeSpotPriceHistory   last 7 days, Linux/UNIX; time-weighted per AZ, then averaged across AZs
  Spot Advisor feed              interruption bands, from a file or URL the user gives (the feed is public
                                 but undocumented, so it is never fetched behind the user's back)

Every call is paged by hand so that a throttled page is retried on its own, with exponential backoff.
Any failure becomes one ``RefreshError`` line naming the call and saying the bundled catalog stays in use.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from optimizer.catalog.allocatable import eks_allocatable, eni_max_pods
from optimizer.catalog.arch import normalize_arch
from optimizer.catalog.catalog import CPU_FAMILIES, Catalog
from optimizer.catalog.gpus import aws_gpu_model
from optimizer.catalog.model import MIB, Allocatable, InstanceType
from store.errors import UserError

PRICING_ENDPOINT_REGION = "us-east-1"  # the Price List Query API lives in us-east-1, eu-central-1, ap-south-1
SPOT_WINDOW = timedelta(days=7)
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
    "RequestLimitExceeded", "TooManyRequestsException", "SlowDown", "ServiceUnavailable", "InternalError",
})
NEURON_MODELS = {"inferentia": "Inferentia", "inferentia2": "Inferentia2", "trainium": "Trainium",
                 "trainium2": "Trainium2"}


class RefreshError(UserError):
    """A refresh call failed; the message is one line and names the call."""

    def __init__(self, call: str, region: str, detail: str, snapshot: str | None = None,
                 catalog: str = "the bundled catalog"):
        self.call = call
        kept = f"{catalog} (snapshot {snapshot}) stays in use" if snapshot else f"{catalog} stays in use"
        detail = " ".join(str(detail).split())  # one line, whatever AWS put in the message
        super().__init__(f"catalog refresh failed: {call} in {region}: {detail}; {kept}")


class _Caller:
    """Calls one AWS operation with retry on throttling and uniform error messages."""

    def __init__(self, region: str, snapshot: str | None, *, catalog: str = "the bundled catalog",
                 max_attempts: int = 6, base_delay_s: float = 0.5, max_delay_s: float = 20.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.region, self.snapshot, self.catalog = region, snapshot, catalog
        self.max_attempts, self.base_delay_s, self.max_delay_s = max_attempts, base_delay_s, max_delay_s
        self.sleep = sleep
        self.retries = 0

    def error(self, call_name: str, detail: str) -> RefreshError:
        return RefreshError(call_name, self.region, detail, self.snapshot, self.catalog)

    def __call__(self, client, operation: str, call_name: str, **params):
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        for attempt in range(1, self.max_attempts + 1):
            try:
                return getattr(client, operation)(**params)
            except ClientError as exc:
                err = exc.response.get("Error", {})
                code, message = err.get("Code", "Error"), err.get("Message", "")
                if code in THROTTLING_CODES and attempt < self.max_attempts:
                    self.retries += 1
                    delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
                    self.sleep(delay * random.uniform(0.5, 1.0))  # jitter spreads parallel callers
                    continue
                tail = f" (gave up after {attempt} attempts)" if code in THROTTLING_CODES else ""
                raise self.error(call_name, f"{code}: {message}{tail}") from None
            except (NoCredentialsError, PartialCredentialsError):
                raise self.error(call_name, "no AWS credentials found (set AWS_PROFILE or "
                                 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)") from None
            except BotoCoreError as exc:  # endpoint unreachable, timeouts, bad region
                raise self.error(call_name, f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    def pages(self, client, operation: str, call_name: str, token_in: str = "NextToken",
              **params) -> Iterator[dict]:
        token = None
        while True:
            kwargs = dict(params, **({token_in: token} if token else {}))
            page = self(client, operation, call_name, **kwargs)
            yield page
            token = page.get("NextToken")
            if not token:
                return


# -- parsing -------------------------------------------------------------------------------------------
def _family(name: str) -> str:
    return name.split(".", 1)[0]


def parse_arch(info: dict) -> str | None:
    """``ProcessorInfo.SupportedArchitectures`` as the catalog's arch: ``arm64`` when listed, else
    ``x86_64`` (old types also list ``i386``; Apple-silicon Macs ``arm64_mac``, which EKS cannot run)."""
    listed = [normalize_arch(a) for a in (info.get("ProcessorInfo") or {}).get("SupportedArchitectures") or []]
    for arch in ("arm64", "x86_64"):
        if arch in listed:
            return arch
    return None


def parse_allocatable(info: dict, vcpu: int, memory_bytes: int, arch: str | None) -> Allocatable | None:
    """Allocatable by the EKS rule, with the max pods of the default network card's ENIs (as Karpenter and
    eni-max-pods.txt count them); None when the response carries no network limits."""
    net = info.get("NetworkInfo") or {}
    cards = net.get("NetworkCards") or []
    index = net.get("DefaultNetworkCardIndex") or 0
    enis = next((c.get("MaximumNetworkInterfaces") for c in cards if c.get("NetworkCardIndex", 0) == index),
                net.get("MaximumNetworkInterfaces"))
    per_eni = net.get("Ipv4AddressesPerInterface")
    if not enis or not per_eni:
        return None
    pods = eni_max_pods(int(enis), int(per_eni))
    return eks_allocatable(vcpu, memory_bytes, pods, arch) if pods else None


def parse_instance_type(info: dict) -> InstanceType | None:
    """An ``InstanceTypeInfo`` as an InstanceType (prices empty), or None when it is out of scope:
    neither a GPU/Neuron type nor one of the CPU families."""
    name = info["InstanceType"]
    vcpu = int(info.get("VCpuInfo", {}).get("DefaultVCpus", 0))
    memory = int(info.get("MemoryInfo", {}).get("SizeInMiB", 0)) * MIB
    arch = parse_arch(info)
    base = dict(name=name, family=_family(name), vcpu=vcpu, memory_bytes=memory, arch=arch,
                allocatable=parse_allocatable(info, vcpu, memory, arch))
    gpus = (info.get("GpuInfo") or {}).get("Gpus") or []
    if gpus:
        g = gpus[0]
        count = float(g.get("Count") or 0)
        if count == 0 and g.get("GpuPartitionSize"):  # g6f: fractional L4
            count = float(g.get("LogicalGpuCount") or 1) * float(g["GpuPartitionSize"])
        mib = int((g.get("MemoryInfo") or {}).get("SizeInMiB") or 0)
        maker = (g.get("Manufacturer") or "").lower()
        if maker == "nvidia":
            model = aws_gpu_model(g.get("Name", ""), maker, mib)
            if model is None:
                return None  # an NVIDIA GPU without a spec entry: reported as unknown, never guessed
            return InstanceType(**base, gpu_vendor="nvidia", gpu_model=model, gpu_count=count,
                                gpu_memory_bytes=mib * MIB)
        return InstanceType(**base, gpu_vendor=maker or None, gpu_model=g.get("Name"), gpu_count=count,
                            gpu_memory_bytes=mib * MIB)
    neurons = (info.get("NeuronInfo") or {}).get("NeuronDevices") or []
    if neurons:
        n = neurons[0]
        raw = (n.get("Name") or "").lower()
        return InstanceType(**base, gpu_vendor="aws", gpu_model=NEURON_MODELS.get(raw, n.get("Name")),
                            gpu_count=float(n.get("Count") or 0),
                            gpu_memory_bytes=int((n.get("MemoryInfo") or {}).get("SizeInMiB") or 0) * MIB)
    if _family(name) in CPU_FAMILIES:
        return InstanceType(**base, gpu_vendor=None, gpu_model=None, gpu_count=0.0, gpu_memory_bytes=0)
    return None


def parse_price_item(item: str | dict) -> tuple[str, float] | None:
    """(instance type, on-demand $/h) from one PriceList entry (a JSON string), or None without a price."""
    doc = json.loads(item) if isinstance(item, str) else item
    name = doc.get("product", {}).get("attributes", {}).get("instanceType")
    if not name:
        return None
    for term in (doc.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            if dim.get("unit") in ("Hrs", "Hours"):
                usd = float(dim.get("pricePerUnit", {}).get("USD", "0") or 0)
                if usd > 0:
                    return name, usd
    return None


def average_spot_prices(history: Iterable[dict], start: datetime, end: datetime) -> dict[str, float]:
    """Mean spot price per instance type over ``[start, end]``.

    Each AZ's history is a step function (a price holds until the next change; AWS also returns the price
    in force at ``start``), so we time-weight it per AZ, then average the AZs with equal weight.
    """
    by_key: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for row in history:
        by_key[(row["InstanceType"], row["AvailabilityZone"])].append((row["Timestamp"], float(row["SpotPrice"])))
    per_type: dict[str, list[float]] = defaultdict(list)
    for (itype, _az), points in by_key.items():
        points.sort()
        total = weighted = 0.0
        for i, (ts, price) in enumerate(points):
            seg_start = max(ts, start)
            seg_end = points[i + 1][0] if i + 1 < len(points) else end
            seg_end = min(seg_end, end)
            span = (seg_end - seg_start).total_seconds()
            if span > 0:
                total += span
                weighted += span * price
        if total > 0:
            per_type[itype].append(weighted / total)
        elif points:
            per_type[itype].append(points[-1][1])
    return {t: sum(v) / len(v) for t, v in per_type.items()}


def load_spot_advisor(source: str) -> dict:
    """The Spot Advisor feed (``spot-advisor-data.json``) from a file path or an http(s) URL."""
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=30) as resp:  # noqa: S310 - user-given URL
                text = resp.read().decode("utf-8")
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
        doc = json.loads(text)
    except OSError as exc:
        raise UserError(f"{source}: cannot read the Spot Advisor feed: {exc}; the bundled catalog stays in "
                        "use") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{source}: the Spot Advisor feed is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or "spot_advisor" not in doc or "ranges" not in doc:
        raise UserError(f"{source}: not a Spot Advisor feed (expected keys 'ranges' and 'spot_advisor')")
    return doc


def spot_advisor_bands(doc: dict, region: str) -> dict[str, str]:
    """Instance type -> band label (``"5-10%"``) for Linux in one region."""
    labels = {int(r["index"]): r["label"] for r in doc.get("ranges", [])}
    linux = doc.get("spot_advisor", {}).get(region, {}).get("Linux", {})
    return {t: labels[v["r"]] for t, v in linux.items() if isinstance(v, dict) and v.get("r") in labels}


# -- the refresh ---------------------------------------------------------------------------------------
def refresh_region(
    region: str,
    *,
    base: Catalog,
    ec2=None,
    pricing=None,
    spot_advisor: str | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda _msg: None,
) -> Catalog:
    """A copy of ``base`` with ``region``'s shapes and prices replaced by live AWS data.

    Other regions keep ``base``'s values. Types the region does not offer lose their prices there. Spot
    Advisor bands are replaced only when ``spot_advisor`` (file or URL) is given; otherwise ``base``'s
    bands for the region stay. ``ec2``/``pricing`` are boto3 clients (made here when None).
    """
    kept = "the bundled catalog" if base.origin.startswith("<bundled") else f"the catalog {base.origin}"
    call = _Caller(region, base.snapshot_date, catalog=kept, sleep=sleep)
    now = now or _utcnow()
    if ec2 is None or pricing is None:
        ec2, pricing = _clients(region, call)

    shapes: dict[str, InstanceType] = {}
    seen = 0
    for page in call.pages(ec2, "describe_instance_types", "ec2:DescribeInstanceTypes", MaxResults=100):
        for info in page.get("InstanceTypes", []):
            seen += 1
            it = parse_instance_type(info)
            if it is not None:
                shapes[it.name] = it
    log(f"ec2:DescribeInstanceTypes: {seen} types in {region}, {len(shapes)} kept (GPU, Neuron, CPU families)")

    flt = [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in (
        ("regionCode", region), ("operatingSystem", "Linux"), ("tenancy", "Shared"), ("preInstalledSw", "NA"),
        ("capacitystatus", "Used"), ("licenseModel", "No License required"), ("marketoption", "OnDemand"))]
    on_demand: dict[str, float] = {}
    for page in call.pages(pricing, "get_products", "pricing:GetProducts", ServiceCode="AmazonEC2",
                           FormatVersion="aws_v1", Filters=flt, MaxResults=100):
        for item in page.get("PriceList", []):
            try:
                parsed = parse_price_item(item)
            except (ValueError, TypeError, AttributeError) as exc:
                raise call.error("pricing:GetProducts", f"unexpected PriceList item ({exc})") from None
            if parsed and parsed[0] in shapes:
                on_demand[parsed[0]] = parsed[1]
    log(f"pricing:GetProducts: on-demand prices for {len(on_demand)} of {len(shapes)} types")

    start = now - SPOT_WINDOW
    history: list[dict] = []
    names = sorted(n for n in shapes if shapes[n].has_gpu or n in on_demand)
    for i in range(0, len(names), 50):
        for page in call.pages(ec2, "describe_spot_price_history", "ec2:DescribeSpotPriceHistory",
                               InstanceTypes=names[i:i + 50], ProductDescriptions=["Linux/UNIX"],
                               StartTime=start, EndTime=now, MaxResults=1000):
            history.extend(page.get("SpotPriceHistory", []))
    spot = average_spot_prices(history, start, now)
    log(f"ec2:DescribeSpotPriceHistory: {len(history)} price points, {len(spot)} types with a 7-day average")

    bands = spot_advisor_bands(load_spot_advisor(spot_advisor), region) if spot_advisor else None
    if call.retries:
        log(f"retried {call.retries} throttled call(s)")
    return _merge(base, region, shapes, on_demand, spot, bands, now)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _clients(region: str, call: _Caller):
    import boto3
    from botocore.config import Config

    # Our own retry loop handles throttling per page; botocore's would multiply the attempts.
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    try:
        session = boto3.session.Session()
        return (session.client("ec2", region_name=region, config=cfg),
                session.client("pricing", region_name=PRICING_ENDPOINT_REGION, config=cfg))
    except Exception as exc:  # unknown region names, broken config files
        raise call.error("boto3 client setup", f"{type(exc).__name__}: {exc}") from None


def _merge(base: Catalog, region: str, shapes: dict[str, InstanceType], on_demand: dict[str, float],
           spot: dict[str, float], bands: dict[str, str] | None, now: datetime) -> Catalog:
    types: dict[str, InstanceType] = {}
    for it in base:
        if it.name not in shapes:
            in_scope = it.has_gpu or it.family in CPU_FAMILIES
            types[it.name] = _with_region(it, region, None, None, None, bands) if in_scope else it
    for name, shape in shapes.items():
        old = base.get(name) if name in base else None
        merged = replace(shape, on_demand=dict(old.on_demand) if old else {},
                         spot=dict(old.spot) if old else {},
                         interruption_band=dict(old.interruption_band) if old else {},
                         # a response without ProcessorInfo / NetworkInfo keeps what the base knew
                         arch=shape.arch or (old.arch if old else None),
                         allocatable=shape.allocatable or (old.allocatable if old else None))
        types[name] = _with_region(merged, region, on_demand.get(name), spot.get(name),
                                   (bands or {}).get(name), bands)
    date = now.date().isoformat()
    source = (f"AWS APIs for {region} on {date} (ec2:DescribeInstanceTypes, pricing:GetProducts, "
              f"ec2:DescribeSpotPriceHistory 7-day average"
              f"{', Spot Advisor feed' if bands is not None else ''}); other regions: {base.source}")
    return Catalog(types, snapshot_date=date, source=source, excluded=base.excluded, origin="refresh")


def _with_region(it: InstanceType, region: str, od: float | None, sp: float | None, band: str | None,
                 bands: dict[str, str] | None) -> InstanceType:
    on_demand, spot, band_map = dict(it.on_demand), dict(it.spot), dict(it.interruption_band)
    for mapping, value in ((on_demand, od), (spot, sp)):
        mapping.pop(region, None)
        if value is not None:
            mapping[region] = value
    if bands is not None or od is None:
        band_map.pop(region, None)
        if band is not None and od is not None:
            band_map[region] = band
    return replace(it, on_demand=on_demand, spot=spot, interruption_band=band_map)
