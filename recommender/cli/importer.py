"""``rightsizer import prometheus``: a v1 dataset from the history a Prometheus-compatible server keeps."""

from __future__ import annotations

import argparse
import os
import re
import sys

from store.errors import UserError

NAME = "import"
HELP = ("import history from outside sources into a v1 dataset (prometheus: dcgm-exporter, cAdvisor, "
        "kube-state-metrics, LLM servers' token counters)")
DESCRIPTION = """\
Import history that already exists into a format v1 dataset, so every other command works on it
unchanged. Today's source is a Prometheus-compatible server (Prometheus, Thanos, VictoriaMetrics,
Mimir, Amazon Managed Prometheus): the gpu table from dcgm-exporter, container from the kubelet's
cAdvisor, pods and nodes from kube-state-metrics, and tokens from the LLM servers' own series (vLLM,
SGLang, TGI, NIM, Triton's vLLM backend) where they exist. See docs/prometheus.md.
"""
PROM_EPILOG = """\
examples:
  rightsizer import prometheus --url http://localhost:9090 --start 2026-01-05 --end 2026-01-12 --out ./data
  rightsizer import prometheus --url https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1234 \\
      --backend amp --start 2026-01-05 --end 2026-01-12 --out s3://bucket/rightsizer
  rightsizer import prometheus --url https://mimir.example.com/prometheus --backend mimir --tenant team-a \\
      --bearer-token-file /var/run/secrets/token --start 2026-01-05 --end 2026-01-12 --out ./data
Rows cover (start, end]: a point at t with step S is the row (t - S, t]. Run the same command again to
resume an interrupted import: finished chunks are not fetched again.
"""
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)?$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="source", metavar="SOURCE")
    prom = sub.add_parser("prometheus", help="dcgm-exporter, cAdvisor and kube-state-metrics history from a "
                          "Prometheus-compatible server", description=DESCRIPTION, epilog=PROM_EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    add_prometheus_arguments(prom, required=True)
    prom.add_argument("--start", required=True, metavar="ISO", help="window start, e.g. 2026-01-05")
    prom.add_argument("--end", required=True, metavar="ISO", help="window end, e.g. 2026-01-12")
    prom.add_argument("--out", required=True, metavar="ROOT", help="dataset root: a local folder or s3://bucket/prefix")
    prom.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                      help="show a progress bar with ETA (default: when stderr is a terminal)")


def add_prometheus_arguments(p: argparse.ArgumentParser, *, required: bool) -> None:
    """Flags shared by ``import prometheus`` and ``recommend --prometheus`` (there ``--url`` is ``--prometheus``)."""
    if required:
        p.add_argument("--url", required=True, metavar="URL",
                       help="the server's base URL (the part before /api/v1), e.g. http://prometheus:9090")
    g = p.add_argument_group("Prometheus import")
    g.add_argument("--backend", default="prometheus", metavar="NAME",
                   help="prometheus (default), thanos, victoriametrics, mimir or amp")
    g.add_argument("--step", default="60s", metavar="DUR", help="row interval (default 60s; at least 2x the scrape "
                   "interval; Thanos downsampled data: 10m or 2h)")
    g.add_argument("--state-step", default="10m", metavar="DUR",
                   help="how often owners, labels, requests and capacity are read (default 10m)")
    g.add_argument("--max-points", metavar="N", help="points per series per request (default: the backend's, "
                   "10000 under Prometheus' 11,000 limit; 30000 for VictoriaMetrics)")
    g.add_argument("--concurrency", default="4", metavar="N", help="queries in flight (default 4)")
    g.add_argument("--shard-nodes", default="10", metavar="N", help="nodes per query (default 10)")
    g.add_argument("--selector", default="", metavar="MATCHERS",
                   help="extra label matchers on every series, e.g. 'cluster=\"prod\"'")
    g.add_argument("--timeout", default="120", metavar="S", help="seconds per request (default 120)")
    g.add_argument("--tenant", metavar="ID", help="Mimir tenant (X-Scope-OrgID; default 'anonymous')")
    g.add_argument("--bearer-token", metavar="TOKEN", help="bearer token (visible to other users in ps: prefer "
                   "--bearer-token-env or --bearer-token-file)")
    g.add_argument("--bearer-token-env", metavar="VAR", help="read the bearer token from this environment variable")
    g.add_argument("--bearer-token-file", metavar="FILE", help="read the bearer token from this file (re-read every "
                   "minute and after a 401: rotated service-account tokens keep working)")
    g.add_argument("--basic-user", metavar="USER", help="basic auth user")
    g.add_argument("--basic-password-env", metavar="VAR", help="basic auth password from this environment variable")
    g.add_argument("--basic-password-file", metavar="FILE", help="basic auth password from this file")
    g.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="extra request header (repeatable)")
    g.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify the server's certificate")
    g.add_argument("--client-cert", metavar="FILE", help="client certificate (PEM) for mutual TLS")
    g.add_argument("--client-key", metavar="FILE", help="the client certificate's key (PEM)")
    g.add_argument("--insecure-skip-verify", action="store_true", help="do not verify the server's certificate")
    g.add_argument("--sigv4", action="store_true", help="sign requests with AWS SigV4 (service aps; implied by "
                   "--backend amp); credentials from the default chain (env, profile, IRSA, instance role)")
    g.add_argument("--sigv4-region", metavar="REGION", help="AWS region to sign for (default: from the AMP URL)")
    g.add_argument("--label-key", action="append", default=[], metavar="KEY",
                   help="a pod or node label key to restore from kube-state-metrics' label_* form (repeatable; "
                   "well-known keys and team/project/use-case are restored already)")
    if not required:
        g.add_argument("--prometheus-cache", metavar="DIR", help="where the imported dataset is kept between runs "
                       "(default $XDG_CACHE_HOME/rightsizer/prometheus/<server>)")
    g.add_argument("--node-instance-type-from", metavar="FILE",
                   help="CSV (node,instance_type[,capacity_type,zone,region]) or JSON {node: instance_type} "
                   "filling facts kube-state-metrics does not expose; or a dataset root (the agent's sink): its nodes table")


