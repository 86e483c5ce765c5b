#!/usr/bin/env python3
"""Regenerate optimizer/catalog/data/aws-catalog.json from the committed public snapshots.

Sources (see docs/catalog.md and the data folder's README for provenance):
  (A) gpu_instances_raw.json: ec2instances.info (Vantage) data, about 2025-11-30: per-region Linux
      on-demand and spot prices, Spot Advisor interruption band, for GPU/accelerator types;
  (B) derived/ec2_instance_types_karpenter_us-east-1.csv: Karpenter's instance-type reference (made from
      EC2 DescribeInstanceTypes, 2026-07-20) with its generated us-east-1 on-demand price table. Used for
      vCPU, memory and per-GPU memory exactly as the EC2 API reports them, for the CPU-only families,
      and for each type's architecture and Kubernetes allocatable CPU, memory and pods;
  (C) for the few types (B) has no row for (p3.2xlarge/8xlarge/16xlarge): architecture from (A), and
      allocatable by Karpenter's EKS rule (optimizer/catalog/allocatable.py) with the max pods of
      amazon-eks-ami's eni-max-pods.txt.

Usage:
  python scripts/build_catalog.py [--data DIR] [--out FILE]
  python scripts/build_catalog.py --print-gpu-weights     # the table in optimizer/catalog/cost.py
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.catalog.allocatable import eks_allocatable, parse_quantity_mib, parse_quantity_milli  # noqa: E402
from optimizer.catalog.arch import normalize_arch  # noqa: E402
from optimizer.catalog.catalog import CPU_FAMILIES  # noqa: E402
from optimizer.catalog.gpus import GPU_SPECS, aws_gpu_model  # noqa: E402
from optimizer.catalog.model import GIB, MIB, SOURCE_KARPENTER, Allocatable  # noqa: E402

DEFAULT_DATA = ROOT.parent.parent / "shared" / "data" / "aws-ec2-gpu-catalog"
DEFAULT_OUT = ROOT / "optimizer" / "catalog" / "data" / "aws-catalog.json"

# NVIDIA families left out, and why (a dataset that meets one gets UnknownInstanceType, by name).
EXCLUDED_FAMILIES = {
    "g2": "GRID K520 (Kepler): previous generation, unsupported by current NVIDIA drivers",
    "g3": "Tesla M60 (Maxwell): previous generation, unsupported by current CUDA 12 drivers",
    "g3s": "Tesla M60 (Maxwell): previous generation, unsupported by current CUDA 12 drivers",
    "p2": "Tesla K80 (Kepler): previous generation, unsupported by current NVIDIA drivers",
    "p6-b300": "B300: no vendor data sheet figures in the GPU spec table yet",
    "p6e-gb200": "GB200 UltraServer: sold as capacity blocks, no per-instance price in the snapshot",
}
# Max pods (VPC CNI, ENIs × (IPv4 per ENI − 1) + 2) of the GPU types Karpenter's table has no row for, from
# awslabs/amazon-eks-ami templates/shared/runtime/eni-max-pods.txt (p3.2xlarge: 4 ENIs × 15 addresses;
# p3.8xlarge and p3.16xlarge: 8 × 30).
ENI_MAX_PODS = {"p3.2xlarge": 58, "p3.8xlarge": 234, "p3.16xlarge": 234}
# Plain AWS regions (no Local Zones or Wavelength zones, which price the same types differently).
REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d+$")
ACCELERATOR_VENDOR = {"inferentia": "aws", "inferentia2": "aws", "trainium": "aws", "trainium2": "aws",
                      "qualcomm-ai100": "qualcomm"}
ACCELERATOR_MODEL = {"inferentia": "Inferentia", "inferentia2": "Inferentia2", "trainium": "Trainium",
                     "trainium2": "Trainium2", "qualcomm-ai100": "Qualcomm-AI100",
                     "radeon-pro-v520": "Radeon-Pro-V520"}
VANTAGE_ACCELERATOR = {"AWS Inferentia": "inferentia", "AWS Inferentia2": "inferentia2",
                       "AWS Trainium2": "trainium2", "Qualcomm AI 100 Accelerators": "qualcomm-ai100"}


def _float(value: str | None) -> float | None:
    if value in (None, "", "N/A"):
        return None
    try:
        v = float(value)
    except ValueError:
        return None
    return v if v > 0 else None


def _karpenter(data: Path) -> dict[str, dict[str, str]]:
    with open(data / "derived" / "ec2_instance_types_karpenter_us-east-1.csv", newline="") as f:
        return {row["instance_type"]: row for row in csv.DictReader(f)}


def _karpenter_allocatable(krow: dict[str, str]) -> Allocatable:
    return Allocatable(cpu_milli=parse_quantity_milli(krow["alloc_cpu"]),
                       memory_bytes=parse_quantity_mib(krow["alloc_memory"]) * MIB,
                       pods=int(krow["alloc_pods"]), source=SOURCE_KARPENTER)


def _placement_fields(name: str, krow: dict[str, str] | None, raw: dict | None, vcpu: int, memory: int) -> dict:
    """``arch`` and ``allocatable`` of one type: Karpenter's row where there is one, else (A)'s
    architecture and the EKS rule with the type's ENI-limited max pods."""
    if krow:
        return {"arch": normalize_arch(krow["arch"]), "allocatable": _karpenter_allocatable(krow).to_dict()}
    arch = normalize_arch(((raw or {}).get("arch") or [None])[0])
    if arch is None or name not in ENI_MAX_PODS:
        raise SystemExit(f"{name}: no Karpenter row, and no architecture or max pods to compute allocatable from")
    return {"arch": arch, "allocatable": eks_allocatable(vcpu, memory, ENI_MAX_PODS[name], arch).to_dict()}


