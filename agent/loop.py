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
from agent.gpu.backend import make_backend
from agent.metrics import AgentMetrics
from agent.spool import METADATA_TABLES, Spool
from agent.uploader import ShutdownProgress, Uploader

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
                                 clock=clock, on_success=self._uploaded, on_failure=self.metrics.upload_failures.inc,
                                 timeout_s=config.upload_timeout_s, max_attempts=config.upload_max_attempts)
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
        self._day: int | None = None
        # A drop re-emits the node and pod rows once; armed again when the sink has caught up.
        self._reemit_armed = True
        self._shut_down = False

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
        day = int(now // 86_400)
        if self._day is not None and day != self._day:
            self.reemit_metadata("a new UTC day")  # each day's partitions carry the node and its pods
        self._day = day
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

    def reemit_metadata(self, why: str) -> None:
        """Queue the node row and a row per container of every pod on the node again, at the next tick."""
        if self.watcher is not None:
            self.watcher.reemit()
        else:
            self._local_node_done = False
        log.info("%s: writing the node and pod rows again", why)

    def _after_drop(self, what: str) -> None:
        if self._reemit_armed:
            self._reemit_armed = False
            self.reemit_metadata(what)

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
            held = self.buffer.rows() + _rows(batch)
            if held > self.config.max_buffered_rows:
                # Past the memory limit the batch's samples go; its pods and nodes rows stay in memory.
                samples = {t: c for t, c in batch.items() if t not in METADATA_TABLES}
                lost = _rows(samples)
                self.buffer.restore({t: c for t, c in batch.items() if t in METADATA_TABLES})
                self.metrics.dropped_rows.inc(lost)
                log.error("cannot write a segment to the spool %s: %s; memory limit reached, %d sample rows "
                          "dropped (counted in dropped_rows_total), pod and node rows kept", self.spool.root, exc, lost)
                if lost:
                    self._after_drop("sample rows dropped")
            else:
                self.buffer.restore(batch)
                log.error("cannot write a segment to the spool %s: %s (rows kept in memory)", self.spool.root, exc)
            return False
        self._enforce_cap()
        self._upload_wake.set()
        return True

    def _enforce_cap(self) -> None:
        cap = self.spool.enforce_cap()
        if cap.files:
            self.metrics.dropped_segments.inc(cap.files)
            self.metrics.dropped_rows.inc(cap.rows)
            self._after_drop("spooled samples dropped")
        self.metrics.spool_bytes.set(self.spool.size())

    def upload(self, *, force: bool = False, deadline: float | None = None) -> int:
        with self._upload_lock:
            sent = self.uploader.run_once(force=force, deadline=deadline)
        self.metrics.spool_bytes.set(self.spool.size())
        return sent

    def _uploaded(self, n: int, caught_up: bool) -> None:
        self.metrics.uploaded_segments.inc(n)
        if caught_up:
            self.metrics.last_upload.set(self.clock())
            self._reemit_armed = True

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
        """Stop the threads, write what memory holds to the spool, ship what fits in ``shutdown_timeout_s``.

        Order: the uploader is cancelled (no new file, no botocore retry); the final flush goes to the spool;
        if the spool cannot take it (disk full), the rows go straight to the sink; then the spool is uploaded
        until the deadline. Rows neither spooled nor delivered are counted in ``dropped_rows_total``; what is
        still in the spool at the deadline stays there for the next start. The last log line has the numbers.
        Safe to call twice.
        """
        if self._shut_down:
            return
        self._shut_down = True
        started = time.monotonic()
        deadline = started + self.config.shutdown_timeout_s
        self._stop_threads.set()
        self.uploader.cancel.set()
        self._upload_wake.set()

        batch = self.buffer.drain()
        unspooled: list[tuple[str, bytes, int]] = []
        if batch:
            now = self.clock()
            try:
                self.spool.write(batch, now)
                self._enforce_cap()
            except Exception as exc:
                self.metrics.flush_failures.inc()
                log.error("final flush: cannot write to the spool %s (%s); sending %d rows straight to the sink",
                          self.spool.root, exc, _rows(batch))
                unspooled = self.spool.encode(batch, now)

        progress = ShutdownProgress()

        def deliver() -> None:
            for rel, data, n in unspooled:
                try:
                    self.uploader.put(rel, data)
                except Exception as exc:
                    log.error("final flush: %s could not be sent either: %s", rel, exc)
                    continue
                progress.delivered(n)
            progress.sent = self.upload(force=True, deadline=deadline)

        worker = threading.Thread(target=deliver, name="final-upload", daemon=True)
        worker.start()
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
        timed_out = worker.is_alive()
        direct, lost = progress.close(sum(n for _, _, n in unspooled))
        if lost:
            self.metrics.dropped_rows.inc(lost)
        self.gpu.close()
        self.podres.close()
        files, rows = self.spool.pending_rows()
        sampled = self.metrics.registry.get_sample_value("rightsizer_agent_samples_total") or 0
        parts = [f"stopped after {self.ticks} tick(s) in {time.monotonic() - started:.1f} s"
                 f"{' (shutdown timeout reached, uploads still in flight)' if timed_out else ''}: "
                 f"{sampled:.0f} rows sampled since start, {self.metrics.dropped_rows_total():.0f} dropped "
                 "(dropped_rows_total)",
                 f"uploaded {progress.sent} segment file(s) at shutdown"]
        if unspooled:
            parts.append(f"wrote {direct} rows held in memory straight to the sink (the spool was unwritable)")
        if lost:
            parts.append(f"{lost} rows lost at shutdown (neither the spool nor the sink took them)")
        parts.append(f"{files} segment file(s) ({rows} rows) left in the spool for the next start")
        (log.error if lost else log.warning if files or unspooled else log.info)("; ".join(parts))


def _rows(batch: dict[str, dict[str, list]]) -> int:
    return sum(len(next(iter(cols.values()))) for cols in batch.values())
