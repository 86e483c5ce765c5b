"""deploy/systemd: the install script puts the settings file in place 0600 (it may hold AWS keys), keeps an
existing one, and the unit leaves the agent's shutdown timeout room to finish."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

from agent.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "deploy" / "systemd"


def _install(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(SYSTEMD / "install.sh")], env={**os.environ, "DESTDIR": str(root)},
                          capture_output=True, text=True, timeout=60, check=False)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_puts_the_env_file_in_place_0600_and_the_unit_0644(tmp_path):
    done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    env, unit = tmp_path / "etc/rightsizer/agent.env", tmp_path / "etc/systemd/system/rightsizer-agent.service"
    assert _mode(env) == 0o600
    assert _mode(unit) == 0o644
    assert env.read_text() == (SYSTEMD / "agent.env").read_text()
    assert unit.read_text() == (SYSTEMD / "rightsizer-agent.service").read_text()


def test_install_keeps_an_existing_env_file_and_tightens_its_mode(tmp_path):
    env = tmp_path / "etc/rightsizer/agent.env"
    env.parent.mkdir(parents=True)
    env.write_text("RIGHTSIZER_SINK=s3://mine/rs\nAWS_SECRET_ACCESS_KEY=secret\n")
    env.chmod(0o644)
    done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    assert env.read_text() == "RIGHTSIZER_SINK=s3://mine/rs\nAWS_SECRET_ACCESS_KEY=secret\n"
    assert _mode(env) == 0o600


def test_the_unit_gives_the_agent_time_to_finish_its_shutdown():
    unit = (SYSTEMD / "rightsizer-agent.service").read_text()
    stop = float(re.search(r"^TimeoutStopSec=(\d+)", unit, flags=re.M).group(1))
    default = float(build_parser().get_default("shutdown_timeout_s"))
    assert default < stop


def test_the_install_docs_use_the_script_and_say_0600():
    text = (REPO / "docs" / "deploy.md").read_text()
    assert "deploy/systemd/install.sh" in text
    assert not re.search(r"install\b[^\n]*0644[^\n]*agent\.env", text)  # no world-readable settings file
    assert "0600" in text
