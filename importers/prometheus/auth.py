"""How requests to the Prometheus-compatible server authenticate: none, bearer, basic, headers, TLS, SigV4.

Secrets (tokens, passwords, AWS keys) never leave this module in text: every message the client builds
goes through ``Auth.redact``, and ``describe()`` says which mechanism is used, never with what.
"""

from __future__ import annotations

import base64
import os
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from store.errors import UserError

# Bearer tokens read from a file are re-read this often: projected service-account tokens and IRSA
# web-identity tokens are rotated on disk by the kubelet (hourly), the file is the truth.
TOKEN_REFRESH_S = 60.0
_AMP_HOST = re.compile(r"^aps-workspaces(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com|api\.aws)$")


@dataclass(frozen=True)
class AuthConfig:
    """What the user asked for. At most one of bearer / basic / sigv4 applies."""

    bearer_token: str | None = None  # --bearer-token (visible in `ps`; prefer the env or file forms)
    bearer_token_env: str | None = None  # --bearer-token-env NAME
    bearer_token_file: str | None = None  # --bearer-token-file PATH (re-read on refresh)
    basic_user: str | None = None
    basic_password: str | None = None  # from --basic-password-env / --basic-password-file, or the URL
    headers: dict[str, str] = field(default_factory=dict)  # -H 'Name: value' (X-Scope-OrgID, ...)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    insecure_skip_verify: bool = False
    sigv4: bool = False  # AMP: sign with botocore's SigV4Auth, service "aps"
    sigv4_region: str | None = None
    sigv4_service: str = "aps"


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``https://user:pass@host/x`` → (``https://host/x``, user, pass): credentials never travel in the URL
    we log or put in errors."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url, None, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), parts.username, parts.password


def amp_region(url: str) -> str | None:
    """The AWS region of an Amazon Managed Prometheus workspace URL, or None."""
    m = _AMP_HOST.match(urlsplit(url).hostname or "")
    return m.group(1) if m else None


class Auth:
    """Adds credentials to each request. Thread-safe; the bearer file is re-read every TOKEN_REFRESH_S."""

    def __init__(self, config: AuthConfig, url: str, *, clock=time.monotonic, aws_credentials=None):
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_read_at = -1e18
        self._secrets: set[str] = set()
        self._aws_credentials = aws_credentials
        chosen = [n for n, on in (("bearer", self._has_bearer()), ("basic", config.basic_user is not None),
                                  ("sigv4", config.sigv4)) if on]
        if len(chosen) > 1:
            raise UserError(f"choose one way to authenticate, not {' and '.join(chosen)}")
        for name, value in config.headers.items():
            if name.lower() in ("authorization", "x-amz-security-token", "cookie"):
                self._secrets.add(value)
        if config.basic_password:
            self._secrets.add(config.basic_password)
        if config.bearer_token:
            self._secrets.add(config.bearer_token)
        self.region = None
        if config.sigv4:
            self.region = config.sigv4_region or amp_region(url)
            if not self.region:
                raise UserError("--sigv4: cannot tell the AWS region from the URL; pass --sigv4-region")
        if config.bearer_token_env and not os.environ.get(config.bearer_token_env):
            raise UserError(f"--bearer-token-env: environment variable {config.bearer_token_env} is not set or empty")
        if config.bearer_token_file:
            self._read_token_file()  # fail now, with a clear line, if the file is missing

    def _has_bearer(self) -> bool:
        c = self.config
        return bool(c.bearer_token or c.bearer_token_env or c.bearer_token_file)

    def describe(self) -> str:
        c = self.config
        if c.sigv4:
            return f"AWS SigV4 (service {c.sigv4_service}, region {self.region}, default credential chain)"
        if c.bearer_token_file:
            return f"bearer token from {c.bearer_token_file} (re-read every {TOKEN_REFRESH_S:.0f} s)"
        if c.bearer_token_env:
            return f"bearer token from ${c.bearer_token_env}"
        if c.bearer_token:
            return "bearer token from --bearer-token"
        if c.basic_user is not None:
            return f"basic auth as {c.basic_user}"
        return "no authentication"

    # -- bearer ---------------------------------------------------------------------------------------
    def _read_token_file(self) -> str:
        path = self.config.bearer_token_file
        try:
            with open(path, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as exc:
            raise UserError(f"--bearer-token-file: {path}: cannot read ({exc.strerror or exc})") from None
        if not token:
            raise UserError(f"--bearer-token-file: {path} is empty")
        return token

    def _bearer(self, force: bool = False) -> str | None:
        c = self.config
        if c.bearer_token:
            return c.bearer_token
        if c.bearer_token_env:
            token = os.environ.get(c.bearer_token_env, "").strip()
            self._secrets.add(token)
            return token
        if not c.bearer_token_file:
            return None
        with self._lock:
            now = self._clock()
            if force or self._token is None or now - self._token_read_at >= TOKEN_REFRESH_S:
                self._token = self._read_token_file()
                self._token_read_at = now
                self._secrets.add(self._token)
            return self._token

    def refresh(self) -> None:
        """After a 401: re-read the token file now (it may have been rotated since the last read)."""
        if self.config.bearer_token_file:
            self._bearer(force=True)

    # -- headers --------------------------------------------------------------------------------------
    def headers(self, method: str, url: str, body: bytes, base: dict[str, str]) -> dict[str, str]:
        """All headers for one request (``base`` plus credentials). SigV4 signs exactly ``body``."""
        out = dict(base)
        out.update(self.config.headers)
        token = self._bearer()
        if token:
            out["Authorization"] = f"Bearer {token}"
        elif self.config.basic_user is not None:
            raw = f"{self.config.basic_user}:{self.config.basic_password or ''}".encode()
            value = base64.b64encode(raw).decode()
            self._secrets.add(value)
            out["Authorization"] = f"Basic {value}"
        elif self.config.sigv4:
            out = self._sign(method, url, body, out)
        return out

    def _sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        creds = self._frozen_credentials()
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(creds, self.config.sigv4_service, self.region).add_auth(request)
        signed = dict(request.headers.items())
        for name in ("Authorization", "X-Amz-Security-Token"):
            if name in signed:
                self._secrets.add(signed[name])
        return signed

    def _frozen_credentials(self):
        if self._aws_credentials is None:
            import botocore.session

            # The default chain: env, shared config/profile, web identity (IRSA), container and instance
            # metadata; botocore refreshes temporary credentials itself before they expire.
            self._aws_credentials = botocore.session.get_session().get_credentials()
            if self._aws_credentials is None:
                raise UserError("--sigv4: no AWS credentials found (env, ~/.aws, IRSA web identity or "
                                "instance metadata)")
        creds = self._aws_credentials.get_frozen_credentials()
        self._secrets.add(creds.secret_key)
        if creds.token:
            self._secrets.add(creds.token)
        return creds

    # -- TLS and redaction ----------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        c = self.config
        ctx = ssl.create_default_context(cafile=c.ca_file) if c.ca_file else ssl.create_default_context()
        if c.client_cert:
            try:
                ctx.load_cert_chain(c.client_cert, c.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise UserError(f"--client-cert: {c.client_cert}: cannot load ({exc})") from None
        if c.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def redact(self, text: str) -> str:
        """``text`` with every secret this process has used replaced by ``***``."""
        for secret in sorted((s for s in self._secrets if s and len(s) >= 4), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text
