from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optimizer.catalog import GPU_SPECS, canonical_gpu_model, gpu_spec, mig_profiles, relative_throughput

# The NVML names the dataset carries (interfaces note, dataset conventions) and a few real variants.
NVML = {
    "NVIDIA H100 80GB HBM3": "H100-80GB",
    "NVIDIA A100-SXM4-40GB": "A100-40GB",
    "NVIDIA A100-SXM4-80GB": "A100-80GB",
    "NVIDIA L40S": "L40S",
    "NVIDIA L4": "L4",
    "NVIDIA A10G": "A10G",
    "Tesla T4": "T4",
    "Tesla V100-SXM2-16GB": "V100-16GB",
    "Tesla V100-SXM2-32GB": "V100-32GB",
    "NVIDIA H200": "H200",
    "NVIDIA B200": "B200",
    "NVIDIA T4G": "T4G",
    "NVIDIA H100 80GB HBM3 MIG 1g.10gb": "H100-80GB",
}


@pytest.mark.parametrize(("nvml", "model"), NVML.items())
def test_canonical_gpu_model(nvml, model):
    assert canonical_gpu_model(nvml) == model
    assert canonical_gpu_model(model) == model


@pytest.mark.parametrize("name", ["NVIDIA H100 PCIe", "NVIDIA H100 NVL", "AMD Radeon Pro V520", "", None, "A100"])
def test_unknown_or_ambiguous_names_are_none(name):
    assert canonical_gpu_model(name) is None


def test_spec_table_has_data_sheet_numbers_and_sources():
    for spec in GPU_SPECS.values():
        assert spec.memory_bytes > 0 and spec.memory_bandwidth_gbs > 0
        assert spec.fp16_tflops > spec.fp32_tflops > 0
        assert "data sheet" in spec.source or "Baseten" in spec.source
    h100 = gpu_spec("NVIDIA H100 80GB HBM3")
    assert (h100.memory_bandwidth_gbs, h100.fp16_tflops, h100.fp32_tflops) == (3350.0, 989.5, 67.0)
    assert gpu_spec("A100-40GB").memory_bandwidth_gbs == 1555.0
    assert gpu_spec("T4").fp16_tflops == 65.0
    with pytest.raises(KeyError, match="K80"):
        gpu_spec("K80")


def test_mig_flag_agrees_with_the_profile_table():
    for name, spec in GPU_SPECS.items():
        if mig_profiles(name):
            assert spec.mig_supported, name
    for name in ("L4", "L40S", "A10G", "T4", "V100-16GB"):
        assert not GPU_SPECS[name].mig_supported and mig_profiles(name) == []


def test_relative_throughput_takes_the_worse_ratio():
    # T4 -> L4: L4 has 1.9x the tensor FLOPS but less bandwidth (300 vs 320 GB/s): the move is charged
    # the bandwidth loss.
    assert relative_throughput("T4", "L4") == pytest.approx(300 / 320)
    # H100 -> A100-80GB: compute drops to 312/989.5, bandwidth to 2039/3350; compute is the worse one.
    assert relative_throughput("H100-80GB", "A100-80GB") == pytest.approx(312 / 989.5)
    # Same compute, more bandwidth: no credit beyond the compute ratio.
    assert relative_throughput("A100-40GB", "A100-80GB") == pytest.approx(1.0)
    assert relative_throughput("NVIDIA A10G", "Tesla T4") == pytest.approx(min(65 / 70, 320 / 600))


@given(st.sampled_from(sorted(GPU_SPECS)), st.sampled_from(sorted(GPU_SPECS)))
def test_relative_throughput_is_never_optimistic_both_ways(a, b):
    there, back = relative_throughput(a, b), relative_throughput(b, a)
    assert there > 0 and back > 0
    assert there * back <= 1.0 + 1e-12
    if a == b:
        assert there == pytest.approx(1.0)
