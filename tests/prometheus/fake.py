"""A small local HTTP server speaking the Prometheus API's JSON, for what a real server will not easily do
(reject with a given status, cut a body off, demand a token)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: object  # http.client.HTTPMessage: get() and [] ignore case, as HTTP does
    body: bytes


@dataclass
class Fake:
    url: str
    requests: list[Request] = field(default_factory=list)


def ok(data) -> tuple[int, dict, bytes]:
    return 200, {}, json.dumps({"status": "success", "data": data}, separators=(",", ":")).encode()


def error(status: int, kind: str, message: str) -> tuple[int, dict, bytes]:
    return status, {}, json.dumps({"status": "error", "errorType": kind, "error": message}).encode()


def matrix(series: list[tuple[dict, list[tuple[float, float]]]]) -> dict:
    return {"resultType": "matrix",
            "result": [{"metric": m, "values": [[t, repr(float(v))] for t, v in pts]} for m, pts in series]}


def serve(respond: Callable[[Request], tuple[int, dict, bytes]], *, tls: tuple[str, str] | None = None):
    """Start the fake on 127.0.0.1 (a free port); returns (Fake, stop). ``tls``: (cert, key) PEM files."""
    fake = Fake("")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            params = dict(parse_qsl(parts.query))
            if self.command == "POST":
                params.update(parse_qsl(body.decode()))
            req = Request(self.command, parts.path, params, self.headers, body)  # case-insensitive
            fake.requests.append(req)
            status, headers, payload = respond(req)
            truncate = headers.pop("_truncate", False)  # announce the whole body, send half, hang up
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if truncate:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

        do_GET = _handle  # noqa: N815 (http.server API)
        do_POST = _handle  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    if tls:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        fake.url = fake.url.replace("http://", "https://")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()

    return fake, stop
