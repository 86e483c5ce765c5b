"""`rightsizer recommend` writes its outputs as one unit: a rerun leaves no file of the previous run, a failure
after profiling leaves the previous set untouched, argument checks run before the computation, and an
``s3://`` --out is published only after every upload succeeded (fault matrix of issue 19, item 1)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from recommender.cli import main
from tests.recommender.fakes import build_dataset

STALE = """apiVersion: apps/v1
kind: Deployment
metadata: {name: old-web, namespace: web}
spec: {replicas: 0}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("set") / "data")


def recommend(data, out, *extra) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(["recommend", "--data", data, "--out", str(out), "--solver-seconds", "2", "--no-progress",
                     "--top", "0", *extra])


@pytest.fixture(scope="module")
def good(data, tmp_path_factory):
    """A folder holding one good run's outputs."""
    out = tmp_path_factory.mktemp("good") / "report"
    assert recommend(data, out) == 0
    return out


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_of(good: Path, tmp_path: Path) -> Path:
    out = tmp_path / "report"
    shutil.copytree(good, out)
    return out


def replace_writer(monkeypatch, index: int, writer) -> None:
    from recommender import outputs

    writers = list(outputs.WRITERS)
    writers[index] = writer
    monkeypatch.setattr(outputs, "WRITERS", writers)


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_rerun_leaves_no_file_of_the_earlier_run(data, good, tmp_path):
    out = copy_of(good, tmp_path)
    (out / "suggestions" / "web-deployment-old-web-scale-to-zero.yaml").write_text(STALE)
    assert recommend(data, out) == 0
    assert not (out / "suggestions" / "web-deployment-old-web-scale-to-zero.yaml").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    on_disk = snapshot(out)
    on_disk.pop("manifest.json")
    assert listed == on_disk  # exactly this run's files, each with its content hash
    kustomization = (out / "suggestions" / "kustomization.yaml").read_text()
    for name in (out / "suggestions").glob("*.yaml"):
        if name.name != "kustomization.yaml":
            assert name.name in kustomization  # every patch left in the folder is one this run wrote
    assert leftovers(out) == []


def test_every_output_file_has_one_mode(good):
    modes = {p.relative_to(good).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in good.rglob("*")}
    assert stat.S_IMODE(good.stat().st_mode) == 0o755
    assert {m for p, m in modes.items() if (good / p).is_dir()} == {0o755}
    assert {m for p, m in modes.items() if (good / p).is_file()} == {0o644}, modes


@pytest.mark.parametrize("error, code", [(RuntimeError("renderer crashed"), 1), ("user", 2)])
def test_failure_after_profiling_leaves_the_previous_set(data, good, tmp_path, monkeypatch, error, code):
    from recommender import outputs
    from store.errors import UserError

    out = copy_of(good, tmp_path)
    before = snapshot(out)

    def fail(ctx):
        assert (ctx.out_dir / "recommendations.json").is_file()  # earlier writers did write (into staging)
        raise UserError("allocation: node 'n9' has no row in 'nodes'") if error == "user" else error

    replace_writer(monkeypatch, len(outputs.WRITERS) - 1, fail)
    assert recommend(data, out) == code
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_failure_on_a_first_run_creates_no_folder(data, tmp_path, monkeypatch):

    replace_writer(monkeypatch, 1, lambda ctx: 1 / 0)
    out = tmp_path / "new" / "report"
    assert recommend(data, out) == 1
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.fixture
def no_compute(monkeypatch):
    """Profiling fails the test: the argument checks must come first."""
    import optimizer.profiles

    def boom(*a, **k):
        raise AssertionError("the computation started before the arguments were checked")

    monkeypatch.setattr(optimizer.profiles, "compute_profiles_many", boom)


def test_bad_notify_url_fails_before_the_computation(data, tmp_path, no_compute, capsys, monkeypatch):
    assert recommend(data, tmp_path / "o", "--notify", "ftp://hooks.example.com/x") == 2
    assert "--notify: 'ftp://hooks.example.com...' is not an http(s) webhook URL" in capsys.readouterr().err
    monkeypatch.setenv("RIGHTSIZER_NOTIFY_URL", "hooks.example.com/no-scheme")
    assert recommend(data, tmp_path / "o") == 2
    assert "RIGHTSIZER_NOTIFY_URL:" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("case", ["file", "foreign", "mount", "under-a-file", "read-only-fs", "unwritable"])
def test_bad_out_fails_before_the_computation(data, tmp_path, no_compute, capsys, case):
    if case == "file":
        out = tmp_path / "report"
        out.write_text("not a folder")
        want = "exists and is not a folder"
    elif case == "foreign":
        out = tmp_path / "home"
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        want = "holds files rightsizer did not write (e.g. 'notes.txt')"
    elif case == "mount":
        out = Path("/proc")  # a mount point on Linux
        want = "is a mount point"
    elif case == "under-a-file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "sub" / "report"
        want = "cannot create"
    elif case == "read-only-fs":
        out = Path("/sys/rightsizer-report")  # sysfs refuses new folders, even to root
        want = "is not writable"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write any folder")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out = ro / "report"
        want = "is not writable"
    assert recommend(data, out) == 2
    err = capsys.readouterr().err
    assert want in err and "--out" in err
    if case == "foreign":
        assert (out / "notes.txt").read_text() == "mine"


# -- S3 -----------------------------------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="reports")
        yield client


def objects(client, prefix="weekly/") -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="reports", Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = client.get_object(Bucket="reports", Key=obj["Key"])["Body"].read()
    return out


