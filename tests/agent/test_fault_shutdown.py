"""Fault matrix, shutdown side: SIGTERM with a full spool disk (every row delivered or counted, and the log
says the true numbers) and with an S3 endpoint that accepts connections and never answers (shutdown ends
within its configured bound; what was not shipped stays in the spool for the next start)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from agent.cli import install_signal_handlers
from store.reader import Dataset
from tests.agent.faults import FlakySink, FullDisk, HungEndpoint, delivered, dropped, sampled, spooled_rows

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def _run_until_sigterm(agent, clock, ticks: int, on_tick=None) -> list[float]:
    stop = threading.Event()
    install_signal_handlers(stop)
    seen = []

    def tick():
        seen.append(clock())
        if on_tick:
            on_tick(len(seen))
        if len(seen) == ticks:
            os.kill(os.getpid(), signal.SIGTERM)

    agent.run(stop, wait=clock.advance, on_tick=tick, upload_thread=False)
    return seen


def test_sigterm_with_a_full_spool_disk_delivers_what_memory_holds(make_agent, clock, tmp_path, monkeypatch,
                                                                  restore_signals, caplog):
    agent = make_agent("h100", flush_interval_s=5)
    agent.start(background=False)
    disk = FullDisk(monkeypatch, agent.spool.root)

    def fill(n):
        if n == 20:
            disk.full = True  # ticks 21..65 can only be held in memory

    ticks = _run_until_sigterm(agent, clock, 65, fill)
    assert disk.refused > 0
    gpu = Dataset(str(tmp_path / "sink")).read("gpu")
    assert len(pc.unique(gpu.column("ts"))) == len(ticks) == 65
    assert sampled(agent) == sum(delivered(tmp_path / "sink").values())
    assert dropped(agent) == 0
    assert re.search(r"wrote \d+ rows? held in memory straight to the sink", caplog.text)


def test_sigterm_with_a_full_spool_disk_and_the_sink_down_counts_every_row(make_agent, clock, tmp_path,
                                                                          monkeypatch, restore_signals, caplog):
    sink = FlakySink(tmp_path / "sink")
    sink.down = True
    agent = make_agent("h100", flush_interval_s=5, sink_location=sink)
    agent.start(background=False)
    disk = FullDisk(monkeypatch, agent.spool.root)

    def fill(n):
        if n == 20:
            disk.full = True

    _run_until_sigterm(agent, clock, 65, fill)
    in_spool = spooled_rows(agent)  # ticks 1..20: kept on disk, shipped by the next start
    assert in_spool > 0 and dropped(agent) > 0
    assert sampled(agent) == in_spool + dropped(agent)
    final = caplog.records[-1].getMessage()
    assert f"{dropped(agent)} rows lost" in final
    assert f"({in_spool} rows) left in the spool" in final


def test_sigterm_with_a_hung_s3_endpoint_ends_within_the_shutdown_timeout(make_agent, clock, tmp_path, monkeypatch,
                                                                        caplog):
    pytest.importorskip("boto3")
    endpoint = HungEndpoint()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint.url}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    agent = make_agent("h100", sink="s3://finops/rightsizer", flush_interval_s=2, upload_timeout_s=1.0,
                       shutdown_timeout_s=3.0)
    agent.start(background=False)
    stop = threading.Event()
    stopped_at: list[float] = []

    def on_tick():
        if agent.ticks == 3:  # a segment is spooled and the uploader thread is sending it
            assert endpoint.accepted.wait(timeout=30), "the uploader never connected"
            stopped_at.append(time.monotonic())
            stop.set()  # what the SIGTERM handler does

    runner = threading.Thread(target=agent.run, args=(stop,), kwargs={"wait": clock.advance, "on_tick": on_tick})
    try:
        runner.start()
        runner.join(timeout=120)
        ended = time.monotonic()
        assert not runner.is_alive(), "shutdown still running after 120 s"
    finally:
        endpoint.close()
    took = ended - stopped_at[0]
    # The bound: the configured shutdown timeout plus the final flush (local disk); no upload may hold it.
    assert took < agent.config.shutdown_timeout_s + 2.0, took
    left = spooled_rows(agent)
    assert left > 0 and sampled(agent) == left + dropped(agent)
    assert re.search(rf"\d+ segment file\(s\) \({left} rows\) left in the spool", caplog.text)


def test_s3_requests_have_timeouts_and_bounded_attempts(make_agent, monkeypatch):
    pytest.importorskip("boto3")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    agent = make_agent("h100", sink="s3://finops/rightsizer", upload_timeout_s=7.0, upload_max_attempts=2)
    config = agent.uploader.location.s3.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (7.0, 7.0)
    assert config.retries["total_max_attempts"] == 2


def test_the_real_process_exits_0_within_its_shutdown_timeout_against_a_hung_endpoint(tmp_path):
    """The DaemonSet's case: SIGTERM while every request to S3 hangs; the pod must be gone within its grace."""
    endpoint = HungEndpoint()
    env = {**os.environ, "PYTHONPATH": str(REPO), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint.url}
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(key, None)
    shutdown_timeout = 3.0
    cmd = [sys.executable, "-m", "agent", "--backend", "fake:h100", "--no-kubernetes", "--sink", "s3://finops/rs",
           "--spool-dir", str(tmp_path / "spool"), "--interval-s", "0.1", "--flush-interval-s", "0.3",
           "--metrics-port", "0", "--node-name", "hung-node", "--proc-root", str(tmp_path / "noproc"),
           "--upload-timeout-s", "1", "--shutdown-timeout-s", str(shutdown_timeout)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert endpoint.accepted.wait(timeout=60), "the agent never connected to the endpoint"
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
        endpoint.close()
    log = proc.stderr.read()
    assert code == 0, log
    # the shutdown timeout, plus the final flush and the interpreter's exit
    assert took < shutdown_timeout + 5.0, (took, log)
    spooled = list((tmp_path / "spool").rglob("*.parquet"))
    assert spooled  # nothing shipped, nothing lost: the next start uploads it
    assert re.search(rf"{len(spooled)} segment file\(s\) \(\d+ rows\) left in the spool", log), log
