"""The agent DaemonSet: GPU access without a GPU request, attribution switches, spool and sink wiring."""

from __future__ import annotations

import pytest

from tests.helm.chart import CHART, container, env_map, render, run_helm, values_file

# rightsizer-agent's flags, as fixed in the agent's interface; the chart may pass no other.
AGENT_FLAGS = {"--node-name", "--sink", "--spool-dir", "--spool-max-bytes", "--interval-s", "--flush-interval-s",
               "--upload-timeout-s", "--shutdown-timeout-s",
               "--metrics-address", "--metrics-port", "--pod-resources-socket", "--no-kubernetes",
               "--no-process-attribution", "--backend", "--proc-root", "--cgroup-root", "--log-level"}


def _expand_env(arg: str, env: dict) -> str:
    """Kubernetes' $(VAR) expansion for the env values the chart sets literally."""
    for name, entry in env.items():
        if "value" in entry:
            arg = arg.replace(f"$({name})", str(entry["value"]))
    return arg


def agent_of(rendered_set) -> tuple[dict, dict]:
    spec = rendered_set.one("DaemonSet")["spec"]["template"]["spec"]
    return spec, container(spec, "agent")


def flags(c: dict) -> dict[str, str | None]:
    out = {}
    for arg in c["args"]:
        name, _, value = arg.partition("=")
        out[name] = value if value else None
    return out


@pytest.mark.tools
def test_agent_sees_gpus_through_the_nvidia_runtime_without_requesting_one(rendered):
    spec, c = agent_of(rendered["defaults"])
    assert spec["runtimeClassName"] == "nvidia"
    env = env_map(c)
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "utility"
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    # runtimeClassName: "" leaves the field out (clusters whose default runtime is already nvidia).
    spec_s3, _ = agent_of(rendered["s3-irsa"])
    assert "runtimeClassName" not in spec_s3


@pytest.mark.tools
def test_agent_runs_on_gpu_nodes_and_tolerates_their_taint(rendered):
    spec, _ = agent_of(rendered["defaults"])
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    expressions = [t["matchExpressions"][0] for t in terms]
    assert {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]} in expressions
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]


@pytest.mark.tools
def test_agent_passes_only_known_flags(rendered):
    for name, r in rendered.items():
        _, c = agent_of(r)
        assert c["command"] == ["rightsizer-agent"]
        unknown = set(flags(c)) - AGENT_FLAGS
        assert not unknown, (name, unknown)


@pytest.mark.tools
def test_the_real_agent_parser_accepts_what_the_chart_passes(rendered):
    from agent.cli import build_parser

    parser = build_parser()
    for name, r in rendered.items():
        _, c = agent_of(r)
        env = env_map(c)
        args = parser.parse_args([_expand_env(a, env) for a in c["args"]])
        given = flags(c)
        assert args.interval_s == float(given["--interval-s"]), name
        assert args.metrics_port == int(given["--metrics-port"]), name
        assert args.no_process_attribution == ("--no-process-attribution" in given), name


@pytest.mark.tools
def test_attribution_on_by_default_with_host_pid_and_read_only_pod_resources(rendered):
    spec, c = agent_of(rendered["defaults"])
    assert spec["hostPID"] is True
    assert "--no-process-attribution" not in flags(c)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["pod-resources"]["hostPath"]["path"] == "/var/lib/kubelet/pod-resources"
    mount = next(m for m in c["volumeMounts"] if m["name"] == "pod-resources")
    assert mount["readOnly"] is True
    socket = flags(c)["--pod-resources-socket"]
    assert socket.startswith(mount["mountPath"] + "/") and socket.endswith("kubelet.sock")


@pytest.mark.tools
def test_attribution_off_drops_host_pid_and_the_pod_resources_mount(rendered):
    spec, c = agent_of(rendered["attribution-off"])
    assert "hostPID" not in spec
    assert "--no-process-attribution" in flags(c)
    assert "--pod-resources-socket" not in flags(c)
    assert "pod-resources" not in {v["name"] for v in spec["volumes"]}
    assert "pod-resources" not in {m["name"] for m in c["volumeMounts"]}
    assert not any("/var/lib/kubelet" in v.get("hostPath", {}).get("path", "") for v in spec["volumes"])
    assert spec["priorityClassName"] == "system-node-critical"


