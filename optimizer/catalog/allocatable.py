"""What pods may request on a node: Kubernetes allocatable CPU, memory and pods per instance type.

The bundled snapshot takes these from Karpenter's generated instance-type reference (EC2
DescribeInstanceTypes, "after the instance overhead has been subtracted", AL2023). Where that table has
no row for a type, and for ``catalog refresh`` output, the same numbers come from the rule Karpenter
applies to EKS nodes (``aws/karpenter-provider-aws``, ``pkg/providers/instancetype/types.go``: ``memory``,
``kubeReservedResources``, ``evictionThreshold``, ``ENILimitedPods``; docs/catalog.md cites it):

    capacity memory = SizeInMiB − 64 MiB on arm64 (Graviton CMA) − ceil(7.5 % of that)   (VM overhead)
    kube-reserved   = CPU: 6 % of the first core, 1 % of the second, 0.5 % of cores 3–4, 0.25 % above
                      memory: 11 MiB × max pods + 255 MiB
    eviction        = memory.available 100 MiB
    max pods        = ENIs × (IPv4 addresses per ENI − 1) + 2   (VPC CNI without prefix delegation)
    allocatable     = capacity − kube-reserved − eviction       (no system-reserved by default)

The rule reproduces the Karpenter table exactly (tests/catalog/test_allocatable.py checks it against
rows the snapshot carries).
"""

from __future__ import annotations

import math

from optimizer.catalog.model import MIB, SOURCE_EKS_RULE, Allocatable

VM_MEMORY_OVERHEAD = 0.075  # Karpenter's default vmMemoryOverheadPercent
GRAVITON_CMA_MIB = 64  # arm64 instances reserve this much contiguous memory the OS cannot hand out
EVICTION_HARD_MIB = 100  # kubelet's default memory.available hard eviction threshold
DEFAULT_MAX_PODS = 110  # the kubelet default, used when the ENI limits of a type are not known
# (start millicores, end millicores, share reserved) for kube-reserved CPU
CPU_RESERVED_STEPS = ((0, 1000, 0.06), (1000, 2000, 0.01), (2000, 4000, 0.005), (4000, 1 << 31, 0.0025))

def eni_max_pods(max_network_interfaces: int, ipv4_per_interface: int) -> int:
    """Pods the VPC CNI can give an address on the default network card (eni-max-pods.txt's formula)."""
    if max_network_interfaces <= 0 or ipv4_per_interface <= 1:
        return 0
    return max_network_interfaces * (ipv4_per_interface - 1) + 2


def kube_reserved_cpu_milli(vcpu: int) -> int:
    total = vcpu * 1000
    reserved = 0
    for start, end, share in CPU_RESERVED_STEPS:
        if total >= start:
            reserved += int((min(total, end) - start) * share)
    return reserved


def eks_allocatable(vcpu: int, memory_bytes: int, max_pods: int, arch: str | None,
                    source: str = SOURCE_EKS_RULE) -> Allocatable:
    """Allocatable of an EKS node by Karpenter's rule (module docstring)."""
    mib = memory_bytes // MIB
    if arch == "arm64":
        mib -= GRAVITON_CMA_MIB
    mib -= math.ceil(mib * VM_MEMORY_OVERHEAD)
    mib -= 11 * max_pods + 255 + EVICTION_HARD_MIB
    cpu = vcpu * 1000 - kube_reserved_cpu_milli(vcpu)
    return Allocatable(max(0, cpu), max(0, mib) * MIB, max(0, max_pods), source)


def parse_quantity_milli(text: str) -> int:
    """A Kubernetes CPU quantity as Karpenter's table prints it (``95690m`` or ``96``) in millicores."""
    text = text.strip()
    return int(text[:-1]) if text.endswith("m") else int(round(float(text) * 1000))


def parse_quantity_mib(text: str) -> int:
    """A Kubernetes memory quantity as Karpenter's table prints it (``1082712Mi``, ``12Gi``) in MiB."""
    text = text.strip()
    for suffix, factor in (("Mi", 1), ("Gi", 1024), ("Ki", 1 / 1024)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text) // MIB


def node_allocatable(it) -> Allocatable:
    """The allocatable of an empty node of ``it`` (an InstanceType): the catalog's, else the EKS rule with
    the kubelet's default of 110 pods (the ENI limits are not in a catalog file)."""
    if it.allocatable is not None:
        return it.allocatable
    return eks_allocatable(it.vcpu, it.memory_bytes, DEFAULT_MAX_PODS, it.arch,
                           source=f"{SOURCE_EKS_RULE} ({DEFAULT_MAX_PODS} pods)")
