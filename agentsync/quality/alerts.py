"""Alerts: one message when a problem appears, none while it persists, one when it clears.

State lives in ``ops.alerts`` (one row per problem, ``alert_key`` = ``<check>:<what>`` from
:mod:`agentsync.quality.health`). ``evaluate_and_notify`` compares the current health report with
that state:

- a problem with no open alert → the alert opens and one "problem" message is sent;
- an open alert still present → nothing is sent (``last_seen_at`` moves), except when it
  escalates from warning to critical, which sends one "escalated" message;
- an open alert no longer present → it clears and one "resolved" message is sent.

A failing quality gate alerts the same way (:func:`gate_items`): one alert per failing check and
agent (``quality_gate:user <id> <check>``, or ``quality_gate:<check>`` for a check that is not
per agent). Gate alerts are judged only by an evaluation that was given a gate result, and only
for the agents that gate looked at: a health-only evaluation (``agentsync alert``, the
dispatcher) or an onboarding's gate scoped to one agent neither repeats nor clears another
agent's gate alert.

Messages go to a Slack-compatible incoming webhook (``AGENTSYNC_ALERT_WEBHOOK_URL``, a JSON body
``{"text": ...}``). The URL is a secret: it is never logged or put in an error message. When no
webhook is configured, messages are logged only. A message that could not be delivered is
retried on the next evaluation (its ``notified_*_at`` stays empty). Evaluations are serialised
with a database advisory lock, so two flows ending together cannot both send the same message.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentsync import db
from agentsync.quality.health import (
    CRITICAL,
    LEVEL_NAMES,
    WARNING,
    HealthItem,
    HealthReport,
    check_health,
)
from agentsync.settings import Settings, get_settings

if TYPE_CHECKING:
    from agentsync.quality.gate import GateResult

log = logging.getLogger(__name__)

_LOCK_ID = 0x61677331  # "ags1": pg_advisory_xact_lock key for alert evaluation

EventKind = Literal["opened", "escalated", "resolved"]
GATE_CHECK = "quality_gate"
_GATE_AGENT_KEY = re.compile(rf"^{GATE_CHECK}:user (\d+) ")


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept a message (the message never contains the URL)."""


@dataclass
class AlertEvent:
    """One message-worthy change of an alert; ``delivered`` says whether the webhook took it."""

    alert_key: str
    kind: EventKind
    severity: str
    message: str
    delivered: bool = False
    error: str | None = None

    @property
    def text(self) -> str:
        icon = {
            "opened": ":rotating_light:",
            "escalated": ":fire:",
            "resolved": ":white_check_mark:",
        }
        label = {"opened": "PROBLEM", "escalated": "ESCALATED", "resolved": "RESOLVED"}
        return f"{icon[self.kind]} agentsync {label[self.kind]} [{self.severity}] {self.message}"