@pytest.mark.tools
def test_probes_resources_and_rolling_update(rendered):
    ds = rendered["defaults"].one("DaemonSet")
    _, c = agent_of(rendered["defaults"])
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 9402}
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "160Mi"},
                              "limits": {"cpu": "200m", "memory": "256Mi"}}
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}
    ds_off = rendered["attribution-off"].one("DaemonSet")
    assert ds_off["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == 2


@pytest.mark.tools
def test_read_only_root_has_writable_tmp_and_spool(rendered):
    spec, c = agent_of(rendered["defaults"])
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    spool_dir = flags(c)["--spool-dir"]
    assert not mounts[spool_dir].get("readOnly")
    # By default the spool outlives the pod: the next agent on the node ships what this one could not.
    spool = volumes[mounts[spool_dir]["name"]]
    assert spool == {"name": "spool", "hostPath": {"path": "/var/lib/rightsizer/spool", "type": "DirectoryOrCreate"}}
    assert int(flags(c)["--spool-max-bytes"]) == 1024**3
    spec_hp, c_hp = agent_of(rendered["servicemonitor"])
    assert spec_hp["priorityClassName"] == rendered["servicemonitor"].one("PriorityClass")["metadata"]["name"]


@pytest.mark.tools
def test_an_empty_dir_spool_is_an_explicit_choice_with_a_size_limit(helm, tmp_path):
    spec, c = agent_of(render(helm, tmp_path, {"agent": {"spool": {"type": "emptyDir", "sizeLimit": "2Gi"}}}))
    spool = next(v for v in spec["volumes"] if v["name"] == "spool")
    assert spool == {"name": "spool", "emptyDir": {"sizeLimit": "2Gi"}}


@pytest.mark.tools
def test_shutdown_fits_in_the_grace_period(rendered, helm, tmp_path):
    spec, c = agent_of(rendered["defaults"])
    f = flags(c)
    assert int(f["--shutdown-timeout-s"]) < spec["terminationGracePeriodSeconds"]
    assert int(f["--upload-timeout-s"]) == 10
    path = values_file(tmp_path, "late", {"agent": {"terminationGracePeriodSeconds": 20,
                                                    "shutdownTimeoutSeconds": 30}})
    proc = run_helm(helm, "template", "rs", str(CHART), "-f", str(path))
    assert proc.returncode != 0
    assert "agent.shutdownTimeoutSeconds (30) must be below agent.terminationGracePeriodSeconds (20)" in proc.stderr


@pytest.mark.tools
def test_agent_reads_the_host_cgroup_tree_read_only(rendered):
    spec, c = agent_of(rendered["defaults"])
    mount = next(m for m in c["volumeMounts"] if m["name"] == "host-cgroup")
    assert mount["readOnly"] is True
    assert flags(c)["--cgroup-root"] == mount["mountPath"]
    volume = next(v for v in spec["volumes"] if v["name"] == "host-cgroup")
    assert volume["hostPath"]["path"] == "/sys/fs/cgroup"


@pytest.mark.tools
def test_volume_mount_device_list_for_runtimes_that_ignore_the_env_var(rendered):
    spec, c = agent_of(rendered["s3-irsa"])
    volume = next(v for v in spec["volumes"] if v["name"] == "nvidia-all-devices")
    assert volume["hostPath"] == {"path": "/dev/null", "type": "CharDevice"}
    mount = next(m for m in c["volumeMounts"] if m["name"] == "nvidia-all-devices")
    assert mount == {"name": "nvidia-all-devices", "mountPath": "/var/run/nvidia-container-devices/all",
                     "readOnly": True}
    default_spec, _ = agent_of(rendered["defaults"])
    assert "nvidia-all-devices" not in {v["name"] for v in default_spec["volumes"]}


def test_agent_flags_are_the_agents_own():
    from agent.cli import build_parser

    own = {o for a in build_parser()._actions for o in a.option_strings if o.startswith("--")} - {"--help", "--version"}
    assert own == AGENT_FLAGS