def duration_s(value: str, flag: str) -> int:
    m = _DURATION.match(str(value).strip())
    if not m or m.group(2) == "ms":
        raise UserError(f"{flag}: '{value}' is not a duration in whole seconds (e.g. 60s, 5m, 1h)")
    n = int(m.group(1)) * _UNIT_S[m.group(2)]
    if n < 1:
        raise UserError(f"{flag}: '{value}' must be at least 1s")
    return n


def _int(value, flag: str, lo: int = 1) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise UserError(f"{flag}: '{value}' is not a whole number") from None
    if n < lo:
        raise UserError(f"{flag}: {n} must be at least {lo}")
    return n


def _read_secret(env: str | None, path: str | None, flag: str) -> str | None:
    if env:
        value = os.environ.get(env)
        if not value:
            raise UserError(f"{flag}-env: environment variable {env} is not set or empty")
        return value
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise UserError(f"{flag}-file: {path}: cannot read ({exc.strerror or exc})") from None
    return None


def _headers(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        name, sep, value = v.partition(":")
        if not sep or not name.strip():
            raise UserError(f"--header: '{name.strip() or v}' is not of the form 'Name: value'")
        out[name.strip()] = value.strip()
    return out


def import_config(args, url: str, out: str, start, end, progress: bool):
    """An ``ImportConfig`` from the parsed flags."""
    from importers.prometheus import ImportConfig
    from importers.prometheus.auth import AuthConfig
    from importers.prometheus.client import ClientConfig
    from importers.prometheus.instance_types import load_instance_types
    from importers.prometheus.ksm import KsmOptions

    step = duration_s(args.step, "--step")
    state = max(step, duration_s(args.state_step, "--state-step"))
    auth = AuthConfig(bearer_token=args.bearer_token, bearer_token_env=args.bearer_token_env,
                      bearer_token_file=args.bearer_token_file, basic_user=args.basic_user,
                      basic_password=_read_secret(args.basic_password_env, args.basic_password_file, "--basic-password"),
                      headers=_headers(args.header), ca_file=args.ca_file, client_cert=args.client_cert,
                      client_key=args.client_key, insecure_skip_verify=args.insecure_skip_verify,
                      sigv4=args.sigv4, sigv4_region=args.sigv4_region)
    client = ClientConfig(url, backend=args.backend, auth=auth, tenant=args.tenant,
                          max_points=_int(args.max_points, "--max-points", 2) if args.max_points else None,
                          timeout_s=float(_int(args.timeout, "--timeout")))
    types = load_instance_types(args.node_instance_type_from) if args.node_instance_type_from else {}
    return ImportConfig(client, start, end, out, step_s=step, state_step_s=state,
                        concurrency=_int(args.concurrency, "--concurrency"),
                        shard_nodes=_int(args.shard_nodes, "--shard-nodes"), selector=args.selector.strip(),
                        ksm=KsmOptions(selector=args.selector.strip(), label_keys=tuple(args.label_key),
                                       instance_types=types), progress=progress)


def run_prometheus_import(cfg, *, quiet: bool = False):
    from importers.prometheus import run_import

    say = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    result = run_import(cfg, say=say)
    llm = result.discovery.llm.dialect.present  # the optional tokens table: named only where servers exist
    rows = ", ".join(f"{n:,} {t}" for t, n in result.rows.items() if t != "tokens" or llm)
    fetched = result.units - result.skipped
    say(f"imported {rows} row(s) from {fetched} chunk(s) ({result.skipped} already done) into {cfg.out} "
        f"in {result.seconds:.1f} s")
    for note in result.notes:
        say(f"note: {note}")
    return result


def run(args) -> int:
    from store.reader import parse_time

    if getattr(args, "source", None) != "prometheus":
        raise UserError("import: name a source, e.g. 'rightsizer import prometheus --url URL ...'")
    start, end = parse_time(args.start, "start"), parse_time(args.end, "end")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    cfg = import_config(args, args.url, args.out, start, end, progress)
    run_prometheus_import(cfg)
    return 0


def import_for_recommend(args) -> tuple[str, str, str]:
    """``recommend --prometheus URL``: import (start, end] into the cache folder; returns (root, start, end).

    The window is --start/--end, or the last 7 days up to the last whole step before now."""
    import hashlib
    from datetime import UTC, datetime, timedelta

    from importers.prometheus.auth import split_userinfo
    from store.reader import parse_time

    step = duration_s(args.step, "--step")
    end = parse_time(args.end, "end")
    if end is None:
        now = datetime.now(UTC).timestamp()
        end = datetime.fromtimestamp(now - now % step, UTC)
    start = parse_time(args.start, "start") or end - timedelta(days=7)
    if args.prometheus_cache:
        cache = args.prometheus_cache
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        server = split_userinfo(args.prometheus)[0] + "|" + args.selector + "|" + args.backend + "|" + (args.tenant or "")
        cache = os.path.join(base, "rightsizer", "prometheus", hashlib.sha256(server.encode()).hexdigest()[:16])
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    cfg = import_config(args, args.prometheus, cache, start, end, progress)
    run_prometheus_import(cfg, quiet=not progress)
    # the rows of (start, end] are those with start < ts <= end; recommend reads [start, end)
    first = start + timedelta(seconds=step)
    return cache, first.isoformat(), (end + timedelta(seconds=step)).isoformat()
