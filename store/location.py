"""Where a dataset lives: a local folder or ``s3://bucket/prefix``, behind one small interface.

S3 goes through boto3 (the standard credential chain; moto's in-process S3 in tests), exposed to
pyarrow as a ``PyFileSystem`` so that pyarrow.dataset reads both kinds of root the same way.
"""

from __future__ import annotations

import io
import os
import posixpath
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from store.errors import UserError


@dataclass(frozen=True)
class Location:
    """A dataset root. ``base`` is the path pyarrow sees in ``filesystem`` (no scheme, no trailing /).

    For S3, listing and reading go straight through boto3 in the calling thread, and pyarrow only ever
    sees in-memory buffers: pyarrow's I/O threads never call back into Python (a PyFileSystem read from
    those threads can race interpreter shutdown). ``filesystem`` stays available for callers that want a
    pyarrow filesystem, e.g. to write one-off files.
    """

    uri: str
    filesystem: pafs.FileSystem
    base: str

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def s3(self) -> Boto3S3Handler:
        return self.filesystem.handler

    def path(self, *parts: str) -> str:
        return posixpath.join(self.base, *parts) if self.base else posixpath.join(*parts)

    def write_atomic(self, rel: str, data: bytes) -> str:
        """Write ``data`` at ``rel`` so that no reader ever sees a partial file; returns the full path.

        Local: write ``.<name>.<random>.tmp`` in the same folder (hidden: every reader, ours and
        pyarrow.dataset's discovery, skips dot-files), fsync, then rename over the final name (atomic on
        POSIX), then fsync the folder so the rename survives a crash.
        S3: a single PUT is atomic; readers see the object only once it is complete.
        """
        full = self.path(rel)
        if self.is_s3:
            bucket, key = self.s3.split(full)
            with self._s3_errors(full):
                self.s3.client.put_object(Bucket=bucket, Key=key, Body=data)
            return full
        folder, name = os.path.split(full)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        try:
            # mkstemp creates 0600; a segment must be readable by the report job like any other file.
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, full)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _fsync_dir(folder)
        return full

    def list_files(self, rel: str = "") -> list[str]:
        """Every visible file below ``rel`` (full paths, sorted); dot- and underscore-files are hidden."""
        root = self.path(rel) if rel else self.base
        if self.is_s3:
            with self._s3_errors(root):
                paths = self.s3.list_keys(root)
        else:
            try:
                infos = self.filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
            except OSError as exc:
                raise UserError(f"{self.display(root)}: cannot list: {exc}") from None
            paths = [i.path for i in infos if i.type == pafs.FileType.File]
        out = []
        for path in paths:
            rel_parts = path[len(root):].lstrip("/").split("/")
            if any(p.startswith((".", "_")) for p in rel_parts):
                continue
            out.append(path)
        return sorted(out)

    def exists(self, rel: str = "") -> bool:
        """True when ``rel`` is a file or a folder holding at least one object (S3 has no empty folders)."""
        full = self.path(rel) if rel else self.base
        if self.is_s3:
            with self._s3_errors(full):
                return self.s3.exists(full)
        return self.filesystem.get_file_info(full).type != pafs.FileType.NotFound

    def read_bytes(self, full: str) -> bytes:
        if self.is_s3:
            with self._s3_errors(full):
                try:
                    return self.s3.get_bytes(full)
                except FileNotFoundError:
                    raise UserError(f"{self.display(full)}: disappeared while reading (deleted meanwhile?)") from None
        with self.filesystem.open_input_stream(full) as fh:
            return fh.read()

    def read_tail(self, full: str, size: int = 1 << 20) -> bytes:
        """The last ``size`` bytes of a file (all of it when smaller): a segment's Parquet footer is inside."""
        if self.is_s3:
            bucket, key = self.s3.split(full)
            with self._s3_errors(full):
                return self.s3.client.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{size}")["Body"].read()
        with open(full, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read()

    def display(self, full: str) -> str:
        """A path as the user would type it (with s3:// for S3)."""
        return f"s3://{full}" if self.is_s3 else full

    @contextmanager
    def _s3_errors(self, full: str):
        """Turn boto3's errors (no bucket, no credentials, access denied) into one-line user errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise UserError(f"{self.display(full)}: S3 {err.get('Code', 'error')}: "
                            f"{err.get('Message') or exc}") from None
        except BotoCoreError as exc:
            raise UserError(f"{self.display(full)}: S3: {exc}") from None


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename itself is still atomic
    finally:
        os.close(fd)


def open_location(uri: str, *, create: bool = False, s3_client=None) -> Location:
    """Resolve a dataset root given on the command line or in config."""
    if uri.startswith("s3://"):
        rest = uri[len("s3://"):].strip("/")
        if not rest or rest.startswith("/"):
            raise UserError(f"{uri}: an S3 root needs a bucket: s3://bucket/prefix")
        try:
            handler = Boto3S3Handler(client=s3_client)
        except Exception as exc:  # botocore: no region, bad profile, broken config
            raise UserError(f"{uri}: cannot create an S3 client: {exc}") from None
        return Location(uri="s3://" + rest, filesystem=pafs.PyFileSystem(handler), base=rest)
    if "://" in uri:
        raise UserError(f"{uri}: unsupported scheme (use a local folder or s3://bucket/prefix)")
    path = os.path.abspath(os.path.expanduser(uri))
    if create:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{uri}: cannot create the dataset folder: {exc.strerror or exc}") from None
    elif not os.path.isdir(path):
        raise UserError(f"{uri}: no such dataset folder")
    return Location(uri=uri, filesystem=pafs.LocalFileSystem(), base=path)


class Boto3S3Handler(pafs.FileSystemHandler):
    """A pyarrow filesystem over boto3's S3 client. Paths are ``bucket/key``.

    Objects are read whole into memory: dataset segments are small (one flush interval of one node).
    """

    def __init__(self, client=None):
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client

    @staticmethod
    def split(path: str) -> tuple[str, str]:
        bucket, _, key = path.strip("/").partition("/")
        return bucket, key

    def __eq__(self, other):
        return isinstance(other, Boto3S3Handler) and other.client is self.client

    def __ne__(self, other):
        return not self == other

    def get_type_name(self):
        return "boto3-s3"

    def equals(self, other):
        return self == other

    def normalize_path(self, path):
        return path.strip("/")

    def _info(self, path: str) -> pafs.FileInfo:
        bucket, key = self.split(path)
        if not key:
            return pafs.FileInfo(path, pafs.FileType.Directory)
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
            return pafs.FileInfo(path, pafs.FileType.File, size=head["ContentLength"])
        except self.client.exceptions.ClientError:
            pass
        resp = self.client.list_objects_v2(Bucket=bucket, Prefix=key.rstrip("/") + "/", MaxKeys=1)
        if resp.get("KeyCount", 0):
            return pafs.FileInfo(path, pafs.FileType.Directory)
        return pafs.FileInfo(path, pafs.FileType.NotFound)

    def list_keys(self, path: str) -> list[str]:
        """Every object below the folder ``path`` (``bucket/key`` paths)."""
        bucket, key = self.split(path)
        prefix = key.rstrip("/") + "/" if key else ""
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.extend(f"{bucket}/{obj['Key']}" for obj in page.get("Contents", []))
        return out

    def exists(self, path: str) -> bool:
        return self._info(path).type != pafs.FileType.NotFound

    def get_bytes(self, path: str) -> bytes:
        return self._get(path)

    def get_file_info(self, paths):
        return [self._info(p) for p in paths]

    def get_file_info_selector(self, selector):
        bucket, key = self.split(selector.base_dir)
        prefix = key.rstrip("/") + "/" if key else ""
        infos, dirs = [], set()
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        if not selector.recursive:
            kwargs["Delimiter"] = "/"
        for page in paginator.paginate(**kwargs):
            for obj in page.get("Contents", []):
                infos.append(pafs.FileInfo(f"{bucket}/{obj['Key']}", pafs.FileType.File, size=obj["Size"]))
                if selector.recursive:
                    parts = obj["Key"][len(prefix):].split("/")[:-1]
                    for i in range(1, len(parts) + 1):
                        dirs.add(f"{bucket}/{prefix}{'/'.join(parts[:i])}")
            for cp in page.get("CommonPrefixes", []):
                dirs.add(f"{bucket}/{cp['Prefix'].rstrip('/')}")
        if not infos and not dirs and not selector.allow_not_found:
            raise FileNotFoundError(selector.base_dir)
        infos.extend(pafs.FileInfo(d, pafs.FileType.Directory) for d in sorted(dirs))
        return infos

    def create_dir(self, path, recursive):
        pass  # S3 has no folders

    def delete_dir(self, path):
        self.delete_dir_contents(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        for info in self.get_file_info_selector(pafs.FileSelector(path, recursive=True, allow_not_found=True)):
            if info.type == pafs.FileType.File:
                self.delete_file(info.path)

    def delete_root_dir_contents(self, path):
        self.delete_dir_contents(path)

    def delete_file(self, path):
        bucket, key = self.split(path)
        self.client.delete_object(Bucket=bucket, Key=key)

    def move(self, src, dest):
        self.copy_file(src, dest)
        self.delete_file(src)

    def copy_file(self, src, dest):
        sb, sk = self.split(src)
        db, dk = self.split(dest)
        self.client.copy_object(Bucket=db, Key=dk, CopySource={"Bucket": sb, "Key": sk})

    def _get(self, path) -> bytes:
        bucket, key = self.split(path)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(path) from None

    def open_input_stream(self, path):
        return pa.PythonFile(io.BytesIO(self._get(path)), mode="r")

    def open_input_file(self, path):
        return pa.PythonFile(io.BytesIO(self._get(path)), mode="r")

    def open_output_stream(self, path, metadata):
        return pa.PythonFile(_S3Upload(self.client, *self.split(path)), mode="w")

    def open_append_stream(self, path, metadata):
        raise NotImplementedError("S3 objects cannot be appended to")


class _S3Upload(io.BytesIO):
    """Buffers writes and PUTs the object on close, so the object appears whole or not at all."""

    def __init__(self, client, bucket, key):
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key

    def close(self):
        if not self.closed:
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=self.getvalue())
        super().close()
