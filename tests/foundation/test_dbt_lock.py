"""Every dbt invocation holds the one database-wide dbt lock (issue 15).

The lock is a PostgreSQL advisory lock (``agentsync.locks.dbt_lock``) taken by
``agentsync.transform.run_dbt`` itself, so the FUB webhook worker's mart rebuild, the quality
gate's dbt tests, ``agentsync rebuild`` / ``agentsync docs`` and the flows queue on the same lock.
Here another holder (a plain connection, as a second process would be) holds it while a dbt
invocation starts: the invocation waits on the lock and runs only once it is released; and a
real flow build (``flows.after_load.dbt_build`` in another process) holds it while the webhook
worker's rebuild starts, which waits for that build to end.
"""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

DBT_KEY = "hashtextextended('agentsync:dbt', 0)"


def _waiting_for_dbt_lock(conn) -> int:
    """Sessions of this database waiting (not granted) for the dbt advisory lock."""
    with conn.cursor() as cur:
        cur.execute(
            "select count(*) from pg_locks l join pg_database d on d.oid = l.database"
            " where d.datname = current_database() and l.locktype = 'advisory'"
            f" and not l.granted and ((l.classid::bigint << 32) | l.objid::bigint) = {DBT_KEY}"
        )
        return cur.fetchone()[0]


def _holder(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"select pg_advisory_lock({DBT_KEY})")
    return conn


