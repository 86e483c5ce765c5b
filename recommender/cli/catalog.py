"""`rightsizer catalog show|refresh`: inspect the instance catalog and refresh it from AWS."""

from __future__ import annotations

import argparse
import sys

NAME = "catalog"
HELP = "show instance types, GPUs and prices; refresh them from the AWS APIs"
DESCRIPTION = """\
The catalog holds every EC2 instance type with NVIDIA GPUs (plus AMD/Inferentia/Trainium types, marked,
and common CPU-only families): GPU model and count, GPU memory, vCPU, memory, on-demand price,
average spot price and Spot Advisor interruption band per region. A snapshot ships with rightsizer;
'refresh' replaces one region with live data from your AWS account."""
EPILOG = """\
Examples:
  rightsizer catalog show --gpu H100-80GB                      H100 types in us-east-1, cheapest first
  rightsizer catalog show --region eu-west-1 -o csv > p.csv    everything priced in eu-west-1, as CSV
  rightsizer catalog show --prices p.csv                       with your own prices applied (edit p.csv first)
  rightsizer catalog refresh --region us-west-2 --out catalog.json \\
      --spot-advisor https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json
  rightsizer recommend --data ROOT --out report --catalog catalog.json

Price override CSV (for negotiated, reserved or on-prem prices; an empty cell keeps the catalog price;
other columns are ignored, so 'catalog show -o csv' output is a valid override file as it is):
  instance_type,region,on_demand,spot
  p5.48xlarge,us-east-1,39.80,
  rightsizer catalog refresh-bedrock --region us-east-1 --out bedrock.json   managed-API token prices
Refresh needs pricing:GetProducts, ec2:DescribeInstanceTypes and ec2:DescribeSpotPriceHistory.
Details: docs/catalog.md"""

GIB = 1024**3
# The CSV's first four columns are the price override file's (instance_type,region,on_demand,spot, in $/h),
# so what 'show -o csv' writes, edited or not, is what '--prices' reads back.
CSV_COLUMNS = ("instance_type", "region", "on_demand", "spot", "gpu_vendor", "gpu_model", "gpu_count",
               "gpu_memory_gib", "vcpu", "memory_gib", "interruption_band", "on_demand_monthly", "arch",
               "allocatable_cpu", "allocatable_memory_gib", "max_pods", "allocatable_source")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="catalog_action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="list instance types with GPU specs and prices",
                          description="List the instance types priced in a region, cheapest first.")
    show.add_argument("--region", default="us-east-1", help="AWS region (default: %(default)s)")
    show.add_argument("--gpu", metavar="MODEL",
                      help="only this GPU model: a catalog name (H100-80GB, A100-40GB, L4 ...) or an NVML name")
    from recommender.cli.output import add_output_flag

    add_output_flag(show, aliases=("--format",), what="the instance types (csv: a valid --prices file)")
    show.add_argument("--catalog", metavar="FILE", help="a catalog JSON (e.g. from 'catalog refresh') instead "
                      "of the bundled snapshot")
    show.add_argument("--prices", metavar="FILE", help="price override CSV: instance_type,region,on_demand,spot")
    show.add_argument("--include-non-nvidia", action="store_true",
                      help="also list AMD GPU and AWS Inferentia/Trainium types")
    refresh = sub.add_parser("refresh", help="fetch one region's shapes and prices from AWS into a catalog file",
                             description="Fetch instance shapes (ec2:DescribeInstanceTypes), on-demand prices "
                             "(pricing:GetProducts) and 7-day average spot prices "
                             "(ec2:DescribeSpotPriceHistory) for one region, merged over the bundled "
                             "snapshot's other regions, and write a catalog file to pass as --catalog.")
    refresh.add_argument("--region", required=True, help="AWS region to refresh, e.g. us-east-1")
    refresh.add_argument("--out", metavar="FILE", default="rightsizer-catalog.json",
                         help="catalog file to write (default: %(default)s)")
    refresh.add_argument("--spot-advisor", metavar="FILE|URL",
                         help="Spot Advisor feed (spot-advisor-data.json) for interruption bands; without "
                         "it the snapshot's bands are kept")
    refresh.add_argument("--catalog", metavar="FILE", help="base catalog to merge into (default: bundled)")
    bedrock = sub.add_parser("refresh-bedrock", help="fetch Amazon Bedrock token prices into a managed price file",
                             description="Fetch Amazon Bedrock on-demand input/output token prices for one region "
                             "from the AWS Price List API (pricing:GetProducts, ServiceCode AmazonBedrock), merged "
                             "over the bundled snapshot, and write a file to name as managed_api.prices_file in the "
                             "config (docs/llm.md).")
    bedrock.add_argument("--region", required=True, help="AWS region whose Bedrock prices to fetch, e.g. us-east-1")
    bedrock.add_argument("--out", metavar="FILE", default="rightsizer-bedrock-prices.json",
                         help="managed price file to write (default: %(default)s)")
    bedrock.add_argument("--base", metavar="FILE", help="managed price file to merge into (default: bundled)")


def run(args: argparse.Namespace) -> int:
    from optimizer.catalog import Catalog

    if args.catalog_action == "refresh":
        return _refresh(args, Catalog)
    if args.catalog_action == "refresh-bedrock":
        return _refresh_bedrock(args)
    catalog = Catalog.load(args.catalog, overrides=args.prices)
    return _show(args, catalog)


