"""The agent: one ``tick`` samples everything and buffers rows; ``flush`` spools a v1 segment; ``run``
schedules ticks on a fixed grid until told to stop, then flushes and uploads what is left.

Tests drive ``tick(now)``/``flush(now)``/``upload()`` directly with their own clock; ``run`` takes the
clock and the wait function as parameters, so nothing depends on real time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter as _Counter
from collections.abc import Callable

from agent.attribution.cgroups import CgroupRef, read_pid_cgroup
from agent.attribution.gpu_rows import gpu_rows
from agent.attribution.podresources import PodResourcesClient
from agent.buffer import ColumnBuffer
from agent.config import AgentConfig
from agent.metrics import AgentMetrics
from agent.spool import Spool
from agent.uploader import Uploader

log = logging.getLogger("rightsizer.agent")


class Agent:
    def __init__(self, config: AgentConfig, *, gpu=None, kube_api=None, clock: Callable[[], float] = time.time,
                 metrics: AgentMetrics | None = None, sink_location=None):
        self.config = config
        self.clock = clock
        self.metrics = metrics or AgentMetrics()
        self.gpu = gpu if gpu is not None else make_backend(config.backend, clock=clock,
                                                            on_error=self.metrics.nvml_error)
        if hasattr(self.gpu, "on_error"):  # NVML errors are counted in /metrics
            self.gpu.on_error = self.metrics.nvml_error
        self.kube_api = kube_api
        self.buffer = ColumnBuffer()
        self.spool = Spool(config.spool_dir, config.spool_max_bytes)
        self.uploader = Uploader(self.spool, sink_location if sink_location is not None else config.sink,
                                 clock=clock, on_success=self._uploaded, on_failure=self.metrics.upload_failures.inc)
        self.podres = PodResourcesClient(config.pod_resources_socket)
        self.watcher = None
        self.containers = None
        self.gpu_on = False
        self.last_tick: float | None = None
        self.last_flush: float | None = None
        self.ticks = 0
        self._alloc: dict = {}
        self._alloc_at = float("-inf")
        self._alloc_generation = None
        self._pid_refs: dict[int, CgroupRef | None] = {}
        self._local_node_done = False
        self._upload_lock = threading.Lock()
        self._upload_wake = threading.Event()
        self._stop_threads = threading.Event()
        self._threads: list[threading.Thread] = []
        self._failed_sections: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, *, background: bool = True) -> None:
        """Initialise NVML and Kubernetes; with ``background`` start the watch thread."""
        self.gpu_on = self.gpu.start()
        self.metrics.gpu_metrics_enabled.set(1 if self.gpu_on else 0)
        if self.config.kubernetes:
            from agent.attribution.pods import PodWatcher

            if self.kube_api is None:
                from agent.attribution.kubeapi import KubeApi

                self.kube_api = KubeApi.from_environment()
            self.watcher = PodWatcher(self.kube_api, self.config.node_name, gpu_info=self._gpu_info)
            if background:
                from agent.attribution.kubeapi import KubeError

                try:  # list once before the first tick, so its rows already carry pod names
                    self.watcher.sync()
                except KubeError as exc:
                    log.warning("Kubernetes API: %s; pods will be named once the watch connects", exc)
                t = threading.Thread(target=self.watcher.run, args=(self._stop_threads,), name="pod-watch",
                                     daemon=True)
                t.start()
                self._threads.append(t)
            from agent.host.sampler import ContainerSampler

            self.containers = ContainerSampler(self.config.cgroup_root, self.config.proc_root, self._resolve)
        pending = len(self.spool.files())
        if pending:
            log.info("spool %s holds %d segment file(s) from before; uploading them", self.spool.root, pending)
        self.metrics.spool_bytes.set(self.spool.size())

    def _gpu_info(self) -> tuple[int | None, str | None]:
        inv = self.gpu.device_inventory() if self.gpu_on else []
        if not inv:
            return None, None
        return len(inv), _Counter(m for _, m in inv).most_common(1)[0][0]

    def _resolve(self, pod_uid: str, container_id: str | None):
        info = self.watcher.lookup(pod_uid) if self.watcher else None
        if info is None:
            return None
        return info.namespace, info.name, info.container_for(container_id)

    # -- one tick --------------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> int:
        """Sample everything once; returns the rows added. Never raises: a failing part is logged and skipped."""
        t0 = time.perf_counter()
        now = self.clock() if now is None else now
        cfg = self.config
        interval = cfg.interval_s
        if self.last_tick is not None and now > self.last_tick:
            interval = min(now - self.last_tick, cfg.interval_s * cfg.max_interval_factor)
        common = {"ts": int(now * 1000), "node": cfg.node_name, "interval_s": interval}
        before = self.buffer.rows()
        latest: list[dict] = []
        if self.gpu_on:
            self._section("gpu", self._tick_gpu, now, common, latest)
        self.metrics.latest.node = cfg.node_name
        self.metrics.latest.rows = latest
        if self.containers is not None:
            self._section("containers", self._tick_containers, now, common)
        self._section("metadata", self._tick_metadata, common)
        self.last_tick = now
        self.ticks += 1
        added = self.buffer.rows() - before
        self.metrics.samples.inc(added)
        self.metrics.ticks.inc()
        self.metrics.last_tick.set(now)
        if self.last_flush is None:
            self.last_flush = now
        elif now - self.last_flush >= cfg.flush_interval_s:
            self.flush(now)
        self.metrics.tick_seconds.observe(time.perf_counter() - t0)
        return added

    def _section(self, name: str, fn, *args) -> None:
        try:
            fn(*args)
        except Exception:
            if name not in self._failed_sections:
                self._failed_sections.add(name)
                log.exception("sampling %s failed; it is skipped this tick (logged once)", name)

    def _tick_gpu(self, now: float, common: dict, latest: list) -> None:
        samples = self.gpu.sample()
        alloc = self._allocations(now)
        known = self.config.process_attribution
        owners = self._process_owners(samples) if known else {}
        for s in samples:
            for row in gpu_rows(s, alloc.get(s.uuid, ()), owners, processes_known=known):
                self.buffer.append("gpu", common, row)
                latest.append(row)

    def _allocations(self, now: float) -> dict:
        generation = self.watcher.generation if self.watcher else None
        if now - self._alloc_at < self.config.pod_resources_refresh_s and generation == self._alloc_generation:
            return self._alloc
        self._alloc_at, self._alloc_generation = now, generation
        if not self.podres.available():
            self._alloc = {}
            return self._alloc
        try:
            self._alloc = self.podres.list_devices()
        except OSError as exc:
            self.metrics.attribution_errors.labels(source="pod-resources").inc()
            log.warning("%s; keeping the last known device allocation", exc)
        return self._alloc

    def _process_owners(self, samples) -> dict:
        pids = {p.pid for s in samples for p in s.processes}
        refs = {pid: self._pid_refs[pid] if pid in self._pid_refs else read_pid_cgroup(self.config.proc_root, pid)
                for pid in pids}
        self._pid_refs = refs  # forget exited PIDs (PIDs get reused)
        owners = {}
        for pid, ref in refs.items():
            if ref is not None:
                owners[pid] = self._resolve(ref.pod_uid, ref.container_id)
        return owners

    def _tick_containers(self, now: float, common: dict) -> None:
        for row in self.containers.sample(now, self.watcher.generation if self.watcher else None):
            self.buffer.append("container", common, row)

    def _tick_metadata(self, common: dict) -> None:
        ts = common["ts"]
        if self.watcher is not None:
            for row in self.watcher.take_pod_rows(ts):
                self.buffer.append("pods", {}, row)
            node = self.watcher.take_node_row(ts)
            if node is not None:
                self.buffer.append("nodes", {}, node)
        elif not self._local_node_done:
            self._local_node_done = True
            self.buffer.append("nodes", {}, self._local_node_row(ts))

    def _local_node_row(self, ts: int) -> dict:
        import psutil

        count, model = self._gpu_info()
        return {"ts": ts, "node": self.config.node_name, "cpu_capacity": float(os.cpu_count() or 0),
                "mem_capacity": int(psutil.virtual_memory().total), "gpu_count": count, "gpu_model": model}

    # -- flush and upload ------------------------------------------------------------------------------
    def flush(self, now: float | None = None) -> bool:
        """Write everything buffered as one spooled segment; on failure keep the rows for the next try."""
        now = self.clock() if now is None else now
        self.last_flush = now
        batch = self.buffer.drain()
        if not batch:
            return True
        try:
            self.spool.write(batch, now)
        except Exception as exc:
            self.metrics.flush_failures.inc()
            held = self.buffer.rows() + sum(len(next(iter(c.values()))) for c in batch.values())
            if held > self.config.max_buffered_rows:
                lost = held - self.buffer.rows()
                self.metrics.dropped_rows.inc(lost)
                log.error("cannot write a segment to the spool %s: %s; memory limit reached, %d rows dropped",
                          self.spool.root, exc, lost)
            else:
                self.buffer.restore(batch)
                log.error("cannot write a segment to the spool %s: %s (rows kept in memory)", self.spool.root, exc)
            return False
        dropped = self.spool.enforce_cap()
        if dropped:
            self.metrics.dropped_segments.inc(dropped)
        self.metrics.spool_bytes.set(self.spool.size())
        self._upload_wake.set()
        return True

    def upload(self, *, force: bool = False) -> int:
        with self._upload_lock:
            sent = self.uploader.run_once(force=force)
        self.metrics.spool_bytes.set(self.spool.size())
        return sent

    def _uploaded(self, n: int) -> None:
        self.metrics.uploaded_segments.inc(n)
        self.metrics.last_upload.set(self.clock())

    def _upload_loop(self) -> None:
        while not self._stop_threads.is_set():
            retry_at = self.uploader.next_attempt
            # Sleep until the next flush, or until the backoff ends when segments are waiting after a failure.
            wait = None if retry_at == float("-inf") else max(0.5, retry_at - self.clock())
            self._upload_wake.wait(timeout=wait)
            self._upload_wake.clear()
            if self._stop_threads.is_set():
                break
            try:
                self.upload()
            except Exception:
                log.exception("upload loop error")

    # -- scheduling ------------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, wait: Callable[[float], object] | None = None,
            on_tick: Callable[[], None] | None = None, upload_thread: bool = True) -> None:
        """Tick every ``interval_s`` on a fixed grid until ``stop`` is set; then ``shutdown``."""
        wait = wait or stop.wait
        if upload_thread:
            t = threading.Thread(target=self._upload_loop, name="uploader", daemon=True)
            t.start()
            self._threads.append(t)
            self._upload_wake.set()  # upload what a previous run left in the spool
        interval = self.config.interval_s
        next_t = self.clock()
        try:
            while not stop.is_set():
                now = self.clock()
                if now < next_t:
                    wait(next_t - now)
                    continue
                self.tick(now)
                if on_tick:
                    on_tick()
                next_t += interval
                if next_t <= now:  # fell behind (suspended, overloaded): skip the missed grid points
                    next_t = now + interval
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Final flush and upload attempt, then stop threads and NVML. Safe to call twice."""
        self._stop_threads.set()
        self._upload_wake.set()
        for t in self._threads:
            if t.name == "uploader":
                t.join(timeout=30)
        self.flush()
        sent = self.upload(force=True)
        left = len(self.spool.files())
        log.info("stopped after %d tick(s); uploaded %d segment file(s) at shutdown, %d left in the spool",
                 self.ticks, sent, left)
        self.gpu.close()
        self.podres.close()


def make_backend(spec: str, *, clock=time.time, on_error=None):
    """``nvml`` | ``fake`` | ``fake:SCENARIO`` -> a GpuBackend. Raises KeyError for an unknown scenario."""
    from agent.gpu.nvml import NvmlBackend

    kind, _, scenario = spec.partition(":")
    if kind == "nvml" and not scenario:
        return NvmlBackend(None, clock=clock, on_error=on_error)
    if kind == "fake":
        from agent.gpu.fake import FakeNvml
        from agent.gpu.scenarios import DEFAULT_SCENARIO

        return NvmlBackend(FakeNvml(scenario or DEFAULT_SCENARIO, clock=clock), clock=clock, on_error=on_error)
    raise KeyError(spec)
