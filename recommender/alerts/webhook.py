"""Deliver alerts to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Teams workflows).

Delivery never raises: the result says what happened, and the caller reports it next to the files it
already wrote. The URL is a secret (it carries the token), so only its host appears in results and logs.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from store.errors import UserError


@dataclass(frozen=True)
class Delivery:
    host: str
    delivered: bool
    status: int | None     # HTTP status when the server answered
    error: str | None      # why it failed, one line

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.delivered:
            return f"alerts delivered to {self.host} (HTTP {self.status})"
        return f"alert delivery to {self.host} failed: {self.error}"


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"--notify: '{parts.scheme}://{parts.netloc}...' is not an http(s) webhook URL")
    return url


def post_json(url: str, payload: dict, *, timeout_s: float = 10.0) -> Delivery:
    host = urlsplit(url).netloc.rsplit("@", 1)[-1]
    body = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "rightsizer-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status = response.status
            response.read(4096)
        return Delivery(host, 200 <= status < 300, status, None if 200 <= status < 300 else f"HTTP {status}")
    except urllib.error.HTTPError as exc:
        return Delivery(host, False, exc.code, f"HTTP {exc.code} {exc.reason}")
    except TimeoutError:
        return Delivery(host, False, None, f"no answer within {timeout_s:g} s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return Delivery(host, False, None, f"no answer within {timeout_s:g} s")
        return Delivery(host, False, None, f"cannot connect ({reason})")
    except OSError as exc:
        return Delivery(host, False, None, f"connection error ({exc})")


def slack_payload(doc: dict, *, report_hint: str | None = None, result=None) -> dict:
    """A Slack message (``text`` plus ``blocks``) summarizing an alerts.json document; ``result`` is the
    run's ``optimizer.recommend.RecommendationSet``, whose node bill savings are the headline line."""
    alerts = doc.get("alerts", [])
    window = doc.get("window", {})
    head = f"rightsizer: {len(alerts)} alert(s) for {window.get('start', '?')[:10]} to {window.get('end', '?')[:10]}"
    lines = [f"• {a['message']}" for a in alerts[:20]]
    if len(alerts) > 20:
        lines.append(f"• … and {len(alerts) - 20} more in alerts.json")
    if result is not None:
        from recommender.report.format import bill_sentence

        lines.append(f"Node bill savings: {bill_sentence(result)}")
    if report_hint:
        lines.append(f"Report: {report_hint}")
    text = head + ("\n" + "\n".join(lines) if lines else "")
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": head[:150]}}]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}})
    return {"text": text, "blocks": blocks}
