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


def _hpa(ns, name, target, lo, hi, cpu_pct, resource="cpu"):
    return k8s.V2HorizontalPodAutoscaler(
        api_version="autoscaling/v2", kind="HorizontalPodAutoscaler",
        metadata=k8s.V1ObjectMeta(name=name, namespace=ns),
        spec=k8s.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=k8s.V2CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name=target),
            min_replicas=lo, max_replicas=hi,
            metrics=[k8s.V2MetricSpec(type="Resource", resource=k8s.V2ResourceMetricSource(
                name=resource, target=k8s.V2MetricTarget(type="Utilization", average_utilization=cpu_pct)))]))


SCALED = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
          "metadata": {"name": "embed-so", "namespace": "ml"},
          "spec": {"scaleTargetRef": {"name": "embed"}, "minReplicaCount": 0, "maxReplicaCount": 4,
                   "triggers": [{"type": "prometheus", "metadata": {"query": "sum(rate(x[1m]))", "threshold": "5"}}]}}


class _Api:
    def __init__(self, keda: bool, status: int = 200, hpa_target: tuple[str, str] = ("ml", "chat"),
                 resource: str = "cpu", tls: tuple[str, str] | None = None):
        self.authorization: list[str | None] = []
        self.requests: list[str] = []
        hpas = k8s.V2HorizontalPodAutoscalerList(api_version="autoscaling/v2", kind="HorizontalPodAutoscalerList",
                                                 metadata=k8s.V1ListMeta(resource_version="7"),
                                                 items=[_hpa(hpa_target[0], f"{hpa_target[1]}-hpa", hpa_target[1],
                                                             2, 10, 70, resource)])
        body_hpa = _SERIALIZER.sanitize_for_serialization(hpas)
        body_keda = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObjectList", "items": [SCALED]}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802 (http.server API)
                api.requests.append(self.path.split("?")[0])
                api.authorization.append(self.headers.get("Authorization"))
                if status != 200:
                    code, body = status, {"kind": "Status", "code": status, "reason": "Forbidden"}
                elif self.path.startswith("/apis/autoscaling/v2/horizontalpodautoscalers"):
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
        if tls is not None:  # HTTPS, as a pod's in-cluster config reaches the API server
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
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


def _kubeconfig(path, server: str) -> str:
    """A kubeconfig naming the local server, as ``kubectl config view --raw`` writes one."""
    import yaml

    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": server}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "reader"}}],
        "users": [{"name": "reader", "user": {"token": "read-only"}}]}))
    return str(path)


