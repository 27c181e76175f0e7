"""Health: every threshold crossing (warning and critical) for backlog, sync age, stuck jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from agentsync import agents
from agentsync.quality.health import CRITICAL, OK, WARNING, HealthReport, check_health
from tests.quality.conftest import SPEC, TinySource, ensure_agent, execute, widgets


def _item(report: HealthReport, check: str, key: str):
    matches = [i for i in report.items if i.check == check and i.key == key]
    assert len(matches) == 1, [(i.check, i.key) for i in report.items]
    return matches[0]


def test_backlog_warn_and_critical_then_zero_after_processing(
    tiny: TinySource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSYNC_BACKLOG_WARN_ROWS", "3")
    monkeypatch.setenv("AGENTSYNC_BACKLOG_CRITICAL_ROWS", "6")
    tiny.sync(1, widgets(range(1, 4)), reported_total=3)
    item = _item(check_health([SPEC]), "backlog", "qtest.widgets")
    assert (item.value, item.level) == (3, OK)  # 3 is not > 3
    tiny.sync(2, widgets(range(1, 2)), reported_total=1)
    item = _item(check_health([SPEC]), "backlog", "qtest.widgets")
    assert (item.value, item.level) == (4, WARNING)
    assert "warn > 3" in item.message
    tiny.sync(3, widgets(range(1, 4)), reported_total=3)
    item = _item(check_health([SPEC]), "backlog", "qtest.widgets")
    assert (item.value, item.level) == (7, CRITICAL)
    tiny.build_mart()
    item = _item(check_health([SPEC]), "backlog", "qtest.widgets")
    assert (item.value, item.level) == (0, OK)
    # processed history is not backlog; a new load is
    tiny.sync(1, widgets([1]), reported_total=3)
    assert _item(check_health([SPEC]), "backlog", "qtest.widgets").value == 1


def test_backlog_of_a_never_loaded_entity_is_zero(qenv: dict[str, str]) -> None:
    item = _item(check_health([SPEC]), "backlog", "qtest.widgets")
    assert (item.value, item.level) == (0, OK)


def _run(
    user_id: int, entity: str, hours_ago: float, status: str = "done", source: str = "qtest"
) -> None:
    ensure_agent(user_id)
    execute(
        """
        insert into ops.sync_runs (kind, user_id, source, entity, started_at, ended_at, status)
        values ('daily', :u, :src, :e, now() - make_interval(secs => :h * 3600 + 60),
                now() - make_interval(secs => :h * 3600), :st)
        """,
        u=user_id, e=entity, h=hours_ago, st=status, src=source,
    )  # fmt: skip


def test_sync_age_thresholds(qenv: dict[str, str]) -> None:
    _run(1, "fresh", 1)
    _run(1, "late", 25)
    _run(1, "stale", 73)
    _run(1, "recovered", 80)
    _run(1, "recovered", 2)
    _run(1, "failing", 30, status="failed")  # never succeeded: age since the first attempt
    report = check_health([])
    levels = {i.key: i.level for i in report.items if i.check == "sync_age"}
    assert levels == {
        "user 1 qtest.fresh": OK,
        "user 1 qtest.late": WARNING,
        "user 1 qtest.stale": CRITICAL,
        "user 1 qtest.recovered": OK,
        "user 1 qtest.failing": WARNING,
    }
    assert "never synced successfully" in _item(report, "sync_age", "user 1 qtest.failing").message
    assert report.level == CRITICAL


def test_sync_age_thresholds_come_from_settings(
    qenv: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(1, "late", 25)
    monkeypatch.setenv("AGENTSYNC_SYNC_AGE_WARN_HOURS", "48")
    assert _item(check_health([]), "sync_age", "user 1 qtest.late").level == OK
    monkeypatch.setenv("AGENTSYNC_SYNC_AGE_CRITICAL_HOURS", "12")
    monkeypatch.setenv("AGENTSYNC_SYNC_AGE_WARN_HOURS", "6")
    assert _item(check_health([]), "sync_age", "user 1 qtest.late").level == CRITICAL


def test_sync_age_only_for_agents_still_connected(qenv: dict[str, str]) -> None:
    agents.add_agent(5, "Agent 5", {"fub": {"api_key": "k"}})
    _run(5, "people", 30, source="fub")
    _run(6, "people", 30, source="fub")  # agent 6 never connected fub
    _run(7, "widgets", 30)
    execute("delete from ops.agents where user_id = 7")  # removed agent
    keys = {i.key: i.level for i in check_health([]).items if i.check == "sync_age"}
    assert keys == {"user 5 fub.people": WARNING}
    agents.remove_credential(5, "fub")  # disconnected: no longer expected to sync
    assert not [i for i in check_health([]).items if i.check == "sync_age"]


def _job(user_id: int, status: str, hours_ago: float) -> None:
    ensure_agent(user_id)
    execute(
        """
        insert into ops.onboarding_jobs (user_id, status, created_at, started_at)
        values (:u, :st, now() - make_interval(secs => :h * 3600),
                case when :st = 'New' then null else now() - make_interval(secs => :h * 3600) end)
        """,
        u=user_id, st=status, h=hours_ago,
    )  # fmt: skip


def test_stuck_job_thresholds(qenv: dict[str, str]) -> None:
    _job(1, "Started", 1)
    _job(2, "Started", 5)
    _job(3, "Started", 25)
    _job(4, "New", 6)
    _job(5, "Complete", 100)
    _job(6, "Partial", 100)
    report = check_health([])
    levels = {i.details["user_id"]: i.level for i in report.items if i.check == "stuck_job"}
    assert levels == {1: OK, 2: WARNING, 3: CRITICAL, 4: WARNING}


def test_errors_in_the_last_24h_warn_until_the_run_succeeds(qenv: dict[str, str]) -> None:
    _run(1, "widgets", 3, status="failed")
    item = _item(check_health([]), "sync_errors", "user 1 qtest.widgets")
    assert item.level == WARNING and "still failing" in item.message
    _run(1, "widgets", 1)
    item = _item(check_health([]), "sync_errors", "user 1 qtest.widgets")
    assert item.level == OK and "succeeded since" in item.message
    _run(2, "widgets", 30, status="failed")  # older than 24 h: not an error of today
    assert not [i for i in check_health([]).items if i.key == "user 2 qtest.widgets" and
                i.check == "sync_errors"]  # fmt: skip


def test_cli_health_exit_codes_and_json(qenv: dict[str, str]) -> None:
    env = {**qenv, "PATH": "/usr/bin:/bin"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agentsync.cli", "health", "--json"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip

    res = run()
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "ok"
    _job(1, "Started", 5)
    res = run()
    assert res.returncode == 1
    _job(2, "Started", 30)
    res = run()
    assert res.returncode == 2
    out = json.loads(res.stdout)
    assert out["level"] == 2
    assert {i["alert_key"] for i in out["items"] if i["level"]} >= {
        "stuck_job:job 1 (user 1)", "stuck_job:job 2 (user 2)"}  # fmt: skip


def test_default_thresholds_are_the_legacy_manuals(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """The legacy operations manual's "Alert Thresholds" table, with nothing configured."""
    from agentsync.settings import ENV_PREFIX, load_settings

    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env file either
    s = load_settings()
    assert (s.backlog_warn_rows, s.backlog_critical_rows) == (1000, 5000)
    assert (s.sync_age_warn_hours, s.sync_age_critical_hours) == (24, 72)
    assert (s.job_stuck_warn_hours, s.job_stuck_critical_hours) == (4, 24)


def test_webhook_events_that_failed_or_wait_are_reported(qenv: dict[str, str]) -> None:
    def webhook_items():
        return {i.key: i for i in check_health([SPEC]).items if i.check == "webhook_events"}

    assert webhook_items() == {}
    execute(
        "insert into ops.webhook_events (user_id, event, payload, status, attempts, "
        "next_attempt_at, received_at) values "
        "(1, 'peopleUpdated', '{}', 'failed', 5, null, now() - interval '2 hours'), "
        "(1, 'peopleUpdated', '{}', 'failed', 1, now() + interval '30 seconds', now()), "
        "(1, 'peopleUpdated', '{}', 'received', 0, null, now() - interval '5 hours'), "
        "(1, 'peopleUpdated', '{}', 'processed', 1, null, now() - interval '9 hours')"
    )
    items = webhook_items()
    assert items["failed"].level == CRITICAL and items["failed"].value == 1
    assert "webhooks replay" in items["failed"].message
    assert items["retrying"].level == WARNING and items["retrying"].value == 1
    assert items["received"].level == WARNING and items["received"].value == 1  # 5 h > 4 h
    execute("update ops.webhook_events set status = 'processed'")
    assert webhook_items() == {}
