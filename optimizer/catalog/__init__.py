"""Instance catalog: EC2 instance types with GPU specs and prices, MIG profiles, cost helpers.

    from optimizer.catalog import Catalog
    catalog = Catalog.load()                      # bundled snapshot (see catalog.snapshot_date)
    catalog.get("p5.48xlarge").gpu_model          # "H100-80GB"
    catalog.price("p5.48xlarge", "us-east-1")     # 55.04 ($/h, on-demand)
    catalog.get("p5.48xlarge").allocatable        # 191450 m CPU, 1938410 MiB, 100 pods (Karpenter's table)

Sources, the price split and the spot model are documented in docs/catalog.md.
"""

from optimizer.catalog.allocatable import node_allocatable
from optimizer.catalog.catalog import Catalog, UnknownInstanceType
from optimizer.catalog.gpus import (
    GPU_SPECS,
    aws_gpu_model,
    canonical_gpu_model,
    gpu_spec,
    relative_throughput,
)
from optimizer.catalog.mig import (
    find_placement,
    is_valid_layout,
    layout_problems,
    maximal_layouts,
    mig_profiles,
)
from optimizer.catalog.model import Allocatable, GpuSpec, InstanceType, MigProfile

__all__ = [
    "GPU_SPECS",
    "Allocatable",
    "Catalog",
    "GpuSpec",
    "InstanceType",
    "MigProfile",
    "UnknownInstanceType",
    "aws_gpu_model",
    "canonical_gpu_model",
    "find_placement",
    "gpu_spec",
    "is_valid_layout",
    "layout_problems",
    "maximal_layouts",
    "mig_profiles",
    "node_allocatable",
    "relative_throughput",
]