def _copy_dataset(src, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(src, root)
    return root


def test_recommend_lists_autoscalers_into_the_dataset_and_uses_them(small_dataset, tmp_path, monkeypatch):
    """The report job's step: ``recommend --list-autoscalers`` with a kubeconfig lists from the API server,
    appends the listing to the dataset's table, and the memory request cut of web/api says what its
    memory-utilization HPA does with it."""
    from recommender.cli import main

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not in a pod: the kubeconfig is used
    a = _Api(keda=True, hpa_target=("web", "api"), resource="memory")
    try:
        root = _copy_dataset(small_dataset, tmp_path)
        kc = _kubeconfig(tmp_path / "kubeconfig", a.client.configuration.host)
        out = tmp_path / "report"
        rc = main(["recommend", "--data", str(root), "--out", str(out), "--no-consolidate", "--no-progress",
                   "--list-autoscalers", "--kubeconfig", kc])
    finally:
        a.close()
    assert rc == 0
    assert {"/apis/autoscaling/v2/horizontalpodautoscalers", "/apis/keda.sh/v1alpha1/scaledobjects"} <= set(a.requests)
    rows = Dataset(str(root)).read("autoscalers").to_pylist()
    assert sorted((r["autoscaler_kind"], r["target_name"]) for r in rows) == [(HPA, "api"), (SCALED_OBJECT, "embed")]
    doc = json.loads((out / "recommendations.json").read_text())
    (api,) = [r for r in doc["recommendations"] if r["workload"] == {"namespace": "web", "kind": "Deployment", "name": "api"}]
    assert api["details"]["autoscaler"] == {"kind": HPA, "name": "api-hpa", "min_replicas": 2, "max_replicas": 10}
    factor = api["current"]["mem_request"] / api["proposed"]["mem_request"]
    assert factor > 1.5
    assert f"{factor:.1f}× the replicas, up to its maximum of 10" in api["rationale"]
    assert not any("autoscalers not listed" in n for n in doc["summary"]["notes"])


def test_a_refused_listing_is_a_note_not_a_failed_report(small_dataset, tmp_path, monkeypatch, capsys):
    from recommender.cli import main

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    a = _Api(keda=True, status=403)
    try:
        root = _copy_dataset(small_dataset, tmp_path)
        kc = _kubeconfig(tmp_path / "kubeconfig", a.client.configuration.host)
        rc = main(["recommend", "--data", str(root), "--out", str(tmp_path / "report"), "--no-consolidate",
                   "--no-progress", "--list-autoscalers", "--kubeconfig", kc])
    finally:
        a.close()
    assert rc == 0
    assert "forbidden: the account needs list on horizontalpodautoscalers" in capsys.readouterr().err
    doc = json.loads((tmp_path / "report" / "recommendations.json").read_text())
    assert any(n.startswith("autoscalers not listed: the Kubernetes API answered forbidden") for n in doc["summary"]["notes"])
    assert "autoscalers" not in Dataset(str(root)).tables()


@pytest.mark.parametrize("argv, message", [
    (["--kubeconfig", "kc"], "--kubeconfig needs --list-autoscalers"),
    (["--list-autoscalers", "--kubeconfig", "/nonexistent/kubeconfig"], None),
])
def test_kubeconfig_flags(small_dataset, tmp_path, monkeypatch, capsys, argv, message):
    from recommender.cli import main

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    root = _copy_dataset(small_dataset, tmp_path)
    rc = main(["recommend", "--data", str(root), "--out", str(tmp_path / "r"), "--no-consolidate", "--no-progress",
               *argv])
    err = capsys.readouterr().err
    if message:
        assert rc == 2 and message in err and "Traceback" not in err
    else:  # no usable kubeconfig: the report is made without a listing, and says so
        assert rc == 0 and "autoscalers not listed: --list-autoscalers: no in-cluster service account" in err


def _self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key (the CA the in-cluster config trusts is this certificate)."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "ca.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_in_a_pod_the_service_account_token_lists_over_https(small_dataset, tmp_path, monkeypatch):
    """The report job's step as the CronJob runs it: no kubeconfig, the in-cluster config (the service's host
    and port from the environment, the projected token and CA), HTTPS to the API server."""
    from kubernetes.config import incluster_config

    from recommender.cli import main

    cert, key = _self_signed(tmp_path)
    a = _Api(keda=False, tls=(cert, key))
    try:
        token = tmp_path / "token"
        token.write_text("projected-service-account-token")
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", cert)
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(a.server.server_address[1]))
        root = _copy_dataset(small_dataset, tmp_path)
        rc = main(["recommend", "--data", str(root), "--out", str(tmp_path / "report"), "--no-consolidate",
                   "--no-progress", "--top", "0", "--list-autoscalers"])
    finally:
        a.close()
    assert rc == 0
    assert a.requests[:2] == ["/apis/autoscaling/v2/horizontalpodautoscalers", "/apis/keda.sh/v1alpha1/scaledobjects"]
    # the projected token, on every call (the client writes the scheme in lower case)
    assert {x.split(" ", 1)[0].lower() + " " + x.split(" ", 1)[1] for x in a.authorization} == {
        "bearer projected-service-account-token"}
    rows = Dataset(str(root)).read("autoscalers").to_pylist()
    assert [(r["autoscaler_kind"], r["autoscaler_name"]) for r in rows] == [(HPA, "chat-hpa")]  # no KEDA: 404
