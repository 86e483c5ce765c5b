from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.catalog.cost import split_node_price
from recommender.allocation import allocate, round_to_cents
from recommender.allocation.columns import Columns
from store.reader import Dataset
from tests.recommender.fakes import GIB, PodSpec, build_dataset


def _row(alloc, workload):
    rows = alloc.rows[alloc.rows["workload"] == workload]
    assert len(rows) == 1, workload
    return rows.iloc[0]


def _gpu_part(catalog, instance_type):
    """The GPU part of a node's hourly price, per GPU (the catalog's OpenCost split)."""
    it = catalog.get(instance_type)
    return split_node_price(it, catalog.price(instance_type))["gpu"] / it.gpu_count


def test_rows_sum_to_cluster_cost_to_the_cent(small_allocation, catalog, tmp_path):
    # Reference: node price x hours the node ran, straight from the catalog.
    expected = sum(catalog.price(t, capacity_type=m) * 48 for t, m in
                   (("g5.xlarge", "on-demand"), ("p4de.24xlarge", "on-demand"), ("m5.xlarge", "on-demand")))
    assert small_allocation.total_cost == pytest.approx(expected, rel=1e-9)
    path = tmp_path / "allocation.csv"
    small_allocation.write_csv(path)
    with open(path) as fh:
        cents = sum(round(float(r["total_cost"]) * 100) for r in csv.DictReader(fh))
    assert cents == round(expected * 100)


def test_time_shared_gpu_split_by_max_of_slot_and_measured_share(small_allocation, catalog):
    # chat uses 0.6 and embed 0.2 of one A10G: weights max(1/2, .75)=.75 and max(1/2, .25)=.5 -> 60/40.
    gpu_part = _gpu_part(catalog, "g5.xlarge") * 48
    chat, embed = _row(small_allocation, "chat"), _row(small_allocation, "embed")
    assert chat.gpu_cost == pytest.approx(0.6 * gpu_part, abs=0.01)
    assert embed.gpu_cost == pytest.approx(0.4 * gpu_part, abs=0.01)
    assert embed.gpu_cost > 0  # a shared GPU is never free
    assert _row(small_allocation, "gpu-1").gpu_cost == pytest.approx(0, abs=0.01)


def test_mig_slices_charged_by_their_share_of_the_gpus_sms_and_the_rest_is_idle(small_allocation, catalog):
    # A100: 3g.40gb has 42 of the GPU's 108 SMs, 1g.10gb 14 (NVIDIA MIG User Guide, nvidia-smi mig -lgip)
    per_gpu = _gpu_part(catalog, "p4de.24xlarge") * 48
    assert _row(small_allocation, "train").gpu_cost == pytest.approx(42 / 108 * per_gpu, abs=0.01)
    assert _row(small_allocation, "notebook").gpu_cost == pytest.approx(14 / 108 * per_gpu, abs=0.01)
    # idle: the rest of the MIG GPU (its free slice, never-created slices, SMs MIG leaves unused) and
    # the 7 GPUs without MIG rows
    assert _row(small_allocation, "gpu-2").gpu_cost == pytest.approx((1 - 56 / 108 + 7) * per_gpu, abs=0.01)


def test_the_allocation_and_the_decisions_charge_a_slice_the_same_share(catalog):
    from optimizer.costing import mig_share
    from recommender.allocation.pricing import Pricer

    pricer = Pricer(catalog)
    for model, profile in (("A100-80GB", "1g.20gb"), ("A100-80GB", "3g.40gb"), ("H100-80GB", "1g.10gb")):
        assert pricer.mig_fraction(profile, model) == mig_share(model, profile)
    assert mig_share("A100-80GB", "3g.40gb") == pytest.approx(42 / 108)


def test_cpu_charged_max_of_request_and_usage_per_container(small_allocation):
    # api: request 1.0 > use .75; sidecar: request .1 < use .75  -> 1.75 cores for 48 h
    assert _row(small_allocation, "api").cpu_core_hours == pytest.approx(1.75 * 48)


def test_labels_unallocated_value_class_and_coverage(small_allocation):
    legacy = _row(small_allocation, "legacy")
    assert legacy.team == legacy.project == legacy.use_case == "unallocated"
    assert _row(small_allocation, "train").project == "llm"  # app.kubernetes.io/part-of fallback
    assert _row(small_allocation, "train").value_class == "background"  # a Job, inferred
    assert bool(_row(small_allocation, "train").value_class_inferred)
    assert _row(small_allocation, "notebook").value_class == "experimental"  # research-dev namespace
    assert _row(small_allocation, "chat").value_class == "production"
    work = small_allocation.rows[small_allocation.rows.row_type == "workload"]
    labeled = work[work.team != "unallocated"].total_cost.sum() / work.total_cost.sum()
    assert small_allocation.label_coverage["team"] == pytest.approx(labeled, abs=1e-3)
    assert 0 < small_allocation.label_coverage["team"] < 1


