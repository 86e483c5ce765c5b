"""``rightsizer-agent`` from the command line: flags and env, one-line errors, a real run with SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.cli import build_parser, config_from_args, main
from store.reader import Dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv,needle", [
    (["--backend", "fake:nope", "--sink", "x"], "unknown scenario 'nope'"),
    (["--backend", "cuda", "--sink", "x"], "expected nvml or fake"),
    (["--backend", "fake"], "--sink is required"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys, monkeypatch):
    monkeypatch.delenv("RIGHTSIZER_SINK", raising=False)
    assert main(argv + ["--no-kubernetes"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.startswith("error: ") and "\n" not in err


def test_unwritable_spool_dir_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["--backend", "fake", "--no-kubernetes", "--sink", str(tmp_path / "s"),
                 "--spool-dir", str(blocker / "spool"), "--metrics-port", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --spool-dir") and "\n" not in err


def test_bad_node_name_is_one_line(capsys):
    assert main(["--backend", "fake", "--no-kubernetes", "--sink", "x", "--node-name", "bad name/"]) == 2
    assert "not a valid Kubernetes node name" in capsys.readouterr().err


def test_bad_size_is_an_argparse_error(capsys):
    assert main(["--spool-max-bytes", "lots", "--sink", "x"]) == 2
    assert "not a size" in capsys.readouterr().err


def test_environment_supplies_every_flag(monkeypatch):
    monkeypatch.setenv("NODE_NAME", "from-downward-api")
    monkeypatch.setenv("RIGHTSIZER_SINK", "s3://bucket/prefix")
    monkeypatch.setenv("RIGHTSIZER_INTERVAL_S", "2.5")
    monkeypatch.setenv("RIGHTSIZER_SPOOL_MAX_BYTES", "512Mi")
    monkeypatch.setenv("RIGHTSIZER_NO_KUBERNETES", "true")
    monkeypatch.setenv("RIGHTSIZER_METRICS_PORT", "9500")
    cfg = config_from_args(build_parser().parse_args([]))
    assert (cfg.node_name, cfg.sink, cfg.interval_s) == ("from-downward-api", "s3://bucket/prefix", 2.5)
    assert cfg.spool_max_bytes == 512 * 2**20 and cfg.kubernetes is False and cfg.metrics_port == 9500
    monkeypatch.setenv("RIGHTSIZER_UPLOAD_TIMEOUT_S", "4")
    monkeypatch.setenv("RIGHTSIZER_SHUTDOWN_TIMEOUT_S", "25")
    cfg = config_from_args(build_parser().parse_args([]))
    assert (cfg.upload_timeout_s, cfg.shutdown_timeout_s) == (4.0, 25.0)
    # a flag beats the environment
    assert config_from_args(build_parser().parse_args(["--node-name", "n2"])).node_name == "n2"


def test_help_lists_the_fake_scenarios(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "fake[:SCENARIO]" in out and "shared-t4" in out and "RIGHTSIZER_" in out


# Runs the agent with the packages a GPU host may lack (and the ones it must never load) made unimportable.
WITHOUT_OPTIONAL = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("kubernetes", "boto3", "botocore", "grpc", "pandas", "numba"):
            raise ImportError("not installed here: " + name)
sys.meta_path.insert(0, Block())
from agent.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_real_process_runs_fake_backend_and_exits_0_on_sigterm(tmp_path):
    """Also proves --no-kubernetes with a local sink needs neither kubernetes, boto3 nor grpc."""
    sink, spool = tmp_path / "sink", tmp_path / "spool"
    cmd = [sys.executable, "-c", WITHOUT_OPTIONAL, "--backend", "fake:mixed", "--no-kubernetes", "--sink", str(sink),
           "--spool-dir", str(spool), "--interval-s", "0.1", "--flush-interval-s", "0.5", "--metrics-port", "0",
           "--node-name", "cli-node", "--proc-root", str(tmp_path / "noproc")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (sink / "gpu").exists():  # wait for the first upload (a condition, not a timing)
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no segment uploaded within 60 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read()
    assert "received SIGTERM" in log
    gpu = Dataset(str(sink)).read("gpu")
    ticks = len(set(gpu.column("ts").to_pylist()))
    assert gpu.num_rows == ticks * 5
    assert list(spool.rglob("*.parquet")) == []


def test_python_dash_m_agent_cli_prints_help():
    done = subprocess.run([sys.executable, "-m", "agent.cli", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--node-name" in done.stdout and "--sink" in done.stdout


def test_version_is_the_package_metadatas():
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", "agent.cli", "--version"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rightsizer-agent {version('rightsizer')}"