def _family(name: str) -> str:
    return name.split(".", 1)[0]


def _gpu_fields(raw: dict, krow: dict[str, str] | None) -> dict:
    """Vendor, canonical model, count and per-device memory of one GPU/accelerator type."""
    count = float(raw.get("GPU") or 0)
    total_gib = float(raw.get("GPU_memory") or 0)
    gpu_name = (krow or {}).get("gpu_name") or ""
    maker = ((krow or {}).get("gpu_manufacturer") or "").lower()
    kmib = int((krow or {}).get("gpu_memory_mib") or 0)
    vmodel = raw.get("GPU_model") or ""
    if maker == "nvidia" or vmodel.startswith("NVIDIA"):
        name = gpu_name or vmodel.replace("NVIDIA", "").replace("Tensor Core", "").replace("Tesla", "").strip()
        per_device_mib = kmib or int(round(total_gib * 1024 / max(count, 1) if count >= 1 else total_gib * 1024))
        model = aws_gpu_model(name, "nvidia", per_device_mib)
        if model is None:
            raise SystemExit(f"{raw['instance_type']}: no canonical model for NVIDIA GPU {name!r}")
        return {"gpu_vendor": "nvidia", "gpu_model": model, "gpu_count": count,
                "gpu_memory_bytes": per_device_mib * MIB}
    if maker == "amd" or vmodel.startswith("AMD"):
        mib = kmib or int(total_gib * 1024 / count)
        return {"gpu_vendor": "amd", "gpu_model": ACCELERATOR_MODEL["radeon-pro-v520"], "gpu_count": count,
                "gpu_memory_bytes": mib * MIB}
    # Inferentia / Trainium / Qualcomm: Karpenter's accelerator name is right where Vantage mislabels
    # trn1 as "AWS Inferentia".
    accel = (krow or {}).get("accelerator_name") or VANTAGE_ACCELERATOR.get(vmodel, "")
    if accel not in ACCELERATOR_VENDOR:
        raise SystemExit(f"{raw['instance_type']}: unknown accelerator {vmodel!r}/{accel!r}")
    count = float((krow or {}).get("accelerator_count") or count)
    return {"gpu_vendor": ACCELERATOR_VENDOR[accel], "gpu_model": ACCELERATOR_MODEL[accel], "gpu_count": count,
            "gpu_memory_bytes": int(round(total_gib * GIB / count)) if count else 0}


