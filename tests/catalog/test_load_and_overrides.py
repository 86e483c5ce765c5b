from __future__ import annotations

import json

import pytest

from optimizer.catalog import Catalog
from optimizer.catalog.allocatable import node_allocatable
from recommender.cli import main
from store.errors import UserError


def write(path, text):
    path.write_text(text)
    return str(path)


def test_override_reprices_one_region_only(tmp_path):
    csv = write(tmp_path / "prices.csv",
                "instance_type,region,on_demand,spot\np5.48xlarge,us-east-1,39.80,\ng4dn.xlarge,us-west-2,,0.11\n")
    base = Catalog.load()
    c = Catalog.load(overrides=csv)
    assert c.price("p5.48xlarge", "us-east-1") == 39.80
    assert c.price("p5.48xlarge", "us-east-1", "spot") == base.price("p5.48xlarge", "us-east-1", "spot")
    assert c.price("p5.48xlarge", "us-west-2") == base.price("p5.48xlarge", "us-west-2")
    assert c.price("g4dn.xlarge", "us-west-2", "spot") == 0.11
    assert c.price("g4dn.xlarge", "us-west-2") == base.price("g4dn.xlarge", "us-west-2")
    assert c.overrides == csv and base.price("p5.48xlarge") == 55.04  # the bundled catalog is untouched


def test_override_adds_an_on_prem_region(tmp_path):
    csv = write(tmp_path / "p.csv", "region,instance_type,spot,on_demand\nonprem-dc1,p4d.24xlarge,,9.5\n")
    c = Catalog.load(overrides=csv)
    assert c.price("p4d.24xlarge", "onprem-dc1") == 9.5
    assert [it.name for it in c.instance_types("onprem-dc1")] == ["p4d.24xlarge"]


@pytest.mark.parametrize(("text", "expected"), [
    ("instance_type,region,on_demand,spot\np5.48xlarge,us-east-1,1,\ng5.xlarge,us-east-1,cheap,\n",
     r"prices\.csv: row 3, column on_demand: 'cheap'"),
    ("instance_type,region,on_demand,spot\ng5.xlarge,us-east-1,,-2\n", r"row 2, column spot: '-2'"),
    ("instance_type,region,on_demand,spot\ng5.xlarge,us-east-1,nan,\n", r"row 2, column on_demand"),
    ("instance_type,region,on_demand\ng5.xlarge,us-east-1,1\n", r"row 1: missing column 'spot'"),
    ("instance_type,region,on_demand,spot\nz9.huge,us-east-1,1,\n", r"row 2, column instance_type: .*'z9\.huge'"),
    ("instance_type,region,on_demand,spot\ng5.xlarge,,1,\n", r"row 2, column region: empty"),
    ("instance_type,region,on_demand,spot\ng5.xlarge,us-east-1,1,\ng5.xlarge,us-east-1,2,\n",
     r"row 3: second row for g5\.xlarge"),
    ("", r"empty file"),
])
def test_bad_override_is_one_line_naming_file_row_column(tmp_path, text, expected):
    csv = write(tmp_path / "prices.csv", text)
    with pytest.raises(UserError, match=expected) as exc:
        Catalog.load(overrides=csv)
    assert "\n" not in str(exc.value) and "prices.csv" in str(exc.value)