def test_gpu_hours_allocated_used_and_idle_share(small_allocation):
    a = small_allocation
    assert a.gpu_hours_capacity == pytest.approx(48 * 9)
    assert a.gpu_hours_allocated == pytest.approx(48 + 48 * 56 / 108)
    assert a.gpu_hours_used == pytest.approx(48 * (0.6 + 0.2) + 48 * 42 / 108 * 0.9, rel=1e-4)
    # busy: the shared A10G all the time, the 3g training slice; the rest idle
    assert a.gpu_idle_share == pytest.approx(1 - (48 + 48 * 42 / 108) / (48 * 9))


def test_overcommitted_node_never_gives_negative_idle(tmp_path, catalog):
    pods = [PodSpec("a", f"p{i}", "Deployment", "big", "cpu-1", {"team": "t"}, {"c": (3.0, 12 * GIB)},
                    cpu_use=3.5, mem_use=14 * GIB) for i in range(2)]
    root = build_dataset(tmp_path / "d", days=1, pods=pods, nodes={"cpu-1": ("m5.xlarge", "on-demand", None, 0)})
    alloc = allocate(Dataset(root), catalog)
    idle = _row(alloc, "cpu-1")
    assert idle.cpu_cost == pytest.approx(0, abs=0.01) and idle.ram_cost == pytest.approx(0, abs=0.01)
    assert alloc.rows.total_cost.sum() == pytest.approx(round(alloc.total_cost, 2), abs=1e-9)


def test_unknown_instance_type_is_listed_unpriced_and_left_out(tmp_path, catalog):
    pods = [PodSpec("a", "p", "Deployment", "w", "x-1", {}, {"c": (1.0, GIB)}),
            PodSpec("a", "q", "Deployment", "v", "cpu-1", {}, {"c": (1.0, GIB)})]
    root = build_dataset(tmp_path / "d", days=1, pods=pods, nodes={"x-1": ("z9.huge", "on-demand", None, 0),
                                                                  "cpu-1": ("m5.xlarge", "on-demand", None, 0)})
    alloc = allocate(Dataset(root), catalog)
    assert [(u.node, u.instance_type) for u in alloc.unpriced] == [("x-1", "z9.huge")]
    assert "z9.huge" in alloc.unpriced[0].reason
    assert alloc.total_cost == pytest.approx(catalog.price("m5.xlarge") * 24)  # only the priced node
    assert any("priced 1 of 2 nodes" in n for n in alloc.notes)
    assert set(alloc.rows.workload) == {"v", "cpu-1"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e5, allow_nan=False), min_size=1, max_size=40))
def test_round_to_cents_keeps_the_total(values):
    total = round(sum(values) * 100)
    cents = round_to_cents(np.array(values), total)
    assert int(cents.sum()) == total
    assert np.all(np.abs(cents - np.array(values) * 100) < 1.0 + 1e-6)


def test_spot_node_without_spot_price_is_unpriced_never_priced_on_demand(tmp_path, catalog):
    assert catalog.price("m5.xlarge", capacity_type="spot") is None  # the bundled catalog has none
    pods = [PodSpec("a", "p", "Deployment", "w", "cpu-9", {}, {"c": (1.0, GIB)})]
    root = build_dataset(tmp_path / "d", days=1, pods=pods, nodes={"cpu-9": ("m5.xlarge", "spot", None, 0)})
    alloc = allocate(Dataset(root), catalog)
    assert alloc.total_cost == 0.0
    (u,) = alloc.unpriced
    assert (u.node, u.region) == ("cpu-9", "us-east-1") and "no spot price for m5.xlarge in us-east-1" in u.reason


