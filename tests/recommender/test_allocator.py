"""The allocator thresholds the CLI sets: blocks under 64 MiB come from the heap, and a freed one stays there."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# One 8 MiB temporary, written whole, then freed; glibc's own account of it (mallinfo2) while it lives and
# after: mapped from the kernel (hblkhd) and given back when freed, or taken from the heap and kept there
# (fordblks: free bytes the heap holds for the next block). Page faults would tell the same but their count
# depends on transparent huge pages and on glibc's adaptive threshold; this account does not.
PROBE = """
import ctypes, json, sys
import numpy as np
from recommender.cli.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
took = keep_freed_memory() if sys.argv[1] == "tuned" else None
block = np.empty(1 << 20)
block.fill(1.0)
mapped = mallinfo2().hblkhd
del block
print(json.dumps({"took": took, "mapped_while_alive": mapped, "heap_free_after": mallinfo2().fordblks}))
"""
MIB = 1 << 20


def _probe(mode: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**clean, "PYTHONPATH": str(REPO), **env})
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
                    reason="glibc's mallopt and mallinfo2 (glibc 2.33)")
def test_freed_blocks_are_reused_instead_of_mapped_again():
    plain, tuned = _probe("plain"), _probe("tuned")
    assert tuned["took"] is True
    assert plain["mapped_while_alive"] >= 8 * MIB and plain["heap_free_after"] < 8 * MIB  # mapped, unmapped
    assert tuned["mapped_while_alive"] < 8 * MIB and tuned["heap_free_after"] >= 8 * MIB  # heap, kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_user_s_own_malloc_settings_are_left_alone():
    assert _probe("tuned", MALLOC_MMAP_THRESHOLD_="131072")["took"] is False
