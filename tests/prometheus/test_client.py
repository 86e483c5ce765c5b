"""The client against a local fake: point limits, 422/429/503, cut-off bodies, warnings, auth, SigV4."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from urllib.parse import quote, urlsplit

import numpy as np
import pytest

from importers.prometheus.auth import AuthConfig, amp_region
from importers.prometheus.client import ClientConfig, PromClient, PromError, points
from tests.prometheus.fake import error, matrix, ok, serve

LIMIT_TEXT = ("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
              "resolution (?step=XX)")


@pytest.fixture
def fake_server():
    stops = []

    def start(respond):
        fake, stop = serve(respond)
        stops.append(stop)
        return fake

    yield start
    for stop in stops:
        stop()


def client(url, **kw) -> PromClient:
    kw.setdefault("backoff_s", 0.0)
    auth = kw.pop("auth", AuthConfig())
    return PromClient(ClientConfig(url, auth=auth, **kw), sleep=lambda s: None)


def request_points(req) -> list[float]:
    start, end, step = float(req.params["start"]), float(req.params["end"]), float(req.params["step"])
    n = int((end - start) // step) + 1
    return [start + i * step for i in range(n)]


def test_server_limit_below_ours_halves_the_range_and_keeps_every_point_once(fake_server):
    """A server whose limit is lower than assumed answers with Prometheus' own 11,000-point error text."""
    def respond(req):
        ts = request_points(req)
        if len(ts) > 100:
            return error(400, "bad_data", LIMIT_TEXT)
        return ok(matrix([({"pod": "a"}, [(t, t / 60) for t in ts])]))

    fake = fake_server(respond)
    c = client(fake.url)
    result = c.query_range("up", 0, 60 * 999, 60)  # 1,000 points
    assert len(result) == 1
    got = points(result[0])[0].tolist()
    assert got == [60.0 * i for i in range(1000)]
    assert c.max_points <= 100  # remembered for the next chunks
    accepted = [r for r in fake.requests if len(request_points(r)) <= 100]
    assert sum(len(request_points(r)) for r in accepted) == 1000


def test_requests_stay_under_max_points_and_are_post_forms(fake_server):
    fake = fake_server(lambda req: ok(matrix([({"x": "1"}, [(t, 1) for t in request_points(req)])])))
    c = client(fake.url, max_points=10)
    ts, _ = points(c.query_range('sum(rate(x{a="b"}[1m]))', 0, 600 * 29, 600)[0])
    assert len(ts) == 30 and len(set(ts.tolist())) == 30
    assert all(len(request_points(r)) <= 10 for r in fake.requests)
    r = fake.requests[0]
    assert r.method == "POST" and r.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert r.params["query"] == 'sum(rate(x{a="b"}[1m]))' and "?" not in r.path


@pytest.mark.parametrize("status", [429, 503, 502, 504])
def test_overload_is_retried(fake_server, status):
    calls = []

    def respond(req):
        calls.append(1)
        if len(calls) < 3:
            return status, {"Retry-After": "0"}, b"slow down"
        return ok(matrix([({}, [(0, 1)])]))

    fake = fake_server(respond)
    c = client(fake.url)
    ts, vs = points(c.query_range("up", 0, 0, 60)[0])
    assert ts.tolist() == [0.0] and vs.tolist() == [1.0]
    assert c.stats.retries == 2


def test_overload_gives_up_with_one_line(fake_server):
    fake = fake_server(lambda req: (503, {}, b"<html>busy</html>"))
    c = client(fake.url, retries=2)
    with pytest.raises(PromError) as exc:
        c.query_range("up", 0, 60, 60)
    assert "HTTP 503" in str(exc.value) and "gave up after 2 retries" in str(exc.value)
    assert len(fake.requests) == 3