def test_each_node_is_priced_in_its_own_region(tmp_path, catalog):
    # p4d has an eu-west-1 price in the bundled snapshot, m5.xlarge only a us-east-1 one
    eu = catalog.price("p4d.24xlarge", region="eu-west-1")
    assert eu is not None and eu != catalog.price("p4d.24xlarge") and catalog.price("m5.xlarge", "eu-west-1") is None
    pods = [PodSpec("a", "p", "Deployment", "w", "gpu-eu", {}, {"c": (1.0, GIB)}),
            PodSpec("a", "q", "Deployment", "v", "cpu-eu", {}, {"c": (1.0, GIB)})]
    root = build_dataset(tmp_path / "d", days=1, pods=pods, region="eu-west-1",
                         nodes={"gpu-eu": ("p4d.24xlarge", "on-demand", "NVIDIA A100-SXM4-40GB", 8),
                                "cpu-eu": ("m5.xlarge", "on-demand", None, 0)})
    alloc = allocate(Dataset(root), catalog)
    assert alloc.total_cost == pytest.approx(eu * 24)
    assert [(u.node, u.region) for u in alloc.unpriced] == [("cpu-eu", "eu-west-1")]
    assert set(alloc.nodes.region) == {"eu-west-1"}


_pod_strategy = st.fixed_dictionaries({
    "node": st.sampled_from(["gpu-1", "gpu-2", "cpu-1"]),
    "cpu_req": st.floats(0.0, 16.0), "cpu_use": st.floats(0.0, 16.0),
    "mem_req": st.integers(0, 64), "mem_use": st.integers(0, 64),
    "gpu": st.sampled_from([None, "whole", "shared", "3g.40gb", "1g.10gb"]),
    "util": st.floats(0.0, 1.0), "team": st.sampled_from([None, "a", "b"]),
})


@settings(max_examples=12, deadline=None)
@given(st.lists(_pod_strategy, min_size=1, max_size=6))
def test_any_cluster_sums_to_the_cent_and_idle_is_never_negative(tmp_path_factory, catalog, specs):
    pods = []
    for i, p in enumerate(specs):
        gpu = None
        if p["gpu"] and p["node"] != "cpu-1":
            mig = p["gpu"] if "g." in p["gpu"] else None
            node_model = "NVIDIA A10G" if p["node"] == "gpu-1" else "NVIDIA A100-SXM4-80GB"
            uuid = "GPU-shared" if p["gpu"] == "shared" else f"GPU-{i}"
            gpu = {"uuid": f"{p['node']}-{uuid}", "model": node_model, "mig_profile": mig if p["node"] == "gpu-2" else None,
                   "util": p["util"], "mem": GIB}
        pods.append(PodSpec("ns", f"p{i}", "Deployment", f"w{i}", p["node"], {"team": p["team"]} if p["team"] else {},
                            {"c": (p["cpu_req"], p["mem_req"] * GIB)}, cpu_use=p["cpu_use"], mem_use=p["mem_use"] * GIB,
                            gpu=gpu, gpu_resource="nvidia.com/gpu" if gpu else None))
    root = build_dataset(tmp_path_factory.mktemp("prop") / "d", days=1, interval_s=3600, pods=pods,
                         unallocated_mig=False)
    alloc = allocate(Dataset(root), catalog)
    assert round(alloc.rows["total_cost"].sum() * 100) == alloc.total_cents
    idle = alloc.rows[alloc.rows.row_type == "idle"]
    assert (idle[["gpu_cost", "cpu_cost", "ram_cost"]] >= -0.01).all().all()
    # the cluster cost is exactly the price of the nodes that ran, for the hours they ran
    ran = {p.node for p in pods}
    hourly = {"gpu-1": catalog.price("g5.xlarge"), "gpu-2": catalog.price("p4de.24xlarge"),
              "cpu-1": catalog.price("m5.xlarge")}
    assert alloc.total_cost == pytest.approx(sum(hourly[n] * 24 for n in ran))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 5), st.integers(0, 3000)), min_size=1, max_size=200))
def test_group_codes_match_a_sort_based_reference(pairs):
    from recommender.allocation.columns import group_codes

    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    codes, first = group_codes(a, b)
    # same rows share a code exactly when their (a, b) pairs are equal, and first points at the first such row
    keys = list(zip(a.tolist(), b.tolist(), strict=True))
    for i, key in enumerate(keys):
        assert keys[first[codes[i]]] == key
        assert first[codes[i]] == keys.index(key)
    assert len(first) == len(set(keys))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=60), st.booleans())
def test_instant_codes_number_the_distinct_times_in_order_of_first_appearance(times, in_order):
    # rows in time order take a path without hashing; both must number instants the same way
    ts = sorted(times) if in_order else times
    table = pa.table({"ts": pa.array([t * 10_000 for t in ts], pa.timestamp("ms", tz="UTC"))})
    first: dict = {}
    expected = [first.setdefault(t, len(first)) for t in ts]
    assert Columns(table).ts_codes.tolist() == expected
