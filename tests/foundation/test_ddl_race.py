"""Two pipelines creating the same raw schema or table at once: the slower one retries its load.

Agents sync concurrently and every agent's pipeline of a source writes one dataset, so on a
first run two of them create the same schema and tables at the same moment. The race is made
deterministic here: a second connection creates the schema and table in a transaction it holds
open, the pipeline's DDL blocks behind it, and the commit makes PostgreSQL fail that DDL exactly
as the losing agent's was failed in a daily sync ("duplicate key value violates unique
constraint"). Real PostgreSQL and a real dlt pipeline; no mocks.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg2
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from agentsync import db
from dlt_pipelines.run import make_pipeline, run_pipeline


def _hold_ddl(dataset: str) -> Any:
    """A connection with ``dataset`` and ``dataset.things`` created but not committed."""
    conn = psycopg2.connect(db.database_url())
    cur = conn.cursor()
    cur.execute(f"create schema {dataset}")
    cur.execute(f"create table {dataset}.things (id bigint)")
    return conn


def _wait_until_blocked(holder: Any, timeout: float = 60.0) -> None:
    """Until another backend waits on a lock the holder's open DDL owns."""
    probe = psycopg2.connect(db.database_url())
    probe.autocommit = True
    pid = holder.get_backend_pid()
    deadline = time.monotonic() + timeout
    try:
        with probe.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(
                    "select count(*) from pg_stat_activity where %s = any(pg_blocking_pids(pid))",
                    (pid,),
                )
                if cur.fetchone()[0]:
                    return
                time.sleep(0.05)
    finally:
        probe.close()
    raise AssertionError("the pipeline's DDL never waited on the held transaction")


def _race(source: str, runner) -> dict[str, Any]:
    """Run ``runner(pipeline, rows)`` while a concurrent transaction creates the same
    schema and table, committed once the pipeline's DDL is waiting on it."""
    pipeline = make_pipeline(source, 1)
    holder = _hold_ddl(f"raw_{source}")
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["info"] = runner(pipeline, [{"id": 1}, {"id": 2}])
        except BaseException as err:  # handed to the test
            out["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    try:
        _wait_until_blocked(holder)
        holder.commit()
    finally:
        thread.join(timeout=120)
        holder.close()
    assert not thread.is_alive()
    return out


def _count(dataset: str) -> int:
    conn = psycopg2.connect(db.database_url())
    try:
        with conn.cursor() as cur:
            cur.execute(f"select count(*) from {dataset}.things where _dlt_load_id is not null")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_a_lost_schema_race_is_retried_and_loads_everything(agentsync_env, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="dlt_pipelines.run")
    out = _race("racewin", lambda p, rows: run_pipeline(p, rows, table_name="things"))

    assert "error" not in out, out.get("error")
    assert out["info"].loads_ids, "the retried load reports its load id"
    assert _count("raw_racewin") == 2
    assert any("lost a schema race" in r.getMessage() for r in caplog.records)


def test_without_the_retry_the_same_race_fails_the_load(agentsync_env) -> None:
    """The control: plain ``pipeline.run`` loses this race (so the test above can fail)."""
    out = _race("racelose", lambda p, rows: p.run(rows, table_name="things"))

    err = out.get("error")
    assert isinstance(err, PipelineStepFailed) and err.step == "load", out
    with pytest.raises(psycopg2.errors.UndefinedColumn):
        _count("raw_racelose")  # the pipeline's columns never reached the table
