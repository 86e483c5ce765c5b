"""The config file's ``labels`` section changes what ``rightsizer recommend`` writes."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from recommender.config import Config, parse_config
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
