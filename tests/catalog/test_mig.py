"""MIG placement rules, checked against a reference written from NVIDIA's table (MIG User Guide,
``nvidia-smi mig -lgipp`` on H100/A100-80GB): (compute slices, memory slices, max instances, starts)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.catalog import find_placement, is_valid_layout, layout_problems, maximal_layouts, mig_profiles
from optimizer.catalog.model import GIB

TABLE_80GB = {
    "1g.10gb": (1, 1, 7, {0, 1, 2, 3, 4, 5, 6}),
    "1g.10gb+me": (1, 1, 1, {0, 1, 2, 3, 4, 5, 6}),
    "1g.20gb": (1, 2, 4, {0, 2, 4, 6}),
    "2g.20gb": (2, 2, 3, {0, 2, 4}),
    "3g.40gb": (3, 4, 2, {0, 4}),
    "4g.40gb": (4, 4, 1, {0}),
    "7g.80gb": (7, 8, 1, {0}),
}


def reference_valid(placed):
    slots, compute, counts = set(), 0, {}
    for name, start in placed:
        c, m, n, starts = TABLE_80GB[name]
        if start not in starts:
            return False
        span = set(range(start, start + m))
        if span & slots or max(span) > 7:
            return False
        slots |= span
        compute += c
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > n:
            return False
    return compute <= 7


@pytest.mark.parametrize("model", ["H100-80GB", "A100-80GB", "NVIDIA H100 80GB HBM3"])
def test_profile_table_of_80gb_parts(model):
    profiles = {p.name: p for p in mig_profiles(model)}
    assert set(profiles) == set(TABLE_80GB)
    for name, (c, m, n, starts) in TABLE_80GB.items():
        p = profiles[name]
        assert (p.compute_slices, p.memory_slices, p.max_instances, set(p.placements)) == (c, m, n, starts)
        assert p.memory_bytes <= int(name.split(".")[1].rstrip("gb+me")) * GIB  # usable <= the name
    assert profiles["1g.10gb"].resource_name == "nvidia.com/mig-1g.10gb"


@pytest.mark.parametrize("model", ["A100-80GB", "H100-80GB"])
def test_3g_40gb_starts_only_at_0_and_4(model):
    for start in range(8):
        assert is_valid_layout(model, [("3g.40gb", start)]) == (start in (0, 4))
    assert is_valid_layout(model, [("3g.40gb", 0), ("3g.40gb", 4)])
    assert not is_valid_layout(model, [("3g.40gb", 0), ("3g.40gb", 4), ("1g.10gb", 6)])


@pytest.mark.parametrize("model", ["A100-80GB", "H100-80GB"])
def test_at_most_seven_1g_10gb(model):
    assert find_placement(model, ["1g.10gb"] * 7) is not None
    assert find_placement(model, ["1g.10gb"] * 8) is None
    assert not is_valid_layout(model, [("1g.10gb", 7)])  # slot 7 hosts no 1g
    assert "at most 7" in " ".join(layout_problems(model, [("1g.10gb", s) for s in range(7)] * 2))


def test_known_layouts():
    assert find_placement("H100-80GB", ["4g.40gb", "3g.40gb"]) == [("4g.40gb", 0), ("3g.40gb", 4)]
    assert find_placement("H100-80GB", ["4g.40gb", "2g.20gb", "1g.20gb"]) is not None
    assert find_placement("H100-80GB", ["3g.40gb", "3g.40gb", "1g.10gb"]) is None
    assert find_placement("H100-80GB", ["7g.80gb", "1g.10gb"]) is None
    assert find_placement("H100-80GB", ["1g.10gb+me", "1g.10gb+me"]) is None
    assert find_placement("L4", ["1g.10gb"]) is None


def test_other_models_use_their_names():
    assert [p.name for p in mig_profiles("A100-40GB")][0] == "1g.5gb"
    assert {p.name for p in mig_profiles("NVIDIA H200")} >= {"1g.18gb", "3g.71gb", "7g.141gb"}
    assert mig_profiles("A100-40GB")[-1].memory_bytes < 40 * GIB


def test_maximal_layouts_count():
    # 28 maximal layouts (no +me) was counted independently in the project's research notes.
    layouts = maximal_layouts("H100-80GB")
    assert len(layouts) == 28
    assert ("4g.40gb", "3g.40gb") in layouts and ("1g.10gb",) * 7 in layouts
    for layout in layouts:
        assert find_placement("H100-80GB", list(layout)) is not None


placements = st.lists(
    st.tuples(st.sampled_from(sorted(TABLE_80GB)), st.integers(min_value=0, max_value=7)), max_size=8)


@given(placements)
def test_validity_matches_the_reference(placed):
    assert is_valid_layout("H100-80GB", placed) == reference_valid(placed)
    assert (layout_problems("H100-80GB", placed) == []) == reference_valid(placed)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(TABLE_80GB)), min_size=1, max_size=4))
def test_find_placement_is_complete(names):
    found = find_placement("A100-80GB", names)
    exists = any(reference_valid(list(zip(names, starts, strict=True)))
                 for starts in itertools.product(range(8), repeat=len(names)))
    assert (found is not None) == exists
    if found is not None:
        assert reference_valid(found) and sorted(n for n, _ in found) == sorted(names)
