"""Where ``rightsizer recommend`` spends its time and memory, stage by stage.

Runs ``python -m recommender recommend ARGS`` as a child and stamps each stage line it prints on stderr
("profiling workloads and containers, attributing cost", "deciding", ...) with the wall time since the
start, the child's CPU time (user + system, from /proc) and its RSS and peak RSS, then prints the totals.

    python benchmarks/recommend_stages.py --data WEEK --out /tmp/out --top 0

Linux only (reads /proc/PID/stat and /proc/PID/status).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def usage(pid: int) -> tuple[float, int, int] | None:
    """(CPU seconds, RSS KiB, peak RSS KiB) of a live process, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)
    return cpu, int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def main() -> int:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "recommender", "recommend", *args], stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    print(f"{'wall':>8} {'cpu':>8} {'rss':>9} {'peak':>9}  stage")
    last = None
    for line in child.stderr:
        last = usage(child.pid) or last
        if last is not None:
            cpu, rss, peak = last
            print(f"{time.perf_counter() - start:7.1f}s {cpu:7.1f}s {rss / 1024:7.0f}Mi {peak / 1024:7.0f}Mi  "
                  f"{line.rstrip()}", flush=True)
    _, status, rusage = os.wait4(child.pid, 0)
    cpu = rusage.ru_utime + rusage.ru_stime
    print(f"{time.perf_counter() - start:7.1f}s {cpu:7.1f}s {'':>9} {rusage.ru_maxrss / 1024:7.0f}Mi  "
          f"done (exit status {os.waitstatus_to_exitcode(status)})")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
