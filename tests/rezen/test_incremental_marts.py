"""The per-agent recomputed brokerage marts: cost grows with the change, not with the history.

A dbt run with no new loads must leave these marts untouched (same rows, same row versions,
nothing newly processed); a new load of one agent must rewrite that agent's rows only, and the
result must equal a full rebuild.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from agentsync import db
from agentsync.transform import run_dbt
from dlt_pipelines.rezen import steps
from tests.mart_state import contents, processed_state, row_versions
from tests.rezen.conftest import run_all_steps

SELECT = ["--select", "staging.rezen", "marts.brokerage"]
RECOMPUTED = [
    "network",
    "team_roster",
    "contributions",
    "contributors",
    "unresolved_agent_references",
]


def relation_oids() -> dict[str, int]:
    with db.begin() as conn:
        return {
            m: conn.execute(text(f"select 'marts.{m}'::regclass::oid")).scalar() for m in RECOMPUTED
        }


@pytest.mark.slow
def test_no_new_loads_change_nothing_and_one_agent_recomputes_only_itself(
    rezen_agents, sandbox_server
) -> None:
    assert len(rezen_agents) >= 2, "needs two reZEN agents"
    changed, other = rezen_agents[0], rezen_agents[1]
    for user_id in (changed, other):
        run_all_steps(user_id)
    run_dbt(["run", *SELECT])
    for mart in RECOMPUTED:
        assert contents(f"marts.{mart}"), f"marts.{mart} is empty: the test would prove nothing"
    assert {changed, other} <= set(contents("marts.network"))

    # a second run with no new loads: same relations, same row versions, nothing processed
    versions = {m: row_versions(f"marts.{m}") for m in RECOMPUTED}
    before = {m: contents(f"marts.{m}") for m in RECOMPUTED}
    oids, state = relation_oids(), processed_state()
    run_dbt(["run", *SELECT])
    assert relation_oids() == oids
    for mart in RECOMPUTED:
        assert row_versions(f"marts.{mart}") == versions[mart], f"marts.{mart} was rewritten"
    assert processed_state() == state

    # a new load for one agent: only that agent's rows are rewritten. ops.sync_runs is made to
    # not name these loads (as after a run that failed once dlt had committed), so the agent is
    # found through the raw tables' own user_id
    with db.begin() as conn:
        last_run = conn.execute(text("select max(run_id) from ops.sync_runs")).scalar()
    # the clock moves (down-line statuses flip, at least one per agent): a daily run lands only
    # what changed, so without a change the agent's network would have nothing new to say
    httpx.post(
        f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.1}
    ).raise_for_status()
    for spec in steps():
        if spec.name in ("teams", "agents"):
            spec.run(changed, "daily", None)
    with db.begin() as conn:
        unmapped = conn.execute(
            text(
                "update ops.sync_runs set load_id = null where run_id > :r and load_id is not null"
            ),
            {"r": last_run},
        ).rowcount
    assert unmapped > 0
    run_dbt(["run", *SELECT])
    for mart in RECOMPUTED:
        now = row_versions(f"marts.{mart}")
        assert now.get(other) == versions[mart].get(other), f"{other}'s rows in {mart} rewritten"
        if versions[mart].get(changed):
            assert not now[changed] & versions[mart][changed], f"{changed} in {mart} not recomputed"
    # and the incremental result is what a rebuild from all history gives
    incremental = {m: contents(f"marts.{m}") for m in RECOMPUTED}
    # the new load changed what the agent's network says (a status flipped), so a stale
    # (not recomputed) mart would differ from the rebuild below
    assert incremental["network"][changed] != before["network"][changed]
    assert incremental["network"][other] == before["network"][other]
    run_dbt(["run", "--full-refresh", *SELECT])
    for mart in RECOMPUTED:
        assert contents(f"marts.{mart}") == incremental[mart], mart
