"""The day after a change is a quiet day: no source commits a load (issue 16).

A daily run re-reads look-back windows on purpose, and what it landed the day before falls out of
those windows the next day. Writing the smaller set of "versions read now" (or a smaller
look-back boundary) into the resource state changed the state alone, and a changed state is a
load of its own: at medium scale 46 loads of 10 agents carried no row, only that state, which
cost their normalize and load steps and made the gate's drift pass judge every table again
(its inputs are the entities' newest loads). A state that a run with nothing landed would only
shrink is kept as it was (everything it says is in raw stays in raw), and every source reads
before dlt's extract, so a quiet read runs no extract at all.

Real sandbox over loopback, real dlt pipelines into real PostgreSQL, every source and step.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dlt.common.versioned_state import decompress_state
from sqlalchemy import text

from agentsync import db
from tests.dbt_projects import load_ids, register_agents, run_steps
from tests.dlt_spy import count_extracts

pytestmark = pytest.mark.slow


def _daily_rows(after_run_id: int) -> list[tuple[str, str, int, str | None]]:
    with db.begin() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "select source, entity, rows, load_id from ops.sync_runs "
                    "where run_id > :r and status = 'done' order by run_id"
                ),
                {"r": after_run_id},
            )
        ]


def _state_moves(loads: list[tuple[str, str, str]]) -> dict[str, Any]:
    """For each state-only load: the pipeline and what its entity's resource state was before
    the load and is in it (the failure then names what moved)."""
    out: dict[str, Any] = {}
    with db.begin() as conn:
        for source, entity, load_id in loads:
            table = f"raw_{source}._dlt_pipeline_state"
            rows = conn.execute(
                text(
                    f"select pipeline_name, _dlt_load_id, state from {table} where pipeline_name in "
                    f"(select pipeline_name from {table} where _dlt_load_id = :l) "
                    "and _dlt_load_id <= :l order by _dlt_load_id desc limit 2"
                ),
                {"l": load_id},
            ).all()
            states = []
            for _, _, blob in rows:
                resources = {}
                for src in decompress_state(blob).get("sources", {}).values():
                    resources.update(src.get("resources") or {})
                states.append(resources.get(entity))
            out[f"{rows[0][0] if rows else '?'} {entity} {load_id}"] = states[::-1]
    return out


def _last_run_id() -> int:
    with db.begin() as conn:
        return conn.execute(text("select coalesce(max(run_id), 0) from ops.sync_runs")).scalar()


def test_the_day_after_a_change_commits_no_load(sandbox_env, sandbox_server, monkeypatch) -> None:
    root = sandbox_server.url
    users = register_agents(sandbox_server.sandbox)
    run_steps(users, "onboarding")
    httpx.post(
        f"{root}/_sandbox/advance", json={"seconds": 86_400, "fraction": 0.2}, timeout=120
    ).raise_for_status()
    before_change = load_ids()
    mark = _last_run_id()
    run_steps(users, "daily")
    changed = _daily_rows(mark)
    landed = {(s, e) for s, e, rows, load in changed if rows and load}
    # the change landed in every source: its windows now hold what the next day re-reads
    assert {s for s, _ in landed} >= {"fub", "rezen", "skyslope", "qualia"}, landed
    assert load_ids() != before_change

    loads = load_ids()
    mark = _last_run_id()
    extracts = count_extracts(monkeypatch)
    run_steps(users, "daily")
    quiet = _daily_rows(mark)
    assert len(quiet) >= len(changed)  # every entity ran and was booked
    # no load carries state alone
    state_only = [(s, e, load) for s, e, rows, load in quiet if load is not None and not rows]
    assert state_only == [], f"state-only loads (before, after): {_state_moves(state_only)}"
    # and nothing lands (an ``*_ids`` entity's rows are the ids its deletion check counted)
    landed = [(s, e, rows) for s, e, rows, load in quiet if load or (rows and "_ids" not in e)]
    assert landed == []
    assert load_ids() == loads
    # every source reads before dlt's extract: a quiet read ends there
    assert extracts == []
