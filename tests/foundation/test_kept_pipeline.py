"""A process keeps an agent's pipeline object between quiet runs, but never one whose working
dir changed since (issue 16: a quiet day's steps cost their requests, not dlt's set-up).

Every step of every agent creates its dlt pipeline to read its state; most steps of a quiet day
end there. :func:`dlt_pipelines.run.kept_pipeline` hands the next run of the same pipeline the
object the last one released, if that run ran no dlt step (such objects are the smallest) and
the working dir is as it left it: not after another process's run (dlt would write the kept
object's schema over the newer one), a lost working dir, or a run that failed. Real PostgreSQL
and real dlt pipelines; no mocks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dlt
import pytest

from dlt_pipelines import run as runmod
from dlt_pipelines.run import SourceRun, make_pipeline, run_pipeline

SOURCE = "kepttest"


def _things(rows: list[dict[str, Any]], mark: str) -> Any:
    @dlt.resource(name="things", write_disposition="append")
    def things() -> Any:
        dlt.current.resource_state()["mark"] = mark
        yield from rows

    return things()


def _land(user_id: int, data: Any) -> dlt.Pipeline:
    with SourceRun(SOURCE, user_id, "daily") as run, run.entities("things") as load:
        load.land(data)
        return run.pipeline()


def _quiet(user_id: int) -> tuple[dlt.Pipeline, Any]:
    """A quiet step: the pipeline taken and its state read, nothing extracted."""
    with SourceRun(SOURCE, user_id, "daily") as run:
        return run.pipeline(), _mark(run.pipeline())


def _mark(pipeline: dlt.Pipeline) -> Any:
    """The ``things`` resource's state as the pipeline's next extract starts from it."""
    key = pipeline.default_schema_name
    return runmod.resource_state(pipeline, key, "things").get("mark")


def _schema_tables(pipeline: dlt.Pipeline) -> set[str]:
    path = Path(pipeline.working_dir) / "schemas" / f"{SOURCE}.schema.json"
    return set(json.loads(path.read_text())["tables"])


@pytest.fixture
def made(agentsync_env, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the pipeline objects created from here on (on a migrated database)."""
    from agentsync.migrate import upgrade

    upgrade()
    names: list[str] = []
    real = runmod.make_pipeline

    def counted(source: str, user_id: int, *args: Any, **kwargs: Any) -> dlt.Pipeline:
        names.append(f"{source}_{user_id}")
        return real(source, user_id, *args, **kwargs)

    monkeypatch.setattr(runmod, "make_pipeline", counted)
    return names


def test_a_quiet_run_reuses_the_pipeline_its_working_dir_unchanged(agentsync_env, made) -> None:
    loaded = _land(1, _things([{"id": 1}], "a"))
    first, mark = _quiet(1)
    assert first is not loaded, "an object kept after its run loaded rows (the largest kind)"
    assert mark == "a"
    second, mark = _quiet(1)
    assert second is first and mark == "a"
    assert made == [f"{SOURCE}_1", f"{SOURCE}_1"]
    other, _ = _quiet(2)  # another agent: its own pipeline
    assert other is not first and made[-1] == f"{SOURCE}_2"

    # a load on the kept object: it reads the state the quiet runs saw, and is not kept after
    assert _land(1, _things([{"id": 2}], "b")) is first
    again, mark = _quiet(1)
    assert again is not first and mark == "b"


def test_a_working_dir_changed_by_another_writer_gets_a_new_pipeline(agentsync_env, made) -> None:
    _land(1, _things([{"id": 1}], "a"))
    kept, _ = _quiet(1)

    # another process's run of the same pipeline: a new table in the schema, a new state
    @dlt.resource(name="others", write_disposition="append")
    def others() -> Any:
        yield {"id": 9}

    elsewhere = make_pipeline(SOURCE, 1)
    run_pipeline(elsewhere, [_things([], "z"), others()], schema=dlt.Schema(SOURCE))
    assert "others" in _schema_tables(elsewhere)

    after, _ = _quiet(1)
    assert after is not kept, "a pipeline object kept across another writer's run"
    assert _land(1, _things([{"id": 2}], "b")) is after
    assert "others" in _schema_tables(after), "the other run's table was written over"


def test_a_failed_run_does_not_keep_its_pipeline(agentsync_env, made) -> None:
    _land(1, _things([{"id": 1}], "a"))
    kept, _ = _quiet(1)

    def read_fails(state: dict[str, Any]) -> Any:
        raise RuntimeError("the vendor went away")

    with pytest.raises(RuntimeError, match="went away"):  # noqa: SIM117
        with SourceRun(SOURCE, 1, "daily") as run, run.entities("things") as load:
            assert run.pipeline() is kept
            load.land_read(SOURCE, "things", read_fails, lambda rows: None)
    assert _quiet(1)[0] is not kept
