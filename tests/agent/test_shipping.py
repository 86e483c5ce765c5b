"""Durable shipping: SIGTERM loses nothing, a sink outage delays but never loses or duplicates, the spool
cap drops the oldest first and counts it, a restart uploads what the spool kept."""

import os
import signal
import threading

import pyarrow.compute as pc
import pytest

from agent.cli import install_signal_handlers
from store.reader import Dataset
from tests.agent.faults import FlakySink

DEVICES = 5  # fake "mixed" without attribution: H100, A100, 2 MIG instances, T4


def gpu_table(root):
    return Dataset(str(root)).read("gpu")


def metric(agent, name):
    return agent.metrics.registry.get_sample_value(name) or 0


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def test_sigterm_flushes_and_uploads_every_tick(make_agent, clock, tmp_path, restore_signals):
    agent = make_agent(flush_interval_s=3600)
    agent.start(background=False)
    stop = threading.Event()
    install_signal_handlers(stop)
    ticks = []

    def on_tick():
        ticks.append(clock())
        if len(ticks) == 7:
            os.kill(os.getpid(), signal.SIGTERM)

    agent.run(stop, wait=clock.advance, on_tick=on_tick, upload_thread=False)
    table = gpu_table(tmp_path / "sink")
    assert len(ticks) == 7
    assert table.num_rows == len(ticks) * DEVICES
    assert len(pc.unique(table.column("ts"))) == len(ticks)
    assert agent.spool.files() == []


def test_sink_down_then_up_everything_arrives_in_order_without_duplicates(make_agent, clock, tmp_path):
    sink = FlakySink(tmp_path / "sink")
    agent = make_agent(sink_location=sink)
    agent.start(background=False)
    sink.down = True
    for _ in range(4):
        for _ in range(3):
            clock.advance(1)
            agent.tick()
        agent.flush()
        agent.upload()
    assert metric(agent, "rightsizer_agent_upload_failures_total") >= 1
    assert len(agent.spool.files()) == 4 + 1  # a gpu segment per flush, plus the node row of the first
    sink.down = False
    clock.advance(3600)  # past any backoff
    agent.upload()
    assert agent.spool.files() == []
    table = gpu_table(tmp_path / "sink")
    assert table.num_rows == 12 * DEVICES
    keys = set(zip(table.column("ts").to_pylist(), table.column("gpu_uuid").to_pylist(), strict=True))
    assert len(keys) == table.num_rows  # no duplicates
    names = [os.path.basename(p) for p in sink.written]
    assert names == sorted(names)  # oldest first
    assert metric(agent, "rightsizer_agent_last_successful_upload_timestamp_seconds") == clock()


def test_backoff_waits_before_retrying(make_agent, clock, tmp_path):
    sink = FlakySink(tmp_path / "sink")
    agent = make_agent(sink_location=sink)
    agent.start(background=False)
    sink.down = True
    clock.advance(1)
    agent.tick()
    agent.flush()
    agent.upload()
    agent.upload()  # still inside the backoff window: not attempted
    assert metric(agent, "rightsizer_agent_upload_failures_total") == 1
    clock.advance(agent.uploader.backoff_s)
    agent.upload()
    assert metric(agent, "rightsizer_agent_upload_failures_total") == 2
    assert agent.uploader.backoff_s == 2 * 1.0