def test_422_is_not_retried_and_says_why(fake_server):
    text = "queries with long day range (32d to 95d) are currently only supported for range type queries"
    fake = fake_server(lambda req: error(422, "execution", text))
    c = client(fake.url)
    with pytest.raises(PromError) as exc:
        c.instant("up", 0)
    assert text in str(exc.value) and "31 days" in str(exc.value)
    assert len(fake.requests) == 1


def test_cut_off_bodies_are_retried(fake_server):
    """A body shorter than its Content-Length, then a complete but truncated JSON: both retried."""
    good = ok(matrix([({"pod": "a"}, [(0, 1), (60, 2)])]))
    answers = [(200, {"_truncate": True}, good[2]), (200, {}, good[2][:-7]), good]

    fake = fake_server(lambda req: answers.pop(0))
    c = client(fake.url)
    result = c.query_range("up", 0, 60, 60)
    assert points(result[0])[1].tolist() == [1.0, 2.0]
    assert c.stats.retries == 2


def test_warnings_are_kept(fake_server):
    def respond(req):
        body = {"status": "success", "data": matrix([]), "warnings": ["partial response: store 2 down"]}
        return 200, {}, json.dumps(body).encode()

    fake = fake_server(respond)
    c = client(fake.url, backend="thanos")
    c.query_range("up", 0, 60, 60)
    assert c.stats.warnings == ["partial response: store 2 down"]
    assert fake.requests[0].params["max_source_resolution"] == "auto"
    assert fake.requests[0].params["partial_response"] == "false"


def test_bearer_file_is_re_read_after_401_and_never_shown(fake_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("old-secret-token\n")
    seen = []

    def respond(req):
        seen.append(req.headers.get("Authorization"))
        if req.headers.get("Authorization") != "Bearer new-secret-token":
            # servers echo what they got more often than one would like
            return 401, {}, f"invalid token {req.headers.get('Authorization')}".encode()
        return ok(matrix([]))

    fake = fake_server(respond)
    c = client(fake.url, auth=AuthConfig(bearer_token_file=str(token_file)))
    with pytest.raises(PromError) as exc:
        c.query_range("up", 0, 60, 60)
    assert "old-secret-token" not in str(exc.value) and "HTTP 401" in str(exc.value)
    token_file.write_text("new-secret-token\n")  # rotated
    c.query_range("up", 0, 60, 60)  # the 401 makes the client re-read the file once
    assert seen[-2:] == ["Bearer old-secret-token", "Bearer new-secret-token"]


def test_basic_from_url_and_headers_and_tenant(fake_server):
    fake = fake_server(lambda req: ok(matrix([])))
    url = fake.url.replace("http://", "http://alice:pa55word@")
    c = client(url, backend="mimir", tenant="team-a", auth=AuthConfig(headers={"X-Extra": "1"}))
    assert "pa55word" not in c.url
    c.query_range("up", 0, 60, 60)
    h = fake.requests[0].headers
    assert h["Authorization"] == "Basic YWxpY2U6cGE1NXdvcmQ="  # base64("alice:pa55word")
    assert h["X-Scope-OrgID"] == "team-a" and h["X-Extra"] == "1"


def _sigv4(secret: str, key_id: str, region: str, service: str, method: str, host: str, path: str,
           body: bytes, amz_date: str, content_type: str) -> str:
    """Signature Version 4 as AWS documents it (canonical request, string to sign, derived key)."""
    payload = hashlib.sha256(body).hexdigest()
    # botocore signs every header but user-agent and the like; ours are these
    headers = {"accept": "application/json", "content-type": content_type, "host": host, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, quote(path), "", *[f"{k}:{headers[k]}" for k in sorted(headers)], "",
                           signed, payload])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"