def build(data: Path) -> dict:
    raw_types = json.loads((data / "gpu_instances_raw.json").read_text())
    karpenter = _karpenter(data)
    types: list[dict] = []
    excluded: dict[str, str] = {}
    for raw in sorted(raw_types, key=lambda r: r["instance_type"]):
        name = raw["instance_type"]
        fam = _family(name)
        if fam in EXCLUDED_FAMILIES:
            excluded[name] = EXCLUDED_FAMILIES[fam]
            continue
        krow = karpenter.get(name)
        entry = {"name": name, "family": fam, **_gpu_fields(raw, krow)}
        entry["vcpu"] = int(krow["vcpu"]) if krow else int(raw["vCPU"])
        entry["memory_bytes"] = int(krow["memory_mib"]) * MIB if krow else int(round(float(raw["memory"]) * GIB))
        placement = _placement_fields(name, krow, raw, entry["vcpu"], entry["memory_bytes"])
        on_demand, spot, band = {}, {}, {}
        for region, oses in sorted(raw.get("pricing", {}).items()):
            linux = oses.get("linux") if REGION_RE.match(region) else None
            if not linux:
                continue
            if (od := _float(linux.get("ondemand"))) is not None:
                on_demand[region] = od
            if (sp := _float(linux.get("spot_avg"))) is not None:
                spot[region] = sp
            if linux.get("pct_interrupt"):
                band[region] = linux["pct_interrupt"]
        # Karpenter's us-east-1 table is newer (2026-07) and agreed on every shared type; fill gaps only.
        if "us-east-1" not in on_demand and krow and (kp := _float(krow.get("ondemand_usd_per_hour_us_east_1"))):
            on_demand["us-east-1"] = kp
        entry.update(on_demand=on_demand, spot=spot, interruption_band=band, **placement)
        types.append(entry)
    for name, krow in sorted(karpenter.items()):
        if krow["family"] not in CPU_FAMILIES or krow.get("gpu_count") or krow.get("accelerator_count"):
            continue
        price = _float(krow.get("ondemand_usd_per_hour_us_east_1"))
        types.append({
            "name": name, "family": krow["family"], "gpu_vendor": None, "gpu_model": None, "gpu_count": 0.0,
            "gpu_memory_bytes": 0, "vcpu": int(krow["vcpu"]), "memory_bytes": int(krow["memory_mib"]) * MIB,
            "on_demand": {"us-east-1": price} if price else {}, "spot": {}, "interruption_band": {},
            **_placement_fields(name, krow, None, int(krow["vcpu"]), int(krow["memory_mib"]) * MIB),
        })
    regions = sorted({r for t in types for r in t["on_demand"]})
    return {
        "format": 1,
        "snapshot_date": "2025-11-30",
        "source": "AWS public price list via ec2instances.info (Vantage) snapshot 2025-11-30 (GPU/accelerator "
                  "types, all regions: on-demand, spot averaged across AZs, Spot Advisor band); EC2 "
                  "DescribeInstanceTypes shapes and us-east-1 on-demand prices via Karpenter's generated "
                  "reference 2026-07-20 (CPU families, per-GPU memory, architecture, Kubernetes allocatable CPU, "
                  "memory and pods; the EKS rule for the three p3 sizes it lacks)",
        "sources": [
            {"name": "ec2instances.info GPU snapshot", "date": "2025-11-30",
             "url": "https://github.com/tsaol/aws-gpu (data/gpu_instances_raw.json, commit 2d0108c7)"},
            {"name": "Karpenter instance-type reference (shapes, arch, allocatable) and on-demand price table",
             "date": "2026-07-20",
             "url": "https://github.com/aws/karpenter-provider-aws (website/.../instance-types.md, "
                    "pkg/providers/pricing/zz_generated.pricing_aws.go)"},
            {"name": "EKS allocatable rule (where allocatable.source is 'eks-rule')",
             "date": "2026-07-20",
             "url": "https://github.com/aws/karpenter-provider-aws (pkg/providers/instancetype/types.go); max "
                    "pods from https://github.com/awslabs/amazon-eks-ami "
                    "(templates/shared/runtime/eni-max-pods.txt)"},
        ],
        "currency": "USD",
        "price_unit": "per instance-hour, Linux, shared tenancy",
        "regions": regions,
        "excluded": excluded,
        "instance_types": types,
    }


def gpu_weights(catalog: dict) -> dict[str, float]:
    """Per-model GPU weight for the price split (see optimizer/catalog/cost.py): take the most GPU-dense
    type of each model (fewest vCPUs per GPU, then cheapest per GPU) in us-east-1 and subtract its vCPUs
    and memory at OpenCost's unit prices; what is left, per GPU, is the GPU's weight."""
    from optimizer.catalog.cost import OPENCOST_CPU_HOURLY, OPENCOST_RAM_GIB_HOURLY

    best: dict[str, tuple[float, float]] = {}
    for t in catalog["instance_types"]:
        price = t["on_demand"].get("us-east-1")
        if t["gpu_vendor"] != "nvidia" or not price or t["gpu_count"] < 1:
            continue
        rest = t["vcpu"] * OPENCOST_CPU_HOURLY + t["memory_bytes"] / GIB * OPENCOST_RAM_GIB_HOURLY
        per_gpu = (price - rest) / t["gpu_count"]
        key = (t["vcpu"] / t["gpu_count"], price / t["gpu_count"])
        if per_gpu > 0 and (t["gpu_model"] not in best or key < best[t["gpu_model"]][0]):
            best[t["gpu_model"]] = (key, per_gpu)
    return {m: round(v[1], 3) for m, v in sorted(best.items()) if m in GPU_SPECS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the aws-ec2-gpu-catalog folder")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--print-gpu-weights", action="store_true",
                    help="print GPU_HOURLY_WEIGHT for optimizer/catalog/cost.py instead of writing")
    args = ap.parse_args(argv)
    catalog = build(args.data)
    if args.print_gpu_weights:
        for model, weight in gpu_weights(catalog).items():
            print(f'    "{model}": {weight:.3f},')
        return 0
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(catalog, indent=1, sort_keys=False) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}: {len(catalog['instance_types'])} instance types, {len(catalog['regions'])} regions, "
          f"{args.out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
