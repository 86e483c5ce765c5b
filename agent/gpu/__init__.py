"""GPU sampling: a backend protocol, the NVML adapter, and a pynvml-shaped fake for tests and demos."""
