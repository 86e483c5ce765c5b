"""Autoscalers listed with the official ``kubernetes`` client from a local HTTP server speaking the API's
JSON (objects built from the client's own models), and the ``autoscalers`` table round trip."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client as k8s

from recommender.autoscalers import (
    HPA,
    SCALED_OBJECT,
    list_autoscalers,
    read_autoscalers,
    replica_effect,
    write_autoscalers,
)
from store.reader import Dataset

_SERIALIZER = k8s.ApiClient()


def _hpa(ns, name, target, lo, hi, cpu_pct):
    return k8s.V2HorizontalPodAutoscaler(
        api_version="autoscaling/v2", kind="HorizontalPodAutoscaler",
        metadata=k8s.V1ObjectMeta(name=name, namespace=ns),
        spec=k8s.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=k8s.V2CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name=target),
            min_replicas=lo, max_replicas=hi,
            metrics=[k8s.V2MetricSpec(type="Resource", resource=k8s.V2ResourceMetricSource(
                name="cpu", target=k8s.V2MetricTarget(type="Utilization", average_utilization=cpu_pct)))]))


SCALED = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
          "metadata": {"name": "embed-so", "namespace": "ml"},
          "spec": {"scaleTargetRef": {"name": "embed"}, "minReplicaCount": 0, "maxReplicaCount": 4,
                   "triggers": [{"type": "prometheus", "metadata": {"query": "sum(rate(x[1m]))", "threshold": "5"}}]}}


class _Api:
    def __init__(self, keda: bool):
        self.requests: list[str] = []
        hpas = k8s.V2HorizontalPodAutoscalerList(api_version="autoscaling/v2", kind="HorizontalPodAutoscalerList",
                                                 metadata=k8s.V1ListMeta(resource_version="7"),
                                                 items=[_hpa("ml", "chat-hpa", "chat", 2, 10, 70)])
        body_hpa = _SERIALIZER.sanitize_for_serialization(hpas)
        body_keda = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObjectList", "items": [SCALED]}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802 (http.server API)
                api.requests.append(self.path.split("?")[0])
                if self.path.startswith("/apis/autoscaling/v2/horizontalpodautoscalers"):
                    code, body = 200, body_hpa
                elif self.path.startswith("/apis/keda.sh/v1alpha1/scaledobjects") and keda:
                    code, body = 200, body_keda
                else:
                    code, body = 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 -- read-only: anything else is refused
                api.requests.append("POST " + self.path)
                self.send_response(405)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        cfg = k8s.Configuration()
        cfg.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.client = k8s.ApiClient(cfg)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=[True, False], ids=["keda", "no-keda"])
def api(request):
    a = _Api(keda=request.param)
    yield a, request.param
    a.close()


def test_lists_hpas_and_scaled_objects_read_only(api):
    a, keda = api
    found = list_autoscalers(a.client)
    kinds = {(x.kind, x.namespace, x.name, x.target_name) for x in found}
    assert (HPA, "ml", "chat-hpa", "chat") in kinds
    assert ((SCALED_OBJECT, "ml", "embed-so", "embed") in kinds) == keda  # no KEDA: 404, not an error
    hpa = next(x for x in found if x.kind == HPA)
    assert (hpa.min_replicas, hpa.max_replicas, hpa.target_kind) == (2, 10, "Deployment")
    assert hpa.cpu_or_memory_target() == {"cpu": 70.0}
    assert all(not r.startswith("POST") for r in a.requests)  # list calls only
    assert "/apis/autoscaling/v2/horizontalpodautoscalers" in a.requests


def test_table_round_trip_and_latest_listing(api, tmp_path):
    a, keda = api
    found = list_autoscalers(a.client)
    root = tmp_path / "data"
    t1, t2 = datetime(2026, 1, 5, 6, tzinfo=UTC), datetime(2026, 1, 12, 6, tzinfo=UTC)
    write_autoscalers(str(root), found, t1)
    write_autoscalers(str(root), found[:1], t2)  # a week later only the HPA is left
    back = read_autoscalers(Dataset(str(root)))
    assert list(back) == [("ml", "Deployment", "chat")]
    assert back[("ml", "Deployment", "chat")] == next(x for x in found if x.kind == HPA)
    rows = Dataset(str(root)).read("autoscalers").to_pylist()
    assert len(rows) == len(found) + 1 and {r["node"] for r in rows} == {"cluster"}
    assert json.loads(rows[0]["metrics"])[0]["resource"]["target"]["averageUtilization"] == 70


def test_a_cpu_request_cut_under_a_cpu_hpa_states_the_replica_effect(api):
    a, _ = api
    hpa = next(x for x in list_autoscalers(a.client) if x.kind == HPA)
    text = replica_effect(hpa, "cpu", 8.0, 2.0)
    assert "4.0× the replicas" in text and "maximum of 10" in text
    assert replica_effect(hpa, "memory", 8 * 2**30, 2**30) is None  # it does not scale on memory
