"""The pattern model's pricing: the dynamic-programming table against enumeration and against CP-SAT."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.solver.pricing import KnapsackTable, best_pattern_cp_sat


def _enumerate(cpu, mem, values, cap_cpu, cap_mem) -> float:
    ranges = [range(min(cap_cpu // c, cap_mem // m) + 1) for c, m in zip(cpu, mem, strict=True)]
    best = 0.0
    for q in itertools.product(*ranges):
        if sum(a * k for a, k in zip(cpu, q, strict=True)) <= cap_cpu and \
                sum(b * k for b, k in zip(mem, q, strict=True)) <= cap_mem:
            best = max(best, sum(v * k for v, k in zip(values, q, strict=True)))
    return best


items = st.lists(st.tuples(st.sampled_from([250, 500, 1000, 1500, 2000]), st.sampled_from([256, 512, 1024, 3072]),
                           st.floats(0, 5)), min_size=1, max_size=4, unique_by=lambda x: x[:2])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(items, st.sampled_from([(3800, 6 * 1024), (1800, 14 * 1024), (7800, 2000)]))
def test_table_is_exact_for_every_node_size_it_covers(shapes, big):
    cpu, mem, values = [s[0] for s in shapes], [s[1] for s in shapes], [s[2] for s in shapes]
    table = KnapsackTable(cpu, mem, *big)
    assert table.usable
    table.fill(values)
    for cap in [big, (big[0] // 2, big[1]), (big[0], big[1] // 3), (1000, 700)]:
        value, pattern = table.best(*cap)
        expected = _enumerate(cpu, mem, values, *cap)
        assert abs(value - expected) < 1e-9
        # the traced pattern fits and is worth what the table says
        assert sum(cpu[i] * k for i, k in pattern.items()) <= cap[0]
        assert sum(mem[i] * k for i, k in pattern.items()) <= cap[1]
        assert abs(sum(values[i] * k for i, k in pattern.items()) - value) < 1e-9
        bound, _ = best_pattern_cp_sat(cpu, mem, values, *cap, time_limit_s=5, seed=0)
        assert bound >= expected - 1e-9


def test_grid_without_common_unit_falls_back():
    table = KnapsackTable([997, 1009], [1013, 1019], 190_000, 1_400_000)
    assert not table.usable
