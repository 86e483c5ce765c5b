"""The LLM inputs of a ``recommend`` run: the serving pods' token summaries per workload (summed once per run
from one read of the tokens table; the run keeps them for tokens.csv) and the managed-API prices."""

from __future__ import annotations

from optimizer.llm.managed import ManagedPrices, load_managed_prices
from optimizer.llm.usage import ServingUsage


def serving_by_workload(usage: list[ServingUsage], inventory) -> dict[tuple, list[ServingUsage]]:
    """Workload key -> the token summaries of its pods ({} without a tokens table). Rows of pods the observed
    cluster does not know (no samples in the window) are left out: there is no cost to compare them with."""
    out: dict[tuple, list[ServingUsage]] = {}
    for u in usage:
        key = inventory.pod_workload.get((u.namespace, u.pod))
        if key is not None:
            out.setdefault(key, []).append(u)
    return out


def managed_prices(config) -> ManagedPrices | None:
    """The managed-API prices the config names (the bundled snapshot by default); None when switched off."""
    managed = config.llm.managed
    return load_managed_prices(managed.prices_file) if managed.enabled else None
