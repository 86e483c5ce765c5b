"""Where ``--out`` points, and how a run's files replace the previous set as one unit.

    target = OutputTarget(args.out)
    target.check()                         # before any computation: bad --out is exit 2 at once
    with target as staging:                # a local Path either way
        ... write every file under staging ...
    # clean exit: the new set replaces the old one; an exception: the old set is left untouched

Local folder: the files are written into a hidden staging folder beside ``--out``
(``.NAME.staging-XXXX``) and the folder then takes the place of ``--out``: one atomic exchange of the
two folders where Linux offers ``renameat2(RENAME_EXCHANGE)``, else two renames (old aside, new in).
No file of an earlier run survives (stale ``suggestions/*.yaml`` included), and a run that fails at
any point leaves the previous set as it was. Because the whole folder is replaced, ``--out`` must be
a folder rightsizer wrote (it holds ``manifest.json``), an empty one, or a new one: a folder holding
other files is refused before the computation, and so is a mount point (it cannot be renamed).

``s3://bucket/prefix``: the files are written locally, uploaded under ``PREFIX/.staging/RUN/``, and
only after every upload succeeded copied into place (server-side copies); objects of the previous
set that the new one lacks are then deleted, and ``PREFIX/manifest.json`` is written last. The old
manifest is deleted before the first copy, so while a publish is under way (or after one failed
midway) the prefix has no manifest: a consumer that reads the set as a unit reads the manifest first.
A failed upload leaves the published set untouched; every failure is a ``UserError`` naming the
object, and the local copy is kept (its path is in the message).

Every file of the set is mode 0644 and every folder 0755 (the files are read by people and by the
web servers or sync jobs that publish reports; nothing in them is secret: the webhook URL never is).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import mimetypes
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from store.errors import UserError

MANIFEST = "manifest.json"
FILE_MODE = 0o644
DIR_MODE = 0o755
STAGING_PREFIX = ".staging"  # below an S3 --out prefix; hidden from dataset readers (dot name)
# Names an earlier version wrote without a manifest: such a folder may be replaced too.
KNOWN_OUTPUTS = frozenset({"recommendations.json", "allocation.csv", "alerts.json", "report.html", "report.md",
                           "suggestions", "tokens.csv", "backtest.json", MANIFEST})


def split_s3(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise UserError(f"--out: '{uri}' has no bucket (expected s3://bucket/prefix)")
    return bucket, prefix.strip("/")


class OutputTarget:
    def __init__(self, out: str, *, s3_client=None):
        self.out = out
        self.is_s3 = out.startswith("s3://")
        self.s3_client = s3_client
        self.local: Path | None = None     # the staging folder while the run writes
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        self.uploaded: list[str] = []      # s3:// URIs of the published objects
        self._checked = False

    # -- before the computation --------------------------------------------------------------------
    def check(self) -> None:
        """Refuse an ``--out`` that cannot take the outputs, before any work is done (UserError, exit 2)."""
        if self.is_s3:
            self._check_s3()
        else:
            self._check_local()
        self._checked = True

    def _check_local(self) -> None:
        out = self._folder()
        if out.exists() and not out.is_dir():
            raise UserError(f"--out: '{self.out}' exists and is not a folder")
        if out.is_dir():
            if os.path.ismount(out):
                inside = self.out.rstrip("/") + "/latest"
                raise UserError(f"--out: '{self.out}' is a mount point; the output folder is replaced as a whole "
                                f"on each run, so give a folder inside it (e.g. {inside})")
            entries = sorted(p.name for p in out.iterdir())
            if entries and MANIFEST not in entries:
                foreign = [e for e in entries if e not in KNOWN_OUTPUTS]
                if foreign:
                    raise UserError(f"--out: '{self.out}' holds files rightsizer did not write (e.g. '{foreign[0]}'); "
                                    "the output folder is replaced as a whole on each run: give a new or empty folder")
        parent = out.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--out: cannot create '{parent}': {exc.strerror or exc}") from None
        try:  # a real probe: os.access says yes to root on a read-only filesystem
            os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent))
        except OSError as exc:
            raise UserError(f"--out: '{parent}' is not writable ({exc.strerror or exc}); the new outputs are "
                            f"staged beside '{out.name}'") from None

    def _check_s3(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _ = split_s3(self.out)
        try:
            self._client().head_bucket(Bucket=bucket)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise UserError(f"--out: bucket '{bucket}' is not reachable: S3 {err.get('Code', 'error')}"
                            f"{': ' + err['Message'] if err.get('Message') else ''}") from None
        except BotoCoreError as exc:
            raise UserError(f"--out: bucket '{bucket}' is not reachable: {exc}") from None

    # -- the run -------------------------------------------------------------------------------------
    def __enter__(self) -> Path:
        if not self._checked:
            self.check()
        if self.is_s3:
            self.local = Path(tempfile.mkdtemp(prefix="rightsizer-out-"))
        else:
            out = self._folder()
            self.local = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
        return self.local

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish_modes()
                write_manifest(self.local, self.run_id)
                if self.is_s3:
                    self.upload()  # raises UserError and keeps a local copy if it fails
                else:
                    self._swap_in()
        finally:
            if self.local is not None and self.local.exists():
                shutil.rmtree(self.local, ignore_errors=True)

    def _folder(self) -> Path:
        """The folder replaced: --out, or the folder a symlink --out points to (the link itself stays)."""
        out = Path(self.out).absolute()
        return out.resolve() if out.is_symlink() else out

    def final_path(self, path: Path) -> str:
        """Where a file written under the staging folder is once published."""
        rel = Path(path).relative_to(self.local).as_posix()
        if self.is_s3:
            bucket, prefix = split_s3(self.out)
            return f"s3://{bucket}/{prefix + '/' if prefix else ''}{rel}"
        return str(Path(self.out) / rel)

    def _finish_modes(self) -> None:
        os.chmod(self.local, DIR_MODE)
        for root, dirs, files in os.walk(self.local):
            for d in dirs:
                os.chmod(os.path.join(root, d), DIR_MODE)
            for f in files:
                os.chmod(os.path.join(root, f), FILE_MODE)

    def _swap_in(self) -> None:
        out = self._folder()
        if not out.exists():
            os.rename(self.local, out)
            return
        if _exchange(self.local, out):  # self.local now holds the previous set; __exit__ removes it
            return
        aside = out.parent / f".{out.name}.previous-{self.run_id}"
        os.rename(out, aside)
        try:
            os.rename(self.local, out)
        except OSError:
            os.rename(aside, out)
            raise
        shutil.rmtree(aside, ignore_errors=True)

    # -- S3 ------------------------------------------------------------------------------------------
    def _client(self):
        if self.s3_client is None:
            import boto3

            self.s3_client = boto3.client("s3")
        return self.s3_client

    def upload(self) -> list[str]:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        failures = (BotoCoreError, ClientError, S3UploadFailedError, OSError)
        bucket, prefix = split_s3(self.out)
        client = self._client()
        base = f"{prefix}/" if prefix else ""
        staging = f"{base}{STAGING_PREFIX}/{self.run_id}/"
        files = sorted(p.relative_to(self.local).as_posix() for p in self.local.rglob("*") if p.is_file())
        body = [f for f in files if f != MANIFEST]
        step, key = "upload", ""
        try:
            for rel in files:
                key = staging + rel
                client.upload_file(str(self.local / rel), bucket, key, ExtraArgs={"ContentType": _content_type(rel)})
            # Every object is staged: publish. Without a manifest the prefix reads as "being replaced".
            step = "publish"
            key = base + MANIFEST
            client.delete_object(Bucket=bucket, Key=key)
            for rel in body:
                key = base + rel
                client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": staging + rel},
                                   ContentType=_content_type(rel), MetadataDirective="REPLACE")
            new = set(body)
            for old in _list_keys(client, bucket, base):
                rel = old[len(base):]
                if rel not in new and rel != MANIFEST and not rel.startswith(STAGING_PREFIX + "/"):
                    key = old
                    client.delete_object(Bucket=bucket, Key=key)
            key = base + MANIFEST
            client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": staging + MANIFEST},
                               ContentType=_content_type(MANIFEST), MetadataDirective="REPLACE")
        except failures as exc:
            keep = Path(tempfile.mkdtemp(prefix="rightsizer-out-kept-"))
            shutil.copytree(self.local, keep, dirs_exist_ok=True)
            self._remove_staging(client, bucket, staging)
            state = ("the published set is unchanged" if step == "upload"
                     else f"s3://{bucket}/{base}{MANIFEST} is absent until a run succeeds")
            raise UserError(f"--out: {step} of s3://{bucket}/{key} failed ({_one_line(exc)}); {state}; "
                            f"the outputs are kept in {keep}") from None
        self._remove_staging(client, bucket, staging)
        self.uploaded = [f"s3://{bucket}/{base}{rel}" for rel in files]
        return self.uploaded

    @staticmethod
    def _remove_staging(client, bucket: str, staging: str) -> None:
        try:
            for key in _list_keys(client, bucket, staging):
                client.delete_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: BLE001 (best effort: a leftover staging prefix is hidden and harmless)
            pass


def write_manifest(folder: Path, run_id: str) -> Path:
    """``manifest.json``: the run and every file of the set with its size and SHA-256, written last."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        data = path.read_bytes()
        files.append({"path": path.relative_to(folder).as_posix(), "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()})
    doc = {"run_id": run_id, "written_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "files": files}
    path = folder / MANIFEST
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, FILE_MODE)
    return path


def _list_keys(client, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _content_type(rel: str) -> str:
    if rel.endswith((".yaml", ".md")):
        return "text/plain; charset=utf-8"
    return mimetypes.guess_type(rel)[0] or "application/octet-stream"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0
