"""What LLM serving series the server has, which serving pods they name, and which tokens columns will be null.

Metadata calls only (names, label names, series), bounded to the window, like the rest of discovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from importers.prometheus.client import PromClient, PromError
from importers.prometheus.llm.catalog import (
    ALL_METRICS,
    FAMILIES,
    NEVER,
    NOT_EXPORTED,
    family_columns,
    target,
)
from importers.prometheus.series import regex_union

ENABLE = ("scrape each server's /metrics with a ServiceMonitor or PodMonitor (docs/prometheus.md, \"LLM serving "
          "series\"); SGLang needs --enable-metrics, Triton's vLLM backend REPORT_CUSTOM_METRICS")


@dataclass(frozen=True)
class LlmDialect:
    """What the tokens queries need to know, fixed for the whole import."""

    families: tuple[str, ...] = ()  # families with token counters in the window
    metrics: frozenset[str] = frozenset()  # the metric names present
    pods: tuple[tuple[str, str], ...] = ()  # serving (namespace, pod), both label dialects
    # (namespace, pod) → the node(s) kube_pod_info places it on in the window; a fallback for the
    # steps kube_pod_info has no point
    pod_nodes: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    selector: str = ""

    @property
    def present(self) -> bool:
        return bool(self.families)

    def node_map(self) -> dict[tuple[str, str], tuple[str, ...]]:
        return {(ns, pod): nodes for ns, pod, nodes in self.pod_nodes}


@dataclass
class LlmDiscovery:
    dialect: LlmDialect
    servers: dict[str, int] = field(default_factory=dict)  # server → serving pods
    findings: list = field(default_factory=list)  # discovery.Finding

    def summary(self) -> str:
        if not self.servers:
            return "LLM servers: none"
        return "LLM servers: " + ", ".join(f"{s} {n} pod(s)" for s, n in sorted(self.servers.items()))


def _sel(selector: str, *parts: str) -> str:
    body = ",".join(p for p in (selector, *parts) if p)
    return "{" + body + "}" if body else ""


def discover_llm(client: PromClient, start: float, end: float, *, selector: str = "") -> LlmDiscovery:
    from importers.prometheus.discovery import Finding

    names = _sel(selector, f"__name__=~{regex_union(list(ALL_METRICS))}")
    findings: list[Finding] = []
    try:
        present = frozenset(v for v in client.label_values("__name__", names, start, end) if v)
    except PromError as exc:
        findings.append(Finding("tokens", "empty", f"the server did not list metric names ({exc})",
                                "the tokens table needs /api/v1/label/__name__/values"))
        return LlmDiscovery(LlmDialect(selector=selector), {}, findings)
    families = tuple(f for f, fam in FAMILIES.items() if fam.prompt in present or fam.generation in present)
    if not families:
        findings.append(Finding("tokens", "empty", "no LLM serving series (vLLM, SGLang, TGI, NIM, Triton's vLLM "
                                "backend) in the window; the table is optional", ENABLE))
        return LlmDiscovery(LlmDialect(selector=selector), {}, findings)
    pods: set[tuple[str, str]] = set()
    servers: dict[str, set[tuple[str, str]]] = {}
    for name in families:
        fam = FAMILIES[name]
        metric = fam.prompt if fam.prompt in present else fam.generation
        unplaced: set[str] = set()
        for labels in client.series(metric + _sel(selector), start, end):
            t = target(labels, name)
            if t is None:
                unplaced.add(labels.get("job") or labels.get("instance") or "?")
                continue
            pods.add((t.namespace, t.pod))
            servers.setdefault(t.server, set()).add((t.namespace, t.pod))
        if unplaced:
            findings.append(Finding(f"tokens ({name})", "partial", f"{metric} series without namespace/pod labels "
                                    f"(job {', '.join(sorted(unplaced))}) are skipped: their pod is unknown",
                                    "scrape the server through a ServiceMonitor or PodMonitor, which add "
                                    "namespace and pod"))
        for column, metrics in family_columns(fam).items():
            if column in NEVER.get(name, ()):
                continue
            if metrics and not any(m in present for m in metrics) and (name, column) in NOT_EXPORTED:
                findings.append(Finding(f"tokens.{column}", "null", f"{name}: {NOT_EXPORTED[(name, column)]}"))
        if NEVER.get(name):
            findings.append(Finding("tokens", "note", f"{name} exports no {', '.join(NEVER[name])}: null on its rows"))
    if "triton" in servers:
        findings.append(Finding("tokens", "note", "Triton's vLLM backend (label model): server triton"))
    pod_nodes = _pod_nodes(client, sorted(pods), start, end, selector)
    homeless = sorted(f"{ns}/{pod}" for ns, pod in pods if (ns, pod) not in pod_nodes)
    if homeless:
        shown = ", ".join(homeless[:5]) + (f" and {len(homeless) - 5} more" if len(homeless) > 5 else "")
        findings.append(Finding("tokens.node", "partial", f"no kube_pod_info for {shown}: their rows are skipped "
                                "(the node is the partition key)", "scrape kube-state-metrics"))
    dialect = LlmDialect(families, frozenset(present), tuple(sorted(pods)),
                         tuple((ns, pod, tuple(sorted(nodes))) for (ns, pod), nodes in sorted(pod_nodes.items())),
                         selector)
    return LlmDiscovery(dialect, {s: len(p) for s, p in servers.items()}, findings)


def _pod_nodes(client: PromClient, pods: list[tuple[str, str]], start: float, end: float,
               selector: str) -> dict[tuple[str, str], set[str]]:
    if not pods:
        return {}
    match = "kube_pod_info" + _sel(selector, 'node!=""', f"pod=~{regex_union(sorted({p for _, p in pods}))}")
    try:
        found = client.series(match, start, end)
    except PromError:
        return {}
    wanted = set(pods)
    out: dict[tuple[str, str], set[str]] = {}
    for labels in found:
        key = (labels.get("namespace"), labels.get("pod"))
        if key in wanted and labels.get("node"):
            out.setdefault(key, set()).add(labels["node"])
    return out
