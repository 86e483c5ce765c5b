"""Prometheus import: a week of 100 GPUs and 1,000 containers at 60 s from a local Prometheus.

Builds the TSDB with promtool from generated OpenMetrics (one family per file, so the text on disk stays
small), starts the Debian ``prometheus`` on 127.0.0.1, runs ``rightsizer import prometheus`` in a child
process, once with --concurrency 1 and once with 4 (the default), and reports for each:

* wall time and peak RSS of the importer process;
* the time Prometheus spent answering, from its own ``prometheus_http_request_duration_seconds``
  (query_range, query, labels, series handlers; summed over the run) — with one query in flight at a
  time, wall − server time is the importer's own overhead (HTTP client, JSON parsing, mapping, Parquet);
* the importer's CPU time (user + sys).

Series: 100 GPUs on 13 nodes (DCGM GPU_UTIL, FB_USED, FB_FREE, POWER_USAGE, PIPE_TENSOR_ACTIVE, DRAM_ACTIVE;
scraped every 60 s, half of them in the exported_* dialect), 1,000 containers in 500 pods on 50 nodes
(cAdvisor CPU counter every 30 s, working set every 60 s), kube-state-metrics pod info every 60 s and
owners/labels/containers/requests every 5 min (the importer reads those at --state-step 10m).

    python benchmarks/prometheus_import.py [--days 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.prometheus.conftest import build_tsdb, start_prometheus  # noqa: E402

START = 1_767_571_200  # 2026-01-05T00:00:00Z
GPUS, GPU_NODES = 100, 13
CONTAINERS, PODS, CPU_NODES = 1000, 500, 50
HANDLERS = ("/api/v1/query_range", "/api/v1/query", "/api/v1/labels", "/api/v1/label/:name/values",
            "/api/v1/series", "/api/v1/status/buildinfo")


def _write_series(fh, name: str, labels: str, ts: np.ndarray, values: np.ndarray) -> int:
    prefix = f"{name}{{{labels}}} "
    fh.write("".join(f"{prefix}{v:.6g} {t}\n" for t, v in zip(ts.tolist(), values.tolist(), strict=True)))
    return len(ts)


def generate(work: Path, days: int, rng: np.random.Generator) -> int:
    """Write the OpenMetrics files and build the TSDB one family at a time; returns the sample count."""
    tsdb = work / "tsdb"
    n = days * 1440
    t60 = START + 30 + 60 * np.arange(n)  # one sample inside each minute
    t30 = np.sort(np.concatenate([START + 15 + 60 * np.arange(n), START + 45 + 60 * np.arange(n)]))
    t300 = START + 150 + 300 * np.arange(days * 288)
    gpus = []
    for g in range(GPUS):
        node = f"gpu-node-{g // 8:02d}"
        pod = f"train-{g:03d}-0" if g % 5 else None
        honor = (g // 8) % 2 == 1
        lab = f'gpu="{g % 8}",UUID="GPU-{g:08d}",modelName="NVIDIA H100 80GB HBM3",'
        lab += f'{"hostname" if honor else "Hostname"}="{node}"'
        if not honor:
            lab += f',namespace="gpu-operator",pod="nvidia-dcgm-exporter-{g // 8:05d}",container="nvidia-dcgm-exporter"'
            if pod:
                lab += f',exported_namespace="ml",exported_pod="{pod}",exported_container="trainer"'
        elif pod:
            lab += f',namespace="ml",pod="{pod}",container="trainer"'
        gpus.append(lab)
    total = 0
    fields = {"DCGM_FI_DEV_GPU_UTIL": lambda: rng.uniform(0, 100, n).round(),
              "DCGM_FI_DEV_FB_USED": lambda: rng.uniform(1000, 70000, n).round(),
              "DCGM_FI_DEV_FB_FREE": lambda: rng.uniform(1000, 70000, n).round(),
              "DCGM_FI_DEV_POWER_USAGE": lambda: rng.uniform(60, 700, n),
              "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": lambda: rng.uniform(0, 1, n),
              "DCGM_FI_PROF_DRAM_ACTIVE": lambda: rng.uniform(0, 1, n)}
    families = [(f, "gauge", [(f, lab, t60, make) for lab in gpus]) for f, make in fields.items()]
    containers = []
    for c in range(CONTAINERS):
        pod, node = c // 2, f"cpu-node-{(c // 2) % CPU_NODES:02d}"
        containers.append(f'namespace="ns-{pod % 20}",pod="app-{pod:03d}-abcde",container="c{c % 2}",node="{node}",'
                          f'image="r/app:1",job="kubelet",metrics_path="/metrics/cadvisor"')
    families.append(("container_cpu_usage_seconds", "counter",
                     [("container_cpu_usage_seconds_total", lab, t30, lambda: np.cumsum(rng.uniform(0, 30, 2 * n)))
                      for lab in containers]))
    families.append(("container_memory_working_set_bytes", "gauge",
                     [("container_memory_working_set_bytes", lab, t60, lambda: rng.uniform(1e8, 8e9, n).round())
                      for lab in containers]))
    pods = [(f"ns-{p % 20}", f"app-{p:03d}-abcde", f"cpu-node-{p % CPU_NODES:02d}") for p in range(PODS)]
    pods += [("ml", f"train-{g:03d}-0", f"gpu-node-{g // 8:02d}") for g in range(GPUS) if g % 5]
    one60, one300 = (lambda: np.ones(n)), (lambda: np.ones(days * 288))
    families.append(("kube_pod_info", "gauge", [("kube_pod_info", f'namespace="{ns}",pod="{p}",uid="u-{p}",node="{nd}"',
                                                 t60, one60) for ns, p, nd in pods]))
    families.append(("kube_pod_owner", "gauge", [("kube_pod_owner", f'namespace="{ns}",pod="{p}",owner_kind="ReplicaSet",'
                                                  f'owner_name="{p.rsplit("-", 1)[0]}",owner_is_controller="true"',
                                                  t300, one300) for ns, p, _ in pods]))
    families.append(("kube_pod_labels", "gauge", [("kube_pod_labels", f'namespace="{ns}",pod="{p}",label_team="t{i % 7}"',
                                                   t300, one300) for i, (ns, p, _) in enumerate(pods)]))
    families.append(("kube_pod_container_info", "gauge", [
        ("kube_pod_container_info", f'namespace="{ns}",pod="{p}",container="{c}"', t300, one300)
        for ns, p, _ in pods for c in (("c0", "c1") if ns != "ml" else ("trainer",))]))
    families.append(("kube_pod_container_resource_requests", "gauge", [
        ("kube_pod_container_resource_requests", f'namespace="{ns}",pod="{p}",container="{c}",resource="{r}",unit="{u}"',
         t300, (lambda v=v: np.full(days * 288, v)))
        for ns, p, _ in pods for c in (("c0", "c1") if ns != "ml" else ("trainer",))
        for r, u, v in (("cpu", "core", 1.0), ("memory", "byte", 4e9))]))
    nodes = [f"gpu-node-{i:02d}" for i in range(GPU_NODES)] + [f"cpu-node-{i:02d}" for i in range(CPU_NODES)]
    families.append(("kube_node_info", "gauge", [("kube_node_info", f'node="{nd}",provider_id="aws:///us-east-1a/i-{i}"',
                                                  t60, one60) for i, nd in enumerate(nodes)]))
    families.append(("kube_node_labels", "gauge", [
        ("kube_node_labels", f'node="{nd}",label_node_kubernetes_io_instance_type="{"p5.48xlarge" if "gpu" in nd else "m7i.4xlarge"}"',
         t300, one300) for nd in nodes]))
    for family, kind, series in families:
        path = work / "family.om"
        with open(path, "w") as fh:
            fh.write(f"# TYPE {family} {kind}\n")
            for name, labels, ts, make in series:
                total += _write_series(fh, name, labels, ts, make())
            fh.write("# EOF\n")
        build_tsdb(str(path), str(tsdb))
        path.unlink()
    return total


def server_seconds(url: str) -> float:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=30).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_request_duration_seconds_sum{") and any(
                f'handler="{h}"' in line for h in HANDLERS):
            total += float(line.rsplit(" ", 1)[1])
    return total


CHILD = """
import json, resource, sys, time
from recommender.cli import main
t0 = time.perf_counter()
rc = main(sys.argv[1:])
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"rc": rc, "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mib": ru.ru_maxrss / 1024}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4],
                    help="one import per value, on the same server (default: 1 and 4)")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: reuse the TSDB an earlier run built there (same --days)")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="prom-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    proc = None
    try:
        t0 = time.perf_counter()
        meta = work / "tsdb.json"
        if args.reuse and meta.exists() and json.loads(meta.read_text()).get("days") == args.days:
            samples = json.loads(meta.read_text())["samples"]
        else:
            shutil.rmtree(work / "tsdb", ignore_errors=True)
            samples = generate(work, args.days, np.random.default_rng(1))
            meta.write_text(json.dumps({"days": args.days, "samples": samples}))
        build_s = time.perf_counter() - t0
        proc, url, _ = start_prometheus(str(work / "tsdb"), str(work))
        result = {"days": args.days, "gpus": GPUS, "containers": CONTAINERS, "samples_in_tsdb": samples,
                  "tsdb_build_s": round(build_s, 1), "runs": []}
        end = START + args.days * 86400
        for concurrency in args.concurrency:
            before = server_seconds(url)
            out = work / f"out-{concurrency}"
            argv = ["import", "prometheus", "--url", url,
                    "--start", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START)),
                    "--end", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end)), "--out", str(out),
                    "--concurrency", str(concurrency), "--no-progress"]
            child = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=REPO, capture_output=True, text=True,
                                   env={**os.environ, "PYTHONPATH": str(REPO)})
            if child.returncode != 0:
                print(child.stderr[-3000:], file=sys.stderr)
                return 1
            stats = json.loads(child.stdout.strip().splitlines()[-1])
            server = server_seconds(url) - before
            rows = [line for line in child.stderr.splitlines() if line.startswith("imported ")]
            result["runs"].append({
                "concurrency": concurrency, "import_wall_s": round(stats["wall_s"], 2),
                "import_cpu_s": round(stats["cpu_s"], 2), "server_answer_s": round(server, 2),
                "wall_over_server": round(stats["wall_s"] / server - 1, 3) if server else None,
                "peak_rss_mib": round(stats["peak_rss_mib"], 1), "summary": rows[-1] if rows else ""})
            shutil.rmtree(out, ignore_errors=True)
        print(json.dumps(result, indent=1))
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
