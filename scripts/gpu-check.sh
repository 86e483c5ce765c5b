#!/usr/bin/env bash
# Check the node agent on a real NVIDIA GPU, in under 5 minutes and without network:
#   1. tests/gpu/test_real_nvml.py (real NVML readings; pytest if installed, else the file as a script);
#   2. a ${GPU_CHECK_SECONDS:-60} s rightsizer-agent run (--backend nvml --no-kubernetes, sink in a temp dir)
#      while a small PyTorch matmul loop keeps the GPU busy (a 2 s on / 1 s off duty cycle);
#   3. a summary: rows, ticks, devices, mean utilization, GPM availability, agent CPU per tick and RSS.
# Needs: python3 with nvidia-ml-py, pyarrow, numpy, psutil, prometheus-client (torch for the load).
# PYTHON=... picks the interpreter; GPU_CHECK_BACKEND=fake:mixed dry-runs the plumbing without a GPU.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python3}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
secs="${GPU_CHECK_SECONDS:-60}"
backend="${GPU_CHECK_BACKEND:-nvml}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== 1. real NVML test"
if "$PY" -c "import pytest" 2>/dev/null; then
  "$PY" -m pytest tests/gpu -q -rs -p no:cacheprovider; test_rc=$?
else
  "$PY" tests/gpu/test_real_nvml.py; test_rc=$?
fi

echo "== 2. agent run: ${secs} s, backend ${backend}, matmul load"
"$PY" - "$work" "$secs" "$backend" <<'PY'
import json, os, signal, subprocess, sys, time

import psutil

work, secs, backend = sys.argv[1], float(sys.argv[2]), sys.argv[3]
LOAD = r"""
import sys, time, torch
a = torch.randn(4096, 4096, device="cuda"); b = torch.randn(4096, 4096, device="cuda")
end = time.time() + float(sys.argv[1])
while time.time() < end:
    t = time.time()
    while time.time() - t < 2.0:
        for _ in range(10):
            c = a @ b
        torch.cuda.synchronize()
    time.sleep(1.0)
"""
load = None
try:
    import torch  # noqa: F401
    if torch.cuda.is_available():
        load = subprocess.Popen([sys.executable, "-c", LOAD, str(secs + 10)])
        time.sleep(3)
    else:
        print("torch sees no CUDA device: running without load")
except ImportError:
    print("torch not installed: running without load")

cmd = [sys.executable, "-m", "agent", "--backend", backend, "--no-kubernetes", "--node-name", "gpu-check",
       "--sink", f"{work}/sink", "--spool-dir", f"{work}/spool", "--interval-s", "1", "--flush-interval-s", "20",
       "--metrics-port", "0", "--log-level", "info"]
agent = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
proc = psutil.Process(agent.pid)
time.sleep(min(5.0, secs / 4))
cpu0, t0, peak = sum(proc.cpu_times()[:2]), time.monotonic(), 0
while time.monotonic() - t0 < secs - min(5.0, secs / 4):
    if agent.poll() is not None:
        break
    peak = max(peak, proc.memory_info().rss)
    time.sleep(1)
cpu1, t1 = (sum(proc.cpu_times()[:2]), time.monotonic()) if agent.poll() is None else (cpu0, t0)
agent.send_signal(signal.SIGTERM)
try:
    rc = agent.wait(timeout=60)
except subprocess.TimeoutExpired:
    agent.kill()
    rc = "killed after 60 s"
log = agent.stderr.read()
if load is not None:
    load.terminate()
    load.wait()
print("-- agent log (last 15 lines)")
print("\n".join(log.strip().splitlines()[-15:]))
summary = {"agent_exit_code": rc, "agent_cpu_ms_per_tick": round((cpu1 - cpu0) / max(t1 - t0, 1e-9) * 1e3, 2),
           "agent_peak_rss_mib": round(peak / 2**20, 1), "load": load is not None}
try:
    import pyarrow.compute as pc
    from store.reader import Dataset
    g = Dataset(f"{work}/sink").read("gpu")
    ticks = len(set(g.column("ts").to_pylist()))
    summary.update(rows=g.num_rows, ticks=ticks, devices=len(set(g.column("gpu_uuid").to_pylist())),
                   rows_equal_ticks_x_devices=g.num_rows == ticks * len(set(g.column("gpu_uuid").to_pylist())))
    for uuid in sorted(set(g.column("gpu_uuid").to_pylist())):
        d = g.filter(pc.equal(g.column("gpu_uuid"), uuid))
        sm = d.column("sm_active")
        summary[uuid] = {
            "model": d.column("gpu_model")[0].as_py(), "mig_profile": d.column("mig_profile")[0].as_py(),
            "mean_util": pc.mean(d.column("gpu_util")).as_py(), "max_util": pc.max(d.column("gpu_util")).as_py(),
            "gpm_available": sm.null_count < len(sm), "mean_sm_active": pc.mean(sm).as_py(),
            "mean_tensor_active": pc.mean(d.column("tensor_active")).as_py(),
            "max_mem_used_gib": round(pc.max(d.column("mem_used_bytes")).as_py() / 2**30, 2),
            "mean_power_w": pc.mean(d.column("power_w")).as_py()}
except Exception as exc:
    summary["dataset_error"] = f"{type(exc).__name__}: {exc}"
print("== 3. summary")
print(json.dumps(summary, indent=2, default=str))
ok = rc == 0 and summary.get("rows_equal_ticks_x_devices") and summary.get("rows", 0) > 0
sys.exit(0 if ok else 1)
PY
run_rc=$?
echo "== result: NVML test rc=${test_rc}, agent run rc=${run_rc}"
exit $(( test_rc != 0 || run_rc != 0 ))
