"""Margins a production engineer accepts, on hand-made profiles: GPU memory above the percentile's
headroom and the observed peak's margin, MIG compute as the slice's share of the GPU's SMs, the busiest
interval within the slice for production, a GPU-model move that states (and for production bounds) how
much slower each request gets; and the one risk rule for every action."""

from __future__ import annotations

from dataclasses import replace

import pytest

from optimizer.config import DEFAULT_OPTIMIZER_CONFIG, RiskConfig
from optimizer.decisions import gpu_shape, reclaim_idle, rightsize_requests, risk, spot
from optimizer.demand import ContainerDemand, workload_demand
from optimizer.profiles.api import MetricStats
from tests.optimizer.test_decisions_unit import GIB, _demand, _setup

A100_80 = dict(instance="p4de.24xlarge", gpus=1, model="NVIDIA A100-SXM4-80GB", gpu_mem=80 * GIB, kind="Deployment",
               name="embed", cpu=2, mem=8 * GIB)


def _stats(p95, p99, peak, samples=10080):
    return MetricStats(p50=p95 / 2, p90=p95, p95=p95, p99=p99, max=peak, mean=p95 / 2, idle_fraction=0.0,
                       seconds=samples * 60.0, samples=samples, duty_cycle=1.0, burst_count=1, mean_burst_s=0.0,
                       max_idle_run_s=0.0)


class _Profiles:
    """ProfileSet-shaped: one workload's GPU memory and activity."""

    def __init__(self, mem: MetricStats, activity: MetricStats):
        self.by_metric = {"gpu_mem_bytes": mem, "gpu_activity": activity, "cpu_cores": _stats(1.0, 1.0, 1.0)}

    def stats(self, key, metric):
        return self.by_metric.get(metric)

    def activity_source(self, key):
        return "sm_active"


def _need(catalog, value_class, *, p99, peak, act_p95=0.1, act_max=0.1):
    w, ctx = _setup(catalog, value_class=value_class, **A100_80)
    profiles = _Profiles(_stats(p99 * 0.9, p99, peak), _stats(act_p95, act_p95, act_max))
    return w, ctx, workload_demand(w, ctx.inventory, profiles, {}, ctx.policy(w), ctx.config.demand)


@pytest.mark.parametrize("value_class, p99, peak, need", [
    ("production", 30 * GIB, 31 * GIB, 36 * GIB),        # p99 × 1.20 = 36 beats max × 1.10 = 34.1
    ("production", 30 * GIB, 38.87 * GIB, 38.87 * 1.10 * GIB),  # the review's peak: max × 1.10 = 42.76
    ("experimental", 30 * GIB, 33 * GIB, 33 * 1.05 * GIB),  # p95 27 × 1.10 = 29.7 below max × 1.05 = 34.65
])
def test_memory_need_is_the_larger_of_headroom_and_peak_margin(catalog, value_class, p99, peak, need):
    w, ctx, d = _need(catalog, value_class, p99=p99, peak=peak)
    policy = ctx.policy(w)
    percentile = p99 if policy.mem_percentile == "p99" else p99 * 0.9
    expected = max(percentile * (1 + policy.mem_headroom), peak * (1 + policy.mem_peak_margin))
    assert d.gpu_mem_need == pytest.approx(expected, abs=1)
    assert policy.mem_peak_margin == (0.10 if value_class == "production" else 0.05)
    assert d.gpu_mem_need == pytest.approx(need, abs=1)


def test_a_slice_with_little_room_above_the_peak_is_refused_in_production(catalog):
    """The review's case: 38.87 GiB observed peak, a 39.25 GiB 3g.40gb slice. Production keeps 10 % above
    the peak (42.8 GiB), so no 40 GB slice; an experimental workload (5 %: 40.8 GiB) neither."""
    for value_class in ("production", "experimental"):
        w, ctx, d = _need(catalog, value_class, p99=36 * GIB, peak=38.87 * GIB)
        c = gpu_shape.mig_slice(w, d, ctx)
        assert c is None or c.proposed["gpu_memory_bytes"] >= 38.87 * 1.05 * GIB
        assert c is None or c.proposed["mig_profile"] not in ("3g.40gb", "4g.40gb")


def test_mig_compute_is_the_slices_share_of_the_gpus_sms(catalog):
    """0.41 of an A100 fits 3/7 = 0.429 of the compute slices but not 42 of 108 SMs (0.389): 4g.40gb."""
    w, ctx = _setup(catalog, value_class="experimental", **A100_80)
    d = _demand(activity=0.41 * 0.8, compute_need=0.41, gpu_mem_need=5 * GIB, gpu_mem_max=4 * GIB,
                activity_max=0.3, peak_compute_need=0.3)
    c = gpu_shape.mig_slice(w, d, ctx)
    assert c.proposed["mig_profile"] == "4g.40gb"
    assert "56 of the GPU's 108 SMs" in c.rationale
    d = replace(d, compute_need=0.38)
    assert gpu_shape.mig_slice(w, d, ctx).proposed["mig_profile"] == "3g.40gb"


