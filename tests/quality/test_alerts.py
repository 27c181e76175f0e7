"""Alerts: one message when a problem appears, none while it persists, one when it clears."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from agentsync.quality.alerts import evaluate_and_notify
from agentsync.quality.gate import run_quality_gate
from agentsync.quality.gx import build_context
from agentsync.quality.health import check_health
from tests.quality.conftest import SPEC, Receiver, TinySource, ensure_agent, execute, widgets


def _stuck(user_id: int, hours_ago: float) -> None:
    ensure_agent(user_id)
    execute(
        """insert into ops.onboarding_jobs (user_id, status, started_at)
           values (:u, 'Started', now() - make_interval(secs => :h * 3600))""",
        u=user_id, h=hours_ago,
    )  # fmt: skip


def _age(user_id: int, hours_ago: float) -> None:
    execute(
        "update ops.onboarding_jobs set started_at = now() - make_interval(secs => :h * 3600) "
        "where user_id = :u",
        u=user_id, h=hours_ago,
    )  # fmt: skip


def _evaluate() -> list:
    return evaluate_and_notify(check_health([]))


@pytest.fixture
def hooked(qenv: dict[str, str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("AGENTSYNC_ALERT_WEBHOOK_URL", receiver.url)
    return receiver


def test_dedupe_escalation_and_recovery(hooked: Receiver) -> None:
    assert _evaluate() == [] and hooked.messages == []  # healthy: nothing to say
    _stuck(1, 5)
    [event] = _evaluate()
    assert (event.kind, event.severity, event.delivered) == ("opened", "warning", True)
    assert len(hooked.texts()) == 1 and "PROBLEM" in hooked.texts()[0]
    assert "job 1 (user 1)" in hooked.texts()[0]
    assert _evaluate() == [] and _evaluate() == []  # persists: silence
    assert len(hooked.messages) == 1

    _age(1, 30)  # warning -> critical: one escalation message
    [event] = _evaluate()
    assert (event.kind, event.severity) == ("escalated", "critical")
    assert _evaluate() == []
    assert len(hooked.messages) == 2

    execute("update ops.onboarding_jobs set status = 'Complete', ended_at = now()")
    [event] = _evaluate()
    assert event.kind == "resolved" and "RESOLVED" in hooked.texts()[-1]
    assert _evaluate() == []
    assert len(hooked.messages) == 3
    row = execute("select state, cleared_at is not null from ops.alerts")
    assert row == [("cleared", True)]

    # the same problem coming back is a new alert: one new message
    execute("update ops.onboarding_jobs set status = 'Started'")
    [event] = _evaluate()
    assert event.kind == "opened" and len(hooked.messages) == 4


def test_several_problems_each_get_one_message(hooked: Receiver) -> None:
    _stuck(1, 5)
    _stuck(2, 30)
    events = _evaluate()
    assert sorted(e.alert_key for e in events) == [
        "stuck_job:job 1 (user 1)", "stuck_job:job 2 (user 2)"]  # fmt: skip
    _stuck(3, 6)
    [event] = _evaluate()
    assert event.alert_key == "stuck_job:job 3 (user 3)"
    assert len(hooked.messages) == 3


def test_dry_run_sends_nothing_and_changes_nothing(hooked: Receiver) -> None:
    _stuck(1, 5)
    [event] = evaluate_and_notify(check_health([]), dry_run=True)
    assert event.kind == "opened" and not event.delivered
    assert hooked.messages == []
    assert execute("select count(*) from ops.alerts") == [(0,)]
    assert len(_evaluate()) == 1 and len(hooked.messages) == 1


def test_failed_delivery_is_retried_and_never_names_the_url(
    hooked: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    _stuck(1, 5)
    hooked.status = 500
    with caplog.at_level(logging.DEBUG):
        [event] = _evaluate()
    assert not event.delivered and event.error == "alert webhook answered HTTP 500"
    assert "s3cr3t-hook-token" not in caplog.text
    hooked.status = 200
    [event] = _evaluate()  # owed message retried once the webhook works
    assert event.delivered and len(hooked.messages) == 1
    assert _evaluate() == []


def test_unreachable_webhook_error_hides_the_url(
    qenv: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSYNC_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hooks/s3cr3t-token")
    _stuck(1, 5)
    [event] = _evaluate()
    assert not event.delivered and "s3cr3t" not in (event.error or "")
    assert "unreachable" in (event.error or "")


def test_cli_alert_never_prints_the_webhook(hooked: Receiver, qenv: dict[str, str]) -> None:
    _stuck(1, 5)
    env = {**qenv, "PATH": "/usr/bin:/bin", "AGENTSYNC_ALERT_WEBHOOK_URL": hooked.url}
    cmd = [sys.executable, "-m", "agentsync.cli", "-v", "alert"]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0, dry.stderr
    assert "would send" in dry.stdout and hooked.messages == []
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "sent:" in res.stdout and len(hooked.messages) == 1
    for out in (dry, res):
        assert "s3cr3t-hook-token" not in out.stdout + out.stderr


def test_a_failing_gate_alerts_once_per_check_and_agent_and_clears_once(
    hooked: Receiver, tiny: TinySource, tmp_path: Path
) -> None:
    root = tmp_path / "expectations"
    build_context([SPEC], root=root)

    def gate(user_ids: list[int] | None = None):
        result = run_quality_gate(user_ids, entities=[SPEC], context_root=root, dbt_args=None)
        return result, evaluate_and_notify(check_health([]), gate=result)

    tiny.sync(1, widgets(range(1, 4)), reported_total=3)
    tiny.sync(2, widgets(range(1, 4)), reported_total=3)
    tiny.build_mart()
    result, events = gate()
    assert result.success and events == []
    execute("delete from marts.qtest_widgets where user_id = 2 and widget_id = '2'")
    result, events = gate()
    assert not result.success
    failing = {c.name for c in result.checks}
    assert {e.alert_key for e in events} == {f"quality_gate:user 2 {n}" for n in failing}
    assert all(e.kind == "opened" and e.delivered for e in events)
    assert len(hooked.messages) == len(failing) >= 1
    assert all("agent 2 fails qtest.widgets count" in t for t in hooked.texts())

    assert gate()[1] == []  # persists: silence
    assert evaluate_and_notify(check_health([])) == []  # health only: gate alerts untouched
    assert gate([1])[0].success and len(hooked.messages) == len(failing)  # agent 1 only: kept

    tiny.sync(2, widgets(range(1, 4)), reported_total=3)  # re-synced: the mart is whole again
    tiny.build_mart()
    result, events = gate()
    assert result.success
    assert sorted(e.kind for e in events) == ["resolved"] * len(failing)
    assert len(hooked.messages) == 2 * len(failing)
    assert gate()[1] == []
