from __future__ import annotations

import http.server
import json
import threading
from datetime import timedelta

import pytest
from botocore.stub import Stubber

from optimizer.catalog import Catalog
from optimizer.catalog.model import MIB
from optimizer.catalog.refresh import RefreshError, average_spot_prices, load_spot_advisor, refresh_region
from recommender.cli import main
from store.errors import UserError
from tests.catalog import aws_fakes as aws
from tests.catalog.aws_fakes import NOW, START

BASE = Catalog.load()
KEPT = ["g6e.xlarge", "g6f.large", "inf2.xlarge", "m7i.large", "p5.48xlarge"]


def stub_success(ec2_stub, pricing_stub, *, throttle_pricing=True, throttle_spot=True):
    ec2_stub.add_response("describe_instance_types", {"InstanceTypes": aws.PAGE_1, "NextToken": "it-2"},
                          {"MaxResults": 100})
    ec2_stub.add_response("describe_instance_types", {"InstanceTypes": aws.PAGE_2}, {"MaxResults": 100, "NextToken": "it-2"})
    products = {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": aws.PRICING_FILTERS, "MaxResults": 100}
    if throttle_pricing:
        pricing_stub.add_client_error("get_products", "ThrottlingException", "Rate exceeded", 400,
                                      expected_params=products)
    pricing_stub.add_response("get_products", {
        "FormatVersion": "aws_v1", "NextToken": "pl-2",
        "PriceList": [aws.price_item("p5.48xlarge", "54.0000000000", "A"), aws.price_item("t2.micro", "0.0116", "B")],
    }, products)
    if throttle_pricing:  # the second page is throttled too: only that page is retried
        pricing_stub.add_client_error("get_products", "ThrottlingException", "Rate exceeded", 400,
                                      expected_params={**products, "NextToken": "pl-2"})
    pricing_stub.add_response("get_products", {
        "FormatVersion": "aws_v1",
        "PriceList": [aws.price_item("g6e.xlarge", "1.8610000000", "C"), aws.price_item("m7i.large", "0.1008", "D"),
                      aws.price_item("g6f.large", "0.2020000000", "E"), aws.price_item("inf2.xlarge", "0.7582", "F")],
    }, {**products, "NextToken": "pl-2"})
    spot = {"InstanceTypes": KEPT, "ProductDescriptions": ["Linux/UNIX"], "StartTime": START, "EndTime": NOW,
            "MaxResults": 1000}
    if throttle_spot:
        ec2_stub.add_client_error("describe_spot_price_history", "RequestLimitExceeded", "Request limit exceeded.",
                                  503, expected_params=spot)
    half = START + timedelta(days=3, hours=12)
    ec2_stub.add_response("describe_spot_price_history", {"NextToken": "sp-2", "SpotPriceHistory": [
        # us-east-1a: 10.0 all week (the price in force at StartTime is dated before it)
        aws.spot_row("p5.48xlarge", "us-east-1a", "10.000000", START - timedelta(days=2)),
        # us-east-1b: 20.0 for the first half of the week, 30.0 for the second
        aws.spot_row("p5.48xlarge", "us-east-1b", "30.000000", half),
    ]}, spot)
    ec2_stub.add_response("describe_spot_price_history", {"SpotPriceHistory": [
        aws.spot_row("p5.48xlarge", "us-east-1b", "20.000000", START),
        aws.spot_row("g6e.xlarge", "us-east-1c", "0.9000", START - timedelta(hours=1)),
    ]}, {**spot, "NextToken": "sp-2"})


def run_refresh(**kw):
    ec2, pricing = aws.clients()
    delays: list[float] = []
    with Stubber(ec2) as es, Stubber(pricing) as ps:
        stub_success(es, ps, **kw)
        fresh = refresh_region("us-east-1", base=BASE, ec2=ec2, pricing=pricing, now=NOW, sleep=delays.append)
        es.assert_no_pending_responses()
        ps.assert_no_pending_responses()
    return fresh, delays


def test_refresh_pages_retries_and_merges():
    fresh, delays = run_refresh()
    assert len(delays) == 3 and all(0 < d <= 0.5 for d in delays)  # 2 pricing pages, 1 spot page: first retries
    p5 = fresh.get("p5.48xlarge")
    assert (p5.gpu_model, p5.gpu_count, p5.vcpu, p5.gpu_memory_bytes) == ("H100-80GB", 8, 192, 81920 * MIB)
    assert fresh.price("p5.48xlarge", "us-east-1") == 54.0
    # AZ a averages 10, AZ b 25 (20 then 30, half a week each): the type's average is 17.5.
    assert fresh.price("p5.48xlarge", "us-east-1", "spot") == pytest.approx(17.5)
    assert fresh.price("g6e.xlarge", "us-east-1", "spot") == pytest.approx(0.9)
    g6f = fresh.get("g6f.large")
    assert g6f.gpu_count == 0.125 and g6f.gpu_memory_bytes == 2861 * MIB
    assert fresh.get("inf2.xlarge").gpu_vendor == "aws" and fresh.get("inf2.xlarge").gpu_model == "Inferentia2"
    assert "t2.micro" not in fresh and "x1gpu.xlarge" not in fresh
    # Other regions keep the snapshot; types the region did not list lose their price there.
    assert fresh.price("p5.48xlarge", "us-west-2") == BASE.price("p5.48xlarge", "us-west-2")
    assert fresh.price("g4dn.xlarge", "us-east-1") is None
    assert fresh.price("g4dn.xlarge", "us-west-2") == BASE.price("g4dn.xlarge", "us-west-2")
    # Without a Spot Advisor feed the snapshot's band stays for priced types.
    assert fresh.interruption_band("p5.48xlarge", "us-east-1") == "5-10%"
    assert fresh.snapshot_date == "2026-11-20" and "us-east-1" in fresh.source


def test_refreshed_catalog_round_trips_through_the_file_format(tmp_path):
    fresh, _ = run_refresh(throttle_pricing=False, throttle_spot=False)
    path = str(tmp_path / "fresh.json")
    fresh.write(path)
    again = Catalog.load(path)
    assert again.price("p5.48xlarge") == 54.0 and again.snapshot_date == "2026-11-20"


def test_spot_advisor_bands_from_a_file(tmp_path):
    feed = {"global_rate": "<10%", "instance_types": {},
            "ranges": [{"index": 0, "label": "<5%", "dots": 0, "max": 5}, {"index": 1, "label": "5-10%", "dots": 1, "max": 11},
                       {"index": 2, "label": "10-15%", "dots": 2, "max": 16}, {"index": 3, "label": "15-20%", "dots": 3, "max": 22},
                       {"index": 4, "label": ">20%", "dots": 4, "max": 100}],
            "spot_advisor": {"us-east-1": {"Linux": {"p5.48xlarge": {"s": 60, "r": 3}, "g6e.xlarge": {"s": 70, "r": 0}},
                                           "Windows": {"p5.48xlarge": {"s": 1, "r": 4}}}}}
    path = tmp_path / "spot-advisor-data.json"
    path.write_text(json.dumps(feed))
    ec2, pricing = aws.clients()
    with Stubber(ec2) as es, Stubber(pricing) as ps:
        stub_success(es, ps, throttle_pricing=False, throttle_spot=False)
        fresh = refresh_region("us-east-1", base=BASE, ec2=ec2, pricing=pricing, now=NOW,
                               spot_advisor=str(path), sleep=lambda s: None)
    assert fresh.interruption_band("p5.48xlarge", "us-east-1") == "15-20%"
    assert fresh.interruption_band("g6e.xlarge", "us-east-1") == "<5%"
    assert fresh.interruption_band("m7i.large", "us-east-1") is None
    assert "Spot Advisor" in fresh.source


def test_spot_advisor_from_a_url(tmp_path):
    body = json.dumps({"ranges": [{"index": 2, "label": "10-15%"}],
                       "spot_advisor": {"eu-west-1": {"Linux": {"g5.xlarge": {"s": 50, "r": 2}}}}}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        doc = load_spot_advisor(f"http://127.0.0.1:{server.server_port}/spot-advisor-data.json")
    finally:
        server.shutdown()
        server.server_close()
    assert doc["spot_advisor"]["eu-west-1"]["Linux"]["g5.xlarge"]["r"] == 2


def test_bad_spot_advisor_file(tmp_path):
    bad = tmp_path / "feed.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(UserError, match="not a Spot Advisor feed"):
        load_spot_advisor(str(bad))
    with pytest.raises(UserError, match="cannot read the Spot Advisor feed"):
        load_spot_advisor(str(tmp_path / "absent.json"))


@pytest.mark.parametrize(("where", "code", "call"), [
    ("describe_instance_types", "UnauthorizedOperation", "ec2:DescribeInstanceTypes"),
    ("get_products", "AccessDeniedException", "pricing:GetProducts"),
    ("describe_spot_price_history", "UnauthorizedOperation", "ec2:DescribeSpotPriceHistory"),
])
def test_denied_call_is_one_line_naming_the_call(where, code, call):
    ec2, pricing = aws.clients()
    message = ("You are not authorized to perform this operation.\nUser: arn:aws:iam::123456789012:user/ci "
               f"is not authorized to perform: {call}")
    with Stubber(ec2) as es, Stubber(pricing) as ps:
        if where == "describe_instance_types":
            es.add_client_error(where, code, message, 403)
        else:
            es.add_response("describe_instance_types", {"InstanceTypes": aws.PAGE_1 + aws.PAGE_2})
            if where == "get_products":
                ps.add_client_error(where, code, message, 400)
            else:
                ps.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": []})
                es.add_client_error(where, code, message, 403)
        with pytest.raises(RefreshError) as exc:
            refresh_region("us-east-1", base=BASE, ec2=ec2, pricing=pricing, now=NOW, sleep=lambda s: None)
    text = str(exc.value)
    assert "\n" not in text and isinstance(exc.value, UserError)
    assert f"{call} in us-east-1: {code}" in text
    assert text.endswith("the bundled catalog (snapshot 2025-11-30) stays in use")


def test_throttling_gives_up_after_bounded_attempts():
    ec2, pricing = aws.clients()
    delays: list[float] = []
    with Stubber(ec2) as es, Stubber(pricing):
        for _ in range(6):
            es.add_client_error("describe_instance_types", "RequestLimitExceeded", "Request limit exceeded.", 503)
        with pytest.raises(RefreshError, match="RequestLimitExceeded.*gave up after 6 attempts"):
            refresh_region("us-east-1", base=BASE, ec2=ec2, pricing=pricing, now=NOW, sleep=delays.append)
        es.assert_no_pending_responses()
    assert len(delays) == 5 and delays == sorted(delays)  # exponential backoff, jitter within each step


def test_no_credentials_is_a_clear_error(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(RefreshError, match="ec2:DescribeInstanceTypes in us-east-1: no AWS credentials"):
        refresh_region("us-east-1", base=BASE, now=NOW, sleep=lambda s: None)


def test_cli_refresh_writes_a_catalog_and_reports_denial(monkeypatch, tmp_path, capsys):
    import optimizer.catalog.refresh as refresh

    ec2, pricing = aws.clients()
    monkeypatch.setattr(refresh, "_clients", lambda region, call: (ec2, pricing))
    monkeypatch.setattr(refresh.time, "sleep", lambda s: None)
    monkeypatch.setattr(refresh, "_utcnow", lambda: NOW)
    out = tmp_path / "cat.json"
    with Stubber(ec2) as es, Stubber(pricing) as ps:
        stub_success(es, ps, throttle_pricing=False, throttle_spot=False)
        assert main(["catalog", "refresh", "--region", "us-east-1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "--catalog" in captured.out
    assert "ec2:DescribeInstanceTypes" in captured.err  # progress lines go to stderr
    assert main(["catalog", "show", "--catalog", str(out), "--gpu", "H100-80GB", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["instance_types"]
    assert [(r["instance_type"], r["on_demand_hourly"]) for r in rows] == [("p5.48xlarge", 54.0)]

    with Stubber(ec2) as es, Stubber(pricing):
        es.add_client_error("describe_instance_types", "UnauthorizedOperation", "not authorized", 403)
        assert main(["catalog", "refresh", "--region", "us-east-1", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: catalog refresh failed: ec2:DescribeInstanceTypes in us-east-1")
    assert not (tmp_path / "x.json").exists()


def test_average_spot_prices_time_weighting():
    rows = [aws.spot_row("a.x", "az1", "1.0", START), aws.spot_row("a.x", "az1", "3.0", START + timedelta(days=6)),
            aws.spot_row("a.x", "az2", "2.0", START - timedelta(days=30))]
    # az1: 1.0 for 6 days, 3.0 for 1 day -> 9/7; az2: 2.0 -> type mean (9/7 + 2) / 2
    assert average_spot_prices(rows, START, NOW) == {"a.x": pytest.approx((9 / 7 + 2) / 2)}


def test_failure_names_the_base_catalog_that_stays_in_use(tmp_path):
    path = str(tmp_path / "mine.json")
    BASE.write(path)
    base = Catalog.load(path)
    ec2, pricing = aws.clients()
    with Stubber(ec2) as es, Stubber(pricing):
        es.add_client_error("describe_instance_types", "UnauthorizedOperation", "not authorized", 403)
        with pytest.raises(RefreshError, match=rf"the catalog {path} \(snapshot 2025-11-30\) stays in use$"):
            refresh_region("us-east-1", base=base, ec2=ec2, pricing=pricing, now=NOW, sleep=lambda s: None)


def test_refresh_fills_arch_and_allocatable_from_describe_instance_types():
    fresh, _ = run_refresh(throttle_pricing=False, throttle_spot=False)
    # ProcessorInfo.SupportedArchitectures gives the arch; the EKS rule on the default card's ENI limits
    # gives the same allocatable as Karpenter's table (the numbers of its p5.48xlarge, m7g.large rows)
    p5, m7g, m7i = fresh.get("p5.48xlarge"), fresh.get("m7g.large"), fresh.get("m7i.large")
    assert p5.arch == "x86_64" and m7g.arch == "arm64" and m7i.arch == "x86_64"
    assert (p5.allocatable.cpu_milli, p5.allocatable.memory_bytes, p5.allocatable.pods) == (191450, 1938410 * MIB, 100)
    assert (m7g.allocatable.cpu_milli, m7g.allocatable.memory_bytes, m7g.allocatable.pods) == (1930, 6844 * MIB, 29)
    assert p5.allocatable.source == m7g.allocatable.source == "eks-rule"
    assert m7i.allocatable.pods == 29
    # a type listed without ProcessorInfo/NetworkInfo keeps what the base catalog knew
    g6e = fresh.get("g6e.xlarge")
    assert g6e.arch == "x86_64" and g6e.allocatable == BASE.get("g6e.xlarge").allocatable


def test_refreshed_arch_and_allocatable_survive_the_file(tmp_path):
    fresh, _ = run_refresh(throttle_pricing=False, throttle_spot=False)
    path = str(tmp_path / "fresh.json")
    fresh.write(path)
    again = Catalog.load(path)
    assert again.get("m7g.large").arch == "arm64"
    assert again.get("p5.48xlarge").allocatable == fresh.get("p5.48xlarge").allocatable
