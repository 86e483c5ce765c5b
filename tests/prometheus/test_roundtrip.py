"""Import from a real Prometheus holding a simulated cluster's history; compare with the original dataset.

The import runs through the CLI with a small --max-points, so every series is fetched in many chunks
(several per day, day boundaries inside chunks) and sharded over nodes.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from recommender.cli import main
from store.reader import Dataset
from tests.prometheus.cluster import NODE, PARENT, SHARED

pytestmark = pytest.mark.tools


def _import(server, out, *extra) -> int:
    o = server.original
    # rows cover (start, end], as the simulator's samples do (stamped at their interval's end)
    return main(["import", "prometheus", "--url", server.url, "--start", o.start.isoformat(),
                 "--end", o.end.isoformat(), "--out", str(out),
                 "--step", f"{o.step_s}s", "--state-step", f"{o.step_s}s", "--max-points", "50",
                 "--shard-nodes", "4", "--no-progress", *extra])


@pytest.fixture(scope="module")
def imported(prometheus, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "data"
    assert _import(prometheus, out) == 0
    return str(out)


def _frame(root: str, table: str) -> pd.DataFrame:
    return Dataset(root).read(table).to_pandas()


def _mig_id(uuid: str, parents: dict) -> str:
    parent, gi = parents.get(uuid, (uuid, None))
    return f"{parent}/gi{gi}" if gi else uuid


def test_gpu_rows_equal_the_original(prometheus, imported):
    parents = prometheus.original.mig_parents
    a = _frame(prometheus.original.root, "gpu")
    a["gpu_uuid"] = [_mig_id(u, parents) for u in a.gpu_uuid]
    b = _frame(imported, "gpu")
    key = ["ts", "node", "gpu_uuid", "pod"]
    assert len(b) == len(a)
    m = a.drop(columns="gpu_util_source").merge(b, on=key, how="outer", indicator=True, suffixes=("", "_imp"))
    assert (m._merge == "both").all()
    for col in ("interval_s", "gpu_model", "mig_profile", "namespace", "container", "gpu_util", "sm_active",
                "sm_occupancy", "tensor_active", "dram_active", "mem_used_bytes", "mem_total_bytes", "power_w"):
        left, right = m[col], m[f"{col}_imp"]
        same = (left == right) | (left.isna() & right.isna())
        assert same.all(), (col, m.loc[~same, [*key, col, f"{col}_imp"]].head(3).to_dict("records"))
    # MIG slices: from GR_ENGINE_ACTIVE, with the parent UUID and the GPU instance id; the row says so
    mig = b[b.mig_profile.notna()]
    assert set(mig.gpu_uuid) == {f"{PARENT}/gi7", f"{PARENT}/gi8"}
    assert set(mig.gpu_util_source) == {"DCGM_FI_PROF_GR_ENGINE_ACTIVE"}
    assert mig.power_w.isna().all()
    assert set(b[b.mig_profile.isna()].gpu_util_source) == {"DCGM_FI_DEV_GPU_UTIL"}
    # the time-sliced GPU: one row per sharing pod at each time, never the device-level copy as a third
    shared = b[b.gpu_uuid == SHARED]
    assert shared.groupby("ts").pod.apply(lambda p: sorted(p.dropna())).map(len).eq(2).all()
    assert shared.pod.notna().all()
    # dcgm-exporter's own pod is never a workload: unallocated GPUs have no pod, in both label dialects
    assert not b.pod.fillna("").str.contains("dcgm-exporter").any()
    assert b[b.node == NODE].pod.isna().sum() == 6 * b[b.node == NODE].ts.nunique()


def test_container_rows_equal_the_original(prometheus, imported):
    a, b = _frame(prometheus.original.root, "container"), _frame(imported, "container")
    key = ["ts", "node", "namespace", "pod", "container"]
    assert len(b) == len(a)  # no pod cgroup (container=""), no pause (POD), nested duplicates not summed
    m = a.merge(b, on=key, how="outer", indicator=True, suffixes=("", "_imp"))
    assert (m._merge == "both").all()
    assert (m.mem_bytes == m.mem_bytes_imp).all()
    np.testing.assert_array_equal(m.cpu_cores.to_numpy(), m.cpu_cores_imp.to_numpy())


def test_pods_and_nodes_state_matches(prometheus, imported):
    a, b = _frame(prometheus.original.root, "pods"), _frame(imported, "pods")
    cols = ["namespace", "pod", "container", "node", "pod_uid", "workload_kind", "workload_name", "labels",
            "cpu_request", "cpu_limit", "mem_request", "mem_limit", "gpu_resource", "gpu_request"]
    first_a = a.sort_values("ts").groupby(["namespace", "pod", "container"]).first().reset_index()
    first_b = b.sort_values("ts").groupby(["namespace", "pod", "container"]).first().reset_index()
    pd.testing.assert_frame_equal(first_a[["ts", *cols]].sort_values(cols[:3]).reset_index(drop=True),
                                  first_b[["ts", *cols]].sort_values(cols[:3]).reset_index(drop=True),
                                  check_dtype=False)
    assert "nvidia.com/mig-1g.5gb" in set(b.gpu_resource)
    assert {"Deployment", "StatefulSet", "Job", "CronJob"} <= set(b.workload_kind)
    na, nb = _frame(prometheus.original.root, "nodes"), _frame(imported, "nodes")
    ncols = ["node", "instance_type", "capacity_type", "zone", "region", "cpu_capacity", "mem_capacity",
             "gpu_count", "gpu_model", "labels"]
    fa = na.sort_values("ts").groupby("node").first().reset_index()[["ts", *ncols]]
    fb = nb.sort_values("ts").groupby("node").first().reset_index()[["ts", *ncols]]
    pd.testing.assert_frame_equal(fa, fb, check_dtype=False)


def test_tokens_rows_equal_the_servers_increments(prometheus, imported):
    """vLLM (restart, two monitors, a collector's exported_* labels, a scrape gap), Triton's vLLM backend,
    TGI and SGLang: every row's increments and gauges as the servers counted them."""
    a, b = _frame(prometheus.original.root, "tokens"), _frame(imported, "tokens")
    step = pd.Timedelta(seconds=prometheus.original.step_s)
    # the row after a scrape gap has no value one step before it: no increment, so no row (never a guess)
    a = a.sort_values("ts")
    after_gap = a.groupby("pod").ts.diff() > step
    assert after_gap.sum() == 1
    a = a[~after_gap]
    key = ["ts", "namespace", "pod", "server"]
    m = a.merge(b, on=key, how="outer", indicator=True, suffixes=("", "_imp"))
    assert (m._merge == "both").all(), m.loc[m._merge != "both", [*key, "_merge"]].head().to_dict("records")
    assert len(b) == len(a)
    for col in ("node", "interval_s", "container", "model", "prompt_tokens", "generation_tokens",
                "cached_prompt_tokens", "requests", "kv_cache_usage", "kv_cache_capacity_tokens", "prefill_seconds",
                "decode_seconds", "gpu_memory_utilization"):
        left, right = m[col], m[f"{col}_imp"]
        same = (left == right) | (left.isna() & right.isna())
        assert same.all(), (col, m.loc[~same, [*key, col, f"{col}_imp"]].head(3).to_dict("records"))
    hist = [(json.loads(x) if isinstance(x, str) else None, json.loads(y) if isinstance(y, str) else None)
            for x, y in zip(m.prompt_tokens_hist, m.prompt_tokens_hist_imp, strict=True)]
    assert all(x == y for x, y in hist) and sum(x is not None for x, _ in hist) > 500
    servers = {p.pod: p for p in prometheus.original.llm}
    assert set(b.pod) == set(servers)  # the static scrape without pod labels gives no row
    assert set(zip(b.pod, b.server, b.model.fillna("-"), strict=True)) == {
        (p.pod, p.server, p.model or "-") for p in servers.values()}
    # the server really holds a restart of chat-vllm-0 (each of its two scrapes' counters went down once)
    from importers.prometheus.client import ClientConfig, PromClient

    o = prometheus.original
    seen = PromClient(ClientConfig(prometheus.url)).instant(
        f'resets(vllm:prompt_tokens_total{{pod="chat-vllm-0"}}[{int((o.end - o.start).total_seconds())}s])',
        o.end.timestamp())
    assert [float(r["value"][1]) for r in seen] == [1.0, 1.0]


def _spec(r: dict) -> tuple:
    """An autoscaler row as far as kube-state-metrics can tell it: the metric source type is not exported."""
    metrics = []
    for m in json.loads(r["metrics"]):
        source = m.get("resource") or m.get("pods") or m.get("external") or m.get("object") or m
        name = source.get("name") or source["metric"]["name"]
        metrics.append((m["type"] if name in ("cpu", "memory") else None, name, json.dumps(source["target"], sort_keys=True)))
    return (r["namespace"], r["autoscaler_kind"], r["autoscaler_name"], r["target_kind"], r["target_name"],
            r["min_replicas"], r["max_replicas"], tuple(sorted(metrics, key=lambda x: x[1])))


def test_autoscalers_come_from_kube_state_metrics(prometheus, imported):
    """Every imported listing names exactly the HPAs of the original listing in force then, with their
    target, bounds and metrics; the change shows up one state step after it was made."""
    from tests.prometheus.conftest import HPA_CHANGE

    step = prometheus.original.step_s
    original: dict = {}
    for r in Dataset(prometheus.original.root).read("autoscalers").to_pylist():
        original.setdefault(r["ts"].timestamp(), set()).add(_spec(r))
    listings: dict = {}
    for r in Dataset(imported).read("autoscalers").to_pylist():
        assert r["node"] == "cluster"
        listings.setdefault(r["ts"].timestamp(), set()).add(_spec(r))
    assert len(original) == 2 and len(listings) >= 4  # chunk ends, starts and the change
    for t, got in listings.items():
        in_force = max(k for k in original if k < t)  # the samples of (t - step, t] show that listing
        assert got == original[in_force], t
    change = HPA_CHANGE.timestamp()
    assert change + step in listings and change not in listings
    assert listings[max(listings)] == original[change]
    assert any("2500m" in str(spec) for spec in original[change])


def test_profiles_have_the_same_bins(prometheus, imported):
    from optimizer.profiles import compute_profiles

    for entity in ("workload", "container"):
        pa_, pb = compute_profiles(prometheus.original.root, entity=entity), compute_profiles(imported, entity=entity)
        keys = pa_.keys()
        assert sorted(keys) == sorted(pb.keys())
        checked = 0
        for key in keys:
            for metric in pa_.metrics():
                ha = pa_.histogram(key, metric)
                hb = pb.histogram(key, metric)
                np.testing.assert_array_equal(ha[1], hb[1], err_msg=f"{entity} {key} {metric}")
                checked += int(ha[1].sum() > 0)
        assert checked > 20
        fa, fb = pa_.to_frame(), pb.to_frame()
        order = [c for c in fa.columns if fa[c].dtype == object and c != "activity_source"]
        pd.testing.assert_frame_equal(fa.sort_values(order).reset_index(drop=True),
                                      fb.sort_values(order).reset_index(drop=True))


def _actions(root: str, out) -> list[tuple]:
    assert main(["recommend", "--data", root, "--out", str(out), "--no-consolidate", "--top", "0",
                 "--no-progress"]) == 0
    doc = json.loads((out / "recommendations.json").read_text())
    return sorted((r["id"], r["action"], r["team"], r["value_class"], r["monthly_cost_current"],
                   r["monthly_cost_proposed"]) for r in doc["recommendations"])


def test_recommend_gives_the_same_actions(prometheus, imported, tmp_path):
    original = _actions(prometheus.original.root, tmp_path / "a")
    assert len(original) >= 5
    assert _actions(imported, tmp_path / "b") == original


def test_second_run_fetches_nothing_and_a_lost_chunk_only_that(prometheus, imported, capsys):
    before = {p: os.stat(p).st_mtime_ns for p in _segments(imported)}
    capsys.readouterr()
    assert _import(prometheus, imported) == 0
    err = capsys.readouterr().err
    assert "imported 0 gpu, 0 container, 0 pods, 0 nodes, 0 tokens row(s) from 0 chunk(s)" in err  # autoscalers: done too
    # discovery names the LLM servers and what it cannot import
    assert "LLM servers: sglang 1 pod(s), tgi 1 pod(s), triton 1 pod(s), vllm 2 pod(s)" in err
    assert "vllm:prompt_tokens_total series without namespace/pod labels (job static-vllm) are skipped" in err
    assert {p: os.stat(p).st_mtime_ns for p in _segments(imported)} == before
    done = sorted(os.listdir(os.path.join(imported, "_rightsizer_import", "done")))
    with open(os.path.join(imported, "_rightsizer_import", "done", done[0])) as fh:
        lost = json.load(fh)
    os.remove(os.path.join(imported, "_rightsizer_import", "done", done[0]))
    assert _import(prometheus, imported) == 0
    err = capsys.readouterr().err
    assert "from 1 chunk(s)" in err
    assert f"{lost['rows']:,}" in err
    assert set(_segments(imported)) == set(before)  # the same segment replaced, no second copy


def _segments(root: str) -> list[str]:
    out = []
    for table in ("gpu", "container", "pods", "nodes", "tokens", "autoscalers"):
        for dirpath, _, files in os.walk(os.path.join(root, table)):
            out += [os.path.join(dirpath, f) for f in files if f.endswith(".parquet")]
    return sorted(out)


def test_recommend_straight_from_prometheus(prometheus, tmp_path):
    """``recommend --prometheus URL``: import into a cache folder, then the same recommendations."""
    o = prometheus.original
    original = _actions(o.root, tmp_path / "a")
    cache = tmp_path / "cache"
    argv = ["recommend", "--prometheus", prometheus.url, "--prometheus-cache", str(cache), "--out",
            str(tmp_path / "b"), "--start", o.start.isoformat(),
            "--end", o.end.isoformat(), "--step", f"{o.step_s}s",
            "--state-step", f"{o.step_s}s", "--max-points", "100", "--no-consolidate", "--top", "0",
            "--no-progress"]
    assert main(argv) == 0
    doc = json.loads((tmp_path / "b" / "recommendations.json").read_text())
    got = sorted((r["id"], r["action"], r["team"], r["value_class"], r["monthly_cost_current"],
                  r["monthly_cost_proposed"]) for r in doc["recommendations"])
    assert got == original
    assert (cache / "gpu").is_dir() and (cache / "_rightsizer_import" / "import.json").is_file()


def test_a_failure_midway_keeps_finished_chunks_and_answers_held_stay_bounded(prometheus, imported, tmp_path,
                                                                              monkeypatch, capsys):
    """The pipeline (fetch threads + builders): an error stops the import with one line and keeps what was
    written; at most concurrency + builders units' answers are in memory at once; a second run completes it
    to the same rows as an import that never failed."""
    import threading

    from importers.prometheus import run as prun
    from importers.prometheus.client import PromClient
    from store.errors import UserError

    lock, state = threading.Lock(), {"calls": 0, "held": 0, "peak": 0}
    real_query, real_fetch, real_build = PromClient.query_range, prun.fetch_unit, prun.build_unit

    def flaky_query(self, query, start, end, step, **kw):
        with lock:
            state["calls"] += 1
            n = state["calls"]
        if n == 40:
            raise UserError("query_range: the server went away (HTTP 503, 5 tries)")
        return real_query(self, query, start, end, step, **kw)

    def counted_fetch(client, queries):
        answers = real_fetch(client, queries)
        with lock:
            state["held"] += 1
            state["peak"] = max(state["peak"], state["held"])
        return answers

    def counted_build(*args):
        try:
            return real_build(*args)
        finally:
            with lock:
                state["held"] -= 1

    monkeypatch.setattr(PromClient, "query_range", flaky_query)
    monkeypatch.setattr(prun, "fetch_unit", counted_fetch)
    monkeypatch.setattr(prun, "build_unit", counted_build)
    out = tmp_path / "data"
    capsys.readouterr()
    assert _import(prometheus, out, "--concurrency", "2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "server went away" in err[-1]
    assert "finished chunks are kept" in err[-1] and "Traceback" not in "\n".join(err)
    kept = os.listdir(out / "_rightsizer_import" / "done")
    assert kept  # what finished before the error is on disk
    assert state["peak"] <= 2 + 1  # --concurrency 2 fetchers, one builder

    monkeypatch.setattr(PromClient, "query_range", real_query)
    assert _import(prometheus, out, "--concurrency", "2") == 0
    assert "resuming" in capsys.readouterr().err
    for table in ("gpu", "container", "pods", "nodes", "tokens"):
        a, b = (_frame(root, table) for root in (imported, str(out)))
        a, b = (f.sort_values(list(f.columns), kind="stable").reset_index(drop=True) for f in (a, b))
        pd.testing.assert_frame_equal(a, b, check_categorical=False)