def _rows(catalog, region: str, gpu: str | None, include_non_nvidia: bool) -> list[dict]:
    from optimizer.catalog import GPU_SPECS, canonical_gpu_model, node_allocatable
    from optimizer.catalog.cost import HOURS_PER_MONTH
    from store.errors import UserError

    if gpu is not None:
        model = canonical_gpu_model(gpu)
        if model is None:
            model = _partial_gpu_match(gpu, sorted(GPU_SPECS))
        gpu = model
    types = catalog.instance_types(region, gpu_model=gpu, include_non_nvidia=include_non_nvidia)
    if not types:
        if region not in catalog.regions:
            raise UserError(f"--region: no prices for {region!r} in the catalog; regions: "
                            f"{', '.join(catalog.regions)}")
        raise UserError(f"--gpu: no {gpu} instance types priced in {region}")
    rows = []
    for it in types:
        od = it.on_demand[region]
        alloc = node_allocatable(it)
        rows.append({
            "instance_type": it.name, "gpu_vendor": it.gpu_vendor, "gpu_model": it.gpu_model,
            "gpu_count": it.gpu_count, "gpu_memory_gib": round(it.gpu_memory_bytes / GIB, 2) if it.has_gpu else None,
            "vcpu": it.vcpu, "memory_gib": round(it.memory_bytes / GIB, 2), "on_demand_hourly": od,
            "spot_hourly": it.spot.get(region), "interruption_band": it.interruption_band.get(region),
            "on_demand_monthly": round(od * HOURS_PER_MONTH, 2), "arch": it.arch,
            "allocatable_cpu": alloc.cpu, "allocatable_memory_gib": round(alloc.memory_bytes / GIB, 2),
            "max_pods": alloc.pods, "allocatable_source": alloc.source,
        })
    return rows


def _partial_gpu_match(gpu: str, known: list[str]) -> str:
    """A name that is part of exactly one catalog model (``L40S`` in ``L40S``, ``B200``) picks it; part of
    several (``A100``: 40 and 80 GB) is a question back to the user, with the choices."""
    from store.errors import UserError

    needle = gpu.strip().lower()
    matches = [m for m in known if needle and needle in m.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"--gpu: {gpu!r} matches {len(matches)} GPU models: {', '.join(matches)}; name one of them")
    raise UserError(f"--gpu: unknown GPU model {gpu!r}; known: {', '.join(known)}")


def _show(args: argparse.Namespace, catalog) -> int:
    from recommender.cli.output import write_csv, write_document

    rows = _rows(catalog, args.region, args.gpu, args.include_non_nvidia)
    if args.output in ("json", "yaml"):
        write_document({"snapshot_date": catalog.snapshot_date, "source": catalog.source, "region": args.region,
                        "overrides": catalog.overrides, "instance_types": rows}, args.output)
        return 0
    if args.output == "csv":
        write_csv(({**r, "region": args.region, "on_demand": r["on_demand_hourly"], "spot": r["spot_hourly"]}
                   for r in rows), CSV_COLUMNS)
        return 0
    from rich.console import Console
    from rich.table import Table

    title = f"{len(rows)} instance types in {args.region}, cheapest first (USD, Linux, snapshot {catalog.snapshot_date})"
    table = Table(title=title, title_justify="left", caption=f"source: {catalog.source}"
                  + (f"; prices overridden from {catalog.overrides}" if catalog.overrides else ""),
                  caption_justify="left")
    for col, label in (("instance_type", "TYPE"), ("arch", "ARCH"), ("gpu_model", "GPU"), ("gpu_count", "GPUS"),
                       ("gpu_memory_gib", "GiB/GPU"), ("vcpu", "VCPU"), ("memory_gib", "MEM GiB"),
                       ("on_demand_hourly", "ON-DEMAND $/h"), ("spot_hourly", "SPOT $/h"),
                       ("interruption_band", "INTERRUPT"), ("on_demand_monthly", "$/MONTH")):
        table.add_column(label, justify="left" if col in ("instance_type", "arch", "gpu_model", "interruption_band")
                         else "right", overflow="fold")
    for r in rows:
        gpu = r["gpu_model"] or "-"
        if r["gpu_vendor"] not in (None, "nvidia"):
            gpu = f"{gpu} ({r['gpu_vendor']})"
        table.add_row(r["instance_type"], r["arch"] or "-", gpu, f"{r['gpu_count']:g}" if r["gpu_count"] else "-",
                      f"{r['gpu_memory_gib']:g}" if r["gpu_memory_gib"] else "-", str(r["vcpu"]),
                      f"{r['memory_gib']:g}", f"{r['on_demand_hourly']:.4f}",
                      f"{r['spot_hourly']:.4f}" if r["spot_hourly"] is not None else "-",
                      r["interruption_band"] or "-", f"{r['on_demand_monthly']:,.2f}")
    Console(width=max(120, Console().width)).print(table)
    return 0


def _refresh(args: argparse.Namespace, Catalog) -> int:
    from optimizer.catalog.refresh import refresh_region

    base = Catalog.load(args.catalog)
    say = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    from rich.console import Console

    with Console(stderr=True).status(f"refreshing {args.region} from the AWS APIs ..."):
        fresh = refresh_region(args.region, base=base, spot_advisor=args.spot_advisor, log=say)
    fresh.write(args.out)
    priced = len(fresh.instance_types(args.region, include_non_nvidia=True))
    print(f"wrote {args.out}: {priced} instance types priced in {args.region} (as of {fresh.snapshot_date}); "
          f"use it with --catalog {args.out}")
    return 0


def _refresh_bedrock(args: argparse.Namespace) -> int:
    from optimizer.llm.bedrock_refresh import refresh_bedrock
    from optimizer.llm.managed import load_managed_prices

    base = load_managed_prices(args.base)
    say = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    fresh = refresh_bedrock(args.region, base=base, log=say)
    fresh.write(args.out)
    priced = sum(1 for (region, _) in fresh.prices if region == args.region)
    print(f"wrote {args.out}: {priced} Bedrock models priced in {args.region}; name it as managed_api.prices_file "
          "in the config file")
    return 0
