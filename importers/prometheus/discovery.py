"""The discovery pass: what the server has, in which label dialect, and which columns will be null and why.

Cheap metadata calls only (buildinfo, label names and values, series of a few small metrics), all
bounded to the import window, so nothing here is refused by servers that limit instant-query ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from importers.prometheus import cadvisor, dcgm, ksm
from importers.prometheus.client import PromClient, PromError
from importers.prometheus.llm import LlmDialect, LlmDiscovery, discover_llm

COUNTERS_FIX = ("enable it in dcgm-exporter's counters CSV (-f / DCGM_EXPORTER_COLLECTORS; the GPU Operator's "
                "dcgmExporter.config) and restart the exporter")
NODE_ALLOWLIST = ("--metric-labels-allowlist=nodes=[node.kubernetes.io/instance-type,karpenter.sh/capacity-type,"
                  "topology.kubernetes.io/zone,topology.kubernetes.io/region]")


@dataclass(frozen=True)
class Finding:
    column: str  # table.column, or a table
    status: str  # "null", "partial", "empty", "note"
    why: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — {self.fix}" if self.fix else ""
        return f"{self.status:<7} {self.column:<26} {self.why}{fix}"


@dataclass
class Discovery:
    server: str
    dcgm: dcgm.DcgmDialect
    cadvisor: cadvisor.CadvisorDialect
    gpu_nodes: list[str]
    container_nodes: list[str] | None  # None: cAdvisor series have no node label (one unsharded query)
    pod_nodes: list[str]
    have_nodes: bool
    findings: list[Finding] = field(default_factory=list)
    llm: LlmDiscovery = field(default_factory=lambda: LlmDiscovery(LlmDialect()))

    def report(self) -> list[str]:
        lines = [f"server: {self.server}",
                 f"dcgm-exporter: {len(self.gpu_nodes)} node(s), node label {'/'.join(self.dcgm.node_labels) or '-'}, "
                 f"fields {', '.join(sorted(f.replace('DCGM_FI_', '') for f in self.dcgm.fields)) or 'none'}",
                 f"cAdvisor: {'-' if self.container_nodes is None else len(self.container_nodes)} node(s)"
                 f"{', selector ' + self.cadvisor.job_selector if self.cadvisor.job_selector else ''}",
                 f"kube-state-metrics: pods on {len(self.pod_nodes)} node(s), nodes {'yes' if self.have_nodes else 'no'}",
                 self.llm.summary()]
        lines += [f.line() for f in self.findings]
        return lines


def _names(client: PromClient, match: str, start: float, end: float) -> set[str]:
    try:
        return set(client.labels(match, start, end))
    except PromError:
        return set()


def _values(client: PromClient, label: str, match: str, start: float, end: float) -> list[str]:
    return sorted(v for v in client.label_values(label, match, start, end) if v)


def discover(client: PromClient, start: float, end: float, *, selector: str = "") -> Discovery:
    info = client.buildinfo()
    server = f"{client.backend.name} {info.get('version', '?')}" if info else f"{client.backend.name} (no buildinfo)"

    def m(metric: str, extra: str = "") -> str:
        parts = ",".join(p for p in (selector, extra) if p)
        return f"{metric}{{{parts}}}" if parts else metric

    findings: list[Finding] = []
    # -- DCGM --------------------------------------------------------------------------------------------
    dcgm_names = "{" + ",".join(p for p in (selector, '__name__=~"DCGM_FI_.*"') if p) + "}"
    present = set(_values(client, "__name__", dcgm_names, start, end))
    fields = frozenset(f for f in dcgm.ALL_FIELDS if f in present)
    labels = _names(client, m(dcgm.FB_USED), start, end) if dcgm.FB_USED in fields else set()
    node_labels = tuple(lab for lab in dcgm.NODE_LABELS if lab in labels)
    gpu_nodes = sorted({v for lab in node_labels for v in _values(client, lab, m(dcgm.FB_USED), start, end)})
    exporter_pods = set()
    try:
        owners = client.series(m("kube_pod_owner", 'owner_kind="DaemonSet",owner_name=~".*dcgm.*"'), start, end)
        exporter_pods = {(o.get("namespace"), o.get("pod")) for o in owners}
    except PromError:
        pass
    if dcgm.FB_USED not in fields:
        findings.append(Finding("gpu", "empty", "no DCGM_FI_DEV_FB_USED series in the window",
                                "check that dcgm-exporter is scraped (ServiceMonitor enabled; GPU Operator "
                                "< v26.7 ships it disabled) and that relabelling keeps DCGM_FI_* names"))
    else:
        if not node_labels:
            findings.append(Finding("gpu.node", "empty", "DCGM series carry neither Hostname nor hostname",
                                    "do not run dcgm-exporter with -n/--no-hostname"))
        for column, f in dcgm.PROF_FIELDS.items():
            if f not in fields:
                findings.append(Finding(f"gpu.{column}", "null", f"{f} is not collected", COUNTERS_FIX))
        if dcgm.UTIL not in fields and dcgm.GR_ENGINE not in fields:
            findings.append(Finding("gpu.gpu_util", "null", "neither DCGM_FI_DEV_GPU_UTIL nor "
                                    "DCGM_FI_PROF_GR_ENGINE_ACTIVE is collected", COUNTERS_FIX))
        elif "GPU_I_ID" in labels and dcgm.GR_ENGINE not in fields:
            findings.append(Finding("gpu.gpu_util", "partial", "MIG instances report no DCGM_FI_DEV_GPU_UTIL and "
                                    "DCGM_FI_PROF_GR_ENGINE_ACTIVE is not collected: null on MIG rows",
                                    COUNTERS_FIX))
        elif "GPU_I_ID" in labels:
            findings.append(Finding("gpu.gpu_util", "note", "MIG rows use DCGM_FI_PROF_GR_ENGINE_ACTIVE "
                                    "(gpu_util_source says so per row)"))
        if dcgm.FB_FREE not in fields:
            findings.append(Finding("gpu", "empty", "DCGM_FI_DEV_FB_FREE is not collected: no device size "
                                    "(mem_total_bytes is required)", COUNTERS_FIX))
        if dcgm.POWER not in fields:
            findings.append(Finding("gpu.power_w", "null", "DCGM_FI_DEV_POWER_USAGE is not collected", COUNTERS_FIX))
        if not labels & {"exported_pod", "pod", "pod_name"}:
            findings.append(Finding("gpu.namespace/pod", "null", "DCGM series carry no pod labels: every GPU "
                                    "counts as allocated to nobody",
                                    "run dcgm-exporter with -k/--kubernetes and mount the kubelet's "
                                    "/var/lib/kubelet/pod-resources"))
        if "vgpu" in labels:
            findings.append(Finding("gpu", "note", "time-sliced GPUs (vgpu copies): one row per sharing pod"))
        if "exported_pod" in labels:
            findings.append(Finding("gpu.namespace/pod", "note", "pod labels from exported_* (honorLabels: "
                                    "false); the exporter's own pod is never a workload"))
    # -- cAdvisor ----------------------------------------------------------------------------------------
    jobs = _values(client, "job", m(cadvisor.MEM), start, end)
    job_sel = ""
    if "kubelet" in jobs:
        paths = _values(client, "metrics_path", m(cadvisor.MEM, 'job="kubelet"'), start, end)
        job_sel = 'job="kubelet",metrics_path="/metrics/cadvisor"' if "/metrics/cadvisor" in paths else 'job="kubelet"'
    elif jobs:
        job_sel = f'job="{jobs[0]}"'
        if len(jobs) > 1:
            findings.append(Finding("container", "note", f"cAdvisor series from several jobs ({', '.join(jobs)}); "
                                    f"using {jobs[0]}", "pass --selector to choose"))
    container_nodes: list[str] | None = []
    node_label = True
    if jobs:
        container_nodes = _values(client, "node", m(cadvisor.MEM, job_sel), start, end)
        if not container_nodes:
            node_label, container_nodes = False, None
            findings.append(Finding("container.node", "note", "cAdvisor series have no node label: joined "
                                    "with kube_pod_info (one query per chunk, not sharded)"))
    else:
        findings.append(Finding("container", "empty", "no container_memory_working_set_bytes series",
                                "scrape the kubelet's /metrics/cadvisor (kube-prometheus-stack does)"))
    # -- kube-state-metrics ------------------------------------------------------------------------------
    pod_nodes = _values(client, "node", m("kube_pod_info"), start, end)
    node_names = _names(client, m("kube_node_labels"), start, end)
    have_nodes = bool(_values(client, "node", m("kube_node_info"), start, end))
    if not pod_nodes:
        findings.append(Finding("pods", "empty", "no kube_pod_info series: no workloads",
                                "scrape kube-state-metrics"))
    else:
        if not (_names(client, m("kube_pod_labels"), start, end) - {"__name__", "namespace", "pod", "uid", "job",
                                                                    "instance", "container", "endpoint", "service"}):
            findings.append(Finding("pods.labels", "null", "kube_pod_labels has no label_* (teams, value classes "
                                    "unknown)", "allow-list pod labels: --metric-labels-allowlist=pods=[team,project,"
                                    "app.kubernetes.io/name,rightsizer.io/value-class]"))
        if not _values(client, "resource", m("kube_pod_container_resource_requests"), start, end):
            findings.append(Finding("pods.*_request", "null", "no kube_pod_container_resource_requests series",
                                    "scrape kube-state-metrics' pod metrics"))
    if not have_nodes:
        findings.append(Finding("nodes", "empty", "no kube_node_info series", "scrape kube-state-metrics"))
    else:
        have = {ksm.ksm_label_name(k) for k in ksm.INSTANCE_TYPE} & node_names
        if not have:
            findings.append(Finding("nodes.instance_type", "null", "instance types unknown: kube_node_labels has no "
                                    "node.kubernetes.io/instance-type (prices need it)",
                                    f"allow-list node labels in kube-state-metrics: {NODE_ALLOWLIST}, or pass "
                                    "--node-instance-type-from FILE"))
        if not {ksm.ksm_label_name(k) for k in ksm.CAPACITY_TYPE} & node_names:
            findings.append(Finding("nodes.capacity_type", "null", "spot / on-demand unknown (no "
                                    "karpenter.sh/capacity-type label)", f"allow-list it: {NODE_ALLOWLIST}"))
    # -- LLM servers (the optional tokens table) ----------------------------------------------------------
    llm = discover_llm(client, start, end, selector=selector)
    findings += llm.findings
    return Discovery(server, dcgm.DcgmDialect(node_labels, fields, frozenset(exporter_pods), selector),
                     cadvisor.CadvisorDialect(job_sel, node_label, selector), gpu_nodes, container_nodes,
                     pod_nodes, have_nodes, findings, llm)
