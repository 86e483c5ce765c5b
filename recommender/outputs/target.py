"""Where ``--out`` points: a local folder, or ``s3://bucket/prefix`` (written locally, then uploaded).

    with OutputTarget(args.out) as out_dir:     # a local Path either way
        ... write files under out_dir ...
    # on a clean exit an S3 target uploads every file; on an error nothing is uploaded

Uploads use boto3 (the standard credential chain). A failed upload is a ``UserError`` naming the
bucket and the first object that failed; the local copy is kept and its path is in the message.
"""

from __future__ import annotations

import mimetypes
import shutil
import tempfile
from pathlib import Path

from store.errors import UserError


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
        self.local: Path | None = None
        self.uploaded: list[str] = []

    def __enter__(self) -> Path:
        if self.is_s3:
            split_s3(self.out)  # fail before any work on a malformed URI
            self.local = Path(tempfile.mkdtemp(prefix="rightsizer-out-"))
        else:
            self.local = Path(self.out)
            if self.local.exists() and not self.local.is_dir():
                raise UserError(f"--out: '{self.out}' exists and is not a folder")
            self.local.mkdir(parents=True, exist_ok=True)
        return self.local

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.is_s3:
            return
        if exc_type is None:
            self.upload()  # raises UserError and keeps the local copy if it fails
        shutil.rmtree(self.local, ignore_errors=True)

    def upload(self) -> list[str]:
        import boto3
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = split_s3(self.out)
        client = self.s3_client or boto3.client("s3")
        for path in sorted(p for p in self.local.rglob("*") if p.is_file()):
            rel = path.relative_to(self.local).as_posix()
            key = f"{prefix}/{rel}" if prefix else rel
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if path.suffix in (".yaml", ".md"):
                content_type = "text/plain; charset=utf-8"
            try:
                client.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
            except (BotoCoreError, ClientError, S3UploadFailedError, OSError) as exc:
                keep = Path(tempfile.mkdtemp(prefix="rightsizer-out-kept-"))
                shutil.copytree(self.local, keep, dirs_exist_ok=True)
                raise UserError(f"--out: upload of s3://{bucket}/{key} failed ({exc}); "
                                f"the outputs are kept in {keep}") from None
            self.uploaded.append(f"s3://{bucket}/{key}")
        return self.uploaded
