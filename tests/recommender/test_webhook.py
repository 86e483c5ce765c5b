"""Alert delivery against a real local HTTP server: success, a server error, and a server that hangs."""

from __future__ import annotations

import json

from recommender.alerts.webhook import post_json, slack_payload
from tests.recommender.fakes import make_recommendation, make_result

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
    result = make_result([make_recommendation(monthly_cost_current=9999.0)], today_monthly=2000.0,
                         plan_monthly=765.5, priced=(3, 4))
    post_json(hook.url, slack_payload(DOC, result=result), timeout_s=5)
    text = hook.bodies[0]["text"]
    assert "Node bill savings: $1,234 per month (today's node bill minus the plan's; priced 3 of 4 nodes)" in text
    assert "showback change is $9,999 per month, not a bill saving" in text
def _config(tmp_path, **notify) -> str:
    """A config whose tiny budget makes every run raise an alert (so there is something to deliver)."""
    lines = ["budgets:", "  teams:", "    research: {monthly_usd: 1}", "notify:", "  timeout_s: 2"]
    lines += [f"  {k}: {v}" for k, v in notify.items()]
    path = tmp_path / "rightsizer.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _recommend(small_dataset, out, config, *extra):
    from recommender.cli import main

    return main(["recommend", "--data", str(small_dataset), "--out", str(out), "--config", config,
                 "--no-consolidate", "--no-progress", "--top", "0", *extra])


def test_notify_required_fails_the_run_with_3_after_writing_everything(small_dataset, tmp_path, hook, capsys):
    hook.status = 500
    out = tmp_path / "report"
    assert _recommend(small_dataset, out, _config(tmp_path), "--notify", hook.url, "--notify-required") == 3
    assert "alert delivery to 127.0.0.1" in capsys.readouterr().err
    for name in ("recommendations.json", "allocation.csv", "report.html", "report.md"):
        assert (out / name).is_file(), name
    assert json.loads((out / "alerts.json").read_text())["notification"]["status"] == 500
    # without the flag the same failure is a warning and the run succeeds
    assert _recommend(small_dataset, tmp_path / "again", _config(tmp_path), "--notify", hook.url) == 0
    # the config can require it too; a delivered message is a success
    assert _recommend(small_dataset, tmp_path / "cfg", _config(tmp_path, required="true"), "--notify",
                      hook.url) == 3
    hook.status = 200
    assert _recommend(small_dataset, tmp_path / "ok", _config(tmp_path), "--notify", hook.url,
                      "--notify-required") == 0


def test_notify_required_without_a_webhook_is_bad_input(small_dataset, tmp_path, capsys):
    assert _recommend(small_dataset, tmp_path / "r", _config(tmp_path), "--notify-required") == 2
    assert "no webhook to deliver to" in capsys.readouterr().err


def test_message_links_the_report_where_readers_find_it(small_dataset, tmp_path, hook):
    out = tmp_path / "report"
    assert _recommend(small_dataset, out, _config(tmp_path), "--notify", hook.url) == 0
    assert f"Report: {(out / 'report.html').resolve()}" in hook.bodies[-1]["text"]  # absolute, not relative
    assert _recommend(small_dataset, tmp_path / "r2", _config(tmp_path, report_url="https://reports.example/w48"),
                      "--notify", hook.url) == 0
    assert "Report: https://reports.example/w48" in hook.bodies[-1]["text"]
    assert _recommend(small_dataset, tmp_path / "r3", _config(tmp_path), "--notify", hook.url,
                      "--report-url", "https://reports.example/flag") == 0
    assert "Report: https://reports.example/flag" in hook.bodies[-1]["text"]


def test_message_links_the_s3_sink_not_the_local_staging_copy(small_dataset, tmp_path, hook, monkeypatch):
    import pytest

    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="reports")
        assert _recommend(small_dataset, "s3://reports/weekly/w48", _config(tmp_path), "--notify", hook.url) == 0
        keys = {o["Key"] for o in boto3.client("s3", region_name="us-east-1")
                .list_objects_v2(Bucket="reports")["Contents"]}
    assert "weekly/w48/report.html" in keys
    assert "Report: s3://reports/weekly/w48/report.html" in hook.bodies[-1]["text"]
