"""The config file's ``labels`` and ``value_classes`` sections change what ``rightsizer recommend`` proposes."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from recommender.config import Config, optimizer_config, parse_config
from store.reader import Dataset
from tests.recommender.fakes import build_dataset, default_pods

# The same cluster labelled with a company's own keys: owner / purpose, project only via part-of.
RENAMED = {"team": "owner", "use-case": "purpose", "project": "app.kubernetes.io/part-of"}


def _renamed_pods():
    return [dataclasses.replace(p, labels={RENAMED.get(k, k): v for k, v in p.labels.items()})
            for p in default_pods()]


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    from optimizer.profiles import compute_profiles

    data = Dataset(build_dataset(tmp_path_factory.mktemp("renamed") / "data", pods=_renamed_pods()))
    return data, compute_profiles(data, entity="workload", threads=1), compute_profiles(data, entity="container",
                                                                                         threads=1)


def _recommend(renamed, catalog, config: Config) -> dict[tuple, dict]:
    from optimizer.recommend import build_recommendations
    from recommender.cli.recommend import _optimizer_config

    data, profiles, containers = renamed
    args = argparse.Namespace(region=None, solver_seconds="5")
    doc = build_recommendations(data, profiles, catalog, _optimizer_config(args, config), container_profiles=containers,
                                consolidate_cluster=False).to_json_dict()
    return {(r["workload"]["namespace"], r["workload"]["name"], r["action"]): r for r in doc["recommendations"]}


def test_configured_label_keys_name_team_project_and_use_case(renamed, catalog):
    default = _recommend(renamed, catalog, Config())
    configured = _recommend(renamed, catalog, parse_config({"labels": {"team": "owner", "use_case": "purpose"}}))
    embed = [r for k, r in configured.items() if k[:2] == ("ml", "embed")]
    assert embed, configured.keys()
    # project comes from app.kubernetes.io/part-of, the fallback, as in allocation.csv
    assert {(r["team"], r["project"], r["use_case"]) for r in embed} == {("ml-platform", "search", "inference")}
    assert all(r["team"] is None and r["use_case"] is None for k, r in default.items() if k[:2] == ("ml", "embed"))


def test_production_target_utilization_changes_the_recommendation(renamed, catalog):
    # embed (production, 20 % busy on an A10G) moves to a cheaper shape at the 60 % target (half the GPU;
    # the cheaper g5g is arm64, which its x86 node's image is not known to run on) ...
    default = _recommend(renamed, catalog, Config())
    assert ("ml", "embed", "share-gpu") in default
    # ... but not when production may only run at 10 %: 20 % activity then needs two GPUs' worth
    strict = _recommend(renamed, catalog, parse_config({"value_classes": {"production": {"target_utilization": 0.1}}}))
    assert not any(k[:2] == ("ml", "embed") and k[2] != "rightsize-requests" for k in strict)


def test_spot_permission_changes_the_recommendation(renamed, catalog):
    assert ("research", "train", "use-spot") in _recommend(renamed, catalog, Config())
    no_spot = _recommend(renamed, catalog, parse_config({"value_classes": {"background": {"spot_allowed": False}}}))
    assert ("research", "train", "use-spot") not in no_spot


def test_every_value_classes_key_reaches_the_optimizer_policy():
    from optimizer.config import ValueClassConfig

    raw = {"headroom": 0.5, "mem_percentile": "max", "activity_percentile": "p99", "target_utilization": 0.42,
           "spot_allowed": True, "spot_preferred": True, "scale_to_zero_allowed": True, "reclaim_idle_allowed": True,
           "peak_margin": 0.3, "peak_check": False, "max_latency_factor": 2.5}
    policy = optimizer_config(parse_config({"value_classes": {"production": raw}})).value_class.policies["production"]
    assert (policy.mem_headroom, policy.mem_percentile, policy.activity_percentile, policy.target_utilization,
            policy.spot_allowed, policy.spot_preferred, policy.scale_to_zero_allowed, policy.reclaim_idle_allowed,
            policy.mem_peak_margin, policy.peak_check, policy.max_latency_factor) == \
        (0.5, "max", "p99", 0.42, True, True, True, True, 0.3, False, 2.5)
    # nothing named: exactly the optimizer's defaults, the one source of the numbers
    assert optimizer_config(Config()).value_class.policies == ValueClassConfig().policies


def test_a_partial_entry_keeps_the_class_defaults_for_other_keys():
    from optimizer.config import ValueClassConfig

    got = optimizer_config(parse_config({"value_classes": {"experimental": {"spot_allowed": False}}}))
    base = ValueClassConfig().policies["experimental"]
    assert got.value_class.policies["experimental"] == dataclasses.replace(base, spot_allowed=False)


@pytest.mark.parametrize("entry, message", [
    ({"mem_percentile": "p42"}, "value_classes.production.mem_percentile: expected one of p50, p90, p95, p99, max"),
    ({"target_utilization": 1.5}, "value_classes.production.target_utilization: must be above 0 and at most 1"),
    ({"target_utilization": 0}, "value_classes.production.target_utilization: must be above 0 and at most 1"),
])
def test_bad_policy_values_are_one_line_errors(entry, message):
    from store.errors import UserError

    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        parse_config({"value_classes": {"production": entry}}, source="config.yaml")


def test_documented_value_class_defaults_are_the_optimizers():
    import re

    import yaml

    from tests.tools import REPO

    text = (REPO / "docs" / "configuration.md").read_text()
    example = yaml.safe_load(re.search(r"## A complete example\n\n```yaml\n(.*?)```", text, re.S).group(1))
    for name, entry in example["value_classes"].items():
        assert parse_config({"value_classes": {name: entry}}).value_classes == Config().value_classes, name
    table = text[text.index("### `value_classes."):text.index("### `budgets`")]
    defaults = Config().value_classes
    for row in re.findall(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", table, re.M):
        key, cells = row[0], [c.strip() for c in row[1:]]
        want = [getattr(defaults[c], key) for c in ("production", "experimental", "background")]
        assert [yaml.safe_load(c) for c in cells] == want, key
