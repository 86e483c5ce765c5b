"""Same seed, same bytes; another seed, another cluster."""

from __future__ import annotations

import os

import pyarrow.compute as pc

from store.reader import Dataset
from tests.sim.conftest import run_sim


def _files(root) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = fh.read()
    return out


def test_same_seed_gives_identical_files(tmp_path):
    a = run_sim(tmp_path / "a", nodes=11, days=1, seed=5, workers=1)
    b = run_sim(tmp_path / "b", nodes=11, days=1, seed=5, workers=3)  # thread count must not matter
    assert a == b
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(fa) == sorted(fb)
    assert any(k.endswith(".parquet") for k in fa)
    for name in fa:
        assert fa[name] == fb[name], name


def test_different_seed_gives_different_data(tmp_path):
    a = run_sim(tmp_path / "a", nodes=11, days=1, seed=5)
    b = run_sim(tmp_path / "b", nodes=11, days=1, seed=6)
    assert {n["node"] for n in a["nodes"]} != {n["node"] for n in b["nodes"]}
    ua = Dataset(str(tmp_path / "a")).read("gpu", columns=["gpu_util"]).column("gpu_util")
    ub = Dataset(str(tmp_path / "b")).read("gpu", columns=["gpu_util"]).column("gpu_util")
    assert len(ua) == len(ub)  # the same shape of cluster...
    assert pc.mean(pc.cast(pc.equal(ua, ub), "float64")).as_py() < 0.5  # ...with other samples
