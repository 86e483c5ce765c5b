"""The observed cluster (optimizer/inventory.py): what the placement and the money need from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.inventory import build_inventory
from optimizer.uptime import covered_runs
from store.reader import Dataset
from tests.recommender.fakes import GIB, PodSpec, build_dataset

NODES = {"gpu-1": ("g5.xlarge", "on-demand", "NVIDIA A10G", 1), "cpu-1": ("m5.xlarge", "on-demand", None, 0)}


def _rewrite(root: Path, table: str, change) -> None:
    for path in (root / table).rglob("*.parquet"):
        pq.write_table(change(pq.ParquetFile(path).read()), path)


def _cluster(tmp_path) -> Path:
    gpu = {"uuid": "gpu-1-GPU-0", "model": "NVIDIA A10G", "mig_profile": None, "util": 0.5, "mem": 4 * GIB}
    pods = [PodSpec("ml", "chat-0", "Deployment", "chat", "gpu-1", {}, {"main": (2.0, 8 * GIB)}, gpu=gpu,
                    gpu_resource="nvidia.com/gpu"),
            PodSpec("kube-system", "logs-a", "DaemonSet", "logs", "gpu-1", {}, {"agent": (0.25, GIB)}),
            PodSpec("kube-system", "logs-b", "DaemonSet", "logs", "cpu-1", {}, {"agent": (0.25, GIB)}),
            PodSpec("web", "ghost-0", "Deployment", "ghost", "cpu-1", {}, {"c": (1.0, 2 * GIB)})]
    root = Path(build_dataset(tmp_path / "d", days=1, pods=pods, nodes=NODES))

    def arch(t: pa.Table) -> pa.Table:
        labels = [json.dumps({"kubernetes.io/arch": "amd64" if n == "gpu-1" else "arm64"})
                  for n in t.column("node").to_pylist()]
        i = t.schema.get_field_index("labels")
        return t.set_column(i, t.schema.field(i), pa.array(labels, pa.string()))

    _rewrite(root, "nodes", arch)
    # the pods table lost ghost-0's rows (a spool overflow, say); its samples remain
    _rewrite(root, "pods", lambda t: t.filter(pc.not_equal(t.column("pod"), "ghost-0")))
    return root


def test_node_arch_and_daemonset_requests_per_node(tmp_path):
    inv = build_inventory(Dataset(str(_cluster(tmp_path))))
    assert inv.node_arches() == {"gpu-1": "amd64", "cpu-1": "arm64"}
    assert inv.daemonset_requests("gpu-1") == (0.25, GIB)
    assert inv.daemonset_requests("cpu-1") == (0.25, GIB)


def test_pods_missing_from_the_pods_table_are_kept_as_bare_pods_and_counted(tmp_path, catalog):
    from optimizer.config import OptimizerConfig, SolverConfig
    from optimizer.profiles import compute_profiles
    from optimizer.recommend import build_recommendations

    data = Dataset(str(_cluster(tmp_path)))
    inv = build_inventory(data)
    ghost = inv.workloads[("web", "Pod", "ghost-0")]
    assert not ghost.spec_known and ghost.pods[0].node == "cpu-1" and ghost.pods[0].seconds > 0
    assert inv.pods_without_spec == 1
    profiles = compute_profiles(data, entity="workload")
    result = build_recommendations(data, profiles, catalog, OptimizerConfig(solver=SolverConfig(num_workers=1)))
    assert any("1 pods had samples but no pods-table row" in n for n in result.notes)
    assert all(r.name != "ghost-0" for r in result.recommendations)
    # still in the node plan: chat and the bare pod (DaemonSets are room kept on every node, not pods)
    assert result.consolidation["pods"] == 2


def test_one_uptime_rule_for_the_observed_cluster_and_the_allocation(tmp_path, catalog):
    from recommender.allocation import allocate

    data = Dataset(str(_cluster(tmp_path)))
    inv = build_inventory(data)
    alloc = allocate(data, catalog)
    hours = dict(zip(alloc.nodes.node, alloc.nodes.hours, strict=True))
    assert set(hours) == {"gpu-1", "cpu-1"}
    for name, h in hours.items():
        assert inv.nodes[name].seconds / 3600 == h  # the same union of sample intervals, to the millisecond
    assert hours["cpu-1"] == 24.0  # a day of 600 s samples, the first interval included


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from([1.0, 5.0, 10.0, 30.0])), min_size=1, max_size=60))
def test_covered_runs_of_rows_in_time_order_equal_those_of_any_order(rows):
    # the agent writes rows in time order and that case skips the sort; the union must not depend on it
    ts = np.array([t * 5_000 for t, _ in rows], np.int64)
    interval = np.array([i for _, i in rows], np.float32)
    order = np.argsort(ts, kind="stable")
    shuffled = covered_runs(ts, interval)
    in_order = covered_runs(ts[order], interval[order])
    assert [a.tolist() for a in in_order] == [a.tolist() for a in shuffled]
    # the union's length, the slow way: every covered millisecond step of 1 s
    covered = {s for t, i in zip(ts.tolist(), interval.tolist(), strict=True) for s in range(t - int(i * 1000), t, 1000)}
    assert int((in_order[1] - in_order[0]).sum()) == 1000 * len(covered)


def _pods_log(rows: list[tuple]) -> pa.Table:
    """A pods change log: (ms, pod, container, cpu request, team label) rows of one Deployment."""
    return pa.table({
        "ts": pa.array([r[0] for r in rows], pa.timestamp("ms", tz="UTC")), "node": ["n1"] * len(rows),
        "namespace": ["ml"] * len(rows), "pod": [r[1] for r in rows], "workload_kind": ["Deployment"] * len(rows),
        "workload_name": ["chat"] * len(rows), "labels": [json.dumps({"team": r[4]}) for r in rows],
        "container": [r[2] for r in rows], "cpu_request": [r[3] for r in rows], "cpu_limit": [None] * len(rows),
        "mem_request": [GIB] * len(rows), "mem_limit": [None] * len(rows), "gpu_resource": [None] * len(rows),
        "gpu_request": [None] * len(rows)})


def test_spec_history_has_each_distinct_pod_spec_once_with_the_time_first_seen():
    from optimizer.observed_scan import PodsLog

    key = ("ml", "Deployment", "chat")
    # written out of time order on purpose: the log is read in time order. A pod's containers written at
    # one instant are one spec; a rollback to an earlier spec is not a new one; a row that only changes
    # labels is not a new spec, but the newest row's labels are the workload's
    log = PodsLog(_pods_log([(3000, "chat-c", "main", 1.0, "blue"), (1000, "chat-a", "main", 1.0, "red"),
                             (1000, "chat-a", "sidecar", 0.1, "red"), (2000, "chat-b", "main", 2.0, "red"),
                             (2000, "chat-b", "sidecar", 0.1, "red"), (3000, "chat-c", "sidecar", 0.1, "blue"),
                             (4000, "chat-a", "main", 1.0, "green")]))
    history = log.history[key]
    assert [t for t, _ in history] == [1000, 2000]
    assert [{n: s.cpu_request for n, s in spec.items()} for _, spec in history] == [
        {"main": 1.0, "sidecar": 0.1}, {"main": 2.0, "sidecar": 0.1}]
    assert log.labels[key] == {"team": "green"}
    assert {pod: log.pod_specs[("ml", pod)]["main"].cpu_request for pod in ("chat-a", "chat-b", "chat-c")} == {
        "chat-a": 1.0, "chat-b": 2.0, "chat-c": 1.0}
    assert {n: s.cpu_request for n, s in log.specs[key].items()} == {"main": 1.0, "sidecar": 0.1}  # chat-c's
