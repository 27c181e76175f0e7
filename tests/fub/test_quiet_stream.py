"""A FUB stream with nothing new costs its requests, not a dlt extract (issue 16).

:meth:`dlt_pipelines.fub.FubRun.load_stream` begins the read before dlt's extract, on a copy of
the stream's state. What must hold: a quiet read (its look-back window re-read, nothing new)
makes its requests and runs no dlt extract; a read that yields nothing but moves its state still
commits that state, which a machine without the working dir resumes from; a read that yields
rows lands them (the other FUB tests). Real sandbox, real dlt and PostgreSQL; the second part
replaces the read itself with one that only moves the state, since no FUB day does that on demand.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from dlt_pipelines.fub import FubRun, run_streams
from dlt_pipelines.fub.source import FubAccount
from dlt_pipelines.run import make_pipeline
from tests.dlt_spy import count_extracts
from tests.fub.conftest import add_agent, rows

pytestmark = pytest.mark.slow
AGENT = 103  # the sandbox's smallest demo agent


def _states() -> int:
    return rows("select count(*) from raw_fub._dlt_pipeline_state")[0][0]


def test_a_quiet_stream_runs_no_extract_and_a_moved_state_still_lands(
    sandbox_env, sandbox_server, monkeypatch
) -> None:
    add_agent(sandbox_server.sandbox, AGENT)
    run_streams(AGENT, "onboarding", None, ("people",))

    extracts = count_extracts(monkeypatch)

    # nothing new: the window is read (requests), nothing is extracted or committed
    states = _states()
    with FubRun(AGENT, "daily") as run:
        before = run.client.requests
        quiet = run.load_stream("people")
        assert run.client.requests > before
    assert (quiet.rows, extracts, _states()) == (0, [], states)
    assert quiet.cursor  # the watermark is still booked

    # nothing read, but the state moved: it is committed with a load of its own
    def moves(self, stream, counts, full, state: dict[str, Any]) -> Iterator[Any]:
        state["probe"] = "moved"
        return iter(())

    monkeypatch.setattr(FubAccount, "stream_rows", moves)
    with FubRun(AGENT, "daily") as run:
        assert run.load_stream("people").rows == 0
    assert extracts == [f"fub_user_{AGENT}"]
    assert _states() == states + 1

    # a machine without the working dir resumes from it (watermark and the moved key)
    shutil.rmtree(make_pipeline("fub", AGENT).working_dir)
    seen: dict[str, Any] = {}

    def looks(self, stream, counts, full, state: dict[str, Any]) -> Iterator[Any]:
        seen.update(state)
        return iter(())

    monkeypatch.setattr(FubAccount, "stream_rows", looks)
    with FubRun(AGENT, "daily") as run:
        run.load_stream("people")
    assert seen.get("probe") == "moved" and seen.get("watermark") == quiet.cursor