def test_the_busiest_interval_must_fit_the_slice_in_production(catalog):
    """p95 activity 12 % at the 60 % target needs 0.2 of a GPU (a 2g slice, 28/108 = 0.259); the busiest
    minute at 35 % of the whole GPU needs a 3g slice (0.389) in production; experimental keeps the 2g."""
    w, ctx, d = _need(catalog, "production", p99=5 * GIB, peak=5 * GIB, act_p95=0.12, act_max=0.35)
    assert d.peak_compute_need == pytest.approx(0.35)
    c = gpu_shape.mig_slice(w, d, ctx)
    assert c.proposed["mig_profile"] == "3g.40gb"
    assert "busiest interval needs 0.35 of a GPU" in c.rationale
    w, ctx, d = _need(catalog, "experimental", p99=5 * GIB, peak=5 * GIB, act_p95=0.12 * 0.8 / 0.6, act_max=0.35)
    assert gpu_shape.mig_slice(w, d, ctx).proposed["mig_profile"] in ("1g.20gb", "2g.20gb")
    # a peak beyond every slice: no slice at all in production
    w, ctx, d = _need(catalog, "production", p99=5 * GIB, peak=5 * GIB, act_p95=0.12, act_max=0.95)
    assert gpu_shape.mig_slice(w, d, ctx) is None


def test_a_slower_gpu_states_the_latency_factor_and_production_refuses_it(catalog):
    from optimizer.catalog import relative_throughput

    kw = dict(instance="p4d.24xlarge", gpus=1, model="NVIDIA A100-SXM4-40GB", gpu_mem=40 * GIB, kind="Deployment",
              name="ocr", cpu=2, mem=8 * GIB)
    w, ctx = _setup(catalog, value_class="experimental", **kw)
    d = _demand(activity=0.02, compute_need=0.02 / 0.8, gpu_mem_need=10 * GIB, gpu_mem_max=8 * GIB,
                gpu_mem_observed=8 * GIB, activity_max=0.02, peak_compute_need=0.02)
    c = gpu_shape.change_instance_type(w, d, ctx)
    rel = relative_throughput("A100-40GB", c.proposed["gpu_model"])
    assert rel < 1 and c.extra["latency_factor"] == pytest.approx(1 / rel, abs=0.01)
    assert f"about {1 / rel:.1f}× as long" in c.rationale
    w, ctx = _setup(catalog, value_class="production", **kw)
    prod = gpu_shape.change_instance_type(w, d, ctx)
    if prod is not None:  # only a GPU at most 1.25× slower per request may be proposed
        assert prod.extra["latency_factor"] <= 1.25
        assert "within this class's limit of 1.25×" in prod.rationale or prod.extra["latency_factor"] == 1.0


# -- risk -------------------------------------------------------------------------------------------------
CFG = RiskConfig()


@pytest.mark.parametrize("confidence, consequence, bounded, expect", [
    (0.9, risk.SLOWER, False, "low"), (0.5, risk.SLOWER, False, "medium"), (0.1, risk.SLOWER, False, "high"),
    (0.9, risk.RESTART, False, "medium"), (0.9, risk.RESTART, True, "low"), (0.2, risk.RESTART, True, "high"),
    (0.9, risk.FAILURE, False, "medium"), (0.5, risk.FAILURE, False, "medium"), (0.037, risk.FAILURE, False, "high"),
])
def test_risk_rule(confidence, consequence, bounded, expect):
    assert risk.rate(confidence, consequence, CFG, bounded=bounded) == expect


def test_failure_is_never_low_where_slower_is():
    for c in (0.0, 0.2, 0.35, 0.5, 0.7, 1.0):
        order = risk.RISKS.index
        assert order(risk.rate(c, risk.FAILURE, CFG)) >= order(risk.rate(c, risk.SLOWER, CFG))
        assert risk.rate(c, risk.FAILURE, CFG) != "low"


def test_production_downsizing_under_a_daily_cycle_is_at_least_medium():
    assert risk.rate(0.9, risk.SLOWER, CFG, production_downsizing_hours=12) == "medium"
    assert risk.rate(0.9, risk.SLOWER, CFG, production_downsizing_hours=20) == "low"
    assert risk.rate(0.9, risk.SLOWER, RiskConfig(daily_cycle_hours=30), production_downsizing_hours=24) == "medium"


