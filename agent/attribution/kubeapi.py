"""A small Kubernetes REST client: GET and watch, JSON in, dicts out.

The agent needs five read-only calls (pods of this node with a watch, the node, and ReplicaSet/Job
owners). The official client costs ~46 MiB of RSS to import; these calls need only urllib. In a pod it
uses the service account (token re-read on every request, as bound tokens rotate); elsewhere it borrows the
kubeconfig loader of the ``kubernetes`` package, imported only then.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeError(Exception):
    def __init__(self, status: int | None, message: str):
        self.status = status
        super().__init__(message)


class KubeApi:
    def __init__(self, base_url: str, *, token: str | None = None, token_file: str | None = None,
                 ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                 verify: bool = True, timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token, self.token_file = token, token_file
        self.timeout_s = timeout_s
        self._ctx = None
        if self.base_url.startswith("https://"):
            ctx = ssl.create_default_context(cafile=ca_file)
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if cert_file:
                ctx.load_cert_chain(cert_file, key_file)
            self._ctx = ctx

    @classmethod
    def from_environment(cls) -> KubeApi:
        """In-cluster service account, else the current kubeconfig context. Raises KubeError if neither."""
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if host and os.path.exists(os.path.join(SA_DIR, "token")):
            if ":" in host:
                host = f"[{host}]"
            return cls(f"https://{host}:{port}", token_file=os.path.join(SA_DIR, "token"),
                       ca_file=os.path.join(SA_DIR, "ca.crt"))
        try:
            from kubernetes import client, config
        except ImportError:
            raise KubeError(None, "not in a cluster and the kubernetes package is not installed "
                                  "(use --no-kubernetes to run without pod metadata)") from None
        try:
            cfg = client.Configuration()
            # The package reads $KUBECONFIG once at import; read it now so a later change is honoured.
            path = os.environ.get("KUBECONFIG")
            config.load_kube_config(config_file=path if path and os.pathsep not in path else None,
                                    client_configuration=cfg)
        except Exception as exc:  # the loader raises several unrelated types
            raise KubeError(None, f"no in-cluster service account and no usable kubeconfig: {exc}") from None
        keys = cfg.api_key or {}  # "BearerToken" in recent clients, "authorization" in older ones
        raw = keys.get("BearerToken") or keys.get("authorization") or ""
        token = raw.removeprefix("Bearer ").strip() or None
        return cls(cfg.host, token=token, ca_file=cfg.ssl_ca_cert, cert_file=cfg.cert_file,
                   key_file=cfg.key_file, verify=cfg.verify_ssl)

    def _request(self, path: str, params: dict | None, timeout_s: float):
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json", "User-Agent": "rightsizer-agent"}
        token = self.token
        if self.token_file:
            with open(self.token_file) as fh:
                token = fh.read().strip()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=timeout_s, context=self._ctx)
        except urllib.error.HTTPError as exc:
            raise KubeError(exc.code, f"GET {path}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise KubeError(None, f"GET {path}: {getattr(exc, 'reason', exc)}") from None

    def get(self, path: str, params: dict | None = None) -> dict:
        with self._request(path, params, self.timeout_s) as resp:
            return json.load(resp)

    def watch(self, path: str, params: dict | None = None, timeout_s: float = 300.0) -> Iterator[dict]:
        """Yield watch events ``{"type", "object"}`` until the server ends the stream."""
        params = {**(params or {}), "watch": "1", "timeoutSeconds": str(int(timeout_s)),
                  "allowWatchBookmarks": "true"}
        with self._request(path, params, timeout_s + 30) as resp:
            for line in resp:
                line = line.strip()
                if line:
                    yield json.loads(line)


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def parse_quantity(value) -> float | None:
    """A Kubernetes resource quantity (``500m``, ``2``, ``1.5Gi``, ``1e9``) as a number; None if unset/bad."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    for suffix, mult in _BINARY.items():
        if s.endswith(suffix):
            return float(s[:-2]) * mult
    try:
        return float(s)  # plain numbers and exponents (1e3, 1E3)
    except ValueError:
        pass
    suffix = s[-1]
    if suffix in _DECIMAL:
        try:
            return float(s[:-1]) * _DECIMAL[suffix]
        except ValueError:
            return None
    return None
