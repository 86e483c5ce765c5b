"""Per-container CPU and memory from cgroup files (v1 and v2), with a psutil fallback."""
