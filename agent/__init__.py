"""The node agent: samples GPUs (NVML), containers (cgroups) and pods, and ships v1 dataset segments.

Stays light: never imports pandas, numba or the optimizer.
"""
