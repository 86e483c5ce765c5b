"""values.schema.json turns wrong values into a helm error naming the key, before anything is rendered."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helm.chart import CHART, RELEASE, run_helm, values_file


def template(helm, tmp_path, values: dict):
    path = values_file(tmp_path, "values", values)
    return run_helm(helm, "template", RELEASE, str(CHART), "-f", str(path))


@pytest.mark.tools
@pytest.mark.parametrize(("values", "where"), [
    ({"agent": {"intervalSeconds": "1"}}, "/agent/intervalSeconds"),
    ({"agent": {"processAttribution": {"enabled": "false"}}}, "/agent/processAttribution/enabled"),
    ({"agent": {"metricsPort": 70000}}, "/agent/metricsPort"),
    ({"agent": {"spool": {"type": "tmpfs"}}}, "/agent/spool/type"),
    ({"agent": {"maxUnavailable": "ten"}}, "/agent/maxUnavailable"),
    ({"report": {"concurrencyPolicy": "Sometimes"}}, "/report/concurrencyPolicy"),
    ({"report": {"successfulJobsHistoryLimit": -1}}, "/report/successfulJobsHistoryLimit"),
    ({"sink": {"type": "gcs"}}, "/sink/type"),
    ({"sink": {"type": "s3", "s3": {"uri": "bucket/prefix"}}}, "/sink/s3/uri"),
    ({"sink": {"type": "s3"}}, "/sink/s3/uri"),
    ({"serviceAccount": {"irsaRoleArn": "rightsizer-role"}}, "/serviceAccount/irsaRoleArn"),
])
def test_schema_rejects_wrong_values_naming_the_key(helm, tmp_path, values, where):
    proc = template(helm, tmp_path, values)
    assert proc.returncode != 0, proc.stdout[:500]
    assert "schema" in proc.stderr
    assert where in proc.stderr, proc.stderr


@pytest.mark.tools
def test_schema_rejects_a_misspelt_key(helm, tmp_path):
    proc = template(helm, tmp_path, {"agent": {"intervalSecond": 5}})
    assert proc.returncode != 0
    assert "intervalSecond" in proc.stderr


@pytest.mark.tools
def test_schema_accepts_what_it_should(helm, tmp_path):
    proc = template(helm, tmp_path, {"agent": {"intervalSeconds": 0.5, "backend": "fake:shared-gpu",
                                               "maxUnavailable": 1},
                                     "report": {"config": {"anything": {"nested": [1, 2]}}}})
    assert proc.returncode == 0, proc.stderr


def _keys(node: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in node.items():
        out.add(prefix + key)
        if isinstance(value, dict) and value and key not in {"affinity", "resources", "podSecurityContext",
                                                             "securityContext", "livenessProbe",
                                                             "readinessProbe", "config"}:
            out |= _keys(value, f"{prefix}{key}.")
    return out


def _schema_keys(node: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, sub in node.get("properties", {}).items():
        out.add(prefix + key)
        out |= _schema_keys(sub, f"{prefix}{key}.")
    return out


def test_schema_describes_every_default_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    missing = _keys(values) - _schema_keys(schema)
    assert not missing, f"values.yaml keys without a schema entry: {sorted(missing)}"
