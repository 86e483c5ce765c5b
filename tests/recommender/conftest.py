from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from store.reader import Dataset
from tests.recommender.fakes import build_dataset


@pytest.fixture(scope="session")
def catalog():
    from optimizer.catalog import Catalog

    return Catalog.load()


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("cluster") / "data")


@pytest.fixture(scope="session")
def small_allocation(small_dataset, catalog):
    from recommender.allocation import allocate

    return allocate(Dataset(small_dataset), catalog)


class _Hook:
    def __init__(self, status: int = 200, hold: bool = False):
        self.status = status
        self.hold = hold
        self.release = threading.Event()
        self.bodies: list[dict] = []


@pytest.fixture
def hook():
    state = _Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server API)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.bodies.append(json.loads(body))
            if state.hold:
                state.release.wait(10)  # hold the request until the test is done with it
            self.send_response(state.status)
            self.end_headers()
            self.wfile.write(b"ok" if state.status == 200 else b"boom")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret-token"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
