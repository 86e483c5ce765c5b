"""The model server's pre-allocated memory share on a KV-aware GPU-shape proposal (docs/llm.md).

A pre-allocating server takes its share of whatever device it lands on: vLLM's ``--gpu-memory-utilization``
(default 0.9) on a 0.5 time-slicing share of an 80 GB GPU would reserve 72 GB of a GPU that another pod uses
too. ``proposed.server_memory_fraction`` is the share for the new shape; where the manifest's container
carries the server's flag in ``args`` or ``command`` (``--flag value``, ``--flag=value``, or inside a shell
string) a JSON-patch ``replace`` of that element sets it, guarded by a ``test`` of the element's current
value; anywhere else (an environment variable, a config file, no manifest) a note says it must be set.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from recommender.suggestions.patches import Target

if TYPE_CHECKING:
    from optimizer.result import Recommendation


def _pointer(target: Target) -> str:
    return "/spec/jobTemplate/spec/template/spec" if target.kind == "CronJob" else "/spec/template/spec"


def _find(items: list, flag: str) -> tuple[int, str] | None:
    """(index of the element to replace, its new value template with {f}) for the flag in an argv list."""
    for i, item in enumerate(items):
        if not isinstance(item, str):
            continue
        if item == flag and i + 1 < len(items):
            return i + 1, "{f}"
        if item.startswith(flag + "="):
            return i, flag + "={f}"
        if re.search(rf"(^|\s){re.escape(flag)}(=|\s+)\S+", item):
            return i, None  # inside a shell string: the whole string is rewritten
    return None


def _number_after(item: str, flag: str) -> float | None:
    """The flag's value in an element (the value itself, ``--flag=value``, or inside a shell string)."""
    m = re.search(rf"(?:^|\s){re.escape(flag)}(?:=|\s+)(\S+)", item)
    text = m.group(1) if m else item
    try:
        return float(text)
    except ValueError:
        return None


def memory_fraction_change(rec: Recommendation, target: Target) -> tuple[list[dict], list[str]]:
    """JSON-patch ops (test + replace) setting the server's memory share, or a note that it must be set."""
    fraction = (rec.proposed or {}).get("server_memory_fraction")
    kv = (rec.details or {}).get("kv_aware") or {}
    if fraction is None:
        return [], []
    flag, server = kv.get("memory_flag"), kv.get("server") or "the model server"
    value = f"{fraction:g}"
    must = (f"{server} pre-allocates a share of the GPU's memory: set it to {value} of the new device "
            + (f"({flag} {value})" if flag else "(its memory-fraction setting)"))
    name = target.gpu_container()
    if not flag or target.manifest is None or name is None:
        return [], [must + "; the manifest is not here to patch"]
    containers = target.pod_spec().get("containers", [])
    index = next((i for i, c in enumerate(containers) if c.get("name") == name), None)
    if index is None:
        return [], [must]
    for field in ("args", "command"):
        items = containers[index].get(field) or []
        hit = _find(items, flag)
        if hit is None:
            continue
        at, template = hit
        old = items[at]
        new = template.format(f=value) if template else re.sub(
            rf"((?:^|\s){re.escape(flag)}(?:=|\s+))\S+", lambda m: m.group(1) + value, old)
        if _number_after(old, flag) == fraction:
            return [], []  # the manifest already has this share (the new device leaves room for it)
        path = f"{_pointer(target)}/containers/{index}/{field}/{at}"
        return [{"op": "test", "path": path, "value": old}, {"op": "replace", "path": path, "value": new}], []
    return [], [must + f"; container {name}'s args do not carry {flag}"]
