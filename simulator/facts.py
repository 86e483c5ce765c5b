"""Ground-truth numbers measured on the generated arrays while they are written (memory stays bounded).

Percentiles come from fine fixed-width histograms (4,096 bins over each metric's possible range), so a
fact is within one bin width of the exact sample percentile; ``*_bin`` facts give that width.
Observations are pod-instants, as the profile contract defines them: GPU activity is the mean over the
pod's GPUs, GPU memory and container CPU/memory are summed over its GPUs / containers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BINS = 4096
IDLE_THRESHOLD = 0.05  # activity below this is idle (profile default: SM or util < 5 %)


class Histogram:
    def __init__(self, upper: float):
        self.width = max(float(upper), 1e-9) / BINS
        self.counts = np.zeros(BINS + 1, dtype=np.int64)
        self.max = 0.0
        self.total = 0.0
        self.n = 0

    def add(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        idx = np.minimum((values / self.width).astype(np.int64), BINS)
        self.counts += np.bincount(idx, minlength=BINS + 1)
        self.max = max(self.max, float(values.max()))
        self.total += float(values.sum(dtype=np.float64))
        self.n += len(values)

    def quantile(self, q: float) -> float:
        """Upper edge of the bin holding the q-quantile (inverted CDF), capped at the observed maximum."""
        if self.n == 0:
            return float("nan")
        cum = np.cumsum(self.counts)
        i = int(np.searchsorted(cum, q * self.n, side="left"))
        return min((i + 1) * self.width, self.max)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")


@dataclass
class RunTracker:
    """Active/idle runs of one pod's GPU activity, carried across day chunks."""

    samples: int = 0
    active: int = 0
    bursts: int = 0
    idle_run: int = 0
    max_idle_run: int = 0
    last_active: bool = False

    def add(self, active: np.ndarray) -> None:
        n = len(active)
        if n == 0:
            return
        self.samples += n
        self.active += int(active.sum())
        prev = np.empty(n, dtype=bool)
        prev[0] = self.last_active
        prev[1:] = active[:-1]
        self.bursts += int((active & ~prev).sum())
        on = np.flatnonzero(active)
        if len(on) == 0:
            self.idle_run += n
        else:
            runs = [self.idle_run + int(on[0])]
            if len(on) > 1:
                runs.append(int((np.diff(on) - 1).max()))
            self.max_idle_run = max(self.max_idle_run, *runs)
            self.idle_run = n - 1 - int(on[-1])
        self.last_active = bool(active[-1])

    def finish(self) -> None:
        self.max_idle_run = max(self.max_idle_run, self.idle_run)


@dataclass
class TokenFacts:
    """Sums of an LLM workload's tokens rows, and its KV-cache usage percentiles."""

    prompt_tokens: int = 0
    generation_tokens: int = 0
    requests: int = 0
    cached_prompt_tokens: int | None = None  # None: the server exports no prefix-cache counter
    seconds: float = 0.0
    kv_usage: Histogram = field(default_factory=lambda: Histogram(1.0))

    def add(self, cols: dict, interval_s: int, n: int) -> None:
        self.prompt_tokens += int(cols["prompt_tokens"].sum())
        self.generation_tokens += int(cols["generation_tokens"].sum())
        self.requests += int(cols["requests"].sum())
        if isinstance(cols["cached_prompt_tokens"], np.ndarray):
            self.cached_prompt_tokens = (self.cached_prompt_tokens or 0) + int(cols["cached_prompt_tokens"].sum())
        if isinstance(cols["kv_cache_usage"], np.ndarray):
            self.kv_usage.add(cols["kv_cache_usage"].astype(np.float64))
        self.seconds += n * interval_s

    def as_dict(self) -> dict:
        out = {"prompt_tokens": self.prompt_tokens, "generation_tokens": self.generation_tokens,
               "requests": self.requests, "cached_prompt_tokens": self.cached_prompt_tokens,
               "requests_per_s": round(self.requests / self.seconds, 6) if self.seconds else 0.0}
        if self.kv_usage.n:
            out.update(kv_cache_usage_p50=round(self.kv_usage.quantile(0.5), 6),
                       kv_cache_usage_p99=round(self.kv_usage.quantile(0.99), 6),
                       kv_cache_usage_max=round(self.kv_usage.max, 6), kv_cache_usage_bin=1 / BINS)
        return out