def test_short_history_is_said_in_the_rationale(catalog):
    w, ctx = _setup(catalog, value_class="production", kind="Deployment", name="api", gpus=0, cpu=8, mem=32 * GIB)
    d = _demand(history_hours=60, confidence=0.36,
                containers={"main": ContainerDemand("main", 1.0, 4 * GIB, 1.15, 5 * GIB)})
    c = rightsize_requests.decide(w, d, ctx)
    assert "seen over 60 h, less than a weekly cycle" in c.rationale and "(confidence 0.36)" in c.rationale
    assert c.risk == "medium" and c.extra["consequence"] == risk.FAILURE  # memory cut: an OOM if wrong
    short = rightsize_requests.decide(w, replace(d, history_hours=12), ctx)
    assert "less than one daily cycle" in short.rationale


def test_spot_is_low_risk_only_with_a_stated_checkpoint(catalog):
    w, ctx = _setup(catalog)
    d = _demand(activity=0.9, compute_need=4.0)
    assumed = spot.decide(w, d, ctx)
    assert assumed.risk == "medium"  # checkpoint interval assumed: medium at best
    w.labels[DEFAULT_OPTIMIZER_CONFIG.decisions.checkpoint_annotation] = "30"
    stated = spot.decide(w, d, ctx)
    band = ctx.pricing.instance("p4d.24xlarge").interruption_band.get("us-east-1")
    assert stated.risk == ("low" if band in ("<5%", "5-10%") else "medium")


def test_node_reclaim_risk_comes_from_its_observed_hours(catalog):
    from optimizer.inventory import GpuInfo

    w, ctx = _setup(catalog)
    inv = ctx.inventory
    for hours, expect in ((168, "low"), (30, "high")):
        inv.gpus.clear()
        for i in range(4, 8):
            inv.gpus[f"GPU-{i}"] = GpuInfo("n1", f"GPU-{i}", "NVIDIA A100-SXM4-40GB", None,
                                           seconds=hours * 3600, unallocated_seconds=hours * 3600)
        [(_, cand)] = reclaim_idle.unallocated(ctx)
        assert cand.risk == expect and cand.extra["observed_hours"] == pytest.approx(hours)


def test_every_recommendation_follows_the_rule(simrun):
    """On the simulated cluster: each recommendation's risk is the rule applied to its confidence and its
    stated consequence (workload, node and cluster ones alike)."""
    by_key = {(w["namespace"], w["kind"], w["name"]): w for w in simrun.truth["workloads"]}
    assert simrun.doc["recommendations"]
    for r in simrun.doc["recommendations"]:
        details = r["details"]
        consequence = details["consequence"]
        w = r["workload"]
        production_hours = None
        if r["value_class"] == "production" and r["action"] not in ("use-spot",):
            production_hours = details["history_hours"]
        bounded = False
        if r["action"] == "use-spot":
            labels = (by_key.get((w["namespace"], w["kind"], w["name"])) or {}).get("labels", {})
            bounded = DEFAULT_OPTIMIZER_CONFIG.decisions.checkpoint_annotation in labels and r["risk"] == "low"
        assert r["risk"] == risk.rate(r["confidence"], consequence, CFG, bounded=bounded,
                                      production_downsizing_hours=production_hours), r["id"]
    cluster = [r for r in simrun.doc["recommendations"] if r["action"] == "consolidate-nodes"]
    assert not cluster or cluster[0]["risk"] == risk.rate(cluster[0]["confidence"], risk.RESTART, CFG)


# -- scale-to-zero and spot ---------------------------------------------------------------------------------
def _how(busy_hours, days=(0, 1, 2), level=0.4):
    import numpy as np

    how = np.full(168, np.nan)
    for day in days:
        how[day * 24: day * 24 + 24] = 0.0
        for h in busy_hours:
            how[day * 24 + h] = level
    return how


def _bursty(**kw):
    base = dict(activity=0.05, activity_max=0.6, duty_cycle=0.1, burst_count=20, mean_burst_s=900.0,
                max_idle_run_s=8 * 3600.0, gpu_mem_max=12 * GIB, gpu_mem_observed=10 * GIB, gpu_mem_need=13 * GIB,
                compute_need=0.1)
    base.update(kw)
    return _demand(**base)


def _so_setup(catalog, name="captioner", use_case=None):
    w, ctx = _setup(catalog, instance="g6.xlarge", gpus=1, model="NVIDIA L4", gpu_mem=24 * GIB, kind="Deployment",
                    value_class="experimental", name=name, cpu=2, mem=8 * GIB)
    if use_case:
        w.labels["use-case"] = use_case  # the label the default LabelConfig reads
    return w, ctx


