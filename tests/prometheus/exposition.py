"""Turn a v1 dataset into the series a real cluster's Prometheus would hold, as OpenMetrics text.

What each exporter would have scraped, in its real label dialect:

* dcgm-exporter: even nodes as the Helm chart's ServiceMonitor stores them (``honorLabels: false``: the
  exporter's own pod in ``pod``/``namespace``/``container``, the GPU's pod in ``exported_*``; label
  ``Hostname``, as every released version), odd nodes with ``honorLabels: true`` and the renamed
  ``hostname``. MIG slices carry the parent ``UUID`` with ``GPU_I_PROFILE``/``GPU_I_ID`` and report
  ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` but no ``DCGM_FI_DEV_GPU_UTIL``. A GPU shared by several pods is
  exported as with ``--kubernetes-virtual-gpus``: one copy per pod with ``vgpu="n"`` (per-process util
  and memory, device values for the rest) plus the device-level series without pod labels.
* cAdvisor: one series per container plus the pod-level cgroup (``container=""``), the pause sandbox
  (``container="POD"``) and a nested duplicate of some containers (another ``id``) — all of which an
  importer must not add up.
* kube-state-metrics: pod info/owner/labels/containers/requests/limits, ReplicaSet and Job owners, node
  info/labels/capacity, with KSM's label-name sanitisation.
* LLM servers (vLLM, Triton's vLLM backend, TGI, SGLang): their counters, gauges and histograms from the
  dataset's tokens rows (``llm_exposition.py``).
  info/labels/capacity, with KSM's label-name sanitisation; and from the ``autoscalers`` table, each HPA's
  info (scale target), min/max replicas and one ``spec_target_metric`` per metric (name and target type,
  the source type lost as KSM loses it), each listing holding until the next.

Each row ``(ts - S, ts]`` becomes samples strictly inside that interval (gauges at ``ts - S/2``, the CPU
counter at ``ts - 3S/4`` and ``ts - S/4``), so a range function over ``[S]`` evaluated at ``ts`` sees
exactly that row, whether the server's windows are left-closed (2.x) or left-open (3.x).
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections import defaultdict

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

MIB = 1 << 20
EXPORTER_NS, EXPORTER_CONTAINER = "gpu-operator", "nvidia-dcgm-exporter"


def ksm_name(key: str) -> str:
    """kube-state-metrics: label_ + snake_case(key with every invalid character as _)."""
    return "label_" + re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"[^a-zA-Z0-9_]", "_", key)).lower()


def ksm_resource(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _read(root: str, table: str) -> pd.DataFrame:
    df = ds.dataset(f"{root}/{table}", format="parquet", partitioning="hive").to_table().to_pandas()
    return df.drop(columns=["date"], errors="ignore")


def seconds(ts: pd.Series) -> np.ndarray:
    """Epoch seconds of a tz-aware timestamp column, whatever its unit."""
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64) / 1000


def _labels(d: dict) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items() if v is not None) + "}"


class Writer:
    """Collects samples per family; writes families one after another, each series' samples in time order."""

    def __init__(self):
        self.families: dict[str, tuple[str, dict[str, list[tuple[float, float]]]]] = {}

    def add(self, family: str, kind: str, name: str, labels: dict, ts: float, value: float) -> None:
        _, series = self.families.setdefault(family, (kind, defaultdict(list)))
        series[name + _labels(labels)].append((ts, value))

    def add_many(self, family: str, kind: str, name: str, labels: dict, ts: np.ndarray, values: np.ndarray) -> None:
        _, series = self.families.setdefault(family, (kind, defaultdict(list)))
        series[name + _labels(labels)].extend(zip(ts.tolist(), values.tolist(), strict=True))

    def write(self, path: str) -> int:
        lines = 0
        with open(path, "w") as fh:
            for family, (kind, series) in self.families.items():
                fh.write(f"# TYPE {family} {kind}\n")
                for key in sorted(series):
                    for ts, value in sorted(series[key]):
                        fh.write(f"{key} {value!r} {ts!r}\n")
                        lines += 1
            fh.write("# EOF\n")
        return lines


