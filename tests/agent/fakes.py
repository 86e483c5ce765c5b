"""Test doubles for the agent's outside world: a kubelet pod-resources gRPC server on a unix socket, a
Kubernetes API HTTP server serving objects built with the official client's models, and /proc + cgroup trees."""

from __future__ import annotations

import json
import os
import queue
import threading
import urllib.parse
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from kubernetes import client as k8s

from agent.podresources import api_pb2, api_pb2_grpc

_SERIALIZER = k8s.ApiClient()


class FakeClock:
    def __init__(self, start: float = 1_795_000_000.0):
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


# -- kubelet pod-resources -------------------------------------------------------------------------------
@dataclass
class Allocation:
    namespace: str
    pod: str
    container: str
    resource: str
    device_ids: list[str]


class _Lister(api_pb2_grpc.PodResourcesListerServicer):
    def __init__(self, allocations: list[Allocation]):
        self.allocations = allocations
        self.calls = 0

    def List(self, request, context):
        self.calls += 1
        pods: dict[tuple[str, str], api_pb2.PodResources] = {}
        for a in self.allocations:
            pr = pods.setdefault((a.namespace, a.pod), api_pb2.PodResources(name=a.pod, namespace=a.namespace))
            cr = next((c for c in pr.containers if c.name == a.container), None)
            if cr is None:
                cr = pr.containers.add(name=a.container)
            cr.devices.add(resource_name=a.resource, device_ids=a.device_ids)
        return api_pb2.ListPodResourcesResponse(pod_resources=list(pods.values()))


class PodResourcesServer:
    def __init__(self, socket_path: str, allocations: list[Allocation]):
        self.socket_path = socket_path
        self.servicer = _Lister(allocations)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        api_pb2_grpc.add_PodResourcesListerServicer_to_server(self.servicer, self.server)
        self.server.add_insecure_port(f"unix://{socket_path}")

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(None)


# -- Kubernetes API ----------------------------------------------------------------------------------------
def meta(name, namespace=None, uid=None, labels=None, owner=None, rv="1"):
    owners = None
    if owner:
        kind, oname = owner
        api = {"ReplicaSet": "apps/v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1",
               "CronJob": "batch/v1"}.get(kind, "example.com/v1")
        owners = [k8s.V1OwnerReference(api_version=api, kind=kind, name=oname, uid=f"uid-{oname}", controller=True)]
    return k8s.V1ObjectMeta(name=name, namespace=namespace, uid=uid, labels=labels, owner_references=owners,
                            resource_version=rv)


def pod(name, namespace, uid, node, *, containers, owner=None, labels=None, container_ids=None, rv="1"):
    """containers: [(name, requests dict, limits dict)]; container_ids: {container name: 'containerd://<64hex>'}"""
    specs = [k8s.V1Container(name=n, image="img", resources=k8s.V1ResourceRequirements(requests=req, limits=lim))
             for n, req, lim in containers]
    statuses = [k8s.V1ContainerStatus(name=n, image="img", image_id="sha256:0", ready=True, restart_count=0,
                                      container_id=cid) for n, cid in (container_ids or {}).items()]
    return k8s.V1Pod(api_version="v1", kind="Pod", metadata=meta(name, namespace, uid, labels, owner, rv),
                     spec=k8s.V1PodSpec(node_name=node, containers=specs),
                     status=k8s.V1PodStatus(phase="Running", container_statuses=statuses or None))


def node(name, labels, capacity):
    return k8s.V1Node(api_version="v1", kind="Node", metadata=meta(name, labels=labels),
                      status=k8s.V1NodeStatus(capacity=capacity))


def replicaset(name, namespace, owner=None):
    return k8s.V1ReplicaSet(api_version="apps/v1", kind="ReplicaSet", metadata=meta(name, namespace, owner=owner),
                            spec=k8s.V1ReplicaSetSpec(selector=k8s.V1LabelSelector(match_labels={"a": "b"})))


def job(name, namespace, owner=None):
    return k8s.V1Job(api_version="batch/v1", kind="Job", metadata=meta(name, namespace, owner=owner))


def to_json(obj) -> dict:
    return _SERIALIZER.sanitize_for_serialization(obj)


