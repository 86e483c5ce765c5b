"""The outputs on the simulator's cluster: its planted spike and a budget crossing alert, and suggestions
for its expected actions apply with the real ``kubectl kustomize`` onto its original manifests."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from recommender.alerts import build_alerts
from recommender.allocation import allocate
from recommender.config import parse_config
from recommender.suggestions import write_suggestions
from store.reader import Dataset
from tests.recommender.fakes import make_recommendation
from tests.tools import kustomize_with_suggestions

MIG = "1g.10gb"


@pytest.fixture(scope="module")
def sim(tmp_path_factory, catalog):
    from simulator import simulate

    root = tmp_path_factory.mktemp("sim") / "data"
    simulate(str(root), nodes=12, days=7, interval_s=600, seed=11)
    truth = json.loads((root / "truth.json").read_text())
    return root, truth, allocate(Dataset(str(root)), catalog)


@pytest.fixture(scope="module")
def observed(sim):
    """The observed cluster of the simulated week (the container specs the suggestions read)."""
    from optimizer.inventory import build_inventory

    return build_inventory(Dataset(str(sim[0])))


def test_allocation_sums_to_the_cent_on_the_simulated_cluster(sim, catalog):
    root, truth, alloc = sim
    assert round(alloc.rows["total_cost"].sum() * 100) == alloc.total_cents
    # every node the simulator ran has an idle row, or is listed as unpriced with the reason: the bundled
    # snapshot has no spot price for the CPU node the simulator runs on spot, and none is guessed
    idle_rows = set(alloc.rows.loc[alloc.rows.row_type == "idle", "node"])
    unpriced = {u.node: u for u in alloc.unpriced}
    assert idle_rows | set(unpriced) == {n["node"] for n in truth["nodes"]} and not idle_rows & set(unpriced)
    for n in truth["nodes"]:
        if n["node"] in unpriced:
            assert catalog.price(n["instance_type"], capacity_type=n["capacity_type"]) is None
            assert f"no {n['capacity_type']} price for {n['instance_type']} in us-east-1" in unpriced[n["node"]].reason
    # the simulator's unallocated GPUs show up as idle GPU cost on their nodes
    for gpu in truth["unallocated_gpus"]:
        idle = alloc.rows[(alloc.rows.row_type == "idle") & (alloc.rows.node == gpu["node"])]
        assert float(idle["gpu_cost"].iloc[0]) > 0


def test_planted_spike_alerts(sim):
    _, truth, alloc = sim
    spike = truth["spike"]
    alerts = build_alerts(alloc, parse_config({}))
    team = [s for s in alerts.spikes if s.scope == "team"]
    assert [(s.name, s.date) for s in team] == [(spike["team"], spike["date"])]
    assert team[0].factor == pytest.approx(spike["factor"], rel=0.05)
    w = spike["workload"]
    assert any(s.scope == "workload" and s.name == f"{w['namespace']}/{w['kind']}/{w['name']}" for s in alerts.spikes)


def test_budget_crossing_alerts(sim):
    """Budgets at each team's normal run rate (+10 % headroom except the spike team, as the simulator's
    budgets_hint does): the spike day pushes the spike team over, the others stay under."""
    _, truth, alloc = sim
    daily = alloc.daily_by("team")
    spike_team, spike_date = truth["spike"]["team"], truth["spike"]["date"]
    budgets = {}
    for team in daily.columns:
        normal = daily.loc[daily.index != spike_date, team].median()
        budgets[team] = {"monthly_usd": float(normal * 730 / 24 * (1.0 if team == spike_team else 1.1))}
    alerts = build_alerts(alloc, parse_config({"budgets": {"teams": budgets}}))
    status = {b.name: b.status for b in alerts.budgets}
    assert status[spike_team] == "over"
    assert all(s != "over" for t, s in status.items() if t != spike_team)
    doc = alerts.to_json_dict()
    assert any(a["type"] == "budget" and a["name"] == spike_team and a["severity"] == "critical" for a in doc["alerts"])


def _recommendations(truth) -> list:
    recs = []
    for i, w in enumerate(truth["workloads"], 1):
        f = w["facts"]
        for action in w["expected_actions"][:1]:
            current, proposed = {}, {}
            if action == "change-instance-type":
                proposed = {"instance_type": "g6e.xlarge", "gpu_count": 1}
                if w["behaviour"] == "overprovisioned-inference" and "H100" in (w["gpu_model"] or ""):
                    action, proposed = "use-mig-slice", {"mig_profile": MIG, "gpu_count": 1}
            elif action == "use-spot":
                current, proposed = {"capacity_type": "on-demand"}, {"capacity_type": "spot"}
            elif action == "scale-to-zero":
                current, proposed = {"min_replicas": 1}, {"min_replicas": 0}
            elif action == "reclaim-idle-gpu":
                current, proposed = {"gpu_count": 1}, {"gpu_count": 0}
            elif action == "rightsize-requests":
                proposed = {"cpu_request": f["cpu_cores_p95"] * 1.2, "mem_request": f["mem_bytes_p99"] * 1.2}
            recs.append(make_recommendation(id=f"r{i:02d}", namespace=w["namespace"], kind=w["kind"], name=w["name"],
                                            action=action, current=current, proposed=proposed,
                                            monthly_cost_current=10.0, risk="low", rationale="test"))
    return recs


@pytest.fixture(scope="module")
def applied(sim, observed, tmp_path_factory):
    root, truth, _ = sim
    recs = _recommendations(truth)
    out = tmp_path_factory.mktemp("sim-out")
    written = write_suggestions(recs, out, inventory=observed, manifests_dir=root / "manifests")
    docs = {(d["metadata"].get("namespace"), d["kind"], d["metadata"]["name"]): d
            for d in kustomize_with_suggestions(root / "overlay", sorted((root / "manifests").rglob("*.yaml")),
                                                out / "suggestions")}
    return recs, written, docs


def _pod_spec(obj):
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]["spec"]


def test_suggestions_on_simulator_manifests_validate(applied):
    recs, written, docs = applied
    assert len(written) == len(recs)  # every expected action changes an object here
    version = kubernetes_validate.latest_version()
    for obj in docs.values():
        if obj["kind"] not in ("ScaledObject", "HTTPScaledObject"):  # CRDs: no bundled schema
            kubernetes_validate.validate(obj, version, strict=True)


def test_patched_objects_carry_the_proposed_values(applied, observed):
    recs, _, docs = applied
    for rec in recs:
        obj = docs[(rec.namespace, rec.kind, rec.name)]
        action = rec.action
        if action == "scale-to-zero":
            so = docs.get((rec.namespace, "ScaledObject", rec.name)) or docs[(rec.namespace, "HTTPScaledObject", rec.name)]
            low = so["spec"]["minReplicaCount"] if so["kind"] == "ScaledObject" else so["spec"]["replicas"]["min"]
            assert low == 0 and so["spec"]["scaleTargetRef"]["name"] == rec.name
            continue
        spec = _pod_spec(obj)
        if action == "reclaim-idle-gpu":  # the pod stays, without its GPU (what the saving is priced with)
            assert obj["spec"]["replicas"] == 1
            assert not any(k.startswith("nvidia.com/") for c in spec["containers"]
                           for part in c["resources"].values() for k in part)
            continue
        if action == "use-spot":  # spot preferred, on-demand allowed, no on-demand pin left
            assert "karpenter.sh/capacity-type" not in spec.get("nodeSelector", {})
            preferred = spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            assert preferred[0]["preference"]["matchExpressions"][0]["values"] == ["spot"]
            keys = [t.get("key") for t in spec["tolerations"]]
            assert "nvidia.com/gpu" in keys and "karpenter.sh/capacity-type" in keys  # the full list
        elif action == "use-mig-slice":
            gpu = next(c for c in spec["containers"] if "nvidia.com/mig-1g.10gb" in c["resources"].get("limits", {}))
            assert "nvidia.com/gpu" not in gpu["resources"]["limits"]
            assert "nvidia.com/gpu" not in gpu["resources"].get("requests", {})
        elif action == "change-instance-type":
            assert spec["nodeSelector"]["node.kubernetes.io/instance-type"] == "g6e.xlarge"
        elif action == "rightsize-requests":
            containers = {c.name for c in observed.workloads[(rec.namespace, rec.kind, rec.name)].containers}
            total = sum(_cores(c["resources"]["requests"]["cpu"]) for c in spec["containers"]
                        if c["name"] in containers)
            assert total == pytest.approx(rec.proposed["cpu_request"], abs=0.01 * len(containers))


def test_allocation_and_observed_cluster_agree_on_every_workload(sim, observed):
    # one model of what ran where: every workload the allocation charges is a workload of the observed
    # cluster, with the owner its labels give, and every workload with pods on a priced node is charged
    _, _, alloc = sim
    work = alloc.rows[alloc.rows.row_type == "workload"]
    assert len(work) >= 10
    for r in work.itertuples(index=False):
        w = observed.workloads[(r.namespace, r.kind, r.workload)]
        assert (r.team, r.project, r.use_case) == (w.team or "unallocated", w.project or "unallocated",
                                                   w.use_case or "unallocated")
        assert alloc.owners[w.key].value_class == w.value_class.name
    assert set(zip(work.namespace, work.kind, work.workload, strict=True)) <= set(observed.workloads)
    priced = set(alloc.nodes["node"])  # a node without a price is left out of every cost
    charged = {w.key for w in observed.workloads.values() if any(p.seconds > 0 and p.node in priced for p in w.pods)}
    assert charged == set(zip(work.namespace, work.kind, work.workload, strict=True))


def _cores(q: str) -> float:
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)
