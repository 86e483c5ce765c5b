"""Decision modules on hand-built workloads: the paths the simulator does not plant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optimizer.config import DEFAULT_OPTIMIZER_CONFIG
from optimizer.costing import CostModel
from optimizer.decisions import gpu_shape, rightsize_requests, spot
from optimizer.decisions.base import Context
from optimizer.demand import ContainerDemand, Demand
from optimizer.inventory import ContainerSpec, Inventory, NodeInfo, PodInfo, Workload
from optimizer.valueclass import ValueClass

GIB = 1024**3
START = datetime(2026, 1, 5, tzinfo=UTC)
WEEK = 7 * 86400


def _setup(catalog, *, instance="p4d.24xlarge", gpus=4, model="NVIDIA A100-SXM4-40GB", gpu_mem=40 * GIB,
           kind="Job", value_class="background", name="finetune", cpu=16.0, mem=64 * GIB, capacity="on-demand"):
    node = NodeInfo("n1", instance, capacity, "us-east-1", "us-east-1a", 96, 1152 * GIB, 8, model,
                    0, WEEK * 1000)
    pod = PodInfo("ml", f"{name}-0", "n1", seconds=WEEK, first_ms=0, last_ms=WEEK * 1000,
                  gpus={f"GPU-{i}" for i in range(gpus)}, gpu_model=model, gpu_memory_bytes=gpu_mem)
    w = Workload("ml", kind, name, {"team": "research"}, ValueClass(value_class, False, "label"),
                 [ContainerSpec("main", cpu, None, mem, None, "nvidia.com/gpu", gpus)], [pod])
    inv = Inventory(START, START + timedelta(seconds=WEEK), 60.0, {w.key: w}, {"n1": node}, {},
                    {("ml", pod.name): w.key})
    return w, Context(inv, CostModel(catalog), catalog, DEFAULT_OPTIMIZER_CONFIG)


def _demand(**kw) -> Demand:
    base = dict(history_hours=168, samples=10080, confidence=1.0, enough_history=True)
    base.update(kw)
    return Demand(**base)


def test_pod_holding_gpus_it_never_uses_gets_fewer(catalog):
    w, ctx = _setup(catalog)
    d = _demand(activity=0.2, compute_need=0.2 * 4 / 0.9, gpu_mem_need=30 * GIB, activity_source="gpu_util",
                containers={"main": ContainerDemand("main", 14.0, 60 * GIB, 16.1, 70 * GIB)})
    c = rightsize_requests.decide(w, d, ctx)
    assert c is not None and c.current["gpu_count"] == 4 and c.proposed["gpu_count"] == 1
    assert c.hourly_proposed < c.hourly_current
    assert "GPUs 4 → 1" in c.rationale


def test_busy_gpus_are_kept(catalog):
    w, ctx = _setup(catalog)
    d = _demand(activity=0.9, compute_need=0.9 * 4 / 0.9, gpu_mem_need=120 * GIB,
                containers={"main": ContainerDemand("main", 14.0, 60 * GIB, 16.1, 70 * GIB)})
    assert rightsize_requests.decide(w, d, ctx) is None


def test_checkpoint_label_changes_the_spot_price(catalog):
    w, ctx = _setup(catalog)
    d = _demand(activity=0.9, compute_need=4.0)
    default = spot.decide(w, d, ctx)
    w.labels[DEFAULT_OPTIMIZER_CONFIG.decisions.checkpoint_annotation] = "480"
    rare = spot.decide(w, d, ctx)
    assert default is not None and rare is not None
    assert rare.hourly_proposed > default.hourly_proposed  # more rework between checkpoints
    assert "480 min" in rare.rationale


def test_production_service_never_goes_to_spot(catalog):
    w, ctx = _setup(catalog, kind="Deployment", value_class="production", name="train-api")
    assert spot.decide(w, _demand(activity=0.9, compute_need=4.0), ctx) is None


@pytest.mark.parametrize("mem_need,expect", [(5 * GIB, "1g.10gb"), (15 * GIB, "1g.20gb"), (30 * GIB, "3g.40gb"),
                                             (90 * GIB, None)])
def test_smallest_mig_slice_that_fits_memory(catalog, mem_need, expect):
    w, ctx = _setup(catalog, instance="p4de.24xlarge", gpus=1, model="NVIDIA A100-SXM4-80GB", gpu_mem=80 * GIB,
                    kind="Deployment", value_class="production", name="embed", cpu=2, mem=8 * GIB)
    d = _demand(activity=0.05, compute_need=0.05 / 0.6, gpu_mem_need=mem_need, gpu_mem_max=int(mem_need / 1.2))
    c = gpu_shape.mig_slice(w, d, ctx)
    assert (c.proposed["mig_profile"] if c else None) == expect
    if c:
        assert c.proposed["gpu_memory_bytes"] >= mem_need


def test_compute_need_picks_a_bigger_slice(catalog):
    w, ctx = _setup(catalog, instance="p4de.24xlarge", gpus=1, model="NVIDIA A100-SXM4-80GB", gpu_mem=80 * GIB,
                    kind="Deployment", value_class="production", name="embed", cpu=2, mem=8 * GIB)
    d = _demand(activity=0.2, compute_need=0.2 / 0.6, gpu_mem_need=5 * GIB, gpu_mem_max=4 * GIB)
    c = gpu_shape.mig_slice(w, d, ctx)
    assert c.proposed["mig_profile"] == "3g.40gb"  # 1/3 of a GPU needs 3 of 7 compute slices


def test_change_instance_type_respects_memory_and_throughput(catalog):
    # experimental: no latency limit (production's 1.25x refuses every cheaper, slower GPU; test_margins.py)
    w, ctx = _setup(catalog, instance="p4d.24xlarge", gpus=1, model="NVIDIA A100-SXM4-40GB", gpu_mem=40 * GIB,
                    kind="Deployment", value_class="experimental", name="ocr", cpu=2, mem=8 * GIB)
    d = _demand(activity=0.05, compute_need=0.05 / 0.8, gpu_mem_need=10 * GIB, gpu_mem_max=8 * GIB)
    c = gpu_shape.change_instance_type(w, d, ctx)
    assert c is not None
    it = catalog.get(c.proposed["instance_type"])
    assert it.gpu_memory_bytes >= 10 * GIB and c.hourly_proposed < c.hourly_current
    # a need beyond every cheaper GPU's memory leaves the workload where it is
    big = _demand(activity=0.05, compute_need=0.05 / 0.8, gpu_mem_need=200 * GIB, gpu_mem_max=150 * GIB)
    assert gpu_shape.change_instance_type(w, big, ctx) is None


def _share(catalog, instance, hourly, cpu, mem, gpus):
    from optimizer.catalog.cost import split_node_price

    it = catalog.get(instance)
    parts = split_node_price(it, hourly)
    return parts["gpu"] * gpus / it.gpu_count + parts["cpu"] * cpu / it.vcpu + parts["ram"] * mem / it.memory_bytes


def test_mig_and_spot_merged_are_priced_by_the_slice_on_spot_not_by_multiplied_ratios(catalog):
    from optimizer.catalog.cost import spot_expected_hourly
    from optimizer.decisions.resolve import resolve

    w, ctx = _setup(catalog, instance="p4de.24xlarge", gpus=1, model="NVIDIA A100-SXM4-80GB", gpu_mem=80 * GIB,
                    kind="Job", value_class="background", name="embed-batch", cpu=2, mem=8 * GIB)
    d = _demand(activity=0.05, compute_need=0.05 / 0.9, gpu_mem_need=15 * GIB, gpu_mem_max=12 * GIB)
    mig, sp = gpu_shape.mig_slice(w, d, ctx), spot.decide(w, d, ctx)
    assert mig is not None and sp is not None
    out = resolve(w, [mig, sp], ctx)
    assert set(out.tags) == {"gpu-shape", "market"} and out.proposed["mig_profile"] == "1g.20gb"
    spot_h = spot_expected_hourly(catalog.price("p4de.24xlarge", capacity_type="spot"),
                                  catalog.get("p4de.24xlarge").interruption_band["us-east-1"],
                                  DEFAULT_OPTIMIZER_CONFIG.decisions.default_checkpoint_interval_h)
    # the 1g.20gb slice has 14 of the A100's 108 SMs: that share of the node at the expected spot price
    assert out.hourly_proposed == pytest.approx(_share(catalog, "p4de.24xlarge", spot_h, 2, 8 * GIB, 14 / 108))


def test_instance_change_merged_with_request_cuts_costs_the_instance(catalog):
    from optimizer.decisions.resolve import resolve

    # experimental: production refuses a move to a GPU that makes requests much slower (margins.py)
    w, ctx = _setup(catalog, instance="p4d.24xlarge", gpus=1, model="NVIDIA A100-SXM4-40GB", gpu_mem=40 * GIB,
                    kind="Deployment", value_class="experimental", name="ocr", cpu=8, mem=64 * GIB)
    d = _demand(activity=0.05, compute_need=0.05 / 0.6, gpu_mem_need=10 * GIB, gpu_mem_max=8 * GIB,
                containers={"main": ContainerDemand("main", 1.0, 6 * GIB, 1.5, 8 * GIB)})
    change, cut = gpu_shape.change_instance_type(w, d, ctx), rightsize_requests.decide(w, d, ctx)
    assert change is not None and cut is not None
    out = resolve(w, [change, cut], ctx)
    assert {"gpu-shape", "requests"} <= set(out.tags)
    # one pod on a node of the new type: the instance's own price, whatever the request cut saved elsewhere
    assert out.hourly_proposed == pytest.approx(catalog.price(out.proposed["instance_type"]))


def test_mig_slice_is_priced_at_its_share_of_the_sms(catalog):
    w, ctx = _setup(catalog, instance="p4de.24xlarge", gpus=1, model="NVIDIA A100-SXM4-80GB", gpu_mem=80 * GIB,
                    kind="Deployment", value_class="production", name="embed", cpu=2, mem=8 * GIB)
    d = _demand(activity=0.2, compute_need=0.2 / 0.6, gpu_mem_need=5 * GIB, gpu_mem_max=4 * GIB)
    c = gpu_shape.mig_slice(w, d, ctx)
    assert c.proposed["mig_profile"] == "3g.40gb"
    hourly = catalog.price("p4de.24xlarge")
    assert c.hourly_proposed == pytest.approx(_share(catalog, "p4de.24xlarge", hourly, 2, 8 * GIB, 42 / 108))
    assert "42 of the GPU's 108 SMs" in c.rationale


def test_candidates_are_priced_in_the_region_of_the_node_they_replace(catalog):
    # experimental: production refuses a move to a GPU that makes requests much slower (margins.py)
    w, ctx = _setup(catalog, instance="p4d.24xlarge", gpus=1, model="NVIDIA A100-SXM4-40GB", gpu_mem=40 * GIB,
                    kind="Deployment", value_class="experimental", name="ocr", cpu=2, mem=8 * GIB)
    ctx.inventory.nodes["n1"].region = "eu-west-1"
    d = _demand(activity=0.05, compute_need=0.05 / 0.6, gpu_mem_need=10 * GIB, gpu_mem_max=8 * GIB)
    c = gpu_shape.change_instance_type(w, d, ctx)
    assert c is not None
    proposed = c.proposed["instance_type"]
    assert catalog.price(proposed, region="eu-west-1") is not None
    assert c.hourly_proposed == pytest.approx(catalog.price(proposed, region="eu-west-1"))
    assert c.hourly_current == pytest.approx(_share(catalog, "p4d.24xlarge", catalog.price("p4d.24xlarge", "eu-west-1"),
                                                    2, 8 * GIB, 1))
