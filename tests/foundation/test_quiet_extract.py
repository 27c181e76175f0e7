"""A step whose extract wrote nothing loads nothing; a change of state alone still lands.

Most streams on a quiet day read nothing new: :func:`dlt_pipelines.run.run_pipeline` then drops
the empty package instead of normalizing and loading it (issue 16: a daily run costs what
changed). What must not change with it: rows land, and a resource state that moved with no rows
(a cursor, a landed-versions table) is committed to the destination, so a machine without the
local working dir resumes from it. Real PostgreSQL and real dlt pipelines; no mocks.
"""

from __future__ import annotations

import shutil
from typing import Any

import dlt
from sqlalchemy import text

from agentsync import db
from dlt_pipelines.run import destination, make_pipeline, run_pipeline

SOURCE = "quiettest"


def _resource(rows: list[dict[str, Any]], mark: str | None = None) -> Any:
    @dlt.resource(name="things", write_disposition="append")
    def things() -> Any:
        if mark is not None:
            dlt.current.resource_state()["mark"] = mark
        yield from rows

    return things()


def _count(sql: str) -> int:
    with db.engine().connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def _state_rows() -> int:
    return _count(f"select count(*) from raw_{SOURCE}._dlt_pipeline_state")


def _loads() -> int:
    return _count(f"select count(*) from raw_{SOURCE}._dlt_loads")


def test_an_empty_extract_commits_no_load_and_a_moved_state_still_lands(agentsync_env) -> None:
    pipeline = make_pipeline(SOURCE, 1)
    info = run_pipeline(pipeline, _resource([{"id": 1}, {"id": 2}], mark="a"))
    assert info is not None and info.loads_ids
    assert _count(f"select count(*) from raw_{SOURCE}.things") == 2
    loads, states = _loads(), _state_rows()

    # nothing read and nothing moved: no load, and no package normalized and loaded either
    pipeline = make_pipeline(SOURCE, 1)
    completed = len(pipeline.list_completed_load_packages())
    assert run_pipeline(pipeline, _resource([], mark="a")) is None
    assert (_loads(), _state_rows()) == (loads, states)
    assert not pipeline.has_pending_data
    assert len(pipeline.list_completed_load_packages()) == completed

    # no rows, but the resource's state moved: it is committed with a load
    pipeline = make_pipeline(SOURCE, 1)
    info = run_pipeline(pipeline, _resource([], mark="b"))
    assert info is not None and info.loads_ids
    assert (_loads(), _state_rows()) == (loads + 1, states + 1)

    # a machine without the local working dir resumes from the destination's state
    shutil.rmtree(pipeline.working_dir)
    pipeline = make_pipeline(SOURCE, 1)
    seen: dict[str, Any] = {}

    @dlt.resource(name="things", write_disposition="append")
    def reader() -> Any:
        seen["mark"] = dlt.current.resource_state().get("mark")
        yield {"id": 3}

    run_pipeline(pipeline, reader())
    assert seen["mark"] == "b"
    assert _count(f"select count(*) from raw_{SOURCE}.things") == 3


def test_a_working_dir_behind_the_destination_resumes_from_the_destination(
    agentsync_env, tmp_path
) -> None:
    """Two machines (working dirs) take turns on one pipeline: each run starts from the state the
    destination holds, not from the one its own working dir last saw. A working dir that is
    current skips dlt's sync; one that is behind must not."""

    def machine(name: str) -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=f"{SOURCE}_user_2",
            destination=destination(),
            dataset_name=f"raw_{SOURCE}",
            pipelines_dir=str(tmp_path / name),
        )

    def reader(seen: dict[str, Any], mark: str) -> Any:
        @dlt.resource(name="things", write_disposition="append")
        def things() -> Any:
            state = dlt.current.resource_state()
            seen["mark"] = state.get("mark")
            state["mark"] = mark
            yield {"id": len(mark)}

        return things()

    seen: dict[str, Any] = {}
    run_pipeline(machine("a"), reader(seen, "a"))
    run_pipeline(machine("b"), reader(seen, "b"))  # no working dir yet: restored
    assert seen["mark"] == "a"
    run_pipeline(machine("a"), reader(seen, "c"))  # a's working dir is behind b's load
    assert seen["mark"] == "b"
    run_pipeline(machine("b"), reader(seen, "d"))  # and b's behind a's
    assert seen["mark"] == "c"
    run_pipeline(machine("b"), reader(seen, "e"))  # current: its own last state
    assert seen["mark"] == "d"
