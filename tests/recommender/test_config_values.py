"""Bad values in the config file are exit 2 with the key named, before any computation (issue 19, item 4):
infinite and NaN numbers, negative ones, the wrong type, values out of their range."""

from __future__ import annotations

import contextlib
import io

import pytest

from recommender.cli import main

CASES = [
    ("value_classes:\n  production:\n    headroom: .inf\n",
     "config.yaml: value_classes.production.headroom: must be a non-negative finite number, got inf"),
    ("value_classes:\n  production:\n    headroom: .nan\n",
     "config.yaml: value_classes.production.headroom: must be a non-negative finite number, got nan"),
    ("value_classes:\n  background:\n    headroom: -0.5\n",
     "config.yaml: value_classes.background.headroom: must be a non-negative finite number, got -0.5"),
    ("value_classes:\n  production:\n    headroom: twenty\n",
     "config.yaml: value_classes.production.headroom: expected a number, got 'twenty'"),
    ("value_classes:\n  experimental:\n    target_utilization: 0\n",
     "config.yaml: value_classes.experimental.target_utilization: must be above 0 and at most 1, got 0"),
    ("budgets:\n  teams:\n    ml: {monthly_usd: .inf}\n",
     "config.yaml: budgets.teams.ml.monthly_usd: must be a non-negative finite number, got inf"),
    ("thresholds: {spike_z: .inf}\n", "config.yaml: thresholds.spike_z: must be a non-negative finite number"),
    ("thresholds: {gpu_idle_activity: 5}\n", "config.yaml: thresholds.gpu_idle_activity: must be at least 0 and "
                                             "at most 1, got 5"),
    ("thresholds: {spike_min_factor: 0.5}\n", "config.yaml: thresholds.spike_min_factor: must be at least 1"),
    ("notify: {timeout_s: 0}\n", "config.yaml: notify.timeout_s: must be above 0, got 0"),
    ("thresholds: {spike_baseline_days: 0}\n", "config.yaml: thresholds.spike_baseline_days: must be at least 1"),
]


@pytest.mark.parametrize("text, message", CASES, ids=[c[1].split(":")[1].strip() + "-" + str(i)
                                                      for i, c in enumerate(CASES)])
def test_bad_config_value_is_exit_2_naming_the_key(tmp_path, capsys, monkeypatch, text, message):
    import optimizer.profiles

    def boom(*a, **k):
        raise AssertionError("computation started with a bad config")

    monkeypatch.setattr(optimizer.profiles, "compute_profiles_many", boom)
    from tests.recommender.fakes import build_dataset

    root = build_dataset(tmp_path / "data", days=1, interval_s=3600)
    (tmp_path / "config.yaml").write_text(text)
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["recommend", "--data", root, "--out", str(tmp_path / "out"), "--config",
                     str(tmp_path / "config.yaml"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1  # one line


@pytest.mark.parametrize("flag, value", [("--solver-seconds", "inf"), ("--solver-seconds", "nan")])
def test_non_finite_flag_is_exit_2(tmp_path, capsys, flag, value):
    from tests.recommender.fakes import build_dataset

    root = build_dataset(tmp_path / "data", days=1, interval_s=3600)
    assert main(["recommend", "--data", root, "--out", str(tmp_path / "out"), flag, value, "--no-progress"]) == 2
    assert f"{flag}: '{value}' is not a finite number" in capsys.readouterr().err


@pytest.mark.parametrize("build, key, message", [
    (lambda c: c.OptimizerConfig(demand=c.DemandConfig(min_history_hours=float("nan"))),
     "demand.min_history_hours", "must be a finite number, got nan"),
    (lambda c: c.OptimizerConfig(decisions=c.DecisionConfig(share_gpu_fractions=(0.25, float("inf")))),
     "decisions.share_gpu_fractions", "must be a finite number, got inf"),
    (lambda c: c.OptimizerConfig(solver=c.SolverConfig(stage1_time_s=-1.0)), "solver.stage1_time_s",
     "must not be negative"),
    (lambda c: c.OptimizerConfig(decisions=c.DecisionConfig(idle_gpu_fraction=1.5)), "decisions.idle_gpu_fraction",
     "must be at most 1"),
    (lambda c: c.OptimizerConfig(value_class=c.ValueClassConfig(policies={
        "production": c.ValueClassPolicy("p99", float("inf"), "p95", 0.6, False, False, False, False)})),
     "value_class.policies.production.mem_headroom", "must be a finite number, got inf"),
])
def test_optimizer_config_check_names_the_setting(build, key, message):
    from optimizer import config as c

    c.check_config(c.DEFAULT_OPTIMIZER_CONFIG)  # the defaults pass
    with pytest.raises(c.ConfigValueError) as info:
        c.check_config(build(c))
    assert info.value.key == key and message in info.value.message
