"""The reZEN source end to end: real sandbox over HTTP, real dlt loads, real PostgreSQL, real dbt.

Every count is compared with the sandbox's ground truth (``/_sandbox/truth/rezen``).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from agentsync import agents, db
from agentsync.entities import REZEN as ENTITIES
from agentsync.errors import IntegrationError
from agentsync.transform import run_dbt
from dlt_pipelines.rezen import steps
from dlt_pipelines.rezen.source import RAW_TABLES
from tests.rezen.conftest import run_all_steps, truth

DBT_SELECT = ["--select", "staging.rezen", "marts.brokerage", "--indirect-selection", "cautious"]


def raw_ids(user_id: int, table: str, id_col: str = "id") -> set[str]:
    with db.begin() as conn:
        rows = conn.execute(
            text(f"select distinct {id_col} from raw_rezen.{table} where user_id = :u"),
            {"u": user_id},
        )
        return {r[0] for r in rows}


def scalar(sql: str, **params: Any) -> Any:
    with db.begin() as conn:
        return conn.execute(text(sql), params).scalar()


def test_steps_declare_the_legacy_order() -> None:
    """teams → agents → transactions → participants → contributions, each needing the one before."""
    specs = steps()
    assert [s.name for s in specs] == [
        "teams",
        "agents",
        "transactions",
        "participants",
        "contributions",
    ]
    for before, after in pairwise(specs):
        assert after.depends_on == (before.key,)
    assert specs[0].depends_on == ()
    entities = {e.entity for e in ENTITIES}
    assert entities == set(RAW_TABLES)


def test_project_builds_without_raw_rezen(agentsync_env) -> None:
    """An empty database (reZEN never loaded): every staging view and mart builds, empty."""
    result = run_dbt(["build", *DBT_SELECT])
    assert result.success
    assert scalar("select count(*) from marts.rezen_transactions") == 0
    assert scalar("select to_regclass('raw_rezen.transactions')") is None


@pytest.mark.slow
def test_onboarding_matches_truth_per_agent_and_entity(rezen_agents, sandbox_server) -> None:
    """Every reZEN agent: raw ids and mart rows equal the sandbox's truth, per entity."""
    for user_id in rezen_agents:
        run_all_steps(user_id)
    run_dbt(["build", *DBT_SELECT])
    marts = {e.entity: e for e in ENTITIES}
    for user_id in rezen_agents:
        expected = truth(sandbox_server, user_id)
        for entity, table in RAW_TABLES.items():
            want = truth(sandbox_server, user_id, entity)[entity]
            id_col = "agent__id" if entity == "team_members" else "id"
            assert raw_ids(user_id, table, id_col) == set(want["ids"]), (user_id, entity)
            spec = marts[entity]
            if spec.mart is None or entity == "pending_contributions":
                continue
            n = scalar(f"select count(*) from {spec.mart} where user_id = :u", u=user_id)
            if entity == "contributions":  # the mart holds paid and pending ones
                want_n = want["count"] + expected["pending_contributions"]["count"]
            else:
                want_n = want["count"]
            assert n == want_n, (user_id, entity, n, want_n)
        for lifecycle, n in expected["transactions"]["by_lifecycle"].items():
            got = scalar(
                "select count(*) from marts.rezen_transactions where user_id = :u "
                "and lifecycle = :l",
                u=user_id,
                l=lifecycle.lower(),
            )
            assert got == n
        with db.begin() as conn:
            runs = conn.execute(
                text(
                    "select entity, status, reported_total from ops.sync_runs "
                    "where user_id = :u and source = 'rezen'"
                ),
                {"u": user_id},
            ).all()
        assert {r.status for r in runs} == {"done"}
        reported = {r.entity: r.reported_total for r in runs}
        assert reported["transactions"] == expected["transactions"]["count"]
        assert reported["listings"] == expected["listings"]["count"]
        assert reported["network"] == expected["network"]["count"]
        # marts.contributions holds paid and pending rows: its reported total covers both
        assert reported["contributions"] == (
            expected["contributions"]["count"] + expected["pending_contributions"]["count"]
        )
    # money is exact numeric, never float
    assert (
        scalar(
            "select data_type from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'rezen_transactions' and column_name = 'price_amount'"
        )
        == "numeric"
    )