@dataclass
class WorkloadFacts:
    gpu_capacity: int  # bytes of GPU memory a pod holds (all its GPUs)
    cpu_upper: float
    mem_upper: float
    gpu_util: Histogram = field(init=False)
    sm_active: Histogram | None = field(init=False)
    gpu_mem: Histogram | None = field(init=False)
    gpu_mem_per_gpu: Histogram | None = field(init=False)
    cpu: Histogram = field(init=False)
    mem: Histogram = field(init=False)
    runs: dict[int, RunTracker] = field(default_factory=dict)
    gpm: bool = False
    tokens: TokenFacts | None = None  # LLM servers: what their tokens rows sum to (truth.json ``llm``)

    def __post_init__(self):
        self.gpu_util = Histogram(1.0)
        self.sm_active = Histogram(1.0) if self.gpm else None
        self.gpu_mem = Histogram(self.gpu_capacity) if self.gpu_capacity else None
        self.gpu_mem_per_gpu = Histogram(self.gpu_capacity) if self.gpu_capacity else None
        self.cpu = Histogram(self.cpu_upper)
        self.mem = Histogram(self.mem_upper)

    def add_gpu(self, pod_index: int, util: np.ndarray, sm: np.ndarray | None, mem: np.ndarray,
                mem_per_gpu: np.ndarray) -> None:
        """Pod-instant series: util/sm mean over the pod's GPUs, mem summed; mem_per_gpu: every GPU sample."""
        self.gpu_util.add(util)
        if sm is not None and self.sm_active is not None:
            self.sm_active.add(sm)
        self.gpu_mem.add(mem)
        self.gpu_mem_per_gpu.add(mem_per_gpu)
        activity = sm if sm is not None else util
        self.runs.setdefault(pod_index, RunTracker()).add(activity >= IDLE_THRESHOLD)

    def add_containers(self, cpu: np.ndarray, mem: np.ndarray) -> None:
        self.cpu.add(cpu)
        self.mem.add(mem)

    def as_dict(self, interval_s: int) -> dict:
        out: dict[str, float | int] = {}
        if self.gpu_mem is not None and self.gpu_util.n:
            for tr in self.runs.values():
                tr.finish()
            samples = sum(t.samples for t in self.runs.values())
            active = sum(t.active for t in self.runs.values())
            bursts = sum(t.bursts for t in self.runs.values())
            out.update(
                gpu_util_p50=self.gpu_util.quantile(0.50), gpu_util_p95=self.gpu_util.quantile(0.95),
                gpu_util_mean=self.gpu_util.mean, gpu_util_max=self.gpu_util.max,
                gpu_mem_p99_bytes=int(self.gpu_mem.quantile(0.99)), gpu_mem_max_bytes=int(self.gpu_mem.max),
                gpu_mem_bytes_bin=int(self.gpu_mem.width),
                gpu_mem_p99_bytes_per_gpu=int(self.gpu_mem_per_gpu.quantile(0.99)),
                gpu_mem_capacity_bytes=int(self.gpu_capacity),
                idle_fraction=1.0 - active / samples, duty_cycle=active / samples,
                burst_count=bursts, mean_burst_s=active * interval_s / bursts if bursts else 0.0,
                max_idle_run_s=max(t.max_idle_run for t in self.runs.values()) * interval_s,
                gpu_pod_seconds=samples * interval_s,
            )
            if self.sm_active is not None and self.sm_active.n:
                out.update(sm_active_p50=self.sm_active.quantile(0.50), sm_active_p95=self.sm_active.quantile(0.95),
                           sm_active_mean=self.sm_active.mean)
            out["activity_source"] = "sm_active" if self.sm_active is not None else "gpu_util"
        if self.cpu.n:
            out.update(cpu_cores_p50=self.cpu.quantile(0.50), cpu_cores_p95=self.cpu.quantile(0.95),
                       cpu_cores_max=self.cpu.max, cpu_cores_bin=self.cpu.width,
                       mem_bytes_p99=int(self.mem.quantile(0.99)), mem_bytes_max=int(self.mem.max),
                       mem_bytes_bin=int(self.mem.width))
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}
