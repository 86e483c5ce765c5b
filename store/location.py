"""Where a dataset lives: a local folder or ``s3://bucket/prefix``, behind one small interface.

S3 goes through boto3 (the standard credential chain; moto's in-process S3 in tests), exposed to
pyarrow as a ``PyFileSystem`` so that pyarrow.dataset reads both kinds of root the same way.
"""

from __future__ import annotations

import io
import os
import posixpath
import tempfile
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from store.errors import UserError


@dataclass(frozen=True)
class Location:
    """A dataset root. ``base`` is the path pyarrow sees in ``filesystem`` (no scheme, no trailing /)."""

    uri: str
    filesystem: pafs.FileSystem
    base: str

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    def path(self, *parts: str) -> str:
        return posixpath.join(self.base, *parts) if self.base else posixpath.join(*parts)

    def write_atomic(self, rel: str, data: bytes) -> str:
        """Write ``data`` at ``rel`` so that no reader ever sees a partial file; returns the full path.

        Local: write ``.<name>.tmp`` in the same folder (pyarrow.dataset skips dot-files), fsync, rename.
        S3: a single PUT is atomic; readers see the object only once it is complete.
        """
        full = self.path(rel)
        if self.is_s3:
            handler = self.filesystem.handler
            bucket, key = handler.split(full)
            handler.client.put_object(Bucket=bucket, Key=key, Body=data)
            return full
        folder, name = os.path.split(full)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, full)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return full

    def list_files(self, rel: str = "") -> list[str]:
        """Every visible file below ``rel`` (full paths, sorted); dot- and underscore-files are hidden."""
        root = self.path(rel) if rel else self.base
        try:
            infos = self.filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise UserError(f"{self.uri}: cannot list: {exc}") from None
        out = []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            rel_parts = info.path[len(root):].lstrip("/").split("/")
            if any(p.startswith((".", "_")) for p in rel_parts):
                continue
            out.append(info.path)
        return sorted(out)

    def exists(self, rel: str = "") -> bool:
        info = self.filesystem.get_file_info(self.path(rel) if rel else self.base)
        return info.type != pafs.FileType.NotFound

    def read_bytes(self, full: str) -> bytes:
        with self.filesystem.open_input_stream(full) as fh:
            return fh.read()

    def display(self, full: str) -> str:
        """A path as the user would type it (with s3:// for S3)."""
        return f"s3://{full}" if self.is_s3 else full


def open_location(uri: str, *, create: bool = False, s3_client=None) -> Location:
    """Resolve a dataset root given on the command line or in config."""
    if uri.startswith("s3://"):
        rest = uri[len("s3://"):].strip("/")
        if not rest:
            raise UserError(f"{uri}: an S3 root needs a bucket: s3://bucket/prefix")
        handler = Boto3S3Handler(client=s3_client)
        return Location(uri=uri.rstrip("/"), filesystem=pafs.PyFileSystem(handler), base=rest)
    if "://" in uri:
        raise UserError(f"{uri}: unsupported scheme (use a local folder or s3://bucket/prefix)")
    path = os.path.abspath(os.path.expanduser(uri))
    if create:
        os.makedirs(path, exist_ok=True)
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