@pytest.mark.slow
def test_network_spanning_all_tiers_and_statuses_loads_completely(
    rezen_agents, sandbox_server
) -> None:
    user_id = rezen_agents[0]
    for spec in steps()[:2]:  # teams, agents
        spec.run(user_id, "onboarding", None)
    want = truth(sandbox_server, user_id, "network")["network"]
    assert set(want["by_tier"]) == {"1", "2", "3", "4", "5"}
    assert all(want["by_status"].values()), "the sandbox must serve every status"
    assert raw_ids(user_id, "network") == set(want["ids"])
    with db.begin() as conn:
        tiers = dict(
            conn.execute(
                text(
                    "select tier::text, count(distinct id) from raw_rezen.network "
                    "where user_id = :u group by tier"
                ),
                {"u": user_id},
            ).all()
        )
        statuses = dict(
            conn.execute(
                text(
                    "select status, count(distinct id) from raw_rezen.network "
                    "where user_id = :u group by status"
                ),
                {"u": user_id},
            ).all()
        )
    assert tiers == want["by_tier"]
    assert statuses == want["by_status"]
    result = run_dbt(
        [
            "build",
            "--select",
            "+network",
            "rezen_network_tier_equals_sponsor_path",
            "--indirect-selection",
            "cautious",
        ]
    )
    assert result.success
    assert (
        scalar("select count(*) from marts.network where user_id = :u", u=user_id) == want["count"]
    )


@pytest.mark.slow
def test_server_errors_mid_pagination_are_retried_without_losing_a_page(
    rezen_agents, sandbox_server, monkeypatch
) -> None:
    """Two injected 5xx on the second page of a lifecycle list: retried, every page loaded."""
    from dlt_pipelines.rezen import settings as rezen_settings
    from dlt_pipelines.rezen.client import RezenClient

    user_id = rezen_agents[0]
    monkeypatch.setattr(rezen_settings, "PAGE_SIZE", 10)  # several pages per lifecycle
    armed: list[str] = []
    original = RezenClient.get

    def get(self, service, path, params=None):
        if (
            not armed
            and path.endswith("/transactions/CLOSED")
            and (params or {}).get("pageNumber") == 1
        ):
            spec = "rezen:/arrakis/*:server_error:2"
            httpx.post(
                f"{sandbox_server.url}/_sandbox/faults", json={"spec": spec}
            ).raise_for_status()
            armed.append(spec)
        return original(self, service, path, params)

    monkeypatch.setattr(RezenClient, "get", get)
    for spec in steps()[:3]:  # teams, agents, transactions
        spec.run(user_id, "onboarding", None)
    faults = httpx.get(f"{sandbox_server.url}/_sandbox/faults").json()["faults"]
    assert armed and faults[0]["hits"] == 2, faults  # both errors were served
    want = truth(sandbox_server, user_id, "transactions")["transactions"]
    assert want["by_lifecycle"]["CLOSED"] > 10
    assert raw_ids(user_id, "transactions") == set(want["ids"])


def unresolved_in_raw(user_id: int) -> dict[str, int]:
    """The test's own oracle for ``marts.unresolved_agent_references``, computed from raw:
    participants naming a reZEN agent (``yentaUserId``) that is not a known agent.

    Known agents: the agent itself, its down-line, its front-line, its team roster and its
    sponsors. Returns ``{"rows": n, "agents": distinct agents}`` (0s when nothing is loaded).
    """
    with db.begin() as conn:
        if not _exists(conn, "transaction_participants"):
            return {"rows": 0, "agents": 0}
        known = [
            f"select id from raw_rezen.{t} where user_id = :u"
            for t in ("agent", "network", "front_line", "sponsors")
            if _exists(conn, t)
        ]
        if _exists(conn, "team_members"):
            known.append("select agent__id from raw_rezen.team_members where user_id = :u")
        known_sql = " union ".join(known) or "select null::text where false"
        row = conn.execute(
            text(
                f"""
                select count(*), count(distinct p.yenta_user_id)
                  from raw_rezen.transaction_participants p
                 where p.user_id = :u and p.yenta_user_id is not null
                   and p.yenta_user_id not in ({known_sql})
                """
            ),
            {"u": user_id},
        ).one()
    return {"rows": int(row[0]), "agents": int(row[1])}


