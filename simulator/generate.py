"""Turn a plan into v1 tables, one (day, node) chunk at a time, and write them with the store's writer."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from simulator.facts import TokenFacts, WorkloadFacts
from simulator.llm import tokens_columns
from simulator.plan import DAY_S, NodePlan, Plan, PodPlan
from simulator.signals import container_samples, gpu_samples, idle_gpu_samples, pod_load
from store.schema import SCHEMAS, TS
from store.writer import DatasetWriter

GPU_RESOURCE = "nvidia.com/gpu"
# Seed streams: one per kind of random thing, so adding one never shifts another.
_LOAD, _GPU, _CONTAINER, _TOKENS = 1, 2, 3, 4
# Facts of one workload come from several nodes, which worker threads make at the same time.
_FACTS_LOCK = threading.Lock()


@dataclass
class Counts:
    rows: dict[str, int] = field(default_factory=lambda: {t: 0 for t in SCHEMAS})
    files: int = 0


def _strings(codes: np.ndarray, values: list[str]) -> pa.Array:
    """A string column from small-dictionary codes (-1 = null), built straight from Arrow buffers.

    Codes come in long runs (one GPU or container after another), so the bytes are a few ``value * run``
    joins; decoding a dictionary array instead costs several times more at 100 M rows.
    """
    n = len(codes)
    encoded = [v.encode() for v in values]
    lengths = np.array([len(b) for b in encoded] + [0], dtype=np.int32)  # code -1 picks the trailing 0
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths[codes], out=offsets[1:])
    starts = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1])
    ends = np.append(starts[1:], n)
    data = b"".join(encoded[c] * int(e - s) for c, s, e in zip(codes[starts], starts, ends, strict=True) if c >= 0)
    valid = codes >= 0
    nulls = n - int(valid.sum())
    bitmap = pa.array(valid).buffers()[1] if nulls else None
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, nulls)


def _ts(ts_s: np.ndarray) -> pa.Array:
    return pa.array(ts_s.astype(np.int64) * 1000).view(TS)  # a view: converting with type= is 1000x slower


def _const(value: str, n: int) -> pa.Array:
    return _strings(np.zeros(n, dtype=np.int32), [value])


class NodeDay:
    """Everything one node produced on one day."""

    def __init__(self, plan: Plan, node: NodePlan, day: int, facts: dict[int, WorkloadFacts]):
        self.plan, self.node, self.day, self.facts = plan, node, day, facts
        step = plan.interval_s
        day0 = plan.start_s + day * DAY_S
        # A sample at ts covers (ts - interval_s, ts] (dataset format v1), so the window [start, end) is
        # covered by the samples at start + interval ... end. A day's partition holds the samples whose ts
        # falls on it: its midnight sample closes the day before. Day 0 so starts one interval in, and the
        # chunk after the last day (``day == plan.days``) holds only the sample at the window's end.
        every = day0 + np.arange(1 if day == plan.days else DAY_S // step, dtype=np.int64) * step
        if day == 0:
            every = every[1:]
        # Something that runs over [start_s, end_s) has the samples start_s < ts <= end_s.
        lo, hi = np.searchsorted(every, [node.start_s, node.end_s], side="right")
        self.ts = every[lo:hi]
        self.pods: list[PodPlan] = []
        self.spans: dict[int, tuple[int, int]] = {}
        self.loads: dict[int, np.ndarray] = {}
        if not len(self.ts):
            return
        for pod in node.pods:
            a0, a1 = (int(i) for i in np.searchsorted(self.ts, [pod.start_s, pod.end_s], side="right"))
            if a1 <= a0:
                continue
            rng = np.random.default_rng([plan.seed, _LOAD, pod.index, day])
            phase = (pod.index * 0.6180339887) % 1.0
            self.pods.append(pod)
            self.spans[pod.index] = (a0, a1)
            self.loads[pod.index] = pod_load(pod.workload.template.pattern, rng, self.ts[a0:a1], step, phase)

    @property
    def empty(self) -> bool:
        return not len(self.ts)

    def tables(self) -> dict[str, pa.Table]:
        out = {"nodes": self.nodes_table(), "pods": self.pods_table(), "container": self.container_table()}
        if self.node.gpu_uuids:
            out["gpu"] = self.gpu_table()
        if any(p.workload.template.llm for p in self.pods):
            out["tokens"] = self.tokens_table()
        return out

    # -- LLM servers: the tokens table (simulator/llm.py) -------------------------------------------------
    def tokens_table(self) -> pa.Table:
        parts: dict[str, list] = {}
        step = self.plan.interval_s
        for pod in self.pods:
            t = pod.workload.template
            if t.llm is None:
                continue
            a0, a1 = self.spans[pod.index]
            rng = np.random.default_rng([self.plan.seed, _TOKENS, pod.index, self.day])
            cols = tokens_columns(t.llm, self.loads[pod.index], step, self.node.shape.gpu.memory_bytes, rng)
            n = a1 - a0
            with _FACTS_LOCK:
                f = self.facts[pod.workload.index]
                f.tokens = f.tokens or TokenFacts()
                f.tokens.add(cols, step, n)
            main = next(c.name for c in t.containers if c.gpu)
            keys = {"ts": _ts(self.ts[a0:a1]), "node": [self.node.name] * n,
                    "interval_s": np.full(n, step, dtype=np.float32), "namespace": [pod.workload.namespace] * n,
                    "pod": [pod.name] * n, "container": [main] * n, "server": [t.llm.server] * n,
                    "model": [t.llm.model.name if t.llm.exports_model else None] * n}
            for k, v in {**keys, **cols}.items():
                parts.setdefault(k, []).append(v)
        schema = SCHEMAS["tokens"]
        return pa.table({name: pa.concat_arrays([pa.array(v, type=schema.field(name).type) for v in parts[name]])
                         for name in schema.names}, schema=schema)

    # -- nodes and pods: state rows, re-emitted at the first sample of each day ---------------------------
    def nodes_table(self) -> pa.Table:
        n, shape = self.node, self.node.shape
        return pa.table({
            "ts": _ts(self.ts[:1]), "node": [n.name], "instance_type": [shape.name],
            "capacity_type": [n.capacity_type], "zone": [n.zone], "region": [n.region],
            "cpu_capacity": pa.array([float(shape.vcpu)], pa.float64()),
            "mem_capacity": pa.array([shape.memory_bytes], pa.int64()),
            "gpu_count": pa.array([shape.gpu_count], pa.int32()),
            "gpu_model": [shape.gpu.nvml_name if shape.gpu else None],
            "labels": [json.dumps(n.labels, sort_keys=True)],
        })

    def pods_table(self) -> pa.Table:
        cols: dict[str, list] = {k: [] for k in SCHEMAS["pods"].names}
        for pod in self.pods:
            w = pod.workload
            labels = json.dumps(w.labels, sort_keys=True)
            first = int(self.ts[self.spans[pod.index][0]])
            for c in w.template.containers:
                for k, v in (("ts", first * 1000), ("node", self.node.name), ("namespace", w.namespace),
                             ("pod", pod.name), ("pod_uid", pod.uid), ("workload_kind", w.kind),
                             ("workload_name", w.name), ("labels", labels), ("container", c.name),
                             ("cpu_request", c.cpu_request), ("cpu_limit", c.cpu_limit),
                             ("mem_request", c.mem_request), ("mem_limit", c.mem_limit or c.mem_request),
                             ("gpu_resource", GPU_RESOURCE if c.gpu else None),
                             ("gpu_request", float(c.gpu) if c.gpu else None)):
                    cols[k].append(v)
        return pa.table(cols, schema=SCHEMAS["pods"])

    # -- samples -------------------------------------------------------------------------------------
    def container_table(self) -> pa.Table:
        parts_ts, codes, cpus, mems = [], [], [], []
        names: list[tuple[str, str, str]] = []
        for pod in self.pods:
            a0, a1 = self.spans[pod.index]
            a = self.loads[pod.index]
            cpu_sum = np.zeros(len(a), dtype=np.float64)
            mem_sum = np.zeros(len(a), dtype=np.int64)
            for ci, c in enumerate(pod.workload.template.containers):
                rng = np.random.default_rng([self.plan.seed, _CONTAINER, pod.index, ci, self.day])
                cpu, mem = container_samples(c, a, rng)
                parts_ts.append(self.ts[a0:a1])
                codes.append(np.full(len(a), len(names), dtype=np.int32))
                names.append((pod.workload.namespace, pod.name, c.name))
                cpus.append(cpu)
                mems.append(mem)
                cpu_sum += cpu
                mem_sum += mem
            with _FACTS_LOCK:
                self.facts[pod.workload.index].add_containers(cpu_sum, mem_sum)
        if not names:
            return SCHEMAS["container"].empty_table()
        code = np.concatenate(codes)
        n = len(code)
        return pa.table({
            "ts": _ts(np.concatenate(parts_ts)), "node": _const(self.node.name, n),
            "interval_s": pa.array(np.full(n, self.plan.interval_s, dtype=np.float32)),
            "namespace": _strings(code, [x[0] for x in names]), "pod": _strings(code, [x[1] for x in names]),
            "container": _strings(code, [x[2] for x in names]),
            "cpu_cores": pa.array(np.concatenate(cpus)), "mem_bytes": pa.array(np.concatenate(mems)),
        })

    def gpu_table(self) -> pa.Table:
        node, model = self.node, self.node.shape.gpu
        n = len(self.ts)
        columns: dict[str, list[np.ndarray]] = {}
        pod_codes = []
        names: list[tuple[str, str, str]] = []
        per_pod: dict[int, list[dict]] = {}
        for g, pod in enumerate(node.gpu_pods):
            rng = np.random.default_rng([self.plan.seed, _GPU, node.index, g, self.day])
            span = self.spans.get(pod.index) if pod is not None else None
            code = np.full(n, -1, dtype=np.int32)
            # A GPU its pod holds all day needs no idle samples underneath.
            cols = None if span == (0, n) else idle_gpu_samples(model, n, rng)
            if span is not None:
                a0, a1 = span
                busy = gpu_samples(pod.workload.template.gpu, model, self.loads[pod.index], rng,
                                   sparse=pod.workload.template.pattern in ("sessions", "bursts"))
                per_pod.setdefault(pod.index, []).append(busy)
                if cols is None:
                    cols = busy
                else:
                    for k, v in busy.items():
                        cols[k][a0:a1] = v
                main = next(c.name for c in pod.workload.template.containers if c.gpu)
                code[a0:a1] = len(names)
                names.append((pod.workload.namespace, pod.name, main))
            for k, v in cols.items():
                columns.setdefault(k, []).append(v)
            pod_codes.append(code)
        self._gpu_facts(per_pod)
        code = np.concatenate(pod_codes)
        rows = n * len(node.gpu_uuids)
        gpu_codes = np.repeat(np.arange(len(node.gpu_uuids), dtype=np.int32), n)
        table = {
            "ts": _ts(np.tile(self.ts, len(node.gpu_uuids))), "node": _const(node.name, rows),
            "interval_s": pa.array(np.full(rows, self.plan.interval_s, dtype=np.float32)),
            "gpu_uuid": _strings(gpu_codes, node.gpu_uuids), "gpu_model": _const(model.nvml_name, rows),
            "namespace": _strings(code, [x[0] for x in names]), "pod": _strings(code, [x[1] for x in names]),
            "container": _strings(code, [x[2] for x in names]),
            "mem_total_bytes": pa.array(np.full(rows, model.memory_bytes, dtype=np.int64)),
        }
        for k, parts in columns.items():
            table[k] = pa.array(np.concatenate(parts))
        return pa.table(table)

    def _gpu_facts(self, per_pod: dict[int, list[dict]]) -> None:
        pods = {p.index: p for p in self.pods}
        for index, gpus in per_pod.items():
            util = np.mean([g["gpu_util"] for g in gpus], axis=0)
            sm = np.mean([g["sm_active"] for g in gpus], axis=0) if "sm_active" in gpus[0] else None
            mem = np.sum([g["mem_used_bytes"] for g in gpus], axis=0)
            each = np.concatenate([g["mem_used_bytes"] for g in gpus])
            with _FACTS_LOCK:
                self.facts[pods[index].workload.index].add_gpu(index, util, sm, mem, each)


def new_facts(plan: Plan) -> dict[int, WorkloadFacts]:
    facts = {}
    for w in plan.workloads:
        shape = w.pods[0].node.shape
        per_gpu = shape.gpu.memory_bytes if shape.gpu else 0
        cpu_upper = sum(c.cpu_request * max(c.cpu_use) for c in w.template.containers) * 1.3
        mem_upper = sum(c.mem_request * max(c.mem_use) for c in w.template.containers) * 1.3
        facts[w.index] = WorkloadFacts(per_gpu * w.gpus_per_pod, cpu_upper, mem_upper,
                                       gpm=bool(shape.gpu and shape.gpu.gpm and w.gpus_per_pod))
    return facts


def write_dataset(plan: Plan, writer: DatasetWriter, facts: dict[int, WorkloadFacts],
                  on_chunk: Callable[[], None] | None = None, workers: int = 1) -> Counts:
    """Generate and write every (day, node) chunk; returns rows written per table.

    Nodes of one day run on ``workers`` threads (numpy, Parquet encoding and fsync release the GIL);
    days run in order so that each pod's idle/burst runs are followed across midnight.
    """
    counts = Counts()
    segment = f"sim-{plan.seed}"  # deterministic names: the same seed rewrites the same files

    def one(node: NodePlan, day: int) -> dict[str, int]:
        chunk = NodeDay(plan, node, day, facts)
        rows = {}
        if not chunk.empty:
            for table, data in chunk.tables().items():
                if data.num_rows:
                    writer.write(table, data, segment=segment)
                    rows[table] = data.num_rows
        if on_chunk:
            on_chunk()
        return rows

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for day in range(plan.days + 1):  # + the window end's own sample (see NodeDay)
            for rows in pool.map(one, plan.nodes, [day] * len(plan.nodes)):
                for table, n in rows.items():
                    counts.rows[table] += n
                    counts.files += 1
    return counts
