"""GPU model specs, NVML-name mapping and the relative-throughput rule.

Every number below is per GPU, from the vendor's data sheet (the ``source`` string says which one and
which column). Tensor throughput is *dense* FP16/BF16: data sheets print the 2:4-sparsity figure first,
and we halve it, because real inference and training kernels do not run sparse. Memory sizes use what
EC2 ``DescribeInstanceTypes`` reports (``GpuInfo...MemoryInfo.SizeInMiB``), so a spec and an instance
type of the same GPU agree to the byte.
"""

from __future__ import annotations

import re

from optimizer.catalog.model import MIB, GpuSpec

_H100_SHEET = "NVIDIA H100 Tensor Core GPU data sheet, H100 SXM column"
_H200_SHEET = "NVIDIA H200 Tensor Core GPU data sheet, H200 SXM column"
_A100_SHEET = "NVIDIA A100 Tensor Core GPU data sheet, SXM columns"
_V100_SHEET = "NVIDIA Tesla V100 data sheet, V100 SXM2 column"

GPU_SPECS: dict[str, GpuSpec] = {
    s.name: s
    for s in (
        GpuSpec("B200", 183359 * MIB, 7700.0, 2250.0, 75.0, True,
                "NVIDIA HGX B200 data sheet (8-GPU totals / 8): HBM3e 180 GB, 62 TB/s -> 7.7 TB/s, "
                "FP16/BF16 36 PFLOPS sparse -> 2.25 PFLOPS dense, FP32 600 TFLOPS -> 75; memory 183359 MiB from EC2"),
        GpuSpec("H200", 144384 * MIB, 4800.0, 989.5, 67.0, True,
                f"{_H200_SHEET}: 141 GB HBM3e, 4.8 TB/s, BF16/FP16 1,979 TFLOPS sparse -> 989.5 dense, FP32 67 TFLOPS"),
        GpuSpec("H100-80GB", 81920 * MIB, 3350.0, 989.5, 67.0, True,
                f"{_H100_SHEET}: 80 GB HBM3, 3.35 TB/s, BF16/FP16 1,979 TFLOPS sparse -> 989.5 dense, FP32 67 TFLOPS"),
        GpuSpec("A100-80GB", 81920 * MIB, 2039.0, 312.0, 19.5, True,
                f"{_A100_SHEET}: A100 80GB SXM 80 GB HBM2e, 2,039 GB/s, BF16/FP16 312 TFLOPS (624 sparse), FP32 19.5 TFLOPS"),
        GpuSpec("A100-40GB", 40960 * MIB, 1555.0, 312.0, 19.5, True,
                f"{_A100_SHEET}: A100 40GB SXM 40 GB HBM2, 1,555 GB/s, BF16/FP16 312 TFLOPS (624 sparse), FP32 19.5 TFLOPS"),
        GpuSpec("L40S", 45776 * MIB, 864.0, 362.05, 91.6, False,
                "NVIDIA L40S data sheet: 48 GB GDDR6, 864 GB/s, BF16/FP16 tensor 362.05 TFLOPS (733 sparse), FP32 91.6 TFLOPS"),
        GpuSpec("L4", 22888 * MIB, 300.0, 121.0, 30.3, False,
                "NVIDIA L4 data sheet: 24 GB GDDR6, 300 GB/s, BF16/FP16 tensor 242 TFLOPS sparse -> 121 dense, FP32 30.3 TFLOPS"),
        GpuSpec("A10G", 22888 * MIB, 600.0, 70.0, 35.0, False,
                "No public NVIDIA data sheet (AWS-only part): 24 GB GDDR6 and 600 GB/s as the A10 data sheet; "
                "FP16 tensor 70 TFLOPS dense and FP32 35 TFLOPS as AWS quotes them, tabulated in Baseten 'NVIDIA A10 vs A10G'"),
        GpuSpec("T4", 16384 * MIB, 320.0, 65.0, 8.1, False,
                "NVIDIA T4 data sheet: 16 GB GDDR6, 320+ GB/s, mixed-precision FP16/FP32 65 TFLOPS, FP32 8.1 TFLOPS"),
        GpuSpec("T4G", 16384 * MIB, 320.0, 65.0, 8.1, False,
                "Same TU104 part as T4 (AWS g5g): NVIDIA T4 data sheet numbers"),
        GpuSpec("V100-32GB", 32768 * MIB, 900.0, 125.0, 15.7, False,
                f"{_V100_SHEET}: 32 GB HBM2, 900 GB/s, tensor 125 TFLOPS, FP32 15.7 TFLOPS"),
        GpuSpec("V100-16GB", 16384 * MIB, 900.0, 125.0, 15.7, False,
                f"{_V100_SHEET}: 16 GB HBM2, 900 GB/s, tensor 125 TFLOPS, FP32 15.7 TFLOPS"),
    )
}

