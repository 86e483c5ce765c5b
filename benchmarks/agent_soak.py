"""Agent soak: the real ``rightsizer-agent`` against a local S3 stand-in that goes down, hangs and comes back.

Setup: ``--backend fake:bench`` (8 fake H100s), ``--no-kubernetes``, 1 s ticks, a segment every 10 s, a small
spool cap (so the outages overflow it), sink ``s3://soak/rightsizer`` at a loopback HTTP server. The server
stores objects in moto's in-process S3 and, on a schedule over ``--duration-s`` (default 600 s), is:

    up 0-15 %, down 15-35 % (connections closed unanswered), up 35-45 %, hung 45-65 % (connections accepted,
    never answered), up 65-75 %, hung 75-80 %, down 80-85 %, up 85-100 %

At 55 % (while hung) the agent gets SIGTERM and a new agent starts on the same spool (a pod replaced during
an outage with a hostPath spool); at 100 % the second one gets SIGTERM with S3 up. Measured: both shutdown
times, rows sampled (the agents' own count, from their last log line) against rows delivered to S3 + rows
counted as dropped + rows left in the spool, duplicate rows in S3, /metrics answers during the faults, and
RSS every second (peak per tenth of the run).

    python benchmarks/agent_soak.py [--duration-s 600] [--spool-max-bytes 48Ki] [--json FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BUCKET, PREFIX, NODE = "soak", "rightsizer", "soak-node"
SCHEDULE = [(0.00, "up"), (0.15, "down"), (0.35, "up"), (0.45, "hang"), (0.65, "up"), (0.75, "hang"),
            (0.80, "down"), (0.85, "up")]
RESTART_AT = 0.55
FINAL_LINE = re.compile(r"stopped after (\d+) tick\(s\) in ([\d.]+) s(?P<timeout> \(shutdown timeout reached[^)]*\))?: "
                        r"(?P<sampled>\d+) rows sampled since start, (?P<dropped>\d+) dropped .*?"
                        r"(?P<files>\d+) segment file\(s\) \((?P<left>\d+) rows\) left in the spool")
KEYS = {"gpu": ("ts", "node", "gpu_uuid", "namespace", "pod", "container"), "container": ("ts", "node", "namespace", "pod", "container"),
        "pods": ("ts", "node", "pod_uid", "container"), "nodes": ("ts", "node")}


class FaultyS3:
    """Loopback S3 stand-in: PUT/GET object (path style) into moto's in-process S3, with a fault mode."""

    def __init__(self, client):
        self.client = client
        self.mode = "up"
        self.puts = self.refused = self.hung = 0
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _fault(self) -> bool:
                mode = stand_in.mode
                if mode == "down":
                    with stand_in._lock:
                        stand_in.refused += 1
                    self.close_connection = True
                    return True
                if mode == "hang":
                    with stand_in._lock:
                        stand_in.hung += 1
                    while stand_in.mode == "hang":  # hold the connection, never answer
                        time.sleep(0.2)
                    self.close_connection = True
                    return True
                return False

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = io.BytesIO()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers (checksums)
                            break
                        out.write(self.rfile.read(size))
                        self.rfile.readline()
                    return out.getvalue()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _send(self, code: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                if self._fault():
                    return
                data = self._body()
                bucket, _, key = urllib.parse.unquote(urllib.parse.urlparse(self.path).path).lstrip("/").partition("/")
                resp = stand_in.client.put_object(Bucket=bucket, Key=key, Body=data)
                with stand_in._lock:
                    stand_in.puts += 1
                self._send(200, headers={"ETag": resp["ETag"]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AgentProcess:
    def __init__(self, args, spool: str, proc_root: str, env: dict, port: int):
        cmd = [sys.executable, "-m", "agent", "--backend", "fake:bench", "--no-kubernetes", "--node-name", NODE,
               "--sink", f"s3://{BUCKET}/{PREFIX}", "--spool-dir", spool, "--spool-max-bytes", args.spool_max_bytes,
               "--interval-s", "1", "--flush-interval-s", str(args.flush_interval_s),
               "--upload-timeout-s", str(args.upload_timeout_s), "--shutdown-timeout-s", str(args.shutdown_timeout_s),
               "--metrics-address", "127.0.0.1", "--metrics-port", str(port), "--proc-root", proc_root]
        fd, self.log_path = tempfile.mkstemp(prefix="agent-soak-", suffix=".log")
        self._log = os.fdopen(fd, "w")  # the agent's stderr, read back after it exits
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=self._log, stdout=subprocess.DEVNULL)
        self.port = port
        self.rss: list[tuple[float, int]] = []

    def rss_kib(self) -> int | None:
        try:
            with open(f"/proc/{self.proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def stop(self) -> tuple[float, dict]:
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=600)
        took = time.monotonic() - t0
        self._log.close()
        text = Path(self.log_path).read_text()
        found = list(FINAL_LINE.finditer(text))
        m = found[-1] if found else None
        if code != 0 or m is None:
            raise SystemExit(f"agent exited {code}; log {self.log_path}:\n{text[-3000:]}")
        return took, {"ticks": int(m.group(1)), "sampled": int(m.group("sampled")), "dropped": int(m.group("dropped")),
                      "left_files": int(m.group("files")), "left_rows": int(m.group("left")),
                      "timeout_reached": bool(m.group("timeout")), "log": self.log_path,
                      "final_line": text[m.start():text.find("\n", m.start())]}


def scrape(port: int) -> tuple[bool, float]:
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            ok = r.status == 200 and b"rightsizer_agent_samples_total" in r.read()
    except OSError:
        ok = False
    return ok, time.monotonic() - t0


def count_s3(client) -> tuple[dict, dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: dict[str, int] = {}
    tables: dict[str, list] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + "/"):
        for obj in page.get("Contents", []):
            table = obj["Key"][len(PREFIX) + 1:].split("/", 1)[0]
            body = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            t = pq.read_table(pa.BufferReader(body))
            tables.setdefault(table, []).append(t)
            rows[table] = rows.get(table, 0) + t.num_rows
    dups = {}
    for table, parts in tables.items():
        t = pa.concat_tables(parts, promote_options="default")
        keys = [k for k in KEYS.get(table, ("ts", "node")) if k in t.column_names]
        unique = t.group_by(keys).aggregate([]).num_rows
        dups[table] = t.num_rows - unique
    return rows, dups


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration-s", type=float, default=600.0)
    p.add_argument("--spool-max-bytes", default="48Ki")
    p.add_argument("--flush-interval-s", type=float, default=10.0)
    p.add_argument("--upload-timeout-s", type=float, default=2.0)
    p.add_argument("--shutdown-timeout-s", type=float, default=10.0)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    creds = {"AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(creds)
    import boto3
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    s3 = FaultyS3(client)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(creds, AWS_ENDPOINT_URL_S3=s3.url, PYTHONPATH=str(REPO))

    work = tempfile.mkdtemp(prefix="agent-soak-")
    spool, proc_root = os.path.join(work, "spool"), os.path.join(work, "proc")
    os.makedirs(proc_root)
    t_start = time.monotonic()
    agents = [AgentProcess(args, spool, proc_root, env, free_port())]
    schedule = list(SCHEDULE)
    restarted = False
    stops: list[tuple[str, float, dict]] = []
    rss: list[tuple[float, int]] = []
    scrapes: dict[str, list] = {}
    last_scrape = 0.0
    while True:
        now = time.monotonic() - t_start
        frac = now / args.duration_s
        if frac >= 1.0:
            break
        while schedule and frac >= schedule[0][0]:
            s3.mode = schedule.pop(0)[1]
            print(f"{now:6.0f} s  S3 {s3.mode}", flush=True)
        if not restarted and frac >= RESTART_AT:
            restarted = True
            took, final = agents[-1].stop()
            stops.append((f"SIGTERM while S3 is {s3.mode}", took, final))
            print(f"{now:6.0f} s  agent 1 stopped in {took:.1f} s; starting agent 2 on the same spool", flush=True)
            agents.append(AgentProcess(args, spool, proc_root, env, free_port()))
        kib = agents[-1].rss_kib()
        if kib:
            rss.append((now, kib))
        if now - last_scrape >= 15:
            last_scrape = now
            scrapes.setdefault(s3.mode, []).append(scrape(agents[-1].port))
        time.sleep(1.0)
    mode = s3.mode
    took, final = agents[-1].stop()
    stops.append((f"SIGTERM while S3 is {mode}", took, final))

    delivered, dups = count_s3(client)
    sampled = sum(f["sampled"] for _, _, f in stops)
    dropped = sum(f["dropped"] for _, _, f in stops)
    left = stops[-1][2]["left_rows"]
    tenth = args.duration_s / 10
    peaks = [max((k for t, k in rss if i * tenth <= t < (i + 1) * tenth), default=0) for i in range(10)]
    result = {
        "duration_s": args.duration_s, "flags": vars(args),
        "rows_sampled": sampled, "rows_delivered": sum(delivered.values()), "rows_delivered_by_table": delivered,
        "rows_dropped_counted": dropped, "rows_left_in_spool": left,
        "balance": sampled - (sum(delivered.values()) + dropped + left),
        "duplicates_by_table": dups,
        "shutdowns": [{"when": w, "seconds": round(t, 2), **{k: v for k, v in f.items() if k != "log"}}
                      for w, t, f in stops],
        "s3_requests": {"stored": s3.puts, "refused_while_down": s3.refused, "held_while_hung": s3.hung},
        "metrics_scrapes": {m: {"ok": sum(ok for ok, _ in v), "of": len(v), "max_s": round(max(s for _, s in v), 3)}
                            for m, v in scrapes.items()},
        "rss_peak_mib_per_tenth": [round(k / 1024, 1) for k in peaks],
        "rss_peak_mib": round(max(k for _, k in rss) / 1024, 1),
    }
    mock.stop()
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    ok = result["balance"] == 0 and not any(dups.values())
    print("OK: rows sampled = delivered + dropped + left in spool, no duplicates" if ok else "MISMATCH", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
