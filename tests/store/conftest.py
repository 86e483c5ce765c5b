"""Fixtures for the store tests: a dataset root on local disk or in moto's in-process S3."""

from __future__ import annotations

import pytest

BUCKET = "rightsizer-test"


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials so boto3 never looks for real ones (and never reaches AWS)."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def s3(aws_env):
    """A boto3 S3 client on moto's in-process S3, with an empty bucket ``rightsizer-test``."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    """(uri, s3_client) of an empty dataset root, once on local disk and once on S3."""
    if request.param == "local":
        return str(tmp_path / "data"), None
    client = request.getfixturevalue("s3")
    return f"s3://{BUCKET}/clusters/prod", client