def convert(root: str, path: str, step_s: int, *, mig_parents: dict[str, tuple[str, str]],
            end_s: float, llm: tuple = ()) -> int:
    """Write ``path`` (OpenMetrics) from the dataset at ``root``; returns the number of samples.

    ``mig_parents``: MIG instance UUID → (parent GPU UUID, GPU instance id), which Prometheus cannot carry.
    ``llm``: the serving pods of the tokens table (llm_cluster.Serving: label dialect, restarts, gaps).
    """
    gpu, container = _read(root, "gpu"), _read(root, "container")
    pods, nodes = _read(root, "pods"), _read(root, "nodes")
    node_names = sorted(set(nodes.node))
    node_index = {n: i for i, n in enumerate(node_names)}
    w = Writer()
    _dcgm(w, gpu, step_s, node_index, mig_parents)
    _cadvisor(w, container, step_s)
    _ksm(w, pods, nodes, container, step_s, end_s)
    if llm:
        from tests.prometheus.llm_exposition import write_llm

        write_llm(w, _read(root, "tokens"), llm, step_s, seconds)
    if os.path.isdir(os.path.join(root, "autoscalers")):
        _ksm_hpa(w, _read(root, "autoscalers"), step_s, end_s)
    return w.write(path)


_TARGET = {"Utilization": ("utilization", "averageUtilization"), "AverageValue": ("average", "averageValue"),
           "Value": ("value", "value")}


def _quantity(q) -> float:
    text = str(q)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _ksm_hpa(w: Writer, table: pd.DataFrame, step_s: int, end_s: float) -> None:
    """kube_horizontalpodautoscaler_* series: each listing's specs from its time to the next listing's."""
    times = sorted(set(seconds(table.ts)))
    table = table.assign(t=seconds(table.ts))
    for k, t in enumerate(times):
        stop = times[k + 1] if k + 1 < len(times) else end_s
        grid = np.arange(t + step_s, stop + 1e-9, step_s) - step_s / 2
        one = np.ones(len(grid))
        for _, r in table[table.t == t].iterrows():
            key = {"namespace": r.namespace, "horizontalpodautoscaler": r.autoscaler_name}
            w.add_many("kube_horizontalpodautoscaler_info", "gauge", "kube_horizontalpodautoscaler_info",
                       {**key, "scaletargetref_api_version": "apps/v1", "scaletargetref_kind": r.target_kind,
                        "scaletargetref_name": r.target_name}, grid, one)
            for metric, value in (("spec_min_replicas", r.min_replicas), ("spec_max_replicas", r.max_replicas)):
                name = "kube_horizontalpodautoscaler_" + metric
                w.add_many(name, "gauge", name, key, grid, np.full(len(grid), float(value)))
            for m in json.loads(r.metrics):
                source = m.get("resource") or m.get("pods") or m.get("external") or m.get("object") or {}
                name = source.get("name") or source.get("metric", {}).get("name")
                ttype, field = _TARGET[source["target"]["type"]]
                value = source["target"][field]
                w.add_many("kube_horizontalpodautoscaler_spec_target_metric", "gauge",
                           "kube_horizontalpodautoscaler_spec_target_metric",
                           {**key, "metric_name": name, "metric_target_type": ttype}, grid,
                           np.full(len(grid), float(value) if ttype == "utilization" else _quantity(value)))


