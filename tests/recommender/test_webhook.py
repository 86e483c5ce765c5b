"""Alert delivery against a real local HTTP server: success, a server error, and a server that hangs."""

from __future__ import annotations

import json

from recommender.alerts.webhook import post_json, slack_payload

DOC = {"window": {"start": "2026-11-02T00:00:00Z", "end": "2026-11-09T00:00:00Z"},
       "alerts": [{"message": "team research is projected over its 2026-11 budget"}]}


def test_delivered_payload_is_slack_shaped(hook):
    result = post_json(hook.url, slack_payload(DOC), timeout_s=5)
    assert result.delivered and result.status == 200
    body = hook.bodies[0]
    assert "research is projected over" in body["text"]
    assert body["blocks"][0]["type"] == "header"
    assert "secret-token" not in json.dumps(result.to_dict())  # the URL's token never leaks into outputs


def test_server_error_is_reported_not_raised(hook):
    hook.status = 500
    result = post_json(hook.url, slack_payload(DOC), timeout_s=5)
    assert not result.delivered and result.status == 500
    assert "500" in result.error


def test_timeout_is_reported_not_raised(hook):
    hook.hold = True
    result = post_json(hook.url, slack_payload(DOC), timeout_s=0.2)
    assert not result.delivered and result.status is None
    assert "no answer within 0.2 s" in result.error
    assert len(hook.bodies) == 1  # the request did reach the server


def test_connection_refused_is_reported():
    result = post_json("http://127.0.0.1:9/hook", {"text": "x"}, timeout_s=1)
    assert not result.delivered and "cannot connect" in result.error


def test_the_node_bill_saving_is_the_headline_line_not_the_showback(hook):
    summary = {"monthly_bill_savings": 1234.5, "monthly_savings": 9999.0,
               "node_bill": {"priced": "priced 3 of 4 nodes"}}
    post_json(hook.url, slack_payload(DOC, savings=summary), timeout_s=5)
    text = hook.bodies[0]["text"]
    assert "Node bill savings: $1,234 per month (today's node bill minus the plan's; priced 3 of 4 nodes)" in text
    assert "showback change is $9,999 per month, not a bill saving" in text
