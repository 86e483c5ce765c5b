"""``rightsizer simulate --out s3://...`` writes the same dataset to S3 (moto's in-process S3)."""

from __future__ import annotations

import json

import pytest

from recommender.cli import main
from store.reader import Dataset

moto = pytest.importorskip("moto")


@pytest.fixture
def s3(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="sim")
        yield client


def test_simulate_to_s3_and_read_back(s3, capsys):
    args = ["simulate", "--out", "s3://sim/cluster", "--nodes", "11", "--days", "1", "--interval-s", "900",
            "--start", "2026-01-05"]
    assert main(args) == 0
    truth = json.loads(s3.get_object(Bucket="sim", Key="cluster/truth.json")["Body"].read())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="sim", Prefix="cluster/manifests/")["Contents"]]
    assert len(keys) == len(truth["workloads"])
    data = Dataset("s3://sim/cluster", s3_client=s3)
    assert data.tables() == ["gpu", "container", "pods", "nodes", "tokens"]  # tokens: the TGI pods' counters
    assert data.read("gpu").num_rows == 96 * sum(n["gpu_count"] for n in truth["nodes"])
    capsys.readouterr()
    assert main(args) == 2  # not empty any more
    assert "is not empty; pass --force" in capsys.readouterr().err
