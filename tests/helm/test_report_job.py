"""The weekly report CronJob: schedule and policies, and the command it really runs.

The container's script is run here with /bin/sh and a stand-in ``rightsizer`` on PATH that records its
argv, so quoting, the dated output folder and the optional flags are checked as the shell sees them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from tests.helm.chart import container, env_map

RECORDER = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["ARGV_OUT"], "w") as fh:
    json.dump(sys.argv[1:], fh)
"""


def report_of(r) -> tuple[dict, dict, dict]:
    cj = r.one("CronJob")
    spec = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return cj, spec, container(spec, "report")


def run_script(c: dict, tmp_path, env: dict) -> list[str]:
    """Run the container's command with the environment Kubernetes would give it."""
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no /bin/sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "rightsizer"
    stub.write_text(RECORDER)
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    argv_out = tmp_path / "argv.json"
    assert c["command"][0] == "/bin/sh"
    full_env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "ARGV_OUT": str(argv_out),
                "NUMBA_CACHE_DIR": str(tmp_path / "numba"), **env}
    proc = subprocess.run([sh, *c["command"][1:], *c["args"]], env=full_env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(argv_out.read_text())


@pytest.mark.tools
def test_schedule_and_policies(rendered):
    cj, spec, c = report_of(rendered["defaults"])
    assert cj["spec"]["schedule"] == "0 6 * * 1"
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    assert cj["spec"]["successfulJobsHistoryLimit"] == 3
    assert cj["spec"]["failedJobsHistoryLimit"] == 3
    assert cj["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 2
    assert "timeZone" not in cj["spec"]
    assert spec["restartPolicy"] == "Never"
    assert len(cj["metadata"]["name"]) <= 52  # CronJob names longer than 52 characters are rejected
    cj_berlin, _, _ = report_of(rendered["pvc-existing"])
    assert cj_berlin["spec"]["timeZone"] == "Europe/Berlin"
    assert cj_berlin["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 1209600


@pytest.mark.tools
def test_args_contain_the_recommend_command(rendered):
    _, _, c = report_of(rendered["defaults"])
    script = c["args"][-1]
    assert "rightsizer recommend" in script
    for flag in ("--data", "--out", "--config /etc/rightsizer/config.yaml"):
        assert flag in script


@pytest.mark.tools
def test_dated_report_lands_under_the_sink(rendered, tmp_path):
    _, spec, c = report_of(rendered["defaults"])
    before = dt.datetime.now(dt.UTC).date().isoformat()
    argv = run_script(c, tmp_path, {"RIGHTSIZER_SINK": "/var/lib/rightsizer/data"})
    after = dt.datetime.now(dt.UTC).date().isoformat()
    assert argv[:3] == ["recommend", "--data", "/var/lib/rightsizer/data"]
    out = argv[argv.index("--out") + 1]
    assert out in {f"/var/lib/rightsizer/data/reports/{before}", f"/var/lib/rightsizer/data/reports/{after}"}
    assert argv[argv.index("--config") + 1] == "/etc/rightsizer/config.yaml"
    assert "--notify" not in argv and "--region" not in argv
    config_mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/rightsizer")
    config_volume = next(v for v in spec["volumes"] if v["name"] == config_mount["name"])
    assert config_volume["configMap"]["items"] == [{"key": "config.yaml", "path": "config.yaml"}]


@pytest.mark.tools
def test_s3_report_with_region_and_webhook_from_a_secret(rendered, tmp_path):
    _, _, c = report_of(rendered["s3-irsa"])
    notify = env_map(c)["RIGHTSIZER_NOTIFY_URL"]["valueFrom"]["secretKeyRef"]
    assert notify == {"name": "slack-webhook", "key": "url"}
    assert "hooks" not in json.dumps(c)  # the URL itself never appears in the pod spec
    url = "https://hooks.slack.com/services/T0/B0/x?a=1&b=2"
    argv = run_script(c, tmp_path, {"RIGHTSIZER_SINK": "s3://acme-finops/rightsizer", "RIGHTSIZER_NOTIFY_URL": url})
    assert argv[argv.index("--data") + 1] == "s3://acme-finops/rightsizer"
    assert argv[argv.index("--out") + 1].startswith("s3://acme-finops/rightsizer/reports/")
    # rightsizer reads the URL from its environment: it is never in the process's argv (/proc/PID/cmdline)
    assert "--notify" not in argv and not any("hooks" in a for a in argv)
    assert argv[argv.index("--region") + 1] == "us-west-2"


@pytest.mark.tools
def test_fixed_latest_folder_and_chart_made_secret(rendered, tmp_path):
    r = rendered["pvc-existing"]
    _, _, c = report_of(r)
    secret = r.one("Secret")
    ref = env_map(c)["RIGHTSIZER_NOTIFY_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": secret["metadata"]["name"], "key": "url"}
    assert secret["stringData"] == {"url": "https://hooks.example.com/T0/B0"}
    argv = run_script(c, tmp_path, {"RIGHTSIZER_SINK": "/data",
                                    "RIGHTSIZER_NOTIFY_URL": "https://hooks.example.com/T0/B0"})
    assert argv[argv.index("--out") + 1] == "/data/reports/latest"
    assert not any("hooks" in a for a in argv)


@pytest.mark.tools
def test_numba_threads_and_cache_follow_the_container(rendered):
    _, spec, c = report_of(rendered["defaults"])
    env = env_map(c)
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        assert env[name]["valueFrom"]["resourceFieldRef"] == {"containerName": "report", "resource": "limits.cpu",
                                                              "divisor": "1"}
    cache = env["NUMBA_CACHE_DIR"]["value"]
    tmp_mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
    assert cache.startswith("/tmp/")
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == tmp_mount["name"])


@pytest.mark.tools
def test_report_disabled_renders_no_job(rendered):
    r = rendered["attribution-off"]
    assert not r.all("CronJob")
    assert [sa["metadata"]["name"] for sa in r.all("ServiceAccount")] == ["rs-rightsizer-agent"]
