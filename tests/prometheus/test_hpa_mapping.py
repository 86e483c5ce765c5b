"""kube-state-metrics HPA series → autoscalers rows (importers/prometheus/hpa.py) on hand-made matrix results:
listings at the first point, at a change and at the last point; a KEDA-made HPA written as its ScaledObject;
target metrics in the HPA spec shape as far as KSM tells it."""

from __future__ import annotations

import json

from importers.prometheus.hpa import build, metric_spec
from importers.prometheus.series import Grid
from optimizer.autoscalers import HPA, SCALED_OBJECT, Autoscaler

GRID = Grid(1_800_000_000.0, 600.0, 4)


def _series(labels: dict, values: list[float | None]) -> dict:
    return {"metric": labels, "values": [[GRID.t0 + i * GRID.step, str(v)] for i, v in enumerate(values) if v is not None]}


def _key(name):
    return {"namespace": "ml", "horizontalpodautoscaler": name}


RESULTS = {
    "info": [_series({**_key("chat-hpa"), "scaletargetref_kind": "Deployment", "scaletargetref_name": "chat"}, [1] * 4),
             _series({**_key("keda-hpa-embed"), "scaletargetref_kind": "Deployment", "scaletargetref_name": "embed"},
                     [1, 1, None, None])],  # the ScaledObject is deleted after the second point
    "min": [_series(_key("chat-hpa"), [4, 4, 2, 2]), _series(_key("keda-hpa-embed"), [1, 1, None, None])],
    "max": [_series(_key("chat-hpa"), [8] * 4), _series(_key("keda-hpa-embed"), [5, 5, None, None])],
    "target": [_series({**_key("chat-hpa"), "metric_name": "cpu", "metric_target_type": "utilization"}, [70] * 4),
               _series({**_key("keda-hpa-embed"), "metric_name": "s0-prometheus", "metric_target_type": "average"},
                       [2.5, 2.5, None, None])],
}


def test_listings_at_the_first_point_each_change_and_the_last():
    rows = build(RESULTS, GRID).to_pylist()
    times = sorted({r["ts"].timestamp() for r in rows})
    # point 0 (first), point 2 (chat's minimum drops and embed is gone), point 3 (last)
    assert times == [GRID.t0, GRID.t0 + 2 * GRID.step, GRID.t0 + 3 * GRID.step]
    first = {(r["autoscaler_kind"], r["autoscaler_name"]): r for r in rows if r["ts"].timestamp() == GRID.t0}
    assert set(first) == {(HPA, "chat-hpa"), (SCALED_OBJECT, "embed")}  # KEDA's HPA written as its ScaledObject
    assert (first[(HPA, "chat-hpa")]["min_replicas"], first[(HPA, "chat-hpa")]["max_replicas"]) == (4, 8)
    last = [r for r in rows if r["ts"].timestamp() == times[-1]]
    assert [(r["autoscaler_name"], r["min_replicas"]) for r in last] == [("chat-hpa", 2)]
    assert {r["node"] for r in rows} == {"cluster"}
    embed = first[(SCALED_OBJECT, "embed")]
    assert json.loads(embed["metrics"]) == [{"metric": {"name": "s0-prometheus"},
                                             "target": {"type": "AverageValue", "averageValue": "2500m"}}]
    # what recommend reads from it: the CPU-utilization HPA scales on cpu at 70 %
    chat = first[(HPA, "chat-hpa")]
    a = Autoscaler("ml", HPA, "chat-hpa", "Deployment", "chat", 4, 8, json.loads(chat["metrics"]))
    assert a.cpu_or_memory_target() == {"cpu": 70.0}


def test_metric_specs_in_the_hpa_shape():
    assert metric_spec("memory", "utilization", 80.0) == {
        "type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}}
    assert metric_spec("queue_depth", "value", 30.0) == {"metric": {"name": "queue_depth"},
                                                         "target": {"type": "Value", "value": "30"}}
    assert metric_spec("cpu", "unknown", 1.0) is None
    # a ScaledObject imported from its HPA: Resource-shaped cpu targets count as its cpu target
    so = Autoscaler("ml", SCALED_OBJECT, "embed", "Deployment", "embed", 1, 5, [metric_spec("cpu", "utilization", 60.0)])
    assert so.cpu_or_memory_target() == {"cpu": 60.0}


def test_no_hpa_no_rows():
    assert build({"info": []}, GRID) is None