def test_sigv4_headers_for_a_known_request(fake_server, monkeypatch):
    import botocore.auth
    from botocore.credentials import Credentials

    fixed = dt.datetime(2026, 1, 5, 12, 0, 0)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: fixed)
    fake = fake_server(lambda req: ok(matrix([])))
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    c = PromClient(ClientConfig(fake.url + "/workspaces/ws-1", backend="amp",
                                auth=AuthConfig(sigv4_region="us-east-1")), aws_credentials=creds)
    c.query_range("up", 0, 60, 60)
    req = fake.requests[0]
    host = urlsplit(fake.url).netloc
    assert req.headers["X-Amz-Date"] == "20260105T120000Z"
    want = _sigv4(creds.secret_key, creds.access_key, "us-east-1", "aps", "POST", host,
                  "/workspaces/ws-1/api/v1/query_range", req.body, "20260105T120000Z",
                  "application/x-www-form-urlencoded")
    assert req.headers["Authorization"] == want
    assert b"query=up" in req.body and req.method == "POST" and "?" not in req.path


def test_amp_region_from_the_url():
    assert amp_region("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1") == "eu-west-1"
    assert amp_region("https://aps-workspaces.us-east-2.api.aws/workspaces/ws-1") == "us-east-2"
    assert amp_region("http://127.0.0.1:9090") is None


@pytest.mark.parametrize("labels", [{"pod": "a"}, {"weird": 'has "quotes", {"metric": braces} and ]]}'}, {}])
def test_fast_matrix_reader_agrees_with_json(labels):
    from importers.prometheus import matrix

    body = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": labels, "values": [[1767571260, "0.5"], [1767571320.5, "NaN"], [1767571380, "+Inf"]]},
        {"metric": {"b": "2"}, "values": [[1, "-1e-05"]]}], "stats": {"timings": {"execTotalTime": 0.25}}},
        "warnings": ["w"]}
    text = json.dumps(body, separators=(",", ":"))  # as Prometheus writes it
    fast = matrix.parse(text)
    assert fast is not None and fast["warnings"] == ["w"] and fast["data"]["stats"]["timings"]["execTotalTime"] == 0.25
    for got, want in zip(fast["data"]["result"], body["data"]["result"], strict=True):
        assert got["metric"] == want["metric"]
        ts, vs = points(want)
        np.testing.assert_array_equal(got["ts"], ts)
        np.testing.assert_array_equal(got["vs"], vs)
    assert matrix.parse(json.dumps(body)) is None  # another layout: the caller falls back to json
    assert matrix.parse(text[:-40]) is None


def test_tls_with_a_ca_file_and_insecure_skip_verify(tmp_path):
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl not found")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    fake, stop = serve(lambda req: ok(matrix([])), tls=(cert, key))
    try:
        with pytest.raises(PromError, match="TLS error"):
            client(fake.url).query_range("up", 0, 60, 60)
        assert client(fake.url, auth=AuthConfig(ca_file=cert)).query_range("up", 0, 60, 60) == []
        assert client(fake.url, auth=AuthConfig(insecure_skip_verify=True)).query_range("up", 0, 60, 60) == []
    finally:
        stop()


def test_deferred_answers_parse_later_to_the_same_series_and_cut_offs_are_still_retried(fake_server):
    """``deferred=True`` (the importer's fetch threads): a complete matrix answer comes back unparsed and
    reads to the same series as a parsed one; a truncated one is retried before it is ever handed on."""
    from importers.prometheus import matrix as fast

    good = ok(matrix([({"pod": "a"}, [(0, 1), (60, 2)]), ({"pod": "b"}, [(60, 5)])]))
    answers = [(200, {}, good[2][:-7]), good, good]
    fake = fake_server(lambda req: answers.pop(0))
    c = client(fake.url)
    deferred = c.query_range("up", 0, 60, 60, deferred=True)
    assert isinstance(deferred, fast.Deferred) and c.stats.retries == 1
    now = c.query_range("up", 0, 60, 60)
    later = fast.resolve(deferred)
    assert [s["metric"] for s in later] == [s["metric"] for s in now] == [{"pod": "a"}, {"pod": "b"}]
    for a, b in zip(later, now, strict=True):
        assert [x.tolist() for x in points(a)] == [x.tolist() for x in points(b)]
    assert fast.resolve(now) is now  # a parsed result passes through
