"""The Dockerfile can only be built elsewhere; check here what it depends on.

- every COPY source exists and the .dockerignore allow-list lets it into the build context;
- every command the image and the chart run is a console script of the package;
- the package builds (pip wheel) from exactly the files the context contains;
- the numba warm-up script writes a valid v1 dataset and runs on this checkout.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.tools import REPO

DOCKERFILE = REPO / "Dockerfile"
WARMUP = REPO / "scripts" / "warm_numba_cache.py"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def console_scripts() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, line.lstrip("!").rstrip("/")))
    return patterns


def in_context(rel: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = rel.split("/")
    included = True
    for negated, pattern in dockerignore_patterns():
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatch(prefix, pattern) or (pattern.startswith("**/") and
                                                     fnmatch.fnmatch(parts[i - 1], pattern[3:])):
                included = negated
                break
    return included


def context_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".tools/")) and in_context(rel):
            files.append(path)
    return files


def test_every_copy_source_exists_and_is_in_the_build_context():
    copies = [args for word, args in instructions() if word == "COPY"]
    assert copies
    for args in copies:
        tokens = [t for t in shlex.split(args) if not t.startswith("--")]
        if "--from=" in args:
            continue  # copies from a build stage, not from the context
        for source in tokens[:-1]:
            if source == ".":
                continue
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            assert in_context(source), f"COPY {source}: excluded by .dockerignore"


def test_context_holds_the_packages_and_nothing_else():
    rel = {p.relative_to(REPO).as_posix() for p in context_files()}
    assert "pyproject.toml" in rel
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in include:
        package = pattern.rstrip("*")
        if (REPO / package / "__init__.py").exists():
            assert f"{package}/__init__.py" in rel, f"package {package} is not in the build context"
    assert not any(r.startswith(("tests/", "helm/", "docs/", "benchmarks/")) for r in rel)
    assert not any("__pycache__" in r for r in rel)


def test_image_and_chart_commands_are_console_scripts():
    scripts = console_scripts()
    assert {"rightsizer", "rightsizer-agent"} <= scripts
    used = set()
    for word, args in instructions():
        if word in {"CMD", "ENTRYPOINT"}:
            used.add(shlex.split(args.strip("[]").replace(",", " "))[0])
        if word == "RUN":
            used |= set(re.findall(r"\b(rightsizer(?:-[a-z]+)?) --help", args))
    templates = (REPO / "helm" / "rightsizer" / "templates")
    used |= set(re.findall(r'command: \["(rightsizer[a-z-]*)"\]', (templates / "daemonset.yaml").read_text()))
    used |= set(re.findall(r"exec (rightsizer[a-z-]*) ", (templates / "cronjob.yaml").read_text()))
    assert {"rightsizer", "rightsizer-agent"} <= used
    assert used <= scripts, used - scripts


def test_dockerfile_is_multi_stage_slim_and_non_root():
    ins = instructions()
    froms = [args for word, args in ins if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS builder")
    base = next(args for word, args in ins if word == "ARG" and args.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    users = [args for word, args in ins if word == "USER"]
    assert users == ["10001:10001"]
    env = " ".join(args for word, args in ins if word == "ENV")
    assert "NUMBA_CACHE_DIR=/var/cache/rightsizer/numba" in env
    run = " ".join(args for word, args in ins if word == "RUN")
    assert "warm_numba_cache.py" in run
    # The chart seeds its writable cache from the directory the image warms.
    cronjob = (REPO / "helm" / "rightsizer" / "templates" / "cronjob.yaml").read_text()
    assert "/var/cache/rightsizer/numba/." in cronjob
    # The report job runs as the image's user.
    values = (REPO / "helm" / "rightsizer" / "values.yaml").read_text()
    assert "runAsUser: 10001" in values


@pytest.mark.slow
def test_package_builds_from_the_build_context(tmp_path):
    """What the builder stage's `pip install .` does, minus downloading dependencies."""
    ctx = tmp_path / "ctx"
    for path in context_files():
        dest = ctx / path.relative_to(REPO)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(tmp_path / "dist"), str(ctx)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("rightsizer-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        entry_points = next(n for n in whl.namelist() if n.endswith("entry_points.txt"))
        text = whl.read(entry_points).decode()
    for script in console_scripts():
        assert f"{script} =" in text


def _load_warmup():
    spec = importlib.util.spec_from_file_location("warm_numba_cache", WARMUP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_warmup_toy_dataset_is_valid_v1(tmp_path):
    from store.reader import Dataset

    _load_warmup().write_toy_dataset(tmp_path)
    ds = Dataset(str(tmp_path))
    assert set(ds.tables()) == {"gpu", "container", "pods", "nodes"}
    gpu = ds.read("gpu")
    assert gpu.num_rows == 2 * 360
    assert set(gpu.column("pod").to_pylist()) == {"toy-7d4b9-a", "toy-7d4b9-b"}
    assert ds.read("pods").num_rows == 2 and ds.read("nodes").num_rows == 1


@pytest.mark.slow
def test_warmup_script_runs_on_this_checkout(tmp_path):
    cache = tmp_path / "numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(WARMUP)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    has_profiles = importlib.util.find_spec("optimizer") is not None and (REPO / "optimizer" / "profiles").is_dir()
    if has_profiles:
        assert _load_warmup().cached_files(cache) > 0, proc.stdout
    else:
        assert "optimizer.profiles is not installed" in proc.stdout


def test_warmup_without_cache_dir_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, str(WARMUP)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: set NUMBA_CACHE_DIR to the directory the cache should be written to"
