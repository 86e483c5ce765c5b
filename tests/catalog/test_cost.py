from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optimizer.catalog import Catalog, InstanceType
from optimizer.catalog.cost import (
    HOURS_PER_MONTH,
    hourly_interruption_rate,
    split_node_price,
    spot_expected_hourly,
)
from optimizer.catalog.model import GIB

CATALOG = Catalog.load()
NAMES = sorted(it.name for it in CATALOG)


def test_month_is_730_hours():
    assert HOURS_PER_MONTH == 730


def test_opencost_spec_example():
    # Spec appendix A: default GPU $30, CPU $30, RAM $10 on a $35 node -> $15, $15, $5.
    it = InstanceType("x", "x", "nvidia", "T4", 1, 16 * GIB, 1, 1 * GIB)
    parts = split_node_price(it, 35.0, gpu_hourly=30.0, cpu_hourly=30.0, ram_gib_hourly=10.0)
    assert parts == pytest.approx({"gpu": 15.0, "cpu": 15.0, "ram": 5.0})


@given(st.sampled_from(NAMES), st.floats(min_value=0, max_value=500, allow_nan=False))
def test_split_sums_to_the_node_price(name, hourly):
    it = CATALOG.get(name)
    parts = split_node_price(it, hourly)
    assert set(parts) == {"gpu", "cpu", "ram"}
    assert math.fsum(parts.values()) == pytest.approx(hourly, rel=1e-12, abs=1e-12)
    assert all(v >= -1e-12 for v in parts.values())
    if not it.has_gpu:
        assert parts["gpu"] == 0


def test_gpu_dominates_gpu_nodes():
    p5 = split_node_price(CATALOG.get("p5.48xlarge"), 55.04)
    assert p5["gpu"] > 0.7 * 55.04
    cpu = split_node_price(CATALOG.get("m7i.large"), 0.1008)
    assert cpu["gpu"] == 0 and cpu["cpu"] > cpu["ram"] > 0


def test_negative_price_is_refused():
    with pytest.raises(ValueError):
        split_node_price(CATALOG.get("m7i.large"), -1.0)


def test_spot_expected_cost_formula():
    # 5-10% band -> 7.5% a month -> -ln(0.925)/730 interruptions an hour; each costs half of a 10 h
    # checkpoint interval plus 0.25 h restart.
    rate = -math.log(1 - 0.075) / 730
    assert hourly_interruption_rate("5-10%") == pytest.approx(rate)
    assert spot_expected_hourly(10.0, "5-10%", 10.0) == pytest.approx(10.0 * (1 + rate * (5.0 + 0.25)))
    assert spot_expected_hourly(10.0, "<5%", 0.0, restart_overhead_h=0.0) == 10.0


def test_spot_expected_cost_grows_with_risk():
    bands = ["<5%", "5-10%", "10-15%", "15-20%", ">20%"]
    costs = [spot_expected_hourly(1.0, b, 4.0) for b in bands]
    assert costs == sorted(costs) and len(set(costs)) == 5
    assert spot_expected_hourly(1.0, None, 4.0) == costs[-1]  # unknown band: assume the worst band
    assert spot_expected_hourly(1.0, ">20%", 24.0) > spot_expected_hourly(1.0, ">20%", 1.0)
    with pytest.raises(ValueError):
        spot_expected_hourly(1.0, "<5%", -1.0)
