"""The C allocator's thresholds for a scan of many partitions.

A scan makes numpy temporaries of a partition's size (~20-90 k rows: 0.2-0.7 MiB each) thousands of
times. glibc maps each block over its mmap threshold from the kernel and unmaps it when freed, so every
temporary is zero-filled again page by page: ``rightsizer profile`` of the benchmark week took 1.8 M page
faults and 8 s of system time. Raising the threshold (blocks under 64 MiB come from the heap) and keeping
up to 128 MiB of freed heap for the next blocks brings that to 67 k faults and 3 s (benchmarks/README.md).
What stays allocated is unchanged; the heap keeps at most the trim threshold above it.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 << 20
TRIM_THRESHOLD_BYTES = 128 << 20


def keep_freed_memory() -> bool:
    """Set both thresholds in this process; True when the C library took them. Nothing is changed where
    the C library is not glibc, or where ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` already
    say what the user wants."""
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                                   TRIM_THRESHOLD_BYTES))