# NVML name (or AWS GpuInfo name) patterns -> canonical model. Order matters: the first match wins,
# so the more specific memory variants come first. Names are matched after upper-casing and dropping
# the vendor words. Parts we have no data sheet numbers for (H100 PCIe/NVL, A100 PCIe 80 GB's lower
# bandwidth is within 5% and accepted) map to None so that nothing is silently mis-specified.
_NVML_RULES: tuple[tuple[re.Pattern[str], str | None], ...] = tuple(
    (re.compile(p), m)
    for p, m in (
        (r"^B200\b", "B200"),
        (r"^H200( SXM.*| 141GB.*)?$", "H200"),
        (r"^H100 (80GB HBM3|SXM5?.*)$", "H100-80GB"),
        (r"^H100(-80GB)?$", "H100-80GB"),
        (r"^A100.*80\s?GB", "A100-80GB"),
        (r"^A100.*40\s?GB", "A100-40GB"),
        (r"^L40S$", "L40S"),
        (r"^L4$", "L4"),
        (r"^A10G$", "A10G"),
        (r"^T4G$", "T4G"),
        (r"^T4$", "T4"),
        (r"^V100.*32\s?GB", "V100-32GB"),
        (r"^V100(.*16\s?GB)?$", "V100-16GB"),
    )
)


def _normalise(name: str) -> str:
    n = name.strip().upper()
    n = re.sub(r"^(NVIDIA\s+|TESLA\s+)+", "", n)
    n = re.sub(r"\s+TENSOR CORE$", "", n)
    return re.sub(r"\s+", " ", n)


def canonical_gpu_model(nvml_name: str | None) -> str | None:
    """Map a GPU name as NVML reports it (``"NVIDIA A100-SXM4-80GB"``) to the catalog's model name
    (``"A100-80GB"``). Canonical names map to themselves. Unknown names give None (the caller reports
    them; they are never guessed)."""
    if not nvml_name:
        return None
    if nvml_name in GPU_SPECS:
        return nvml_name
    n = _normalise(nvml_name)
    if " MIG " in f" {n} ":  # "NVIDIA H100 80GB HBM3 MIG 1g.10gb" -> the parent GPU
        n = n.split(" MIG ")[0].strip()
    for pattern, model in _NVML_RULES:
        if pattern.search(n):
            return model
    return None


def aws_gpu_model(name: str, manufacturer: str | None, memory_mib: int | None) -> str | None:
    """Canonical model from EC2 ``GpuInfo`` (``Name="A100"``, ``SizeInMiB=81920``) or Karpenter's
    ``instance-gpu-name`` label. EC2 names A100 and V100 without their memory, so the size decides."""
    n = _normalise(name)
    if manufacturer and manufacturer.strip().lower() not in ("nvidia", ""):
        return None
    if n in ("A100", "V100") and memory_mib:
        size = 80 if n == "A100" and memory_mib > 60000 else 40 if n == "A100" else 32 if memory_mib > 20000 else 16
        return f"{n}-{size}GB"
    if n == "H100":
        return "H100-80GB"
    return canonical_gpu_model(n)


def gpu_spec(model: str) -> GpuSpec:
    """The spec of a canonical model name (or an NVML name). Raises KeyError naming unknown models."""
    canonical = canonical_gpu_model(model) or model
    try:
        return GPU_SPECS[canonical]
    except KeyError:
        raise KeyError(f"no GPU spec for model {model!r}; known: {', '.join(sorted(GPU_SPECS))}") from None


def relative_throughput(from_model: str, to_model: str) -> float:
    """How much of ``from_model``'s work one ``to_model`` GPU does per unit time (to / from).

    A workload at p95 SM activity ``a`` on ``from_model`` needs ``a / relative_throughput(from, to)`` of
    a ``to_model`` GPU. We do not know whether a workload is compute-bound (GEMM-heavy training, prefill)
    or memory-bound (LLM decode, small-batch inference), so we take the ratio that is *worse for the
    move*: the smaller of the dense FP16 tensor ratio and the memory-bandwidth ratio. Moving to a GPU
    that is faster on both axes is credited only with the smaller gain; moving to one that is slower on
    either axis is charged the larger loss. Clocks, cache sizes, interconnect and software maturity are
    ignored; the result is an estimate for sizing, not a benchmark.
    """
    a, b = gpu_spec(from_model), gpu_spec(to_model)
    return min(b.fp16_tflops / a.fp16_tflops, b.memory_bandwidth_gbs / a.memory_bandwidth_gbs)
