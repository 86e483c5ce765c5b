"""Cost attribution (OpenCost-style): node prices split into GPU/CPU/RAM, pods charged max(request, usage),
shared GPUs and MIG slices split by measured share or slice, idle per node. The rules: SPEC.md here."""

from recommender.allocation.engine import allocate
from recommender.allocation.result import CSV_COLUMNS, AllocationResult, round_to_cents

__all__ = ["allocate", "AllocationResult", "CSV_COLUMNS", "round_to_cents"]
