"""Shared pieces of the agent's fault matrix: a sink that can be switched off, a small Kubernetes world, a
spool disk that fills up, an S3 endpoint that accepts connections and never answers, and row accounting
(every row sampled is either in the sink, counted as dropped, or still in the spool)."""

from __future__ import annotations

import errno
import os
import socket
import threading

import pyarrow.parquet as pq

from agent.attribution.kubeapi import KubeApi
from agent.gpu.scenarios import GIB
from store.location import Location, open_location
from store.reader import Dataset
from tests.agent.fakes import (
    KubeApiServer,
    KubeState,
    make_cgroup_v2,
    make_proc,
    node,
    pod,
    v2_container_path,
)

NODE = "gpu-node-1"
# pod name -> (namespace, uid, container, container id)
PODS = {
    "trainer-0": ("ml", "22222222-0000-4000-8000-000000000001", "main", "b1" * 32),
    "web-0": ("web", "22222222-0000-4000-8000-000000000002", "app", "b2" * 32),
}
TABLES = ("gpu", "container", "pods", "nodes")


class FlakySink:
    """A local sink that refuses writes while ``down``; records what arrived, in order."""

    def __init__(self, root):
        self.real = open_location(str(root), create=True)
        self.down = False
        self.written: list[str] = []

    def write_atomic(self, rel, data):
        if self.down:
            raise OSError("connection refused")
        self.written.append(rel)
        return self.real.write_atomic(rel, data)


def metric(agent, name: str) -> float:
    return agent.metrics.registry.get_sample_value(name) or 0


def sampled(agent) -> int:
    return int(metric(agent, "rightsizer_agent_samples_total"))


def dropped(agent) -> int:
    return int(metric(agent, "rightsizer_agent_dropped_rows_total"))


def delivered(root) -> dict[str, int]:
    """Rows per table in a local dataset root (0 for a table with no segment)."""
    ds = Dataset(str(root))
    present = set(ds.tables())
    return {t: ds.read(t).num_rows if t in present else 0 for t in TABLES}


def spooled_rows(agent) -> int:
    return sum(pq.read_metadata(os.path.join(agent.spool.root, rel)).num_rows for rel, _, _ in agent.spool.files())


def kube_world(tmp_path):
    """A Kubernetes API server with two pods and their node, plus the /proc and cgroup trees of the pods."""
    state = KubeState()
    for name, (ns, uid, ctr, cid) in PODS.items():
        state.pods.append(pod(name, ns, uid, NODE, labels={"team": ns},
                              containers=[(ctr, {"cpu": "1", "memory": "2Gi"}, None)],
                              container_ids={ctr: f"containerd://{cid}"}))
    state.nodes = [node(NODE, {"node.kubernetes.io/instance-type": "p5.48xlarge"}, {"cpu": "192", "memory": "2048Gi"})]
    paths = {name: v2_container_path(uid, cid) for name, (ns, uid, ctr, cid) in PODS.items()}
    make_proc(str(tmp_path / "proc"), {1000 + i: p for i, p in enumerate(paths.values())})
    make_cgroup_v2(str(tmp_path / "cgroup"), {p: (1_000_000, 3 * GIB, GIB) for p in paths.values()})
    return KubeApiServer(state)


def start_in_world(make_agent, api: KubeApiServer, **overrides):
    agent = make_agent("h100", kubernetes=True, kube_api=KubeApi(api.url), **overrides)
    agent.start(background=False)
    agent.watcher.sync()
    agent.watcher.refresh_node()
    return agent


class FullDisk:
    """Makes every write into ``root`` fail with ENOSPC while ``full`` (other locations are unaffected).

    Patches ``Location.write_atomic``, the one call that writes a file locally (spool) and to a sink.
    """

    def __init__(self, monkeypatch, root: str, *, fail_tables: tuple[str, ...] | None = None):
        self.root = os.path.abspath(root)
        self.full = False
        self.fail_tables = fail_tables
        self.refused = 0
        real = Location.write_atomic
        disk = self

        def write_atomic(location, rel, data):
            if disk.full and os.path.abspath(location.base) == disk.root and \
                    (disk.fail_tables is None or rel.split("/", 1)[0] in disk.fail_tables):
                disk.refused += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), location.path(rel))
            return real(location, rel, data)

        monkeypatch.setattr(Location, "write_atomic", write_atomic)


class HungEndpoint:
    """A loopback TCP server that accepts every connection, reads what is sent, and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self):
        self._closed = True
        self.sock.close()
        for c in self.conns:
            c.close()