@dataclass
class KubeState:
    pods: list = field(default_factory=list)
    nodes: list = field(default_factory=list)
    replicasets: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    watch_events: queue.Queue = field(default_factory=queue.Queue)  # (type, object) or None = end stream
    requests: list = field(default_factory=list)
    forbidden: set = field(default_factory=set)  # paths answered 403


class KubeApiServer:
    """Answers the calls the agent makes: list/watch pods by spec.nodeName, get node, get ReplicaSet/Job."""

    def __init__(self, state: KubeState):
        self.state = state
        st = state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                st.requests.append((url.path, q))
                parts = url.path.strip("/").split("/")
                if url.path in st.forbidden:
                    return self._send(403, {"kind": "Status", "code": 403, "reason": "Forbidden"})
                if url.path == "/api/v1/pods":
                    selector = q.get("fieldSelector", "")
                    want = selector.removeprefix("spec.nodeName=") if selector.startswith("spec.nodeName=") else None
                    if q.get("watch") in ("1", "true"):
                        return self._watch(want)
                    items = [to_json(p) for p in st.pods if want is None or p.spec.node_name == want]
                    return self._send(200, {"kind": "PodList", "apiVersion": "v1",
                                            "metadata": {"resourceVersion": "100"}, "items": items})
                if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
                    return self._one([n for n in st.nodes if n.metadata.name == parts[3]])
                if len(parts) == 7 and parts[0] == "apis" and parts[3] == "namespaces":
                    pool = {"replicasets": st.replicasets, "jobs": st.jobs}.get(parts[5], [])
                    return self._one([o for o in pool if o.metadata.namespace == parts[4]
                                      and o.metadata.name == parts[6]])
                self._send(404, {"kind": "Status", "code": 404})

            def _one(self, found):
                if not found:
                    return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                self._send(200, to_json(found[0]))

            def _watch(self, want):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                while True:
                    try:
                        ev = st.watch_events.get(timeout=1)
                    except queue.Empty:
                        break
                    if ev is None:
                        break
                    kind, obj = ev
                    body = obj if isinstance(obj, dict) else to_json(obj)
                    self.wfile.write(json.dumps({"type": kind, "object": body}).encode() + b"\n")
                    self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._t = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# -- /proc and cgroup trees ------------------------------------------------------------------------------
def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def v2_container_path(pod_uid: str, container_id: str, qos: str = "burstable", runtime: str = "cri-containerd"):
    u = pod_uid.replace("-", "_")
    return (f"/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{u}.slice/{runtime}-{container_id}.scope")


def make_proc(root: str, pid_paths: dict[int, str], v1: bool = False) -> None:
    for pid, path in pid_paths.items():
        text = (f"12:memory:{path}\n11:cpu,cpuacct:{path}\n1:name=systemd:{path}\n" if v1 else f"0::{path}\n")
        write(os.path.join(root, str(pid), "cgroup"), text)


def make_cgroup_v2(root: str, containers: dict[str, tuple[int, int, int]]) -> None:
    """containers: {cgroup path: (usage_usec, memory.current, inactive_file)}"""
    write(os.path.join(root, "cgroup.controllers"), "cpu memory io\n")
    for path, (usec, current, inactive) in containers.items():
        d = root + path
        write(os.path.join(d, "cpu.stat"), f"usage_usec {usec}\nuser_usec {usec // 2}\nsystem_usec {usec // 2}\n")
        write(os.path.join(d, "memory.current"), f"{current}\n")
        write(os.path.join(d, "memory.stat"), f"anon {current - inactive}\nfile {inactive}\ninactive_file {inactive}\n")


def make_cgroup_v1(root: str, containers: dict[str, tuple[int, int, int]]) -> None:
    """containers: {cgroup path: (cpuacct.usage ns, memory.usage_in_bytes, total_inactive_file)}"""
    for path, (ns, usage, inactive) in containers.items():
        write(root + "/cpu,cpuacct" + path + "/cpuacct.usage", f"{ns}\n")
        write(root + "/memory" + path + "/memory.usage_in_bytes", f"{usage}\n")
        write(root + "/memory" + path + "/memory.stat", f"cache {inactive}\ntotal_inactive_file {inactive}\n")