def test_s3_rerun_replaces_the_set_and_writes_the_manifest_last(data, s3):
    assert recommend(data, "s3://reports/weekly") == 0
    first = objects(s3)
    assert "weekly/report.html" in first and "weekly/manifest.json" in first
    s3.put_object(Bucket="reports", Key="weekly/suggestions/web-deployment-old-web-scale-to-zero.yaml", Body=STALE)
    assert recommend(data, "s3://reports/weekly") == 0
    second = objects(s3)
    assert "weekly/suggestions/web-deployment-old-web-scale-to-zero.yaml" not in second
    assert not [k for k in second if "/.staging/" in k]
    manifest = json.loads(second["weekly/manifest.json"])
    assert {"weekly/" + f["path"] for f in manifest["files"]} | {"weekly/manifest.json"} == set(second)
    for f in manifest["files"]:
        assert hashlib.sha256(second["weekly/" + f["path"]]).hexdigest() == f["sha256"]
    assert s3.head_object(Bucket="reports", Key="weekly/report.html")["ContentType"].startswith("text/html")


def test_s3_failure_after_profiling_uploads_nothing(data, s3, monkeypatch):

    assert recommend(data, "s3://reports/weekly") == 0
    before = objects(s3, "")
    replace_writer(monkeypatch, 2, lambda ctx: 1 / 0)
    assert recommend(data, "s3://reports/weekly") == 1
    assert objects(s3, "") == before


def test_s3_missing_bucket_fails_before_the_computation(data, s3, no_compute, capsys):
    assert recommend(data, "s3://no-such-bucket/weekly") == 2
    assert "--out: bucket 'no-such-bucket' is not reachable" in capsys.readouterr().err


class FailingClient:
    """The real moto client, failing one named operation after ``after`` successful calls of it."""

    def __init__(self, client, operation: str, after: int):
        self._client, self._operation, self._left = client, operation, after

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if name != self._operation:
            return attr

        def call(*a, **k):
            if self._left == 0:
                from botocore.exceptions import EndpointConnectionError

                raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")
            self._left -= 1
            return attr(*a, **k)

        return call


def staged_set(tmp_path: Path, n: int) -> Path:
    src = tmp_path / "src"
    (src / "suggestions").mkdir(parents=True)
    for i in range(n):
        (src / "suggestions" / f"p{i}.yaml").write_text(f"n: {i}\n")
    (src / "report.html").write_text("<html>new</html>")
    return src


def publish(client, src: Path):
    from recommender.outputs.target import OutputTarget

    target = OutputTarget("s3://reports/weekly", s3_client=client)
    with target as local:
        shutil.copytree(src, local, dirs_exist_ok=True)
    return target


def test_s3_upload_failing_partway_leaves_the_published_set(s3, tmp_path):
    from store.errors import UserError

    publish(s3, staged_set(tmp_path / "a", 2))
    before = objects(s3, "")
    with pytest.raises(UserError, match=r"upload of s3://reports/weekly/\.staging/.* failed.*the published set is "
                                        r"unchanged; the outputs are kept in (\S+)") as info:
        publish(FailingClient(s3, "upload_file", after=3), staged_set(tmp_path / "b", 5))
    assert objects(s3, "") == before  # the staged objects are cleaned up too
    kept = Path(str(info.value).rsplit("kept in ", 1)[1])
    assert (kept / "suggestions" / "p4.yaml").read_text() == "n: 4\n"


def test_s3_publish_failing_partway_leaves_no_manifest(s3, tmp_path):
    from store.errors import UserError

    publish(s3, staged_set(tmp_path / "a", 2))
    assert "weekly/manifest.json" in objects(s3)
    with pytest.raises(UserError, match=r"publish of s3://reports/weekly/.* failed.*manifest\.json is absent"):
        publish(FailingClient(s3, "copy_object", after=2), staged_set(tmp_path / "b", 5))
    after = objects(s3, "")
    assert "weekly/manifest.json" not in after  # a consumer sees that the set is incomplete
    assert not [k for k in after if "/.staging/" in k]


def test_webhook_url_comes_from_flag_file_env_or_config_in_that_order(tmp_path, monkeypatch):
    import argparse

    from recommender.config import parse_config
    from recommender.outputs.cli import NOTIFY_ENV, notify_url
    from store.errors import UserError

    config = parse_config({"notify": {"webhook_url": "https://config.example.com/x"}})
    secret = tmp_path / "url"
    secret.write_text("https://file.example.com/T0/B0\n")

    def args(**kw):
        return argparse.Namespace(**{"notify": None, "notify_file": None, **kw})

    monkeypatch.setenv(NOTIFY_ENV, "https://env.example.com/x")
    assert notify_url(args(notify="https://flag.example.com/x", notify_file=str(secret)), config) == \
        "https://flag.example.com/x"
    assert notify_url(args(notify_file=str(secret)), config) == "https://file.example.com/T0/B0"
    assert notify_url(args(), config) == "https://env.example.com/x"
    monkeypatch.delenv(NOTIFY_ENV)
    assert notify_url(args(), config) == "https://config.example.com/x"
    assert notify_url(args(), parse_config({})) is None
    with pytest.raises(UserError, match="--notify-file: cannot read"):
        notify_url(args(notify_file=str(tmp_path / "missing")), config)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(UserError, match="--notify-file: '.*empty' is empty"):
        notify_url(args(notify_file=str(tmp_path / "empty")), config)


def test_a_symlinked_out_keeps_its_link_and_gets_the_new_set(data, good, tmp_path):
    real = copy_of(good, tmp_path)
    (real / "suggestions" / "stale.yaml").write_text(STALE)
    link = tmp_path / "current"
    link.symlink_to(real)
    assert recommend(data, link) == 0
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert not (real / "suggestions" / "stale.yaml").exists() and (real / "manifest.json").is_file()
    assert leftovers(real) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["current", "report"]
