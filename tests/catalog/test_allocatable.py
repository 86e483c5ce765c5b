"""Architecture and Kubernetes allocatable in the bundled catalog, and the EKS rule behind them.

Expected numbers are rows of Karpenter's generated instance-type reference (the shared table
derived/ec2_instance_types_karpenter_us-east-1.csv, columns alloc_cpu, alloc_memory, alloc_pods), written
out here so the test reads only the bundled snapshot.
"""

from __future__ import annotations

import pytest

from optimizer.catalog import Catalog
from optimizer.catalog.allocatable import eks_allocatable, eni_max_pods, kube_reserved_cpu_milli
from optimizer.catalog.arch import arch_from_name, normalize_arch
from optimizer.catalog.model import MIB

# instance type: (arch, alloc_cpu millicores, alloc_memory MiB, alloc_pods) as Karpenter's table gives them
KARPENTER_ROWS = {
    "p4de.24xlarge": ("x86_64", 95690, 1082712, 737),
    "p5.48xlarge": ("x86_64", 191450, 1938410, 100),
    "p3dn.24xlarge": ("x86_64", 95690, 718987, 737),
    "g4dn.xlarge": ("x86_64", 3920, 14481, 29),
    "m7g.large": ("arm64", 1930, 6844, 29),
    "t3.medium": ("x86_64", 1930, 3246, 17),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.mark.parametrize("name", sorted(KARPENTER_ROWS))
def test_bundled_allocatable_equals_the_karpenter_table(catalog, name):
    arch, cpu_m, mem_mib, pods = KARPENTER_ROWS[name]
    it = catalog.get(name)
    assert it.arch == arch
    assert (it.allocatable.cpu_milli, it.allocatable.memory_bytes, it.allocatable.pods) == (cpu_m, mem_mib * MIB, pods)
    assert it.allocatable.source == "karpenter-reference"


def test_every_bundled_type_has_arch_and_allocatable_with_a_source(catalog):
    sources = {it.allocatable.source for it in catalog}
    assert sources == {"karpenter-reference", "eks-rule"}
    assert all(it.arch in ("x86_64", "arm64") for it in catalog)
    assert {it.name for it in catalog if it.allocatable.source == "eks-rule"} == {"p3.2xlarge", "p3.8xlarge",
                                                                                  "p3.16xlarge"}
    assert {it.family for it in catalog if it.arch == "arm64"} == {"g5g", "m7g", "c7g", "r7g"}


def test_p3_allocatable_by_the_eks_rule(catalog):
    # p3.2xlarge: 8 vCPU, 61 GiB, 4 ENIs × 15 addresses = 58 pods
    a = catalog.get("p3.2xlarge").allocatable
    assert (a.cpu_milli, a.pods) == (8000 - 90, 58)
    mib = 61 * 1024
    assert a.memory_bytes == (mib - int(-(-mib * 75 // 1000)) - (11 * 58 + 255) - 100) * MIB


@pytest.mark.parametrize("name", sorted(KARPENTER_ROWS))
def test_eks_rule_reproduces_the_karpenter_rows(catalog, name):
    arch, cpu_m, mem_mib, pods = KARPENTER_ROWS[name]
    it = catalog.get(name)
    got = eks_allocatable(it.vcpu, it.memory_bytes, pods, arch)
    assert (got.cpu_milli, got.memory_bytes // MIB, got.pods) == (cpu_m, mem_mib, pods)


def test_kube_reserved_cpu_steps():
    assert kube_reserved_cpu_milli(1) == 60
    assert kube_reserved_cpu_milli(2) == 70
    assert kube_reserved_cpu_milli(4) == 80
    assert kube_reserved_cpu_milli(96) == 80 + 230


def test_eni_max_pods():
    assert eni_max_pods(3, 10) == 29  # m5.large in eni-max-pods.txt
    assert eni_max_pods(15, 50) == 737  # p4d.24xlarge
    assert eni_max_pods(0, 50) == 0


def test_arch_names():
    assert [arch_from_name(n) for n in ("m7g.large", "c6gn.xlarge", "g5g.xlarge", "a1.medium", "t4g.small",
                                        "m7i.large", "g4dn.xlarge", "gr6.4xlarge", "p6-b200.48xlarge", "dgx-a100")] == \
        ["arm64", "arm64", "arm64", "arm64", "arm64", "x86_64", "x86_64", "x86_64", "x86_64", None]
    assert [normalize_arch(v) for v in ("amd64", "arm64", "aarch64", "x86_64", "s390x", None)] == \
        ["x86_64", "arm64", "arm64", "x86_64", None, None]
