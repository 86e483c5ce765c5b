"""Cost model helpers: monthly hours, splitting a node price into GPU/CPU/RAM, expected spot cost.

All prices are USD per hour unless a name says otherwise; a month is 730 hours (365 * 24 / 12), the
convention of AWS's and OpenCost's monthly figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from optimizer.catalog.model import GIB, InstanceType

HOURS_PER_MONTH = 730

# OpenCost's default unit prices (configs/default.json, "Default prices based on GCP us-central1"):
# only their *ratios* matter to the split below.
OPENCOST_CPU_HOURLY = 0.031611  # per vCPU-hour
OPENCOST_RAM_GIB_HOURLY = 0.004237  # per GiB-hour
OPENCOST_GPU_HOURLY = 0.95  # per GPU-hour, one price for every GPU model

# OpenCost's single $0.95 GPU weight is a T4-class price: on a p5.48xlarge it would give the eight
# H100s only 34% of a $55/h node. We keep OpenCost's CPU and RAM weights and use one GPU weight per
# model instead: the AWS us-east-1 on-demand price per GPU of that model's most GPU-dense instance type
# (fewest vCPUs per GPU), less its vCPUs and GiB at the OpenCost weights. Regenerate with `python scripts/build_catalog.py
# --print-gpu-weights`; tests/catalog checks these against the bundled catalog.
GPU_HOURLY_WEIGHT: dict[str, float] = {
    "A100-40GB": 1.755,
    "A100-80GB": 2.441,
    "A10G": 0.812,
    "B200": 12.398,
    "H100-80GB": 5.290,
    "H200": 6.069,
    "L4": 0.611,
    "L40S": 1.599,
    "T4": 0.332,
    "T4G": 0.260,
    "V100-16GB": 2.549,
    "V100-32GB": 3.115,
}

# Spot Advisor bands -> the fraction of instances interrupted in a month we assume. Closed bands use
# their midpoint; ">20%" has no upper edge, so we take 30% (its lower edge plus the width of a band
# twice: pessimistic without being absurd). An unknown band is treated as ">20%".
BAND_MONTHLY_INTERRUPTION: dict[str, float] = {
    "<5%": 0.025,
    "5-10%": 0.075,
    "10-15%": 0.125,
    "15-20%": 0.175,
    ">20%": 0.30,
}


def split_node_price(
    it: InstanceType,
    hourly: float,
    *,
    cpu_hourly: float = OPENCOST_CPU_HOURLY,
    ram_gib_hourly: float = OPENCOST_RAM_GIB_HOURLY,
    gpu_hourly: float | Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Split one node's hourly price into ``{"gpu", "cpu", "ram"}`` parts that sum to ``hourly``.

    The ratio method of the OpenCost specification (Appendix A): weigh each resource by a default unit
    price, then scale all weights by one factor so that they add up to the node price::

        w_gpu = gpus * gpu_hourly;  w_cpu = vcpus * cpu_hourly;  w_ram = GiB * ram_gib_hourly
        part_r = hourly * w_r / (w_gpu + w_cpu + w_ram)

    (OpenCost writes it as ``ramPrice = nodePrice / (gpus*gpuToRAM + cpus*cpuToRAM + ramGiB)``; the spec's
    example: weights GPU $30, CPU $30, RAM $10 on a $35 node give $15, $15, $5.) ``gpu_hourly`` defaults
    to the per-model weight in ``GPU_HOURLY_WEIGHT`` (OpenCost's $0.95 for a model not listed); pass a
    number or a model -> price mapping to override. Fractional GPU types count their fraction.
    """
    if hourly < 0 or math.isnan(hourly):
        raise ValueError(f"node price must be a non-negative number, got {hourly!r}")
    if isinstance(gpu_hourly, Mapping):
        gpu_unit = gpu_hourly.get(it.gpu_model or "", OPENCOST_GPU_HOURLY)
    elif gpu_hourly is None:
        gpu_unit = GPU_HOURLY_WEIGHT.get(it.gpu_model or "", OPENCOST_GPU_HOURLY)
    else:
        gpu_unit = float(gpu_hourly)
    weights = {
        "gpu": max(it.gpu_count, 0.0) * gpu_unit,
        "cpu": it.vcpu * cpu_hourly,
        "ram": it.memory_bytes / GIB * ram_gib_hourly,
    }
    total = sum(weights.values())
    if total <= 0:
        return {"gpu": 0.0, "cpu": float(hourly), "ram": 0.0}
    parts = {k: hourly * w / total for k, w in weights.items()}
    # Put the floating-point remainder on the largest part so the parts sum to the price exactly.
    largest = max(weights, key=weights.__getitem__)
    parts[largest] = hourly - sum(v for k, v in parts.items() if k != largest)
    return parts


def hourly_interruption_rate(band: str | None) -> float:
    """Expected interruptions per instance-hour for a Spot Advisor band.

    The band is the share of instances AWS reclaimed over the trailing month; with interruptions as a
    Poisson process, a monthly probability p gives a rate of -ln(1 - p) / 730 per hour.
    """
    p = BAND_MONTHLY_INTERRUPTION.get(band or "", BAND_MONTHLY_INTERRUPTION[">20%"])
    return -math.log1p(-p) / HOURS_PER_MONTH


def spot_expected_hourly(
    spot_price: float,
    band: str | None,
    checkpoint_interval_h: float,
    *,
    restart_overhead_h: float = 0.25,
) -> float:
    """Expected spot cost per hour of *useful* work: ``spot_price * (1 + rework)``.

    Assumptions (documented in docs/catalog.md):

    - interruptions arrive at ``hourly_interruption_rate(band)`` per instance-hour (band midpoint over a
      730-hour month);
    - each interruption loses on average half a checkpoint interval of work (the time since the last
      checkpoint is uniform over the interval) plus ``restart_overhead_h`` to get a new node, pull the
      image and reload the last checkpoint (15 minutes by default);
    - ``rework = rate * (checkpoint_interval_h / 2 + restart_overhead_h)`` hours redone per useful hour.

    A job that never checkpoints passes its whole run length as ``checkpoint_interval_h``.
    """
    if spot_price < 0 or checkpoint_interval_h < 0 or restart_overhead_h < 0:
        raise ValueError("spot price, checkpoint interval and restart overhead must not be negative")
    rework = hourly_interruption_rate(band) * (checkpoint_interval_h / 2.0 + restart_overhead_h)
    return spot_price * (1.0 + rework)
