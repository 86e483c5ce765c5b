"""Real AWS instance shapes and NVIDIA GPU facts the simulator draws from.

Sources (us-east-1, snapshot 2026-07): vCPU, memory, GPU count and GPU memory from Karpenter's instance-type
list; on-demand prices from the Karpenter price table; spot averages from the Vantage EC2 GPU table. Copied here so the simulator needs no network and no data outside the
repository.
GPU names are what NVML reports (``nvmlDeviceGetName``); power figures are board idle draw and TDP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIB = 1024**2
GIB = 1024**3
REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
# AWS region names: us-east-1, eu-west-1, ap-southeast-2, us-gov-west-1, ...
_REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def zones(region: str) -> tuple[str, str, str]:
    """Three availability zones of ``region`` (``eu-west-1a``, ``eu-west-1b``, ``eu-west-1c``)."""
    return tuple(f"{region}{z}" for z in "abc")  # type: ignore[return-value]


def check_region(region: str) -> str:
    from store.errors import UserError

    if not _REGION_NAME.match(region or ""):
        raise UserError(f"--region: {region!r} is not an AWS region name (e.g. us-east-1, eu-west-1)")
    return region


@dataclass(frozen=True)
class GpuModel:
    nvml_name: str
    product_label: str  # nvidia.com/gpu.product as GPU feature discovery sets it
    memory_bytes: int
    idle_w: float
    tdp_w: float
    gpm: bool  # Hopper+: GPM metrics (sm_active, sm_occupancy, tensor_active, dram_active) exist
    mig_capable: bool


H100 = GpuModel("NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3", 81920 * MIB, 72.0, 700.0, True, True)
A100_40 = GpuModel("NVIDIA A100-SXM4-40GB", "NVIDIA-A100-SXM4-40GB", 40960 * MIB, 52.0, 400.0, False, True)
A100_80 = GpuModel("NVIDIA A100-SXM4-80GB", "NVIDIA-A100-SXM4-80GB", 81920 * MIB, 60.0, 400.0, False, True)
L40S = GpuModel("NVIDIA L40S", "NVIDIA-L40S", 45776 * MIB, 34.0, 350.0, False, False)
L4 = GpuModel("NVIDIA L4", "NVIDIA-L4", 22888 * MIB, 16.0, 72.0, False, False)
A10G = GpuModel("NVIDIA A10G", "NVIDIA-A10G", 22888 * MIB, 24.0, 300.0, False, False)
T4 = GpuModel("Tesla T4", "Tesla-T4", 16384 * MIB, 14.0, 70.0, False, False)


@dataclass(frozen=True)
class InstanceShape:
    name: str
    vcpu: int
    memory_bytes: int
    gpu: GpuModel | None
    gpu_count: int
    on_demand_usd: float  # $/h, us-east-1
    spot_usd: float  # $/h average spot price, us-east-1 (m7i: typical 60 % discount, an estimate)

    def hourly(self, capacity_type: str) -> float:
        return self.spot_usd if capacity_type == "spot" else self.on_demand_usd


SHAPES: dict[str, InstanceShape] = {s.name: s for s in (
    InstanceShape("p5.48xlarge", 192, 2048 * GIB, H100, 8, 55.04, 28.106467),
    # no us-east-1 spot price for p5.4xlarge in the snapshot: the p5.48xlarge's per-GPU spot price
    InstanceShape("p5.4xlarge", 16, 256 * GIB, H100, 1, 6.88, 3.513308),
    InstanceShape("p4d.24xlarge", 96, 1152 * GIB, A100_40, 8, 21.957642, 8.59075),
    InstanceShape("p4de.24xlarge", 96, 1152 * GIB, A100_80, 8, 27.44705, 13.3483),
    InstanceShape("g6e.xlarge", 4, 32 * GIB, L40S, 1, 1.861, 0.876075),
    InstanceShape("g6.xlarge", 4, 16 * GIB, L4, 1, 0.8048, 0.35575),
    InstanceShape("g5.xlarge", 4, 16 * GIB, A10G, 1, 1.006, 0.39388),
    InstanceShape("g4dn.xlarge", 4, 16 * GIB, T4, 1, 0.526, 0.1766),
    InstanceShape("m7i.4xlarge", 16, 64 * GIB, None, 0, 0.8064, 0.3226),
    InstanceShape("m7i.8xlarge", 32, 128 * GIB, None, 0, 1.6128, 0.6451),
)}