def test_bad_override_via_cli_exits_2_without_traceback(tmp_path, capsys):
    csv = write(tmp_path / "prices.csv", "instance_type,region,on_demand,spot\ng5.xlarge,us-east-1,abc,\n")
    assert main(["catalog", "show", "--prices", csv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "row 2, column on_demand" in err and "\n" not in err
    assert main(["catalog", "show", "--prices", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_user_catalog_file_round_trip(tmp_path):
    path = str(tmp_path / "cat.json")
    Catalog.load().write(path)
    again = Catalog.load(path)
    assert again.get("p5.48xlarge") == Catalog.load().get("p5.48xlarge")
    assert again.snapshot_date == "2025-11-30"


@pytest.mark.parametrize(("doc", "expected"), [
    ("{not json", r"not valid JSON \(line 1"),
    ('{"instance_types": {}}', r"'instance_types' list"),
    ('{"instance_types": [{"name": "a.b", "vcpu": 2}]}', r"instance_types\[0\]: missing key 'memory_bytes'"),
    ('{"instance_types": [{"name": "a.b", "vcpu": 2, "memory_bytes": 1, "on_demand": {"r": -1}}]}',
     r"instance_types\[0\] \(a\.b\): on_demand\[r\]"),
    ('{"instance_types": [{"name": "a.b", "vcpu": 2, "memory_bytes": 1, "gpu_count": 1, "gpu_model": "K80"}]}',
     r"unknown NVIDIA gpu_model 'K80'"),
    ('{"instance_types": [{"name": "a.b", "vcpu": 2, "memory_bytes": 1, "interruption_band": {"r": "big"}}]}',
     r"interruption_band"),
    ('{"instance_types": [{"name": "a.b", "vcpu": 2, "memory_bytes": 1, "arch": "sparc"}]}',
     r"instance_types\[0\] \(a\.b\): key 'arch' must be one of x86_64, arm64, got 'sparc'"),
    ('{"instance_types": [{"name": "a.b", "vcpu": 2, "memory_bytes": 1, "allocatable": {"cpu_milli": 1}}]}',
     r"\(a\.b\): allocatable: missing key 'memory_bytes'"),
    ('{"instance_types": [{"name": "a.b", "vcpu": 2, "memory_bytes": 1, '
     '"allocatable": {"cpu_milli": 1, "memory_bytes": -5, "pods": 3}}]}', r"allocatable\.memory_bytes"),
])
def test_bad_catalog_file(tmp_path, doc, expected):
    path = write(tmp_path / "cat.json", doc)
    with pytest.raises(UserError, match=expected) as exc:
        Catalog.load(path)
    assert "cat.json" in str(exc.value)


def test_on_prem_shape_from_a_user_catalog(tmp_path):
    doc = {"snapshot_date": "2026-11-01", "source": "our DC", "instance_types": [
        {"name": "dgx-a100", "vcpu": 256, "memory_bytes": 2 * 1024**4, "gpu_count": 8,
         "gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_memory_bytes": 80 * 1024**3, "on_demand": {"dc1": 12.0}}]}
    c = Catalog.load(write(tmp_path / "dc.json", json.dumps(doc)))
    it = c.get("dgx-a100")
    assert (it.gpu_model, it.gpu_vendor, c.price("dgx-a100", "dc1")) == ("A100-80GB", "nvidia", 12.0)


def test_catalog_file_without_arch_or_allocatable_still_loads(tmp_path):
    """Older catalog files and hand-written shapes have neither key: the arch comes from the EC2 name
    (Graviton families carry a "g" after the generation), allocatable from the EKS rule at 110 pods."""
    doc = {"instance_types": [
        {"name": "m7g.xlarge", "vcpu": 4, "memory_bytes": 16 * 1024**3, "on_demand": {"us-east-1": 0.1632}},
        {"name": "m7i.xlarge", "vcpu": 4, "memory_bytes": 16 * 1024**3, "on_demand": {"us-east-1": 0.2016}},
        {"name": "dgx-a100", "vcpu": 256, "memory_bytes": 2 * 1024**4, "on_demand": {"dc1": 12.0}},
        {"name": "box.large", "vcpu": 2, "memory_bytes": 8 * 1024**3, "arch": "amd64"}]}
    c = Catalog.load(write(tmp_path / "old.json", json.dumps(doc)))
    assert [c.get(n).arch for n in ("m7g.xlarge", "m7i.xlarge", "dgx-a100", "box.large")] == \
        ["arm64", "x86_64", None, "x86_64"]
    assert all(it.allocatable is None for it in c)
    alloc = node_allocatable(c.get("m7i.xlarge"))
    # 4 vCPU: 60 + 10 + 10 m reserved; 16384 MiB − 1229 (7.5 %) − (11 × 110 + 255) − 100
    assert (alloc.cpu_milli, alloc.memory_bytes // 1024**2, alloc.pods) == (3920, 13590, 110)
    assert alloc.source == "eks-rule (110 pods)"
    # arm64 gives up 64 MiB before the VM overhead: 16320 − 1224 − 1465 − 100
    assert node_allocatable(c.get("m7g.xlarge")).memory_bytes // 1024**2 == 13531


def test_user_catalog_arch_and_allocatable_are_kept(tmp_path):
    doc = {"instance_types": [{"name": "dgx-a100", "vcpu": 256, "memory_bytes": 2 * 1024**4, "arch": "x86_64",
                               "allocatable": {"cpu_milli": 250000, "memory_bytes": 2000 * 1024**3, "pods": 250,
                                               "source": "kubectl describe node"}}]}
    c = Catalog.load(write(tmp_path / "dc.json", json.dumps(doc)))
    it = c.get("dgx-a100")
    assert it.arch == "x86_64" and node_allocatable(it) == it.allocatable
    assert (it.allocatable.cpu_milli, it.allocatable.pods, it.allocatable.source) == (250000, 250, "kubectl describe node")
    path = str(tmp_path / "again.json")
    c.write(path)
    assert Catalog.load(path).get("dgx-a100") == it and Catalog.load(path).get("dgx-a100").allocatable == it.allocatable