def test_spool_cap_drops_oldest_and_counts(make_agent, clock, tmp_path):
    sink = FlakySink(tmp_path / "sink")
    probe = make_agent(sink_location=sink, spool_dir=str(tmp_path / "probe"))
    probe.start(background=False)
    clock.advance(1)
    probe.tick()
    probe.flush()
    one = max(size for _, _, size in probe.spool.files())

    agent = make_agent(sink_location=sink, spool_max_bytes=int(one * 3.5))
    agent.start(background=False)
    sink.down = True
    flushed = []
    for _ in range(8):
        clock.advance(1)
        agent.tick()
        agent.flush()
        flushed.append(agent.spool._seq)
    files = agent.spool.files()
    assert agent.spool.size() <= agent.spool.max_bytes
    dropped = metric(agent, "rightsizer_agent_dropped_segments_total")
    assert dropped >= 1
    # the first flush's nodes segment is kept until shipped; the cap drops gpu segments only
    assert any(f.table == "nodes" for f in files)
    kept_seq = sorted(int(f.name.rsplit("-", 1)[1].split(".")[0]) for f in files if f.table == "gpu")
    assert kept_seq[-1] == flushed[-1]  # the newest is always kept
    assert kept_seq == list(range(kept_seq[0], flushed[-1] + 1))[-len(kept_seq):]  # a contiguous newest run


def test_restart_uploads_what_the_spool_kept(make_agent, clock, tmp_path):
    sink = FlakySink(tmp_path / "sink")
    first = make_agent(sink_location=sink)
    first.start(background=False)
    sink.down = True
    for _ in range(4):
        clock.advance(1)
        first.tick()
    first.flush()
    first.upload()
    sink.down = False
    second = make_agent(sink_location=sink)  # same spool dir: a restarted pod
    second.start(background=False)
    second.upload()
    assert gpu_table(tmp_path / "sink").num_rows == 4 * DEVICES


def test_a_failed_spool_write_keeps_the_rows(make_agent, clock, tmp_path, monkeypatch):
    agent = make_agent()
    agent.start(background=False)
    for _ in range(2):
        clock.advance(1)
        agent.tick()
    real = agent.spool.write
    monkeypatch.setattr(agent.spool, "write", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    assert agent.flush() is False
    assert metric(agent, "rightsizer_agent_flush_failures_total") == 1
    monkeypatch.setattr(agent.spool, "write", real)
    clock.advance(1)
    agent.tick()
    assert agent.flush() is True
    agent.upload()
    assert gpu_table(tmp_path / "sink").num_rows == 3 * DEVICES


def test_an_unwritable_spool_does_not_grow_memory_without_bound(make_agent, clock, monkeypatch):
    agent = make_agent(max_buffered_rows=4 * DEVICES)
    agent.start(background=False)
    monkeypatch.setattr(agent.spool, "write", lambda *a: (_ for _ in ()).throw(OSError("read-only")))
    for _ in range(3):
        for _ in range(2):
            clock.advance(1)
            agent.tick()
        agent.flush()
    assert agent.buffer.rows() <= 4 * DEVICES + 1
    assert metric(agent, "rightsizer_agent_dropped_rows_total") > 0
    assert metric(agent, "rightsizer_agent_flush_failures_total") == 3


def test_no_library_still_writes_node_rows_and_says_so(make_agent, clock, tmp_path, caplog):
    agent = make_agent("no-library")
    agent.start(background=False)
    for _ in range(3):
        clock.advance(1)
        agent.tick()
    agent.flush()
    agent.upload()
    ds = Dataset(str(tmp_path / "sink"))
    assert "gpu" not in ds.tables()
    assert ds.read("nodes").num_rows == 1
    assert metric(agent, "rightsizer_agent_gpu_metrics_enabled") == 0
    assert caplog.text.count("GPU metrics are off") == 1


def test_s3_sink_through_boto3(make_agent, clock, monkeypatch):
    """The sink as s3://bucket/prefix, on moto's in-process S3 through the standard boto3 client."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="finops")
        agent = make_agent(sink="s3://finops/rightsizer")
        agent.start(background=False)
        for _ in range(3):
            clock.advance(1)
            agent.tick()
        agent.flush()
        assert agent.upload() == 2  # gpu + nodes
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="finops")["Contents"]]
        assert all(k.startswith("rightsizer/") and "/node=gpu-node-1/" in k and k.endswith(".parquet") for k in keys)
        table = Dataset("s3://finops/rightsizer", s3_client=client).read("gpu")
        assert table.num_rows == 3 * DEVICES
        assert agent.spool.files() == []
