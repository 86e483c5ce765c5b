from __future__ import annotations

import pytest

from recommender.config import Config, load_config, parse_config
from store.errors import UserError


def _write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file():
    config = load_config(None)
    assert config == Config()
    assert config.labels.team == "team" and config.labels.project_fallback == "app.kubernetes.io/part-of"
    assert config.thresholds.budget_warning == 0.8
    assert set(config.value_classes) == {"production", "experimental", "background"}


def test_full_file_is_typed(tmp_path):
    path = _write(tmp_path, """
region: eu-west-1
price_overrides: prices.csv
labels: {team: owner, project_fallback: null}
value_classes:
  experimental: {headroom: 0.1, spot_allowed: false}
budgets:
  teams: {ml-platform: {monthly_usd: 20000}}
  projects: {assistant: {monthly_usd: 5000.5}}
thresholds: {spike_z: 3, spike_baseline_days: 14}
notify: {webhook_url: "https://hooks.example.com/x", timeout_s: 3}
""")
    config = load_config(path)
    assert config.region == "eu-west-1"
    assert config.price_overrides == str(tmp_path / "prices.csv")
    assert config.labels.team == "owner" and config.labels.project_fallback is None
    assert config.value_classes["experimental"].headroom == 0.1
    assert config.value_classes["experimental"].spot_allowed is False
    assert config.value_classes["production"] == Config().value_classes["production"]  # untouched
    assert config.budgets.teams["ml-platform"].monthly_usd == 20000.0
    assert config.thresholds.spike_z == 3.0 and config.thresholds.spike_baseline_days == 14


@pytest.mark.parametrize("text, message", [
    ("budgets:\n  teams:\n    ml-platform:\n      monthly_usd: abc\n",
     "config.yaml: budgets.teams.ml-platform.monthly_usd: expected a number, got 'abc'"),
    ("thresholds:\n  spike_zz: 3\n", "config.yaml: thresholds.spike_zz: unknown key"),
    ("colour: blue\n", "config.yaml: colour: unknown key"),
    ("labels: [team]\n", "config.yaml: labels: expected a mapping, got a list"),
    ("value_classes:\n  gold: {headroom: 0.1}\n", "config.yaml: value_classes.gold: unknown value class"),
    ("value_classes:\n  production: {spot_allowed: 'yes'}\n",
     "config.yaml: value_classes.production.spot_allowed: expected true or false, got 'yes'"),
    ("thresholds: {spike_baseline_days: 2.5}\n",
     "config.yaml: thresholds.spike_baseline_days: expected a whole number, got 2.5"),
    ("budgets:\n  teams:\n    a: {}\n", "config.yaml: budgets.teams.a.monthly_usd: required key is missing"),
    ("region: [\n", "config.yaml: not valid YAML at line"),
    ("thresholds: {budget_warning: -1}\n", "config.yaml: thresholds.budget_warning: must be a non-negative"),
])
def test_errors_name_the_key(tmp_path, text, message):
    with pytest.raises(UserError) as info:
        load_config(_write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_parse_rejects_non_mapping():
    with pytest.raises(UserError, match="expected a mapping"):
        parse_config([1, 2])
