"""The allocator thresholds the CLI sets: partition-sized temporaries stop costing a page fault per page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Two reading threads make partition-sized temporaries (0.25-1.75 MiB) and hand a result to the merging
# thread, which frees it: the scan's pattern. glibc maps such blocks from the kernel and unmaps them when
# freed, unless the thresholds keep them in the heap.
PROBE = """
import json, queue, resource, sys, threading
import numpy as np
from recommender.cli.allocator import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "tuned" else None
results = queue.Queue(maxsize=4)

def read(seed):
    for i in range(300):
        rows = np.empty((1 << 15) * (1 + (i + seed) % 7))
        rows.fill(1.0)
        results.put(rows * 2.0)
        del rows
    results.put(None)

before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
threads = [threading.Thread(target=read, args=(seed,)) for seed in range(2)]
for t in threads:
    t.start()
finished = 0
while finished < 2:
    finished += results.get() is None
for t in threads:
    t.join()
print(json.dumps({"took": took, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _probe(mode: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**clean, "PYTHONPATH": str(REPO), **env})
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_blocks_are_reused_instead_of_mapped_again():
    plain, tuned = _probe("plain"), _probe("tuned")
    assert tuned["took"] is True
    assert tuned["faults"] * 10 < plain["faults"]  # 4-5 k against 120-130 k here


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_user_s_own_malloc_settings_are_left_alone():
    assert _probe("tuned", MALLOC_MMAP_THRESHOLD_="131072")["took"] is False
