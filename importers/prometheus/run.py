"""Plan, fetch and write an import: chunks × shards as resumable units, a few at a time.

A unit is (family, chunk, shard): the queries of one table over one time chunk for a group of nodes.
Chunks lie on a grid anchored at the epoch (a fixed length, at most a day and at most ``max_points``
steps), so a unit's segment name depends only on its chunk: running again, with other shards or a later
``--end``, replaces a partition's segment instead of adding a second copy. Each finished unit leaves a
marker under ``ROOT/_rightsizer_import/done/``; a second run with the same ``--out`` skips those.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from importers.prometheus import cadvisor, dcgm, hpa, ksm, llm, matrix
from importers.prometheus.client import ClientConfig, PromClient
from importers.prometheus.discovery import Discovery, discover
from importers.prometheus.series import Grid
from store.errors import UserError
from store.location import open_location
from store.writer import DatasetWriter

STATE_DIR = "_rightsizer_import"  # hidden from dataset readers (leading "_")
DAY_S = 86_400


@dataclass(frozen=True)
class ImportConfig:
    client: ClientConfig
    start: datetime
    end: datetime
    out: str
    step_s: int = 60
    state_step_s: int = 600  # owners, labels, requests, capacity
    concurrency: int = 4
    shard_nodes: int = 10  # nodes per query
    selector: str = ""  # extra matchers on every series, e.g. cluster="prod"
    ksm: ksm.KsmOptions = field(default_factory=ksm.KsmOptions)
    progress: bool = False


@dataclass(frozen=True)
class Unit:
    family: str  # gpu, container, pods, nodes, tokens
    chunk: int  # index on the chunk grid
    grid: Grid  # evaluation times of this unit
    nodes: tuple[str, ...] | None  # shard; None = every node

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.grid.t0, UTC).strftime("%Y-%m-%d %H:%M")
        shard = f", {len(self.nodes)} node(s)" if self.nodes is not None else ""
        return f"{self.family} {when}{shard}"


@dataclass
class ImportResult:
    discovery: Discovery
    units: int = 0
    skipped: int = 0  # done by an earlier run
    rows: dict[str, int] = field(default_factory=lambda: {t: 0 for t in ("gpu", "container", "pods", "nodes", "tokens")})
    files: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def chunk_seconds(step_s: int, max_points: int) -> int:
    """A chunk length: whole steps, at most a day and at most ``max_points`` evaluation times."""
    return max(step_s, min(DAY_S // step_s, max_points) * step_s)


def plan(cfg: ImportConfig, disc: Discovery, max_points: int) -> list[Unit]:
    step = cfg.step_s
    first = math.floor(cfg.start.timestamp() / step) * step + step  # first row ends one step after start
    last = math.floor(cfg.end.timestamp() / step) * step
    if last < first:
        raise UserError(f"--start/--end: the window is shorter than one --step ({step} s)")
    length = chunk_seconds(step, max_points)
    units = []
    for k in range((first - 1) // length, (last - 1) // length + 1):
        lo, hi = max(first, k * length + step), min(last, (k + 1) * length)
        if hi < lo:
            continue
        grid = Grid(float(lo), float(step), (hi - lo) // step + 1)
        for family, nodes in (("gpu", disc.gpu_nodes), ("container", disc.container_nodes),
                              ("pods", disc.pod_nodes)):
            if nodes is None:
                units.append(Unit(family, k, grid, None))
                continue
            for i in range(0, len(nodes), cfg.shard_nodes):
                units.append(Unit(family, k, grid, tuple(nodes[i:i + cfg.shard_nodes])))
        if disc.have_nodes:
            units.append(Unit("nodes", k, grid, None))
        if disc.llm.dialect.present:  # LLM servers' series: the tokens table (importers/prometheus/llm)
            units.append(Unit("tokens", k, grid, None))
    return units


def coarse_grid(grid: Grid, state_step_s: int) -> Grid:
    t0 = math.ceil(grid.t0 / state_step_s) * state_step_s
    t1 = math.ceil(grid.end / state_step_s) * state_step_s
    return Grid(float(t0), float(state_step_s), int((t1 - t0) // state_step_s) + 1)


def unit_queries(unit: Unit, cfg: ImportConfig, disc: Discovery) -> dict[str, tuple[str, Grid]]:
    nodes = list(unit.nodes) if unit.nodes is not None else None
    step, state = cfg.step_s, cfg.state_step_s
    coarse = coarse_grid(unit.grid, state)
    if unit.family == "tokens":
        return llm.queries(disc.llm.dialect, unit.grid, step)
    if unit.family == "gpu":
        return {n: (q, unit.grid) for n, q in dcgm.queries(disc.dcgm, step, nodes).items()}
    if unit.family == "container":
        return {n: (q, unit.grid) for n, q in cadvisor.queries(disc.cadvisor, step, nodes).items()}
    if unit.family == "pods":
        qs = ksm.pod_queries(cfg.ksm, step, state, nodes)
    else:
        qs = ksm.node_queries(cfg.ksm, step, state, disc.dcgm.node_labels)
    return {n: (q, unit.grid if n == "info" else coarse) for n, q in qs.items()}


def unit_key(unit: Unit, queries: dict[str, tuple[str, Grid]], cfg: ImportConfig) -> str:
    spec = {"family": unit.family, "t0": unit.grid.t0, "n": unit.grid.n, "step": cfg.step_s,
            "queries": {n: q for n, (q, _) in sorted(queries.items())}}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def segment_name(unit: Unit, length: int) -> str:
    start = datetime.fromtimestamp(unit.chunk * length, UTC)
    return f"prom-{start:%Y%m%dT%H%M%SZ}"


def fetch_unit(client: PromClient, queries: dict[str, tuple[str, Grid]]) -> dict[str, list[dict]]:
    """The server's answers to one unit's queries (the part that waits on the server)."""
    return {n: client.query_range(q, g.t0, g.end, g.step, deferred=True) for n, (q, g) in queries.items()}


def build_unit(unit: Unit, results: dict[str, list[dict]], cfg: ImportConfig, disc: Discovery):
    """The table of one unit (one chunk × shard of one family) from its answers (the importer's own work)."""
    results = {n: matrix.resolve(r) for n, r in results.items()}  # parsed here, off the fetch threads
    coarse = coarse_grid(unit.grid, cfg.state_step_s)
    if unit.family == "tokens":
        return "tokens", llm.build(results, unit.grid, cfg.step_s, disc.llm.dialect), 0
    if unit.family == "gpu":
        chunk = dcgm.build(results, unit.grid, cfg.step_s, disc.dcgm)
        return "gpu", chunk.table, chunk.rows_without_total
    if unit.family == "container":
        return "container", cadvisor.build(results, unit.grid, cfg.step_s), 0
    if unit.family == "pods":
        return "pods", ksm.build_pods(results, unit.grid, coarse, cfg.step_s, cfg.ksm), 0
    return "nodes", ksm.build_nodes(results, unit.grid, coarse, cfg.step_s, cfg.ksm), 0


def _check_state(location, cfg: ImportConfig, client: PromClient, length: int) -> None:
    """Refuse to mix two imports with different steps in one root (their rows would overlap)."""
    meta = {"url": client.url, "step_s": cfg.step_s, "chunk_s": length}
    path = f"{STATE_DIR}/import.json"
    if location.exists(path):
        try:
            old = json.loads(location.read_bytes(location.path(path)))
        except ValueError:
            old = {}
        if old.get("step_s") != cfg.step_s or old.get("chunk_s") != length:
            raise UserError(f"--out: {cfg.out} holds an import at --step {old.get('step_s')}s "
                            f"(chunks of {old.get('chunk_s')} s); use the same --step and --max-points, "
                            "or another folder")
        return
    location.write_atomic(path, (json.dumps(meta, indent=1) + "\n").encode())


def run_import(cfg: ImportConfig, *, say: Callable[[str], None] = lambda m: None,
               client: PromClient | None = None) -> ImportResult:
    t0 = time.perf_counter()
    if cfg.step_s < 1:
        raise UserError("--step must be at least 1 s")
    if cfg.start >= cfg.end:
        raise UserError(f"--start ({cfg.start.isoformat()}) must be before --end ({cfg.end.isoformat()})")
    client = client or PromClient(cfg.client)
    say(f"connecting to {client.url} ({client.auth.describe()})")
    disc = discover(client, cfg.start.timestamp(), cfg.end.timestamp(), selector=cfg.selector)
    for line in disc.report():
        say(line)
    location = open_location(cfg.out, create=True)
    length = chunk_seconds(cfg.step_s, client.max_points)
    _check_state(location, cfg, client, length)
    done = {p.rsplit("/", 1)[-1].removesuffix(".json") for p in location.list_files(f"{STATE_DIR}/done")}
    units = plan(cfg, disc, client.max_points)
    todo = []
    result = ImportResult(disc, units=len(units))
    for u in units:
        q = unit_queries(u, cfg, disc)
        key = unit_key(u, q, cfg)
        if key in done:
            result.skipped += 1
        else:
            todo.append((u, q, key))
    if result.skipped:
        say(f"resuming: {result.skipped} of {len(units)} unit(s) already imported into {cfg.out}")
    writer = DatasetWriter(location)
    progress = _Progress(len(todo)) if cfg.progress and todo else None
    missing_total = 0

    # A pipeline: ``concurrency`` threads wait on the server, one query each at a time, while builder
    # threads map the answers already received and write them. The server never waits for our parsing and
    # writing, and at most ``concurrency + builders`` units' answers are held in memory at once.
    builders = 1 if cfg.concurrency < 4 else 2
    held = threading.BoundedSemaphore(max(1, cfg.concurrency) + builders)
    failed = threading.Event()

    def write(unit: Unit, results, key: str) -> None:
        nonlocal missing_total
        try:
            if failed.is_set():
                return
            table, data, no_total = build_unit(unit, results, cfg, disc)
            written = writer.write(table, data, segment=segment_name(unit, length))
            marker = {"unit": unit.describe(), "rows": data.num_rows, "files": len(written)}
            location.write_atomic(f"{STATE_DIR}/done/{key}.json", json.dumps(marker).encode())
            with result._lock:
                result.rows[table] += data.num_rows
                result.files += len(written)
                missing_total += no_total
            if progress:
                progress.advance(unit.describe())
        except BaseException:
            failed.set()
            raise
        finally:
            held.release()

    def fetch(unit: Unit, queries, key: str):
        held.acquire()
        try:
            if failed.is_set():
                raise _Stopped()
            results = fetch_unit(client, queries)
        except BaseException:
            failed.set()
            held.release()
            raise
        return build_pool.submit(write, unit, results, key)

    try:
        with ThreadPoolExecutor(max(1, cfg.concurrency)) as pool, ThreadPoolExecutor(builders) as build_pool:
            fetches = [pool.submit(fetch, u, q, k) for u, q, k in todo]
            wait(fetches, return_when=FIRST_EXCEPTION)
            if failed.is_set():
                for f in fetches:
                    f.cancel()
            writes = [f.result() for f in fetches if f.done() and not f.cancelled() and f.exception() is None]
            wait(writes)
            _raise_first(fetches + writes)
    except UserError as exc:
        raise UserError(f"{exc} (finished chunks are kept: run the same command again to resume)") from None
    finally:
        if progress:
            progress.close()
    # autoscalers: kube-state-metrics' HPA series, one small listing per chunk on the state grid (hpa.py)
    chunks = {u.chunk: (segment_name(u, length), coarse_grid(u.grid, cfg.state_step_s)) for u in units}
    hpa_rows = hpa.import_chunks(client, list(chunks.values()), cfg.ksm.selector, cfg.state_step_s, writer,
                                 location, STATE_DIR)
    if hpa_rows:
        result.rows["autoscalers"] = hpa_rows
    if missing_total:
        result.notes.append(f"{missing_total} gpu point(s) without DCGM_FI_DEV_FB_FREE at the same time were "
                            "skipped (the device size is required)")
    result.notes += [f"server warning: {w}" for w in client.stats.warnings]
    result.seconds = time.perf_counter() - t0
    return result


class _Stopped(Exception):
    """A unit not fetched because another one failed (never the error reported)."""


def _raise_first(futures) -> None:
    """Raise the first real error among finished futures (in submission order)."""
    for f in futures:
        if f.done() and not f.cancelled():
            exc = f.exception()
            if exc is not None and not isinstance(exc, _Stopped):
                raise exc


class _Progress:
    def __init__(self, total: int):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._p = Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.description}"),
                           console=Console(file=sys.stderr), transient=True)
        self._p.start()
        self._task = self._p.add_task("", total=total)
        self._lock = threading.Lock()

    def advance(self, label: str) -> None:
        with self._lock:
            self._p.update(self._task, advance=1, description=label)

    def close(self) -> None:
        self._p.stop()
