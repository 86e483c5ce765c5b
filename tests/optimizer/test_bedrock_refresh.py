"""Bedrock token prices from the AWS Price List API (botocore Stubber, no network), the CLI around it, and the
managed-model mapping's checks in the config file."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from optimizer.catalog.refresh import RefreshError
from optimizer.llm.bedrock_refresh import refresh_bedrock
from optimizer.llm.managed import load_managed_prices

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PARAMS = {"ServiceCode": "AmazonBedrock", "FormatVersion": "aws_v1", "MaxResults": 100,
          "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}]}


def product(model, inference_type, usd, unit="1K tokens", feature="On-demand Inference", sku="X"):
    """One PriceList entry as GetProducts returns it: a JSON string."""
    return json.dumps({
        "product": {"productFamily": "Bedrock", "sku": sku, "attributes": {
            "model": model, "inferenceType": inference_type, "feature": feature, "regionCode": "us-east-1",
            "servicecode": "AmazonBedrock"}},
        "terms": {"OnDemand": {f"{sku}.T": {"priceDimensions": {f"{sku}.T.D": {
            "unit": unit, "pricePerUnit": {"USD": usd}, "description": "per 1K tokens"}}}}}})


def pricing_client():
    return boto3.client("pricing", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="secret")


def test_refresh_pages_with_next_token_and_keeps_only_on_demand_token_prices():
    client = pricing_client()
    delays: list[float] = []
    logged: list[str] = []
    with Stubber(client) as stub:
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "NextToken": "page-2", "PriceList": [
            product("Llama 3.1 8B Instruct", "Input tokens", "0.00025", sku="A"),
            product("Llama 3.1 8B Instruct", "Cache read input tokens", "0.00002", sku="B"),  # not the token price
            product("Llama 3.1 8B Instruct", "Input tokens", "0.000125", feature="Batch Inference", sku="C"),
        ]}, PARAMS)
        stub.add_client_error("get_products", "ThrottlingException", "Rate exceeded", 400,
                              expected_params={**PARAMS, "NextToken": "page-2"})
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
            product("Llama 3.1 8B Instruct", "Output tokens", "0.00025", sku="D"),
            product("Llama3.3-70B-Instruct", "input tokens", "0.72", unit="1M tokens", sku="E"),
            product("Llama3.3-70B-Instruct", "output tokens", "0.72", unit="1M tokens", sku="F"),
            product("Acme Model 9", "Input tokens", "0.001", sku="G"),
            product("Acme Model 9", "Output tokens", "0.002", sku="H"),
            product("Half Listed", "Input tokens", "0.001", sku="I"),
        ]}, {**PARAMS, "NextToken": "page-2"})
        fresh = refresh_bedrock("us-east-1", base=load_managed_prices(), pricing=client, now=NOW,
                                sleep=delays.append, log=logged.append)
        stub.assert_no_pending_responses()
    assert len(delays) == 1  # the throttled page alone was retried
    llama = fresh.price("meta.llama3-1-8b-instruct-v1:0", "us-east-1")
    assert (llama.input_per_1m, llama.output_per_1m) == (0.25, 0.25)  # $0.00025 per 1K tokens
    assert (llama.as_of, llama.verified) == ("2026-12-01", True) and "Price List" in llama.source
    l33 = fresh.price("meta.llama3-3-70b-instruct-v1:0", "us-east-1")  # matched by words and numbers
    assert (l33.input_per_1m, l33.output_per_1m) == (0.72, 0.72)
    acme = fresh.price("Acme Model 9", "us-east-1")  # a model the snapshot lacks: under its Price List name
    assert (acme.input_per_1m, acme.output_per_1m) == (1.0, 2.0)
    assert fresh.price("Half Listed", "us-east-1") is None and any("Half Listed: skipped" in m for m in logged)
    # a price the API did not return keeps its snapshot date and source
    opus = fresh.price("anthropic.claude-opus-4-20250514-v1:0", "us-east-1")
    assert opus.as_of == "2025-07-20" and not opus.verified


def test_refresh_failure_is_one_line_naming_the_call():
    client = pricing_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_products", "AccessDeniedException", "not authorized to perform\npricing:GetProducts",
                              403, expected_params=PARAMS)
        with pytest.raises(RefreshError) as err:
            refresh_bedrock("us-east-1", base=load_managed_prices(), pricing=client, now=NOW, sleep=lambda s: None)
    text = str(err.value)
    assert "\n" not in text and "pricing:GetProducts in us-east-1: AccessDeniedException" in text
    assert "bundled Bedrock price snapshot" in text


def test_refreshed_file_reads_back_and_feeds_the_config(tmp_path):
    from recommender.config import load_config, optimizer_config

    client = pricing_client()
    with Stubber(client) as stub:
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
            product("Acme Model 9", "Input tokens", "0.001"), product("Acme Model 9", "Output tokens", "0.002")]},
            PARAMS)
        fresh = refresh_bedrock("us-east-1", base=load_managed_prices(), pricing=client, now=NOW)
    fresh.write(tmp_path / "bedrock.json")
    (tmp_path / "config.yaml").write_text("managed_api:\n  prices_file: bedrock.json\n  models:\n"
                                          "    acme/model-9-self-hosted: Acme Model 9\n")
    cfg = optimizer_config(load_config(tmp_path / "config.yaml"))
    assert cfg.llm.managed.prices_file == str(tmp_path / "bedrock.json")
    assert cfg.llm.managed.models["acme/model-9-self-hosted"] == "Acme Model 9"
    assert cfg.llm.managed.models["meta-llama/Llama-3.1-8B-Instruct"] == "meta.llama3-1-8b-instruct-v1:0"


@pytest.mark.parametrize("text, key", [
    ("managed_api:\n  models:\n    meta-llama/Llama-3.1-8B-Instruct: gpt-4o\n",
     "managed_api.models.meta-llama/Llama-3.1-8B-Instruct: unknown managed model 'gpt-4o'"),
    ("managed_api:\n  modles: {}\n", "managed_api.modles: unknown key"),
    ("managed_api:\n  models:\n    Llama-3.1-8B-Instruct: meta.llama3-1-8b-instruct-v1:0\n"
     "    meta-llama/llama-3.1-8b-instruct: meta.llama3-1-8b-instruct-v1:0\n",
     "managed_api.models.meta-llama/llama-3.1-8b-instruct: names the same model as 'Llama-3.1-8B-Instruct'"),
    ("managed_api:\n  production: sometimes\n", "managed_api.production: expected one of proposal, allowed, never"),
    ("llm_sizing:\n  runtime_overhead_bytes: lots\n", "llm_sizing.runtime_overhead_bytes: expected a whole number"),
])
def test_bad_mapping_or_setting_exits_2_naming_the_key(tmp_path, capsys, text, key):
    from recommender.cli import main
    from tests.optimizer.llm_cluster import Server, build

    data = build(tmp_path / "d", [Server("quiet", "gpu-b")], days=1)
    (tmp_path / "config.yaml").write_text(text)
    code = main(["recommend", "--data", data, "--out", str(tmp_path / "out"),
                 "--config", str(tmp_path / "config.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and f"config.yaml: {key}" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_refresh_bedrock_writes_the_file(tmp_path, monkeypatch, capsys):
    """The CLI path end to end with the client the module makes, stubbed."""
    import optimizer.llm.bedrock_refresh as module
    from recommender.cli import main

    client = pricing_client()
    stub = Stubber(client)
    stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
        product("Llama 3.2 1B Instruct", "Input tokens", "0.0001"),
        product("Llama 3.2 1B Instruct", "Output tokens", "0.0001")]}, PARAMS)
    monkeypatch.setattr(module, "_client", lambda call: client)
    with stub:
        code = main(["catalog", "refresh-bedrock", "--region", "us-east-1", "--out", str(tmp_path / "b.json")])
    assert code == 0, capsys.readouterr().err
    back = load_managed_prices(tmp_path / "b.json")
    assert back.price("meta.llama3-2-1b-instruct-v1:0", "us-east-1").input_per_1m == 0.1
