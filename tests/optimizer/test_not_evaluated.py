"""``not_evaluated``: every workload without a recommendation is listed, with why."""

from __future__ import annotations

from optimizer import not_evaluated as ne
from optimizer.inventory import NodeInfo
from tests.optimizer.test_decisions_unit import GIB, WEEK, _demand, _setup


def test_every_workload_is_recommended_or_listed_with_a_reason(simrun):
    doc = simrun.doc
    recommended = {(r["workload"]["namespace"], r["workload"]["kind"], r["workload"]["name"])
                   for r in doc["recommendations"] if r["workload"]["kind"] not in ("Node", "Cluster")}
    listed = {(x["workload"]["namespace"], x["workload"]["kind"], x["workload"]["name"]): x for x in doc["not_evaluated"]}
    workloads = {(w["namespace"], w["kind"], w["name"]) for w in simrun.truth["workloads"]}
    assert recommended | set(listed) == workloads  # nothing silent
    assert not recommended & set(listed)
    for x in listed.values():
        assert x["reason"] in ne.REASONS and x["detail"] and x["history_hours"] >= 0
    # the simulator's well-sized services were evaluated and kept as they are
    well_sized = {(w["namespace"], w["kind"], w["name"]) for w in simrun.truth["workloads"]
                  if w["behaviour"] == "well-sized-serving"}
    assert {listed[k]["reason"] for k in well_sized if k in listed} <= {ne.NO_SAVING}


def test_reasons_in_order(catalog):
    w, ctx = _setup(catalog, kind="Deployment", value_class="production", name="api")
    assert ne.why_not(w, _demand(samples=0), ctx).reason == ne.NO_SAMPLES
    short = ne.why_not(w, _demand(history_hours=3.5, enough_history=False), ctx)
    assert short.reason == ne.SHORT_HISTORY and "3.5 h" in short.detail and short.history_hours == 3.5
    assert ne.why_not(w, _demand(), ctx).reason == ne.NO_SAVING
    ctx.inventory.nodes["n1"] = NodeInfo("n1", "x9.mystery", "on-demand", "us-east-1", "us-east-1a", 96, 1152 * GIB,
                                         8, "NVIDIA A100-SXM4-40GB", 0, WEEK * 1000)
    unknown = ne.why_not(w, _demand(), ctx)
    assert unknown.reason == ne.UNKNOWN_INSTANCE_TYPE and "x9.mystery" in unknown.detail
    # a known type whose price the cost model cannot give (a region without a quote): never guessed
    w, ctx = _setup(catalog, kind="Deployment", value_class="production", name="api")
    ctx.current_hourly = lambda *args, **kwargs: None
    assert ne.why_not(w, _demand(), ctx).reason == ne.NO_PRICE
