"""HTTP client for the Prometheus query API: POST form bodies, point limits, retries, backend profiles.

Every query goes as ``application/x-www-form-urlencoded`` POST (long selectors never hit URI limits; AMP
also wants POST without a query string). Range queries are split so no request asks for more than the
profile's points per series; if a server still answers with Prometheus' "exceeded maximum resolution"
error (its limit is lower than assumed), the range is halved and retried. 429, 502, 503, 504, timeouts
and cut-off bodies are retried with exponential backoff (Retry-After honoured).
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np

from importers.prometheus import matrix
from importers.prometheus.auth import Auth, AuthConfig, split_userinfo
from store.errors import UserError

FORM = "application/x-www-form-urlencoded"
RETRY_STATUS = (429, 502, 503, 504)
# Prometheus' own check (web/api/v1/api.go): more than 11,000 points per series is rejected with HTTP 400.
PROMETHEUS_MAX_POINTS = 11_000
POINTS_ERROR = "exceeded maximum resolution"


@dataclass(frozen=True)
class Backend:
    """What differs between Prometheus-compatible servers, as far as the importer cares."""

    name: str
    max_points: int  # points per series per request we send (under the server's limit)
    params: tuple[tuple[str, str], ...] = ()  # sent with every query
    tenant_header: str | None = None  # header naming the tenant (Mimir)
    sigv4: bool = False  # requests must be SigV4-signed (AMP)
    note: str = ""


BACKENDS: dict[str, Backend] = {
    # 10,000 keeps a margin under the 11,000 limit (the margin KRR uses for AMP, too).
    "prometheus": Backend("prometheus", 10_000),
    # Thanos Query: let it pick downsampled blocks for old data; never silently return a partial answer.
    "thanos": Backend("thanos", 10_000, (("max_source_resolution", "auto"), ("partial_response", "false"),
                                         ("dedup", "true")),
                      note="for data older than raw retention use --step 10m (5m blocks) or 2h (1h blocks)"),
    # VictoriaMetrics' -search.maxPointsPerTimeseries default is 30,000.
    "victoriametrics": Backend("victoriametrics", 30_000),
    "mimir": Backend("mimir", 10_000, tenant_header="X-Scope-OrgID"),
    "amp": Backend("amp", 10_000, sigv4=True,
                   note="AMP bills query samples processed; instant queries over 32 d are refused"),
}


class PromError(UserError):
    """The server refused or failed a query; one line, secrets redacted."""


class PointsLimitError(PromError):
    pass


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0  # wall time spent waiting for responses (all threads summed)
    server_exec_s: float = 0.0  # the server's own execTotalTime from stats=all, where it reports one
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **kw) -> None:
        with self._lock:
            for k, v in kw.items():
                if k == "warnings":
                    for w in v:
                        if w not in self.warnings and len(self.warnings) < 20:
                            self.warnings.append(w)
                else:
                    setattr(self, k, getattr(self, k) + v)


@dataclass(frozen=True)
class ClientConfig:
    url: str
    backend: str = "prometheus"
    auth: AuthConfig = field(default_factory=AuthConfig)
    tenant: str | None = None  # Mimir X-Scope-OrgID
    max_points: int | None = None  # override the backend's
    timeout_s: float = 120.0
    retries: int = 5
    backoff_s: float = 1.0  # first wait; doubles each retry, with jitter, capped at 30 s
    query_stats: bool = False  # ask for stats=all (server timings; for benchmarks)


class PromClient:
    def __init__(self, config: ClientConfig, *, opener=None, aws_credentials=None, sleep=time.sleep):
        if config.backend not in BACKENDS:
            raise UserError(f"--backend: '{config.backend}' is not one of {', '.join(BACKENDS)}")
        self.backend = BACKENDS[config.backend]
        url, user, password = split_userinfo(config.url.rstrip("/"))
        if not url.startswith(("http://", "https://")):
            raise UserError(f"--url: '{url}' must start with http:// or https://")
        auth_cfg = config.auth
        if user is not None and auth_cfg.basic_user is None:
            from dataclasses import replace

            auth_cfg = replace(auth_cfg, basic_user=user, basic_password=password)
        if self.backend.sigv4 and not auth_cfg.sigv4:
            from dataclasses import replace

            auth_cfg = replace(auth_cfg, sigv4=True)
        self.url = url
        self.config = config
        self.auth = Auth(auth_cfg, url, aws_credentials=aws_credentials)
        self.max_points = int(config.max_points or self.backend.max_points)
        if self.max_points < 2:
            raise UserError(f"--max-points: {self.max_points} must be at least 2")
        self.stats = ClientStats()
        self._sleep = sleep
        ctx = self.auth.ssl_context() if url.startswith("https://") else None
        self._opener = opener or urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx)
                                                             if ctx else urllib.request.HTTPHandler())
        self._base_headers = {"Accept": "application/json", "User-Agent": "rightsizer-import"}
        if self.backend.tenant_header:
            self._base_headers[self.backend.tenant_header] = config.tenant or "anonymous"

    # -- API calls ------------------------------------------------------------------------------------
    def buildinfo(self) -> dict | None:
        """``/api/v1/status/buildinfo``; None where the backend does not serve it (Mimir, AMP)."""
        try:
            return self._call("GET", "/api/v1/status/buildinfo", {})
        except PromError as exc:
            if " 404" in str(exc) or " 405" in str(exc) or "not found" in str(exc).lower():
                return None
            raise

    def instant(self, query: str, at: float) -> list[dict]:
        params = {"query": query, "time": _fmt(at)}
        return self._call("POST", "/api/v1/query", params)["result"]

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        """Values of ``label`` on the series ``match`` selects in [start, end] (GET: no POST form there)."""
        params = [("match[]", match), ("start", _fmt(start)), ("end", _fmt(end))]
        return list(self._call("GET", f"/api/v1/label/{label}/values", params) or [])

    def labels(self, match: str, start: float, end: float) -> list[str]:
        params = [("match[]", match), ("start", _fmt(start)), ("end", _fmt(end))]
        return list(self._call("POST", "/api/v1/labels", params) or [])

    def series(self, match: str, start: float, end: float) -> list[dict]:
        params = [("match[]", match), ("start", _fmt(start)), ("end", _fmt(end))]
        return list(self._call("POST", "/api/v1/series", params) or [])

    def query_range(self, query: str, start: float, end: float, step: float, *, deferred: bool = False):
        """Series of ``query`` at ``start, start+step, ... <= end``, as the API's matrix result.

        Split into requests of at most ``max_points`` points; pieces share no evaluation time. With
        ``deferred`` a complete one-request answer may come back unparsed (``matrix.Deferred``; read it with
        ``matrix.resolve``), so the caller can send the next request first.
        """
        points = int((end - start) // step) + 1
        if points > self.max_points:
            return self._split(query, start, end, step, self.max_points)
        try:
            data = self._call("POST", "/api/v1/query_range",
                              {"query": query, "start": _fmt(start), "end": _fmt(end), "step": _fmt(step)},
                              deferred=deferred)
        except PointsLimitError:
            if points <= 1:
                raise
            # The server's limit is below ours: halve and remember, so later chunks go straight through.
            self.max_points = max(1, min(self.max_points, (points + 1) // 2))
            return self._split(query, start, end, step, max(1, (points + 1) // 2))
        return data["result"]

    def _split(self, query, start, end, step, per) -> list[dict]:
        merged: dict[tuple, dict] = {}
        t = start
        while t <= end:
            stop = min(end, t + (per - 1) * step)
            for s in self.query_range(query, t, stop, step):
                key = tuple(sorted(s["metric"].items()))
                ts, vs = points(s)
                merged.setdefault(key, (s["metric"], [], []))
                merged[key][1].append(ts)
                merged[key][2].append(vs)
            t = stop + step
        return [{"metric": m, "ts": np.concatenate(ts), "vs": np.concatenate(vs)} for m, ts, vs in merged.values()]

    # -- transport ------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, params, *, deferred: bool = False) -> object:
        items = list(params.items()) if isinstance(params, dict) else list(params)
        if path.startswith("/api/v1/query"):
            items += list(self.backend.params)
            if self.config.query_stats:
                items.append(("stats", "all"))
        body = urlencode(items).encode()
        url = self.url + path
        attempt = 0
        refreshed = False
        while True:
            t0 = time.perf_counter()
            try:
                payload, size = self._send(method, url, body, deferred=deferred)
                self.stats.add(requests=1, seconds=time.perf_counter() - t0, bytes=size)
                return self._envelope(payload, path)
            except _Retry as retry:
                self.stats.add(requests=1, seconds=time.perf_counter() - t0)
                attempt += 1
                if attempt > self.config.retries:
                    raise PromError(self.auth.redact(f"{self.url}{path}: {retry.reason}; gave up after "
                                                     f"{self.config.retries} retries")) from None
                self.stats.add(retries=1)
                wait = retry.after if retry.after is not None else min(
                    30.0, self.config.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                self._sleep(wait)
            except _Unauthorized as exc:
                if refreshed or not self.auth.config.bearer_token_file:
                    raise PromError(self.auth.redact(f"{self.url}{path}: HTTP {exc.status} {exc.text}"
                                                     f" ({self.auth.describe()}){_auth_hint(self.url, exc.status)}"
                                                     )) from None
                self.auth.refresh()  # the token file may have been rotated: one retry with the new token
                refreshed = True

    def _send(self, method: str, url: str, body: bytes, *, deferred: bool = False) -> tuple[dict, int]:
        base = dict(self._base_headers)
        if method == "POST":
            base["Content-Type"] = FORM
            send_url, data = url, body
        else:
            send_url, data = (f"{url}?{body.decode()}" if body else url), None
        headers = self.auth.headers(method, send_url, data or b"", base)
        request = urllib.request.Request(send_url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.config.timeout_s) as resp:
                raw = resp.read()
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
        except urllib.error.HTTPError as exc:
            raw = exc.read() if exc.fp else b""
            status = exc.code
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
        except http.client.HTTPException as exc:  # IncompleteRead, RemoteDisconnected: a cut-off answer
            raise _Retry(f"the response was cut off ({type(exc).__name__})") from None
        except TimeoutError as exc:
            raise _Retry(f"timed out after {self.config.timeout_s:.0f} s ({exc})") from None
        except (ConnectionError, urllib.error.URLError, ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLCertVerificationError | ssl.SSLError):
                raise PromError(self.auth.redact(f"{url}: TLS error: {reason} (--ca-file, or --insecure-skip-verify)"
                                                 )) from None
            if isinstance(reason, TimeoutError):
                raise _Retry(f"timed out after {self.config.timeout_s:.0f} s") from None
            if isinstance(reason, ConnectionRefusedError | socket.gaierror):
                raise PromError(self.auth.redact(f"{url}: cannot connect ({reason})")) from None
            raise _Retry(f"connection failed ({reason})") from None
        text = raw.decode("utf-8", "replace")
        if status in RETRY_STATUS:
            raise _Retry(f"HTTP {status} {_error_text(text)}", _retry_after(retry_after))
        if status in (401, 403):
            raise _Unauthorized(status, _error_text(text))
        try:
            matrix_answer = status == 200 and url.endswith("/query_range")
            payload = ((matrix.defer(text) if deferred else matrix.parse(text)) if matrix_answer else None) \
                or json.loads(text)
        except ValueError:
            if status == 200:
                raise _Retry("the response was cut off (not complete JSON)") from None
            raise PromError(self.auth.redact(f"{url}: HTTP {status} {_error_text(text)}")) from None
        if not isinstance(payload, dict) or "status" not in payload:
            raise PromError(self.auth.redact(f"{url}: HTTP {status}: not a Prometheus API response"))
        if payload["status"] != "success":
            message = str(payload.get("error") or text[:300])
            if POINTS_ERROR in message:
                raise PointsLimitError(self.auth.redact(f"{url}: {message}"))
            kind = payload.get("errorType") or f"HTTP {status}"
            raise PromError(self.auth.redact(f"{url}: {kind}: {message}{_hint(message)}"))
        return payload, len(raw)

    def _envelope(self, payload: dict, path: str):
        if payload.get("warnings"):
            self.stats.add(warnings=[self.auth.redact(str(w)) for w in payload["warnings"]])
        data = payload.get("data")
        if isinstance(data, dict) and "stats" in data:
            timings = (data.get("stats") or {}).get("timings") or {}
            self.stats.add(server_exec_s=float(timings.get("execTotalTime") or 0.0))
        if path.startswith("/api/v1/query") and (not isinstance(data, dict) or "result" not in data):
            raise PromError(f"{self.url}{path}: the response has no data.result")
        return data


class _Retry(Exception):
    def __init__(self, reason: str, after: float | None = None):
        self.reason, self.after = reason, after


class _Unauthorized(Exception):
    def __init__(self, status: int, text: str):
        self.status, self.text = status, text


def points(series: dict) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of one matrix series, from the fast reader's arrays or the API's [[t, "v"], ...]."""
    if "ts" in series:
        return series["ts"], series["vs"]
    values = series.get("values") or []
    ts = np.fromiter((v[0] for v in values), dtype=np.float64, count=len(values))
    vs = np.fromiter((float(v[1]) for v in values), dtype=np.float64, count=len(values))
    return ts, vs


def _fmt(t: float) -> str:
    return f"{t:.3f}".rstrip("0").rstrip(".")


def _retry_after(value: str | None) -> float | None:
    try:
        return min(60.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None


def _error_text(text: str) -> str:
    try:
        payload = json.loads(text)
        if isinstance(payload, dict) and payload.get("error"):
            return str(payload["error"])[:300]
    except ValueError:
        pass
    return " ".join(text.split())[:200]


def _hint(message: str) -> str:
    low = message.lower()
    if "too long query" in low or "maxquerylen" in low:
        return " (the query text is over the server's limit: lower --shard-nodes)"
    if "32d" in low or "long day range" in low:
        return " (Amazon Managed Prometheus: import at most 31 days per run)"
    if "max_samples" in low or "too many samples" in low:
        return " (lower --max-points or --shard-nodes)"
    return ""


def _auth_hint(url: str, status: int) -> str:
    if "/proxy" in url and "/services/" in url:
        return ("; through the API server's service proxy the token must be allowed to 'get services/proxy'; "
                "port-forward or an in-cluster URL avoids the proxy")
    return "; check the credentials (--bearer-token-file, --basic-user, --sigv4)" if status == 401 else ""
