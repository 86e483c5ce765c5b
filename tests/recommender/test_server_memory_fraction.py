"""A KV-aware GPU-shape proposal sets the model server's pre-allocated memory share in the manifest's args
(applied with the real ``kubectl kustomize``), or says it must be set where the manifest does not carry it."""

from __future__ import annotations

import pytest
import yaml

from recommender.suggestions import write_suggestions
from tests.recommender.fakes import container_spec, make_recommendation, observed_cluster
from tests.tools import kustomize_with_suggestions

GIB = 1024**3


def _deployment(name, args=None, command=None):
    container = {"name": "server", "image": "vllm/vllm-openai:v0.11.0",
                 "resources": {"limits": {"nvidia.com/gpu": 1}}}
    if args is not None:
        container["args"] = args
    if command is not None:
        container["command"] = command
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "llm"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


ORIGINALS = {
    "spaced": _deployment("spaced", args=["--model", "meta-llama/Llama-3.1-8B-Instruct",
                                          "--gpu-memory-utilization", "0.9", "--port", "8000"]),
    "equals": _deployment("equals", args=["--model=meta-llama/Llama-3.1-8B-Instruct", "--gpu-memory-utilization=0.9"]),
    "shell": _deployment("shell", command=["/bin/sh", "-c",
                                           "vllm serve meta-llama/Llama-3.1-8B-Instruct --gpu-memory-utilization 0.9"]),
    "absent": _deployment("absent", args=["--model", "meta-llama/Llama-3.1-8B-Instruct"]),
}


def _rec(name, fraction=0.89):
    return make_recommendation(namespace="llm", kind="Deployment", name=name, action="use-mig-slice",
                               current={"gpu_count": 1, "gpu_model": "H100-80GB"},
                               proposed={"gpu_count": 1, "mig_profile": "3g.40gb", "gpu_memory_bytes": 40 * GIB,
                                         "server_memory_fraction": fraction},
                               monthly_cost_current=2000.0, risk="high", rationale="KV-aware",
                               details={"kv_aware": {"server": "vllm", "memory_flag": "--gpu-memory-utilization"}})


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    root = tmp_path_factory.mktemp("llm-gitops")
    manifests = root / "manifests"
    manifests.mkdir()
    for name, obj in ORIGINALS.items():
        (manifests / f"{name}.yaml").write_text(yaml.safe_dump(obj))
    containers = {("llm", "Deployment", n): {"server": {"gpu_resource": "nvidia.com/gpu", "gpu_request": 1.0}}
                  for n in ORIGINALS}
    out = root / "out"
    written = write_suggestions([_rec(n) for n in ORIGINALS], out, inventory=observed_cluster(containers),
                                manifests_dir=manifests)
    docs = {d["metadata"]["name"]: d for d in kustomize_with_suggestions(
        root / "overlay", [manifests / f"{n}.yaml" for n in ORIGINALS], out / "suggestions")}
    return written, docs, out


def _server(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


def test_the_flag_is_set_in_each_form_the_args_carry_it(applied):
    _, docs, _ = applied
    assert _server(docs["spaced"])["args"] == ["--model", "meta-llama/Llama-3.1-8B-Instruct",
                                               "--gpu-memory-utilization", "0.89", "--port", "8000"]
    assert _server(docs["equals"])["args"][1] == "--gpu-memory-utilization=0.89"
    assert _server(docs["shell"])["command"][2] == \
        "vllm serve meta-llama/Llama-3.1-8B-Instruct --gpu-memory-utilization 0.89"
    for name in ("spaced", "equals", "shell", "absent"):  # the slice replaces the whole GPU in every one
        assert _server(docs[name])["resources"]["limits"] == {"nvidia.com/mig-3g.40gb": 1}


def test_a_manifest_without_the_flag_gets_a_note_instead(applied):
    written, docs, out = applied
    assert _server(docs["absent"])["args"] == ["--model", "meta-llama/Llama-3.1-8B-Instruct"]
    text = (out / written["use-mig-slice/llm/deployment/absent"]).read_text()
    assert "NOTE: vllm pre-allocates a share of the GPU's memory: set it to 0.89 of the new device " \
           "(--gpu-memory-utilization 0.89); container server's args do not carry --gpu-memory-utilization" in text


def test_the_replace_is_guarded_by_the_old_value(applied):
    written, _, out = applied
    ops = yaml.safe_load((out / written["use-mig-slice/llm/deployment/spaced"]).read_text())
    assert {"op": "test", "path": "/spec/template/spec/containers/0/args/3", "value": "0.9"} in ops
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/args/3", "value": "0.89"} in ops


def test_an_unchanged_share_writes_no_op(tmp_path):
    from recommender.suggestions.patches import Target
    from recommender.suggestions.server_args import memory_fraction_change

    target = Target("llm", "Deployment", "spaced", {"server": container_spec("server", gpu_resource="nvidia.com/gpu")},
                    ORIGINALS["spaced"])
    assert memory_fraction_change(_rec("spaced", fraction=0.9), target) == ([], [])
    ops, notes = memory_fraction_change(_rec("spaced", fraction=0.5), target)
    assert ops[-1] == {"op": "replace", "path": "/spec/template/spec/containers/0/args/3", "value": "0.5"} and not notes
