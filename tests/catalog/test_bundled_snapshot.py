"""Known facts from the bundled snapshot (numbers from the issue and the data folder's README, i.e. from
the AWS price list, not from this code)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from optimizer.catalog import Catalog, UnknownInstanceType, gpu_spec
from optimizer.catalog.model import GIB, MIB
from store.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
# shared/ lies beside the checkout (and two levels up from a git worktree under wt/).
SHARED = next((base / "shared" / "data" / "aws-ec2-gpu-catalog" for base in (ROOT.parent, ROOT.parent.parent)
               if (base / "shared" / "data" / "aws-ec2-gpu-catalog").exists()),
              ROOT.parent / "shared" / "data" / "aws-ec2-gpu-catalog")
# Two tests compare the committed catalog with the raw price snapshots it was built from. Those files are
# not part of the repository (docs/catalog.md, "Sources and dates", says where each comes from), so without them the
# tests are skipped with a message naming the missing file.
RAW_SNAPSHOT = SHARED / "gpu_instances_raw.json"
KARPENTER_TABLE = SHARED / "derived" / "ec2_instance_types_karpenter_us-east-1.csv"


def _missing(*paths: Path) -> str | None:
    absent = [p for p in paths if not p.exists()]
    if not absent:
        return None
    return (f"{', '.join(map(str, absent))} missing: the raw snapshot files scripts/build_catalog.py builds the "
            "bundled catalog from (gpu_instances_raw.json: ec2instances.info data, copy in tsaol/aws-gpu "
            "data/gpu_instances_raw.json at commit 2d0108c7; the Karpenter table is derived from "
            "aws/karpenter-provider-aws's instance-types reference; see docs/catalog.md, 'Sources and dates')")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_snapshot_is_dated_and_sourced(catalog):
    assert catalog.snapshot_date == "2025-11-30"
    assert "ec2instances.info" in catalog.source and "Karpenter" in catalog.source


def test_p5_48xlarge(catalog):
    it = catalog.get("p5.48xlarge")
    assert (it.gpu_vendor, it.gpu_model, it.gpu_count) == ("nvidia", "H100-80GB", 8)
    assert it.gpu_memory_bytes == 80 * GIB
    assert (it.vcpu, it.memory_bytes) == (192, 2048 * GIB)
    assert catalog.price("p5.48xlarge", "us-east-1") == 55.04
    assert catalog.price("p5.48xlarge", "us-east-1", "spot") == pytest.approx(28.11, abs=0.01)
    assert catalog.interruption_band("p5.48xlarge", "us-east-1") == "5-10%"


def test_g4dn_xlarge(catalog):
    it = catalog.get("g4dn.xlarge")
    assert (it.gpu_model, it.gpu_count, it.gpu_memory_bytes) == ("T4", 1, 16 * GIB)
    assert (it.vcpu, it.memory_bytes) == (4, 16 * GIB)
    assert catalog.price("g4dn.xlarge") == 0.526
    assert 0.1733 <= catalog.price("g4dn.xlarge", capacity_type="spot") <= 0.1812
    assert it.interruption_band["us-east-1"] == ">20%"


def test_g6e_xlarge(catalog):
    it = catalog.get("g6e.xlarge")
    assert (it.gpu_model, it.gpu_count) == ("L40S", 1)
    assert it.gpu_memory_bytes == pytest.approx(48e9, rel=1e-3)  # "48 GB" = 45776 MiB as EC2 reports it
    assert catalog.price("g6e.xlarge") == 1.861
    assert it.interruption_band["us-east-1"] == ">20%"


def test_p4d_and_p4de_are_told_apart_by_memory(catalog):
    assert catalog.get("p4d.24xlarge").gpu_model == "A100-40GB"
    assert catalog.get("p4d.24xlarge").gpu_memory_bytes == 40 * GIB
    assert catalog.price("p4d.24xlarge") == pytest.approx(21.957642)
    assert catalog.get("p4de.24xlarge").gpu_model == "A100-80GB"
    assert catalog.get("p3dn.24xlarge").gpu_model == "V100-32GB"
    assert catalog.get("p3.2xlarge").gpu_model == "V100-16GB"
    assert catalog.get("p5en.48xlarge").gpu_model == "H200"
    assert catalog.get("p5en.48xlarge").gpu_memory_bytes == 144384 * MIB


def test_g6f_is_a_fraction_of_an_l4(catalog):
    it = catalog.get("g6f.large")
    assert it.gpu_model == "L4" and it.gpu_count == 0.125 and it.is_fractional_gpu
    assert it.gpu_memory_bytes == 2861 * MIB  # the slice the instance sees, as DescribeInstanceTypes says
    assert it.gpu_devices == 1 and it.total_gpu_memory_bytes == 2861 * MIB
    assert (it.vcpu, it.memory_bytes) == (2, 8 * GIB)
    assert catalog.get("g6f.4xlarge").gpu_count == 0.5


def test_non_nvidia_types_are_marked(catalog):
    assert catalog.get("g4ad.xlarge").gpu_vendor == "amd"
    assert catalog.get("inf2.xlarge").gpu_vendor == "aws"
    assert catalog.get("trn1.2xlarge").gpu_model == "Trainium"  # mislabelled "Inferentia" in the raw data
    assert catalog.get("dl2q.24xlarge").gpu_vendor == "qualcomm"
    names = {it.name for it in catalog.instance_types("us-east-1")}
    assert "g4ad.xlarge" not in names and "inf2.xlarge" not in names
    assert "g4ad.xlarge" in {it.name for it in catalog.instance_types("us-east-1", include_non_nvidia=True)}


@pytest.mark.parametrize("family", ["m7i", "c7i", "r7i", "m6i"])
def test_cpu_families_with_us_east_1_prices(catalog, family):
    types = [it for it in catalog if it.family == family]
    assert len(types) >= 8
    assert all(it.gpu_count == 0 and it.gpu_vendor is None for it in types)
    assert all(it.on_demand.get("us-east-1", 0) > 0 for it in types if "metal" not in it.name)


def test_m7i_large(catalog):
    it = catalog.get("m7i.large")
    assert (it.vcpu, it.memory_bytes, catalog.price("m7i.large")) == (2, 8 * GIB, 0.1008)


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2", "eu-west-1"])
def test_main_regions_are_priced(catalog, region):
    assert region in catalog.regions
    assert catalog.price("g4dn.xlarge", region) > 0
    assert catalog.price("p4d.24xlarge", region) > 0


def test_every_nvidia_type_has_a_spec_matching_its_memory(catalog):
    for it in catalog:
        if it.gpu_vendor != "nvidia":
            continue
        spec = gpu_spec(it.gpu_model)
        if it.is_fractional_gpu:
            assert it.gpu_memory_bytes < spec.memory_bytes, it.name
        else:
            assert it.gpu_memory_bytes == spec.memory_bytes, it.name


def test_unknown_and_excluded_types_are_named(catalog):
    with pytest.raises(UnknownInstanceType) as exc:
        catalog.get("x9.nonexistent")
    assert isinstance(exc.value, UserError) and exc.value.name == "x9.nonexistent"
    assert "'x9.nonexistent'" in str(exc.value)
    with pytest.raises(UnknownInstanceType, match="p2.xlarge.*K80"):
        catalog.price("p2.xlarge")


def test_unknown_price_is_none_not_zero(catalog):
    assert catalog.price("p5e.48xlarge", "us-east-1") is None  # capacity blocks only: no list price
    assert catalog.price("g6e.xlarge", "eu-west-1") is None
    with pytest.raises(UserError, match="capacity type"):
        catalog.price("g6e.xlarge", capacity_type="reserved")


def test_instance_types_filters_and_order(catalog):
    l4 = catalog.instance_types("us-east-1", gpu_model="NVIDIA L4")
    assert {it.gpu_model for it in l4} == {"L4"} and {"g6.xlarge", "g6f.large"} <= {it.name for it in l4}
    prices = [it.on_demand["us-east-1"] for it in l4]
    assert prices == sorted(prices)
    assert all("us-west-2" in it.on_demand for it in catalog.instance_types("us-west-2"))


def test_bundled_file_is_small_and_dated():
    path = ROOT / "optimizer" / "catalog" / "data" / "aws-catalog.json"
    assert path.stat().st_size < 1_500_000
    doc = json.loads(path.read_text())
    assert doc["snapshot_date"] and doc["source"] and doc["sources"]


def _build_module():
    spec = importlib.util.spec_from_file_location("build_catalog", ROOT / "scripts" / "build_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_weights_in_cost_module_match_the_bundled_prices():
    from optimizer.catalog.cost import GPU_HOURLY_WEIGHT

    doc = json.loads((ROOT / "optimizer" / "catalog" / "data" / "aws-catalog.json").read_text())
    assert _build_module().gpu_weights(doc) == GPU_HOURLY_WEIGHT


@pytest.mark.skipif(_missing(RAW_SNAPSHOT, KARPENTER_TABLE) is not None,
                    reason=_missing(RAW_SNAPSHOT, KARPENTER_TABLE) or "")
def test_committed_file_is_what_the_build_script_makes():
    committed = json.loads((ROOT / "optimizer" / "catalog" / "data" / "aws-catalog.json").read_text())
    assert _build_module().build(SHARED) == committed


@pytest.mark.skipif(_missing(RAW_SNAPSHOT) is not None, reason=_missing(RAW_SNAPSHOT) or "")
def test_prices_equal_the_raw_snapshot_in_every_region(catalog):
    raw = json.loads(RAW_SNAPSHOT.read_text())
    checked = 0
    for r in raw:
        if r["instance_type"] not in catalog:
            continue
        for region in ("us-east-1", "us-west-2", "eu-west-1"):
            od = r["pricing"].get(region, {}).get("linux", {}).get("ondemand")
            if od:
                assert catalog.price(r["instance_type"], region) == float(od)
                checked += 1
    assert checked > 150


def test_catalog_is_read_only_and_travels_to_worker_processes(catalog):
    import pickle

    it = catalog.get("g6e.xlarge")
    with pytest.raises(TypeError):
        it.on_demand["us-east-1"] = 0.0
    with pytest.raises(AttributeError):
        it.vcpu = 1
    copy = pickle.loads(pickle.dumps(catalog))
    assert copy.get("g6e.xlarge") == it and copy.price("g6e.xlarge") == 1.861
    assert {it, copy.get("g6e.xlarge")} == {it}
