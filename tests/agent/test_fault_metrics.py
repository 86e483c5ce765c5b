"""Fault matrix, /metrics side: a client that connects and sends nothing, or trickles its request, is cut
off after the request timeout, cannot stop others from scraping, and cannot hold the server open; beyond
the connection limit a client gets a 503 at once instead of a thread."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request

import pytest

from agent.metrics import AgentMetrics, MetricsServer


@pytest.fixture
def server():
    s = MetricsServer(AgentMetrics(), "127.0.0.1", 0, stale_after_s=60, request_timeout_s=0.5, max_connections=4)
    s.start()
    yield s
    s.stop()


def _connect(server, send: bytes = b"") -> socket.socket:
    c = socket.create_connection(("127.0.0.1", server.port))
    if send:
        c.sendall(send)
    return c


def _closed_by_server(c: socket.socket, guard_s: float = 20.0) -> bool:
    """True when the server closes the connection (EOF or reset) before ``guard_s``; False on the guard."""
    c.settimeout(guard_s)
    try:
        while True:
            data = c.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        c.close()


def _scrape(server) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=20) as r:
        return r.status


def test_an_idle_client_is_disconnected_and_others_still_scrape(server):
    idle = _connect(server)
    trickle = _connect(server, b"GET /metr")  # half a request line, then nothing
    assert _scrape(server) == 200
    assert _closed_by_server(idle)
    assert _closed_by_server(trickle)


def test_a_client_that_sends_headers_forever_is_cut_off(server):
    c = _connect(server, b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    stop = threading.Event()

    def trickle():  # a new header line well inside each read timeout, never the blank line that ends them
        while not stop.wait(0.1):
            try:
                c.sendall(b"X-Slow: 1\r\n")
            except OSError:
                return

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        assert _closed_by_server(c)
    finally:
        stop.set()
        t.join(timeout=5)


def test_beyond_the_connection_limit_a_client_gets_503_not_a_thread(server):
    held = [_connect(server) for _ in range(server.max_connections)]
    try:
        with pytest.raises(urllib.error.HTTPError) as exc:
            _scrape(server)
        assert exc.value.code == 503
    finally:
        for c in held:
            assert _closed_by_server(c)
    assert _scrape(server) == 200  # the slots come back once the slow clients are gone


def test_stop_returns_with_slow_clients_connected():
    s = MetricsServer(AgentMetrics(), "127.0.0.1", 0, stale_after_s=60, request_timeout_s=30)
    s.start()
    held = [_connect(s) for _ in range(3)]
    done = threading.Event()
    threading.Thread(target=lambda: (s.stop(), done.set()), daemon=True).start()
    try:
        assert done.wait(timeout=10), "stop() blocked behind idle clients"
    finally:
        for c in held:
            c.close()
