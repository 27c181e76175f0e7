"""The pipelines' destination answers dlt's capability questions once, exactly as dlt would.

``dlt_pipelines.destination.postgres_copy`` (what ``dlt_pipelines.run.destination`` gives
every pipeline) keeps the capabilities dlt asks for without an explicit
configuration (about ten times per ``pipeline.run``). What a run relies on: the answer is the
one dlt's own factory gives, a caller that assigns to it does not change the next answer, and a
real pipeline still loads through it.
"""

from __future__ import annotations

import dlt
from dlt.common.normalizers.naming import snake_case
from sqlalchemy import text

from agentsync import db
from dlt_pipelines.destination import postgres_copy
from dlt_pipelines.run import destination, make_pipeline, run_pipeline


def _fields(caps) -> dict:
    return {k: caps[k] for k in caps if not callable(caps[k])}


def test_capabilities_are_dlt_own_and_a_copy_each_time(agentsync_env) -> None:
    memo = destination()
    assert isinstance(memo, postgres_copy)

    def dlt_own(naming=None):  # the same factory's answer through dlt's own (unkept) path
        fresh = postgres_copy(credentials=db.database_url())
        return dlt.destinations.postgres.capabilities(fresh, naming=naming)

    naming = snake_case.NamingConvention()
    for arg in (None, naming):
        assert _fields(memo.capabilities(naming=arg)) == _fields(dlt_own(arg))
    first = memo.capabilities()
    first.preferred_loader_file_format = "parquet"  # dlt assigns to what it gets
    first.supported_loader_file_formats = []
    again = memo.capabilities()
    assert again.preferred_loader_file_format == dlt_own().preferred_loader_file_format
    assert again.supported_loader_file_formats == dlt_own().supported_loader_file_formats


def test_a_pipeline_loads_through_it(agentsync_env) -> None:
    pipeline = make_pipeline("probe", 7)
    rows = [{"id": i, "user_id": 7, "name": f"n{i}"} for i in range(3)]
    run_pipeline(pipeline, dlt.resource(rows, name="things", write_disposition="append"))
    run_pipeline(pipeline, dlt.resource(rows[:1], name="things", write_disposition="append"))
    with db.engine().connect() as conn:
        got = conn.execute(text("select id, count(*) from raw_probe.things group by id")).all()
    assert sorted(got) == [(0, 2), (1, 1), (2, 1)]


def test_every_pipeline_of_a_process_shares_the_answer_unless_a_setting_is_scoped(
    agentsync_env, monkeypatch
) -> None:
    """A daily run makes a pipeline (and a destination) per agent and step: the answer is
    resolved once per process and destination settings, not once per pipeline; a setting scoped
    to one pipeline name (which could make its answer differ) keeps the answer per instance."""
    resolved: list[int] = []
    own = postgres_copy.configuration

    def counting(self, *args, **kwargs):  # dlt's own resolution, counted
        resolved.append(1)
        return own(self, *args, **kwargs)

    monkeypatch.setattr(postgres_copy, "configuration", counting)
    destination().capabilities()
    before = len(resolved)
    for _ in range(3):
        destination().capabilities()
    assert len(resolved) == before  # other pipelines' destinations: nothing resolved again

    monkeypatch.setenv("DESTINATION__POSTGRES__CREATE_INDEXES", "false")
    destination().capabilities()
    assert len(resolved) == before + 1  # a different setting: answered anew, then kept
    destination().capabilities()
    assert len(resolved) == before + 1

    monkeypatch.setenv("PROBE_USER_7__DESTINATION__POSTGRES__CREATE_INDEXES", "true")
    scoped = destination()
    scoped.capabilities()
    scoped.capabilities()
    destination().capabilities()
    assert len(resolved) == before + 3  # per instance: once each
