"""SkySlope dlt source against the sandbox: counts, session renewal, bad credentials, windows."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from agentsync import agents, db
from agentsync.entities import SKYSLOPE as ENTITIES
from agentsync.errors import IntegrationError, SettingError
from agentsync.settings import get_settings
from dlt_pipelines.skyslope import run_entity, steps
from dlt_pipelines.skyslope.client import _sessions as client_cache
from tests.skyslope.conftest import rows, scalar, truth

AGENT = 101


def _distinct(table: str, column: str, user_id: int) -> set[str]:
    return {
        r[0]
        for r in rows(
            f"select distinct {column} from raw_skyslope.{table} where user_id = :u", u=user_id
        )
    }


@pytest.mark.slow
def test_onboarding_loads_everything_the_api_serves(register_agents, sandbox_server):
    register_agents(AGENT)
    for step in steps():
        step.run(AGENT, "onboarding", None)
    for spec in ENTITIES:
        expected = truth(sandbox_server, "skyslope", AGENT, spec.entity)
        got = _distinct(spec.entity, spec.raw_id_column, AGENT)
        assert got == set(expected["ids"]), spec.entity
        run = rows(
            "select status, rows, reported_total from ops.sync_runs "
            "where user_id = :u and source = 'skyslope' and entity = :e",
            u=AGENT,
            e=spec.entity,
        )
        assert run == [("done", expected["count"], expected["count"])]
    # one login served every step: the session is reused while the server accepts it
    assert len(sandbox_server.sandbox.modules["skyslope"]._sessions) == 1
    # raw keeps the vendor's text untouched: naive dates, null-date markers, control characters
    assert scalar(
        "select count(*) from raw_skyslope.sales where file->>'actualClosingDate' = '0001-01-01T00:00:00'"
    )
    assert scalar(
        "select count(*) from raw_skyslope.sales where file->'property'->>'streetAddress' ~ '[[:cntrl:]]'"
    )
    assert (
        scalar("select count(*) from raw_skyslope.sales where modified_on ~ '(Z|[+-][0-9:]+)$'")
        == 0
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec",
    [
        "skyslope:/api/*:expired_credentials:1",  # the first page after login
        "skyslope:/api/files/sales/*:expired_credentials:1",  # a file detail mid-run
    ],
)
def test_session_dying_mid_run_costs_no_page(register_agents, sandbox_server, spec):
    register_agents(AGENT)
    client_cache.clear()  # no session left over from an earlier test on a reused port
    sessions = sandbox_server.sandbox.modules["skyslope"]._sessions
    httpx.post(f"{sandbox_server.url}/_sandbox/faults", json={"spec": spec})
    result = run_entity(AGENT, "onboarding", None, "sales")
    expected = truth(sandbox_server, "skyslope", AGENT, "sales")
    assert result.rows == expected["count"]
    assert _distinct("sales", "sale_guid", AGENT) == set(expected["ids"])
    faults = httpx.get(f"{sandbox_server.url}/_sandbox/faults").json()["faults"]
    assert faults[0]["hits"] == 1
    # the 401 was answered by a new login (a second session), not by resending the dead one
    assert len(sessions) == 2
    assert all(s.user_id == AGENT for s in sessions.values())


@pytest.mark.slow
def test_session_expired_by_the_clock_is_renewed(register_agents, sandbox_server):
    register_agents(AGENT)
    from dlt_pipelines.skyslope.client import SkySlopeClient

    with SkySlopeClient(AGENT, agents.get_credentials(AGENT, "skyslope"), get_settings()) as c:
        c.login()
        c.get("/api/users")
        httpx.post(f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 7300, "fraction": 0})
        users = c.get("/api/users")["value"]["users"]
        assert c.logins == 2
    assert {u["userGuid"] for u in users} == set(
        truth(sandbox_server, "skyslope", AGENT, "users")["ids"]
    )


@pytest.mark.slow
def test_schema_drift_and_malformed_rows_lose_nothing(register_agents, sandbox_server):
    register_agents(AGENT)
    httpx.post(
        f"{sandbox_server.url}/_sandbox/faults",
        json={
            "spec": "skyslope:/api/files/sales:drift_added:1,skyslope:/api/files/sales:malformed:1"
        },
    )
    result = run_entity(AGENT, "onboarding", None, "sales")
    expected = truth(sandbox_server, "skyslope", AGENT, "sales")
    assert result.quarantined == 1 and result.rows == expected["count"] - 1
    assert scalar("select count(*) from raw_skyslope.sales where summary ? 'teamName'") > 0
    reason = scalar("select reason from ops.quarantine where source = 'skyslope'")
    assert reason == "list row without saleGuid"
    # the next run picks the quarantined file up again (the API serves it whole now)
    run_entity(AGENT, "onboarding", None, "sales")
    assert _distinct("sales", "sale_guid", AGENT) == set(expected["ids"])


@pytest.mark.slow
def test_wrong_secret_fails_the_step_naming_agent_not_secret(register_agents, sandbox_server):
    register_agents(AGENT)
    cred = agents.get_credentials(AGENT, "skyslope")
    cred["access_secret"] = "definitely-wrong-secret"
    agents.set_credential(AGENT, "skyslope", cred)
    with pytest.raises(IntegrationError) as err:
        run_entity(AGENT, "onboarding", None, "sales")
    message = str(err.value)
    assert "agent 101" in message and "skyslope" in message
    assert "definitely-wrong-secret" not in message and cred["client_secret"] not in message
    status, error = rows(
        "select status, error from ops.sync_runs where user_id = :u and entity = 'sales'", u=AGENT
    )[0]
    assert status == "failed" and "agent 101" in error and "definitely-wrong" not in error


@pytest.mark.slow
def test_daily_run_reads_only_the_changed_window(register_agents, sandbox_server):
    register_agents(AGENT)
    first = run_entity(AGENT, "onboarding", None, "sales")
    users = run_entity(AGENT, "onboarding", None, "users")
    raw_count = "select count(*) from raw_skyslope.{} where user_id = :u"
    landed = {t: scalar(raw_count.format(t), u=AGENT) for t in ("sales", "users")}
    assert landed == {"sales": first.rows, "users": users.rows} and users.rows > 0
    # a quiet day: the window re-lists the lag hours, but every file is in raw in the version
    # listed and every user as served, so nothing lands
    quiet = {t: run_entity(AGENT, "daily", None, t) for t in ("sales", "users")}
    assert {t: r.rows for t, r in quiet.items()} == {"sales": 0, "users": 0}
    assert {t: scalar(raw_count.format(t), u=AGENT) for t in landed} == landed
    assert quiet["users"].reported_total == users.rows

    httpx.post(
        f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 3 * 86400, "fraction": 0.3}
    )
    second = run_entity(AGENT, "daily", None, "sales")
    assert 0 < second.rows < first.rows
    # the sales the sandbox changed for this agent are exactly the ones re-read with a revision
    sales = set(truth(sandbox_server, "skyslope", AGENT, "sales")["ids"])
    changed = set(sandbox_server.sandbox.modules["skyslope"]._changes) & sales
    revised = {
        r[0]
        for r in rows(
            "select distinct sale_guid from raw_skyslope.sales "
            "where user_id = :u and (file->>'revision')::int > 0",
            u=AGENT,
        )
    }
    assert changed and revised == changed
    # only the changed files and the new ones are fetched and landed
    assert second.rows == len(changed) + len(sales) - first.rows
    assert second.reported_total is None  # a window's row count is not the account's total


@pytest.mark.slow
def test_an_account_without_files_commits_nothing_on_a_quiet_day(register_agents, sandbox_server):
    # agent 103 has no listing: its window never sees a modified date, so it lists from 0 every
    # day; recording that listing as the recount moved the state every day (a load of its own)
    agent = 103
    assert truth(sandbox_server, "skyslope", agent, "listings")["count"] == 0
    register_agents(agent)
    run_entity(agent, "onboarding", None, "listings")
    states = "select count(*) from raw_skyslope._dlt_pipeline_state where pipeline_name = :p"
    committed = scalar(states, p=f"skyslope_user_{agent}")
    for _ in range(2):
        quiet = run_entity(agent, "daily", None, "listings")
        assert (quiet.rows, quiet.reported_total) == (0, 0)  # still the account's total
    assert scalar(states, p=f"skyslope_user_{agent}") == committed
    assert rows(
        "select load_id from ops.sync_runs where user_id = :u and kind = 'daily'", u=agent
    ) == [(None,), (None,)]


@pytest.mark.slow
def test_periodic_recount_reports_the_total_and_fetches_only_new_versions(
    register_agents, sandbox_server, monkeypatch
):
    register_agents(AGENT)
    run_entity(AGENT, "onboarding", None, "sales")
    httpx.post(
        f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 3 * 86400, "fraction": 0.3}
    )
    expected = truth(sandbox_server, "skyslope", AGENT, "sales")
    window = run_entity(AGENT, "daily", None, "sales")  # last full listing is fresh: a window
    assert window.rows > 0 and window.reported_total is None
    # a file the windows never saw (older than the window): only a full listing finds it
    with db.begin() as conn:
        conn.execute(
            text("delete from raw_skyslope.sales where user_id = :u and sale_guid = :g"),
            {"u": AGENT, "g": expected["ids"][0]},
        )
    monkeypatch.setenv("AGENTSYNC_SKYSLOPE_FULL_REREAD_DAYS", "0")
    recount = run_entity(AGENT, "daily", None, "sales")
    assert recount.reported_total == expected["count"]  # the listed total, for the count checks
    assert recount.rows == 1  # every other file is already in raw in the version listed
    assert _distinct("sales", "sale_guid", AGENT) == set(expected["ids"])
    # the full listing was recorded: with the default age the next run is a window again
    monkeypatch.delenv("AGENTSYNC_SKYSLOPE_FULL_REREAD_DAYS")
    assert run_entity(AGENT, "daily", None, "sales").reported_total is None


def test_bad_naive_timezone_names_the_setting(agentsync_env, monkeypatch):
    monkeypatch.setenv("AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(SettingError, match="AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE"):
        run_entity(AGENT, "daily", None, "sales")


@pytest.mark.slow
def test_renamed_list_field_is_kept_in_raw_and_loses_nothing(register_agents, sandbox_server):
    # a lost page is tests/skyslope/test_lost_page.py: it is read again, or the run fails
    register_agents(AGENT)
    httpx.post(
        f"{sandbox_server.url}/_sandbox/faults",
        json={"spec": "skyslope:/api/files/sales:drift_renamed:1"},
    )
    expected = truth(sandbox_server, "skyslope", AGENT, "sales")
    first = run_entity(AGENT, "onboarding", None, "sales")
    assert first.rows == first.reported_total == expected["count"]
    assert scalar("select count(*) from raw_skyslope.sales where summary ? 'fileStatus'") > 0
    assert _distinct("sales", "sale_guid", AGENT) == set(expected["ids"])


@pytest.mark.slow
def test_an_account_longer_than_the_api_can_page_is_read_in_date_windows(
    register_agents, sandbox_server, monkeypatch
):
    """The API pages at most ``MAX_PAGES`` pages of 10 files per query, so an account with more
    files (a seed-scale agent has 12k sales) cannot be listed in one window. Here the cap is 2
    pages (20 files) and the agent has more: the source splits the window by modified date
    until each part can be listed, and lands every file once, with the account's total."""
    import dlt_pipelines.skyslope.source as source

    monkeypatch.setattr(source, "MAX_PAGES", 2)
    register_agents(AGENT)
    expected = truth(sandbox_server, "skyslope", AGENT, "sales")
    assert expected["count"] > 2 * 10, "the agent must have more files than one window lists"
    result = run_entity(AGENT, "onboarding", None, "sales")
    assert _distinct("sales", "sale_guid", AGENT) == set(expected["ids"])
    landed = scalar("select count(*) from raw_skyslope.sales where user_id = :u", u=AGENT)
    assert landed == result.rows == expected["count"]  # each file fetched and landed once
    assert result.reported_total == expected["count"]


def test_a_window_is_split_in_two_that_cover_it_until_it_is_one_second_wide():
    from datetime import UTC, datetime

    from dlt_pipelines.skyslope.source import split_window

    now = datetime(2026, 1, 1, tzinfo=UTC)
    # at the median of what the cut-off walk listed; the open end stays open
    assert split_window(0, None, [10, 20, 30, 40], now) == ((0, 30), (31, None))
    # no dates listed: the middle of the window
    assert split_window(100, 200, [], now) == ((100, 150), (151, 200))
    # every listed date at the window's end: the middle, not an empty split
    assert split_window(100, 200, [200, 200], now) == ((100, 150), (151, 200))
    assert split_window(100, 100, [100], now) is None