def _exists(conn: Any, table: str) -> bool:
    return bool(conn.execute(text("select to_regclass(:t)"), {"t": f"raw_rezen.{table}"}).scalar())


@pytest.mark.slow
def test_unknown_participants_are_kept_and_reported(rezen_agents, sandbox_server) -> None:
    user_id = rezen_agents[0]
    run_all_steps(user_id)
    unresolved = unresolved_in_raw(user_id)
    assert unresolved["rows"] > 0 and unresolved["agents"] > 0
    want = truth(sandbox_server, user_id, "participants")["participants"]
    assert raw_ids(user_id, "transaction_participants") == set(want["ids"])
    result = run_dbt(["build", *DBT_SELECT], raise_on_failure=False)
    assert result.success
    warned = [r for r in result.results if r["node"].endswith("rezen_unresolved_agent_references")]
    assert warned and warned[0]["status"] == "warn"
    reported = scalar(
        "select sum(participant_rows) from marts.unresolved_agent_references where user_id = :u",
        u=user_id,
    )
    assert reported == unresolved["rows"]
    kept = scalar(
        """
        select count(*) from marts.transaction_participants p
          join marts.unresolved_agent_references r using (user_id, agent_id)
         where p.user_id = :u
        """,
        u=user_id,
    )
    assert kept == unresolved["rows"]


@pytest.mark.slow
def test_incremental_sync_after_the_clock_moves(rezen_agents, sandbox_server) -> None:
    """After ``advance``: only changed transactions are fetched again; marts equal the truth."""
    user_id = rezen_agents[0]
    run_all_steps(user_id)
    run_dbt(["build", *DBT_SELECT])
    first_rows = scalar("select count(*) from raw_rezen.transactions where user_id = :u", u=user_id)
    resp = httpx.post(
        f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.1}
    )
    changed = resp.json()["changes"]["rezen"][str(user_id)]
    run_all_steps(user_id, "daily")
    run_dbt(["build", *DBT_SELECT])
    second_rows = (
        scalar("select count(*) from raw_rezen.transactions where user_id = :u", u=user_id)
        - first_rows
    )
    # only changed and new transactions come again (plus one boundary row per lifecycle group;
    # transactions_updated counts listings too, so it is an upper bound)
    upper = changed["transactions_updated"] + changed["transactions_created"] + 3
    assert 0 < second_rows <= upper < first_rows
    want = truth(sandbox_server, user_id)
    for lifecycle, n in want["transactions"]["by_lifecycle"].items():
        got = scalar(
            "select count(*) from marts.rezen_transactions where user_id = :u and lifecycle = :l",
            u=user_id,
            l=lifecycle.lower(),
        )
        assert got == n, lifecycle
    assert (
        scalar("select count(*) from marts.revshare_payments where user_id = :u", u=user_id)
        == want["revshare_payments"]["count"]
    )
    # the windowed (incremental) contributions run still reports the whole collection's total
    latest_reported = scalar(
        "select reported_total from ops.sync_runs where user_id = :u and source = 'rezen' "
        "and entity = 'contributions' order by run_id desc limit 1",
        u=user_id,
    )
    assert latest_reported == (
        want["contributions"]["count"] + want["pending_contributions"]["count"]
    )
    backlog = scalar(
        """
        select count(*) from raw_rezen.transactions t
         where not exists (select 1 from ops.dbt_processed_loads p
                            where p.model = 'marts.rezen_transactions'
                              and p.load_id = t._dlt_load_id)
        """
    )
    assert backlog == 0


SNAPSHOTS = (
    "agent",
    "teams",
    "team_members",
    "cap_info",
    "front_line",
    "sponsors",
    "equity",
    "revshare_payments",
    "pending_contributions",
    "contributors",
)


