"""benchmarks/recommend_stages.py: each stage line of a real recommend run, stamped with time, CPU and RSS."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.recommender.fakes import build_dataset

REPO = Path(__file__).resolve().parents[2]


def test_every_stage_line_is_stamped_and_the_run_succeeds(tmp_path):
    data = build_dataset(tmp_path / "data", days=1)
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "recommend_stages.py"), "--data", data,
                          "--out", str(tmp_path / "out"), "--top", "0", "--solver-seconds", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    stamped = [ln for ln in lines if re.match(r"^\s+\d+\.\ds\s+\d+\.\ds\s+\d+Mi\s+\d+Mi  \S", ln)]
    stages = [ln.split("Mi  ", 2)[-1] for ln in stamped]
    assert stages[0] == "profiling workloads and containers, attributing cost"
    assert "deciding" in stages and "rendering the report" in stages
    assert re.match(r"^\s+\d+\.\ds\s+\d+\.\ds\s+\d+Mi  done \(exit status 0\)$", lines[-1])
    assert (tmp_path / "out" / "recommendations.json").exists()
