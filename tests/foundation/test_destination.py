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
