"""set-replicas patches applied with the real ``kubectl kustomize`` to hand-made manifests: an HPA gets its
minReplicas, a ScaledObject its minReplicaCount, a Deployment without an autoscaler its spec.replicas, each
equal to ``proposed`` and nothing else changed."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from recommender.suggestions import write_suggestions
from tests.recommender.fakes import make_recommendation
from tests.tools import kustomize_with_suggestions


def _deployment(name, replicas):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "ml"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.6.3",
                                                           "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}}}


MANIFESTS = [
    _deployment("chat", 4), _deployment("embed", 2), _deployment("rerank", 6),
    {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "chat-hpa", "namespace": "ml"},
     "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat"}, "minReplicas": 4,
              "maxReplicas": 8, "metrics": [{"type": "Resource", "resource": {
                  "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
    {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "embed-so", "namespace": "ml"},
     "spec": {"scaleTargetRef": {"name": "embed"}, "minReplicaCount": 2, "maxReplicaCount": 5,
              "triggers": [{"type": "prometheus", "metadata": {"serverAddress": "http://prometheus:9090",
                                                               "query": "sum(rate(x[1m]))", "threshold": "5"}}]}},
]


def _rec(i, name, current, proposed, via):
    return make_recommendation(id=f"r{i}", namespace="ml", kind="Deployment", name=name, action="set-replicas",
                               current=current, proposed=proposed, monthly_cost_current=900.0, risk="medium",
                               rationale="hand-made", details={"replicas_via": via})


RECS = [
    _rec(1, "chat", {"min_replicas": 4, "max_replicas": 8}, {"min_replicas": 2},
         {"kind": "HorizontalPodAutoscaler", "name": "chat-hpa"}),
    _rec(2, "embed", {"min_replicas": 2, "max_replicas": 5}, {"min_replicas": 1}, {"kind": "ScaledObject", "name": "embed-so"}),
    _rec(3, "rerank", {"min_replicas": 6, "max_replicas": 6}, {"min_replicas": 3, "max_replicas": 3},
         {"kind": "Deployment", "name": "rerank"}),
]


def test_replica_patches_set_exactly_the_proposed_count(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    files = []
    for i, obj in enumerate(MANIFESTS):
        (base / f"{i}.yaml").write_text(yaml.safe_dump(obj))
        files.append(base / f"{i}.yaml")
    out = tmp_path / "out"
    written = write_suggestions(RECS, out, manifests_dir=base)
    assert set(written) == {"r1", "r2", "r3"}
    docs = kustomize_with_suggestions(tmp_path / "overlay", files, out / "suggestions")
    got = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    expected = {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in MANIFESTS}
    expected[("HorizontalPodAutoscaler", "chat-hpa")]["spec"]["minReplicas"] = 2
    expected[("ScaledObject", "embed-so")]["spec"]["minReplicaCount"] = 1
    expected[("Deployment", "rerank")]["spec"]["replicas"] = 3
    assert got == expected  # the three fields, nothing else (the Deployments under autoscalers untouched)
    version = kubernetes_validate.latest_version()
    for key in (("HorizontalPodAutoscaler", "chat-hpa"), ("Deployment", "rerank")):
        kubernetes_validate.validate(got[key], version, strict=True)
    # each file is a partial object: apiVersion, kind, name/namespace and the one field
    hpa = yaml.safe_load((out / written["r1"]).read_text())
    assert hpa == {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                   "metadata": {"name": "chat-hpa", "namespace": "ml"}, "spec": {"minReplicas": 2}}
    readme = (out / "suggestions" / "README.md").read_text()
    assert "HorizontalPodAutoscaler chat-hpa minReplicas 2" in readme and "replicas 3" in readme


@pytest.mark.parametrize("proposed", [{"min_replicas": 2, "max_replicas": 3}, {}])
def test_a_count_that_is_not_one_number_without_an_autoscaler_writes_nothing(tmp_path, proposed):
    rec = _rec(4, "rerank", {"min_replicas": 6, "max_replicas": 6}, proposed, {"kind": "Deployment", "name": "rerank"})
    assert write_suggestions([rec], tmp_path) == {}