@pytest.mark.slow
def test_a_quiet_day_lands_nothing_and_a_changed_list_lands_whole(
    rezen_agents, sandbox_server
) -> None:
    """A quiet day: the down-line (3 days) and contributions (30 days) windows, and each deal
    list at its cursor's instant, re-read records exactly as landed, and the lists read whole
    (the agent's snapshot) are the same as last landed: nothing lands, and the marts still equal
    the truth. Then one payment is added: the payments list lands whole (its mart takes the
    newest load as the list), the unchanged lists still land nothing."""
    user_id = rezen_agents[0]
    run_all_steps(user_id)
    count = "select count(*) from raw_rezen.{} where user_id = :u"
    windows = ("network", "contributions", "transactions", "listings")
    landed = {t: scalar(count.format(RAW_TABLES[t]), u=user_id) for t in windows + SNAPSHOTS}
    assert all(landed[t] for t in (*windows, "agent", "teams", "revshare_payments")), landed
    daily = {r.entity: r for results in run_all_steps(user_id, "daily").values() for r in results}
    assert {t: daily[t].rows for t in windows + SNAPSHOTS} == dict.fromkeys(windows + SNAPSHOTS, 0)
    assert {t: scalar(count.format(RAW_TABLES[t]), u=user_id) for t in landed} == landed
    run_dbt(["build", *DBT_SELECT])
    want = truth(sandbox_server, user_id)
    assert (
        scalar("select count(*) from marts.network where user_id = :u", u=user_id)
        == want["network"]["count"]
    )
    assert scalar("select count(*) from marts.contributions where user_id = :u", u=user_id) == (
        want["contributions"]["count"] + want["pending_contributions"]["count"]
    )
    assert scalar("select count(*) from marts.agents where user_id = :u", u=user_id) == 1
    assert (
        scalar("select count(*) from marts.team_roster where user_id = :u", u=user_id)
        == (landed["team_members"])
    )
    # the windows and lists were read: the totals are reported as on any day
    assert daily["network"].reported_total == want["network"]["count"]
    assert daily["revshare_payments"].reported_total == want["revshare_payments"]["count"]

    # the clock moves: one more payment (and deal and down-line changes)
    httpx.post(
        f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.01}
    ).raise_for_status()
    moved = {r.entity: r for results in run_all_steps(user_id, "daily").values() for r in results}
    want = truth(sandbox_server, user_id)
    payments = want["revshare_payments"]["count"]
    assert moved["revshare_payments"].rows == payments > landed["revshare_payments"]
    # (cap info follows the closed deals, so it may change too)
    assert {t: moved[t].rows for t in ("teams", "team_members", "equity")} == (
        dict.fromkeys(("teams", "team_members", "equity"), 0)
    )
    run_dbt(["build", *DBT_SELECT])
    assert (
        scalar("select count(*) from marts.revshare_payments where user_id = :u", u=user_id)
        == payments
    )


@pytest.mark.slow
def test_malformed_records_are_quarantined(rezen_agents, sandbox_server) -> None:
    user_id = rezen_agents[0]
    httpx.post(
        f"{sandbox_server.url}/_sandbox/faults",
        json={"spec": "rezen:/yenta/*/down-line/2:malformed:1"},
    ).raise_for_status()
    for spec in steps()[:2]:  # teams, agents
        spec.run(user_id, "onboarding", None)
    with db.begin() as conn:
        rows = conn.execute(
            text("select entity, reason from ops.quarantine where user_id = :u"), {"u": user_id}
        ).all()
    assert [(r.entity, r.reason) for r in rows] == [("network", "missing or invalid UUID id")]
    want = truth(sandbox_server, user_id, "network")["network"]
    assert len(raw_ids(user_id, "network")) == want["count"] - 1


def test_refused_key_fails_loudly_without_the_secret(sandbox_env, sandbox_server) -> None:
    secret = "real_notavalidkeyatall0000000000000000"
    agents.add_agent(101, "Refused", {"rezen": {"api_key": secret}})
    with pytest.raises(IntegrationError) as err:
        steps()[0].run(101, "onboarding", None)
    assert "refused" in str(err.value) and secret not in str(err.value)
    with db.begin() as conn:
        runs = conn.execute(
            text("select status, error from ops.sync_runs where user_id = 101")
        ).all()
    assert runs and {r.status for r in runs} == {"failed"}
    assert all(secret not in (r.error or "") for r in runs)


def test_steps_refuse_to_run_out_of_order(rezen_agents) -> None:
    """participants before transactions: a clear error, and nothing is recorded as loaded."""
    from dlt_pipelines.rezen import StepOrderError

    user_id = rezen_agents[0]
    with pytest.raises(StepOrderError, match=r"rezen\.participants needs"):
        steps()[3].run(user_id, "onboarding", None)
    assert scalar("select count(*) from ops.sync_runs where user_id = :u", u=user_id) == 0