def test_cron_only_for_regular_hours_and_the_yaml_is_up_exactly_what_the_saving_counts(catalog):
    from optimizer.decisions import scale_to_zero
    from recommender.suggestions import keda
    from recommender.suggestions.patches import Target

    w, ctx = _so_setup(catalog)
    c = scale_to_zero.decide(w, _bursty(hour_of_week=_how(range(9, 17))), ctx)
    assert c.extra["trigger"] == "cron" and c.extra["cron_windows_utc"] == [[9, 17]]
    cooldown = ctx.config.decisions.scale_to_zero_idle_timeout_s
    obj = keda.scaled_object(Target("ml", "Deployment", w.name, {}), replicas=1, details=c.extra)
    assert obj["spec"]["cooldownPeriod"] == cooldown
    # the YAML's uptime (8 h + one cool-down) is the share of the day the cost pays for
    assert keda.uptime_hours_per_day(obj) == pytest.approx(c.extra["active_fraction"] * 24)
    assert c.hourly_proposed == pytest.approx(c.hourly_current * c.extra["active_fraction"])
    assert "09-17 UTC" in c.rationale


def test_irregular_hours_are_request_driven_with_the_cost_models_cool_down(catalog):
    from optimizer.decisions import scale_to_zero
    from recommender.suggestions import keda
    from recommender.suggestions.patches import Target

    w, ctx = _so_setup(catalog)
    how = _how(range(9, 17))
    how[24 + 20] = 0.5  # Tuesday also busy at 20:00
    c = scale_to_zero.decide(w, _bursty(hour_of_week=how), ctx)
    assert c.extra["trigger"] == "http"
    obj = keda.scaled_object(Target("ml", "Deployment", w.name, {}), replicas=2, details=c.extra)
    assert obj["kind"] == "HTTPScaledObject" and obj["apiVersion"] == "http.keda.sh/v1alpha1"
    assert obj["spec"]["replicas"] == {"min": 0, "max": 2}
    assert obj["spec"]["scaledownPeriod"] == ctx.config.decisions.scale_to_zero_idle_timeout_s
    # cold start: 3 min plus 12 GiB of weights at 1 GiB/s, stated
    assert c.extra["cold_start_s"] == pytest.approx(180 + 12)
    assert "3.2-min cold start" in c.rationale and "12.0 GiB of weights" in c.rationale
    cfg = ctx.config.decisions
    d = _bursty(hour_of_week=how)
    expected = d.duty_cycle + d.burst_count * (180 + 12 + cfg.scale_to_zero_idle_timeout_s) / w.pod_seconds
    assert c.extra["active_fraction"] == pytest.approx(expected)


def test_notebooks_get_idle_culling_not_an_http_trigger(catalog, tmp_path):
    from optimizer.decisions import scale_to_zero
    from recommender.suggestions import write_suggestions
    from tests.recommender.fakes import make_recommendation

    w, ctx = _so_setup(catalog, name="research-box", use_case="notebook")
    c = scale_to_zero.decide(w, _bursty(hour_of_week=_how(range(9, 17))), ctx)
    assert c.extra["trigger"] == "idle-culling" and "culler" in c.rationale
    rec = make_recommendation(id="r1", namespace="ml", kind="Deployment", name=w.name, action=c.action,
                              current=c.current, proposed=c.proposed, details=c.extra, rationale=c.rationale)
    assert write_suggestions([rec], tmp_path) == {}  # no KEDA object: nothing would ever wake it


def test_spot_allows_fallback_types_states_the_hazard_and_reads_the_annotation(catalog):
    from optimizer.catalog.cost import hourly_interruption_rate

    w, ctx = _setup(catalog, instance="g6e.2xlarge", gpus=1, model="NVIDIA L40S", gpu_mem=48 * GIB, cpu=4,
                    mem=16 * GIB)
    w.labels["rightsizer.io/checkpoint-interval"] = "20m"
    c = spot.decide(w, _demand(activity=0.9, compute_need=1.0), ctx)
    assert c is not None and c.extra["checkpoint_interval_h"] == pytest.approx(20 / 60)
    assert c.extra["checkpoint_interval_stated"] is True
    types = [t.strip() for t in c.proposed["instance_type"].split(",")]
    assert "g6e.2xlarge" in types and len(types) > 1  # other L40S x1 types the pods fit on
    for t in types:
        it = catalog.get(t)
        assert it.gpu_model == "L40S" and it.gpu_count == 1
    band = catalog.get("g6e.2xlarge").interruption_band.get("us-east-1")
    assert c.extra["interruptions_per_instance_hour"] == pytest.approx(hourly_interruption_rate(band), rel=1e-3)
    assert "per instance-hour" in c.rationale and "falling back to on-demand" in c.rationale


def test_a_short_job_loses_at_most_its_run(catalog):
    w, ctx = _setup(catalog)
    for p in w.pods:
        p.seconds = 1800  # half-hour runs, longer than nothing but shorter than the assumed 1 h interval
    c = spot.decide(w, _demand(activity=0.9, compute_need=4.0), ctx)
    assert c.extra["checkpoint_interval_h"] == pytest.approx(0.5) and "runs last 0.5 h" in c.rationale
    assert c.risk != "low"  # the interval is assumed