def _dcgm(w: Writer, gpu: pd.DataFrame, step_s: int, node_index: dict, mig_parents: dict) -> None:
    half = step_s / 2
    gpu = gpu.assign(t=seconds(gpu.ts) - half)
    occupancy = gpu.groupby(["gpu_uuid", "ts"]).pod.count()
    shared_uuids = set(occupancy[occupancy > 1].index.get_level_values(0))
    index_of: dict[str, dict[str, int]] = defaultdict(dict)  # node → parent UUID → GPU index
    for (node, uuid), g in gpu.groupby(["node", "gpu_uuid"], sort=True):
        honor = node_index[node] % 2 == 1
        parent, gi = mig_parents.get(uuid, (uuid, None))
        idx = index_of[node].setdefault(parent, len(index_of[node]))
        base = {"gpu": str(idx), "UUID": parent, "pci_bus_id": f"00000000:{10 + idx:02X}:00.0",
                "device": f"nvidia{idx}", "modelName": g.gpu_model.iloc[0],
                ("hostname" if honor else "Hostname"): node, "DCGM_FI_DRIVER_VERSION": "550.54.15",
                "job": "nvidia-dcgm-exporter", "instance": f"10.0.{node_index[node]}.7:9400"}
        if gi is not None:
            base["GPU_I_PROFILE"], base["GPU_I_ID"] = g.mig_profile.iloc[0], gi
        exporter = {"namespace": EXPORTER_NS, "pod": f"nvidia-dcgm-exporter-{node_index[node]:05d}",
                    "container": EXPORTER_CONTAINER}

        def with_pod(ns, pod, c, base=base, honor=honor, exporter=exporter):
            if pod is None:
                return {**base, **({} if honor else exporter)}
            if honor:
                return {**base, "namespace": ns, "pod": pod, "container": c}
            return {**base, **exporter, "exported_namespace": ns, "exported_pod": pod, "exported_container": c}

        if uuid in shared_uuids:
            dev = g.groupby("t").agg(util=("gpu_util", "sum"), used=("mem_used_bytes", "sum"),
                                     total=("mem_total_bytes", "first"), power=("power_w", "first"))
            t = dev.index.to_numpy()
            free = (dev.total - dev.used).to_numpy() / MIB
            labels = with_pod(None, None, None)
            _gauges(w, labels, t, util=dev.util.to_numpy() * 100, used=dev.used.to_numpy() / MIB, free=free,
                    power=dev.power.to_numpy())
            for n, ((ns, pod, c), p) in enumerate(g.groupby(["namespace", "pod", "container"], sort=True)):
                tt = p.t.to_numpy()
                copy = {**with_pod(ns, pod, c), "vgpu": str(n)}
                _gauges(w, copy, tt, util=p.gpu_util.to_numpy(np.float64) * 100,
                        used=p.mem_used_bytes.to_numpy() / MIB, free=dev.loc[tt].pipe(lambda d: (d.total - d.used)
                                                                                          .to_numpy() / MIB),
                        power=dev.loc[tt].power.to_numpy())
            continue
        for (ns, pod, c), p in g.groupby(["namespace", "pod", "container"], dropna=False, sort=True):
            labels = with_pod(None if pd.isna(pod) else ns, None if pd.isna(pod) else pod, None if pd.isna(pod) else c)
            t = p.t.to_numpy()
            util = p.gpu_util.to_numpy(np.float64)
            used = p.mem_used_bytes.to_numpy()
            free = (p.mem_total_bytes.to_numpy() - used) / MIB
            if gi is not None:  # MIG: no GPU_UTIL, the graphics engine activity instead; no board power
                _gauges(w, labels, t, gr=util, used=used / MIB, free=free)
            else:
                reserved = np.zeros(len(t)) if node_index[p.node.iloc[0]] % 3 == 0 else None
                _gauges(w, labels, t, util=util * 100, used=used / MIB, free=free, reserved=reserved,
                        power=p.power_w.to_numpy(np.float64))
            for column, field in (("sm_active", "DCGM_FI_PROF_SM_ACTIVE"), ("sm_occupancy", "DCGM_FI_PROF_SM_OCCUPANCY"),
                                  ("tensor_active", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"),
                                  ("dram_active", "DCGM_FI_PROF_DRAM_ACTIVE")):
                v = p[column].to_numpy(np.float64)
                ok = ~np.isnan(v)
                if ok.any():
                    w.add_many(field, "gauge", field, labels, t[ok], v[ok])


def _gauges(w: Writer, labels: dict, t: np.ndarray, *, util=None, gr=None, used=None, free=None, reserved=None,
            power=None) -> None:
    for field, values in (("DCGM_FI_DEV_GPU_UTIL", util), ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", gr),
                          ("DCGM_FI_DEV_FB_USED", used), ("DCGM_FI_DEV_FB_FREE", free),
                          ("DCGM_FI_DEV_FB_RESERVED", reserved), ("DCGM_FI_DEV_POWER_USAGE", power)):
        if values is None:
            continue
        values = np.asarray(values, dtype=np.float64)
        ok = ~np.isnan(values)
        w.add_many(field, "gauge", field, labels, t[ok], values[ok])


def _cadvisor(w: Writer, container: pd.DataFrame, step_s: int) -> None:
    container = container.assign(t=seconds(container.ts))
    cpu_family, mem_family = "container_cpu_usage_seconds", "container_memory_working_set_bytes"
    pod_sum: dict[tuple, list] = defaultdict(list)
    for n, ((node, ns, pod, c), g) in enumerate(container.groupby(["node", "namespace", "pod", "container"], sort=True)):
        g = g.sort_values("t")
        t = g.t.to_numpy()
        cores = g.cpu_cores.to_numpy(np.float64)
        mem = g.mem_bytes.to_numpy(np.float64)
        # a counter: each row adds cores·S, linearly over its interval; samples at 1/4 and 3/4 of it
        done = np.concatenate([[0.0], np.cumsum(cores * step_s)[:-1]])
        t1, t2 = t - 0.75 * step_s, t - 0.25 * step_s
        v1, v2 = done + cores * step_s * 0.25, done + cores * step_s * 0.75
        ts = np.stack([t1, t2], 1).ravel()
        vs = np.stack([v1, v2], 1).ravel()
        base = {"endpoint": "https-metrics", "image": f"registry.example.com/{c}:1.0", "instance": "10.0.0.1:10250",
                "job": "kubelet", "metrics_path": "/metrics/cadvisor", "namespace": ns, "node": node, "pod": pod,
                "container": c, "id": f"/kubepods/burstable/pod{n}/{c}", "name": f"k8s_{c}_{pod}"}
        w.add_many(cpu_family, "counter", cpu_family + "_total", base, ts, vs)
        w.add_many(mem_family, "gauge", mem_family, base, t - 0.5 * step_s, mem)
        if n % 4 == 0:  # a nested duplicate record of the same container (kubernetes/kubernetes#129253)
            dup = {**base, "id": base["id"] + "/nested"}
            w.add_many(cpu_family, "counter", cpu_family + "_total", dup, ts, vs)
            w.add_many(mem_family, "gauge", mem_family, dup, t - 0.5 * step_s, mem)
        pod_sum[(node, ns, pod)].append((t, ts, vs, mem))
    for (node, ns, pod), parts in pod_sum.items():
        # the pod's own cgroup (container="", no image) and its pause container: never containers
        base = {"instance": "10.0.0.1:10250", "job": "kubelet", "metrics_path": "/metrics/cadvisor",
                "namespace": ns, "node": node, "pod": pod, "id": f"/kubepods/pod-{pod}"}
        t, ts, vs, mem = parts[0]
        w.add_many(cpu_family, "counter", cpu_family + "_total", base, ts, vs * len(parts) + 100.0)
        w.add_many(mem_family, "gauge", mem_family, base, t - 0.5 * step_s, mem * len(parts) + 1e9)
        pause = {**base, "container": "POD", "image": "registry.k8s.io/pause:3.9", "id": base["id"] + "/pause"}
        w.add_many(mem_family, "gauge", mem_family, pause, t - 0.5 * step_s, np.full(len(t), 4e9))


def _owner(row) -> tuple[str, str]:
    kind, name, pod = row.workload_kind, row.workload_name, row.pod
    if kind == "Deployment":
        return "ReplicaSet", pod.rsplit("-", 1)[0]
    if kind == "CronJob":
        return "Job", pod.rsplit("-", 1)[0]
    if kind == "Pod":
        return "<none>", "<none>"
    return kind, name


def _ksm(w: Writer, pods: pd.DataFrame, nodes: pd.DataFrame, container: pd.DataFrame, step_s: int,
         end_s: float) -> None:
    last = container.assign(t=seconds(container.ts)).groupby(["namespace", "pod"]).t.max()
    last_seen = last.to_dict()
    pods = pods.assign(t=seconds(pods.ts)).sort_values("t")
    for (ns, pod), p in pods.groupby(["namespace", "pod"], sort=True):
        first = p.iloc[0]
        start, stop = first.t, last_seen.get((ns, pod), end_s)
        grid = np.arange(start + step_s, stop + 1e-9, step_s) - step_s / 2  # one sample per interval
        uid, node = first.pod_uid, first.node
        info = {"namespace": ns, "pod": pod, "uid": uid, "node": node, "host_ip": "10.0.0.1",
                "created_by_kind": _owner(first)[0], "created_by_name": _owner(first)[1]}
        one = np.ones(len(grid))
        w.add_many("kube_pod_info", "gauge", "kube_pod_info", info, grid, one)
        kind, name = _owner(first)
        w.add_many("kube_pod_owner", "gauge", "kube_pod_owner",
                   {"namespace": ns, "pod": pod, "uid": uid, "owner_kind": kind, "owner_name": name,
                    "owner_is_controller": "true" if kind != "<none>" else "false"}, grid, one)
        if kind == "ReplicaSet":
            w.add_many("kube_replicaset_owner", "gauge", "kube_replicaset_owner",
                       {"namespace": ns, "replicaset": name, "owner_kind": "Deployment",
                        "owner_name": first.workload_name, "owner_is_controller": "true"}, grid, one)
        if kind == "Job":
            owner_kind, owner_name = ("CronJob", first.workload_name) if first.workload_kind == "CronJob" else ("<none>", "<none>")
            w.add_many("kube_job_owner", "gauge", "kube_job_owner",
                       {"namespace": ns, "job_name": name, "owner_kind": owner_kind, "owner_name": owner_name,
                        "owner_is_controller": "true" if owner_kind != "<none>" else "false"}, grid, one)
        if first.labels:
            labels = {ksm_name(k): v for k, v in sorted(json.loads(first.labels).items())}
            w.add_many("kube_pod_labels", "gauge", "kube_pod_labels", {"namespace": ns, "pod": pod, "uid": uid, **labels},
                       grid, one)
        for _, row in p.drop_duplicates("container").iterrows():
            c = row.container
            base = {"namespace": ns, "pod": pod, "uid": uid, "container": c}
            w.add_many("kube_pod_container_info", "gauge", "kube_pod_container_info",
                       {**base, "image": f"registry.example.com/{c}:1.0"}, grid, one)
            for family, request, limit in (("cpu", row.cpu_request, row.cpu_limit),
                                           ("memory", row.mem_request, row.mem_limit),
                                           (row.gpu_resource, row.gpu_request, row.gpu_request)):
                if family is None or (isinstance(family, float) and np.isnan(family)):
                    continue
                unit = {"cpu": "core", "memory": "byte"}.get(family, "integer")
                labels = {**base, "node": node, "resource": ksm_resource(family), "unit": unit}
                for metric, value in (("kube_pod_container_resource_requests", request),
                                      ("kube_pod_container_resource_limits", limit)):
                    if value is not None and not pd.isna(value):
                        w.add_many(metric, "gauge", metric, labels, grid, np.full(len(grid), float(value)))
    nodes = nodes.assign(t=seconds(nodes.ts)).sort_values("t")
    for node, n in nodes.groupby("node", sort=True):
        first = n.iloc[0]
        grid = np.arange(first.t + step_s, end_s + 1e-9, step_s) - step_s / 2
        one = np.ones(len(grid))
        w.add_many("kube_node_info", "gauge", "kube_node_info",
                   {"node": node, "kubelet_version": "v1.31.2", "provider_id": f"aws:///{first.zone}/i-0{zlib.crc32(node.encode()):08x}",
                    "internal_ip": "10.0.0.1"}, grid, one)
        labels = {ksm_name(k): v for k, v in sorted(json.loads(first.labels).items())}
        w.add_many("kube_node_labels", "gauge", "kube_node_labels", {"node": node, **labels}, grid, one)
        for resource, unit, value in (("cpu", "core", first.cpu_capacity), ("memory", "byte", first.mem_capacity),
                                      ("nvidia_com_gpu", "integer", first.gpu_count or None)):
            if value is not None and not pd.isna(value):
                w.add_many("kube_node_status_capacity", "gauge", "kube_node_status_capacity",
                           {"node": node, "resource": resource, "unit": unit}, grid, np.full(len(grid), float(value)))
