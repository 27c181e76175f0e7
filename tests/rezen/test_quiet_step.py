"""A reZEN step with nothing new costs its requests, not a dlt extract (issue 16).

A reZEN step lands several resources in one load. :meth:`dlt_pipelines.run.EntityLoad.land_reads`
begins their reads one after another before dlt's extract, each on a copy of its state: when all
are quiet the step ends there; at the first that yields a row or moves its state, dlt extracts the
reads begun (their rows and the states they ended with) and reads the step's other resources
itself. What must hold: a quiet step runs no extract; a later resource whose state moved commits
it beside the untouched states of the resources read before and after it, and the next quiet
run starts from all of them. Real sandbox, real dlt and PostgreSQL; the moved state comes from
wrapping one resource's read, since no reZEN day moves a state without rows on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dlt.common.versioned_state import decompress_state
from sqlalchemy import text

from agentsync import db
from dlt_pipelines.rezen import source as rezen_source
from dlt_pipelines.rezen import steps
from tests.dlt_spy import count_extracts
from tests.rezen.conftest import run_all_steps

pytestmark = pytest.mark.slow


def _committed_states(user_id: int) -> tuple[int, dict[str, Any]]:
    """How many states the agent's pipeline committed, and the newest one's resource states."""
    with db.begin() as conn:
        rows = conn.execute(
            text(
                "select state from raw_rezen._dlt_pipeline_state where pipeline_name = :p "
                "order by _dlt_load_id desc"
            ),
            {"p": f"rezen_user_{user_id}"},
        ).all()
    return len(rows), decompress_state(rows[0][0])["sources"]["rezen"]["resources"]


def test_a_quiet_step_runs_no_extract_and_a_later_resource_state_lands_beside_the_others(
    rezen_agents, monkeypatch
) -> None:
    agent = rezen_agents[-1]
    run_all_steps(agent)
    extracts = count_extracts(monkeypatch)

    run_all_steps(agent, "daily")  # nothing changed since the onboarding
    assert extracts == []
    count, before = _committed_states(agent)

    # the agents step: agent (quiet), network (moves its state only), then cap_info, front_line
    # and sponsors, read inside dlt's extract
    read = rezen_source.RESOURCES["network"]

    def moves(account: Any, state: dict[str, Any]) -> Iterator[Any]:
        yield from read(account, state)
        state["probe"] = "moved"

    monkeypatch.setitem(rezen_source.RESOURCES, "network", moves)
    [agents_step] = [s for s in steps() if s.key == "rezen.agents"]
    results = {r.entity: r.rows for r in agents_step.run(agent, "daily", None)}
    assert set(results.values()) == {0}, results
    assert extracts == [f"rezen_user_{agent}"]
    count_after, after = _committed_states(agent)
    assert count_after == count + 1
    assert after["network"] == {**before["network"], "probe": "moved"}
    for other in ("agent", "cap_info", "front_line", "sponsors"):
        assert after[other] == before[other] and after[other], other

    # the next run starts from every one of those states: quiet again
    monkeypatch.setitem(rezen_source.RESOURCES, "network", read)
    extracts.clear()
    run_all_steps(agent, "daily")
    assert extracts == []
    assert _committed_states(agent)[0] == count_after