def send_webhook(url: str, text: str, timeout: float = 10.0) -> None:
    """POST ``{"text": text}`` to a Slack-compatible webhook; raises without naming the URL.

    Uses ``urllib`` rather than httpx on purpose: httpx logs every request URL at INFO level, and
    this URL is a secret.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise AlertDeliveryError("AGENTSYNC_ALERT_WEBHOOK_URL must be an http(s) URL")
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            status = resp.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (urllib.error.URLError, OSError) as err:
        raise AlertDeliveryError(f"alert webhook unreachable ({type(err).__name__})") from None
    if status >= 300:
        raise AlertDeliveryError(f"alert webhook answered HTTP {status}")


def gate_items(gate: GateResult) -> list[HealthItem]:
    """A failing gate as alert items: one per failing (or warning) check and agent.

    A failing count check (data missing or unexplained) is critical; a failing freshness check
    is a warning, like the health check's sync age; any other failure (a view that could not be
    built, a checkpoint error, a dbt test) is critical.
    """
    items = []
    # the gate's warnings (an old newest record) alert as warnings, like failing freshness
    for check in [*gate.checks, *getattr(gate, "warnings", [])]:
        level = WARNING if " freshness:" in check.name else CRITICAL
        for user_id in check.agents:
            items.append(
                HealthItem(
                    GATE_CHECK,
                    f"user {user_id} {check.name}",
                    level,
                    None,
                    f"quality gate: agent {user_id} fails {check.name}",
                    {"user_id": user_id, "check": check.name},
                )
            )
        if not check.agents:
            items.append(
                HealthItem(
                    GATE_CHECK,
                    check.name,
                    level,
                    None,
                    f"quality gate: {check.line}"[:2000],
                    {"check": check.name},
                )
            )
    return items


def _judged(alert_key: str, gate: GateResult | None) -> bool:
    """Whether this evaluation can confirm or clear the alert ``alert_key``."""
    if not alert_key.startswith(f"{GATE_CHECK}:"):
        return True  # health items: every health report covers them all
    if gate is None:
        return False
    match = _GATE_AGENT_KEY.match(alert_key)
    return match is None or gate.user_ids is None or int(match.group(1)) in gate.user_ids


def _changes(
    conn: Connection, report: HealthReport, gate: GateResult | None = None
) -> list[AlertEvent]:
    """Apply the report (and the gate's failures) to ``ops.alerts``; return the messages owed."""
    problems = report.problems + (gate_items(gate) if gate is not None else [])
    current = {i.alert_key: i for i in problems}
    rows = conn.execute(
        sa.text("select alert_key, severity, state from ops.alerts where state = 'open'")
    ).mappings()
    open_alerts = {r["alert_key"]: r for r in rows}
    escalated_keys: set[str] = set()
    for key, item in current.items():
        severity = LEVEL_NAMES[item.level]
        existing = open_alerts.get(key)
        if existing is None:
            conn.execute(
                sa.text(
                    """
                    insert into ops.alerts (alert_key, severity, message, state)
                    values (:k, :sev, :msg, 'open')
                    on conflict (alert_key) do update
                       set severity = excluded.severity, message = excluded.message,
                           state = 'open', opened_at = now(), last_seen_at = now(),
                           cleared_at = null, notified_open_at = null, notified_clear_at = null
                    """
                ),
                {"k": key, "sev": severity, "msg": item.message},
            )
        else:
            escalated = existing["severity"] != "critical" and item.level == CRITICAL
            if escalated:
                escalated_keys.add(key)
            conn.execute(
                sa.text(
                    """
                    update ops.alerts
                       set last_seen_at = now(), message = :msg,
                           severity = case when :esc then 'critical' else severity end,
                           notified_open_at = case when :esc then null else notified_open_at end
                     where alert_key = :k
                    """
                ),
                {"k": key, "msg": item.message, "esc": escalated},
            )
    for key in open_alerts.keys() - current.keys():
        if not _judged(key, gate):
            continue
        conn.execute(
            sa.text(
                """
                update ops.alerts set state = 'cleared', cleared_at = now()
                 where alert_key = :k
                """
            ),
            {"k": key},
        )
    owed = conn.execute(
        sa.text(
            """
            select alert_key, severity, message, state
              from ops.alerts
             where (state = 'open' and notified_open_at is null)
                or (state = 'cleared' and notified_clear_at is null and notified_open_at is not null)
             order by alert_key
            """
        )
    ).mappings()
    events = []
    for r in owed:
        if r["state"] == "cleared":
            kind: EventKind = "resolved"
            msg = f"{r['alert_key']}: cleared (was: {r['message']})"
        else:
            kind = "escalated" if r["alert_key"] in escalated_keys else "opened"
            msg = r["message"]
        events.append(AlertEvent(r["alert_key"], kind, r["severity"], msg))
    return events


def _mark(conn: Connection, event: AlertEvent) -> None:
    column = "notified_clear_at" if event.kind == "resolved" else "notified_open_at"
    conn.execute(
        sa.text(f"update ops.alerts set {column} = now() where alert_key = :k"),
        {"k": event.alert_key},
    )


def evaluate_and_notify(
    report: HealthReport | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
    gate: GateResult | None = None,
) -> list[AlertEvent]:
    """Turn a health report (and a quality gate result) into alert messages.

    Messages are sent unless ``dry_run``.

    Args:
        report: a health report (default: ``check_health()`` now).
        dry_run: compute what would be sent; change no state and send nothing.
        settings: webhook and database (default: the process settings).
        gate: the quality gate that just ran, if any; its failing checks open alerts and its
            passing ones clear them (for the agents it covered). None: gate alerts untouched.

    Returns:
        The messages owed by this evaluation, each with ``delivered`` / ``error``.
    """
    s = settings or get_settings()
    report = report or check_health(settings=s)
    db.ensure_ready(s)
    url = s.alert_webhook_url.get_secret_value() if s.alert_webhook_url else None
    with db.begin(s) as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        savepoint = conn.begin_nested() if dry_run else None
        events = _changes(conn, report, gate)
        if savepoint is not None:
            savepoint.rollback()
            return events
        for event in events:
            if url is None:
                log.warning("alert (no AGENTSYNC_ALERT_WEBHOOK_URL set): %s", event.text)
                event.delivered = False
                _mark(conn, event)
                continue
            try:
                send_webhook(url, event.text)
            except AlertDeliveryError as err:
                event.error = str(err)
                log.error("alert %s not delivered: %s", event.alert_key, err)
                continue
            event.delivered = True
            _mark(conn, event)
    return events