def _start(target) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["result"] = target()
        except BaseException as err:  # surfaced by the test
            out["error"] = err
        out["finished"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _wait_until_waiting(conn, thread: threading.Thread, out: dict, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _waiting_for_dbt_lock(conn) == 0:
        assert thread.is_alive(), f"dbt ran without waiting for the lock: {out}"
        assert time.monotonic() < deadline, "the dbt invocation never queued on the dbt lock"
        time.sleep(0.05)


def _relation_exists(conn, schema: str, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (f'"{schema}"."{name}"',))
        return cur.fetchone()[0]


def test_webhook_rebuild_waits_for_the_database_wide_dbt_lock(agentsync_env):
    """The webhook worker's mart rebuild queues behind another holder of the dbt lock."""
    from agentsync import db
    from webhooks.fub import transform_fub

    url = agentsync_env["AGENTSYNC_DATABASE_URL"]
    db.ensure_ready()
    holder = _holder(url)
    try:
        thread, out = _start(transform_fub)
        _wait_until_waiting(holder, thread, out)
        time.sleep(0.5)  # held a little longer: dbt must still not have run
        assert thread.is_alive() and "finished" not in out
        assert not _relation_exists(holder, "marts", "people"), "dbt built while the lock was held"
        with holder.cursor() as cur:
            cur.execute("select count(*) from ops.dbt_load_batch")
            assert cur.fetchone()[0] == 0  # dbt's on-run-start bookkeeping has not run either
        released = time.monotonic()
        with holder.cursor() as cur:
            cur.execute(f"select pg_advisory_unlock({DBT_KEY})")
            assert cur.fetchone()[0] is True
        thread.join(300)
        assert not thread.is_alive(), "the rebuild did not finish after the lock was released"
        assert "error" not in out, out.get("error")
        assert out["finished"] > released
        assert _relation_exists(holder, "marts", "people")  # the rebuild did run, afterwards
    finally:
        holder.close()


def _dbt_lock_holders(conn) -> list[int]:
    """Backend pids of this database holding (granted) the dbt advisory lock."""
    with conn.cursor() as cur:
        cur.execute(
            "select l.pid from pg_locks l join pg_database d on d.oid = l.database"
            " where d.datname = current_database() and l.locktype = 'advisory'"
            f" and l.granted and ((l.classid::bigint << 32) | l.objid::bigint) = {DBT_KEY}"
        )
        return [r[0] for r in cur.fetchall()]


# A flow's dbt build (flows.after_load.dbt_build, as onboarding and the daily sync run it) in a process
# of its own, as a flow on a worker is.
FLOW_BUILD = """
from flows.after_load import dbt_build
outcome = dbt_build(["fub"])
print(outcome.status, outcome.error or "", flush=True)
"""


def test_webhook_rebuild_waits_for_a_running_flow_build(agentsync_env, tmp_path):
    """A webhook-triggered mart rebuild started while a flow's dbt build runs (in another
    process) waits for that build and runs only after the flow released the lock."""
    import os
    import subprocess
    import sys

    from agentsync import db
    from webhooks.fub import transform_fub

    db.ensure_ready()
    probe = psycopg2.connect(agentsync_env["AGENTSYNC_DATABASE_URL"])
    probe.autocommit = True
    log = tmp_path / "flow-build.log"
    flow = subprocess.Popen(
        [sys.executable, "-c", FLOW_BUILD],
        env={**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while not (holders := _dbt_lock_holders(probe)):
            assert flow.poll() is None, f"the flow build ended first: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the flow build never took the dbt lock"
            time.sleep(0.05)
        [flow_backend] = holders
        thread, out = _start(transform_fub)  # the webhook worker's rebuild
        _wait_until_waiting(probe, thread, out)
        assert flow.poll() is None, "the flow build ended before the webhook rebuild queued"
        assert _dbt_lock_holders(probe) == [flow_backend]  # the flow still holds it, alone
        while flow_backend in _dbt_lock_holders(probe):
            assert thread.is_alive() and "finished" not in out, "the rebuild ran during the build"
            time.sleep(0.05)
        released = time.monotonic()
        thread.join(300)
        assert not thread.is_alive(), "the rebuild did not finish after the flow build"
        assert "error" not in out, out.get("error")
        assert out["finished"] > released
        assert flow.wait(120) == 0
        last = log.read_text().strip().splitlines()[-1]  # after dbt's own output
        assert last.startswith("done"), log.read_text()[-2000:]
    finally:
        if flow.poll() is None:
            flow.kill()
            flow.wait(30)
        probe.close()


def test_run_dbt_is_reentrant_and_holds_the_advisory_lock(agentsync_env):
    """A caller already holding ``dbt_lock`` (as flows.after_load.dbt_build does) nests run_dbt."""
    from agentsync import db
    from agentsync.locks import dbt_lock
    from agentsync.transform import run_dbt

    url = agentsync_env["AGENTSYNC_DATABASE_URL"]
    db.ensure_ready()
    probe = psycopg2.connect(url)
    probe.autocommit = True

    def try_lock() -> bool:
        with probe.cursor() as cur:
            cur.execute(f"select pg_try_advisory_lock({DBT_KEY})")
            got = cur.fetchone()[0]
            if got:
                cur.execute(f"select pg_advisory_unlock({DBT_KEY})")
            return got

    def nested():
        with dbt_lock():
            held_outside = not try_lock()
            result = run_dbt(["ls", "--select", "path:models/staging/fub", "--quiet"])
            return held_outside, result.success, not try_lock()

    try:
        thread, out = _start(nested)
        thread.join(180)
        assert not thread.is_alive(), "run_dbt deadlocked inside dbt_lock()"
        assert "error" not in out, out.get("error")
        held_before, success, held_after = out["result"]
        assert held_before and success and held_after  # still held by the outer block
        assert try_lock()  # and released when the outer block ended
    finally:
        probe.close()


@pytest.mark.parametrize("nesting", [1, 3])
def test_dbt_lock_released_after_nesting(agentsync_env, nesting):
    from agentsync import db
    from agentsync.locks import dbt_lock

    db.ensure_ready()
    holder = psycopg2.connect(agentsync_env["AGENTSYNC_DATABASE_URL"])
    holder.autocommit = True
    try:

        def enter(n: int) -> None:
            with dbt_lock():
                if n > 1:
                    enter(n - 1)
                else:
                    with holder.cursor() as cur:
                        cur.execute(f"select pg_try_advisory_lock({DBT_KEY})")
                        assert cur.fetchone()[0] is False

        enter(nesting)
        with holder.cursor() as cur:
            cur.execute(f"select pg_try_advisory_lock({DBT_KEY})")
            assert cur.fetchone()[0] is True
    finally:
        holder.close()
