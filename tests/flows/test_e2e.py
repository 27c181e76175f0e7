"""End to end: real sources over the sandbox, real dlt/dbt, real Prefect (temporary API).

Kept small (CI has a 2-core machine): a Partial onboarding (a refused credential on one source)
that is re-queued and completes, and an onboarding whose process is killed (``kill -9`` of its main
pid during extract, at a load's commit, during the dbt build and during the gate) and then
recovered by the dispatcher path alone
(``agentsync onboard run`` without ``--user-id``), whose marts equal those of an uninterrupted run
(no loss, no duplicates), whose ``ops.sync_runs`` tell the truth, and which leaves no orphan
process. Kills at random points, many of them: ``bench/bench_kill_soak.py``.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from agentsync import agents, db, jobs
from bench import kill_trial
from dlt_pipelines import registry
from tests.flows.conftest import run_logs

pytestmark = pytest.mark.slow

AGENT = 103  # the sandbox's smallest demo agent: FUB, SkySlope, Qualia


def _demo_agent(sandbox_server, user_id: int) -> dict:
    return next(a for a in sandbox_server.sandbox.demo_agents() if a["user_id"] == user_id)


def _need_sources(*names: str) -> None:
    built = {s.source for s in registry.all_steps()}
    missing = [n for n in names if n not in built]
    if missing:
        pytest.fail(f"sources not built yet: {', '.join(missing)}")


def test_partial_on_refused_credential_then_complete(
    sandbox_env, sandbox_server, prefect_api, run_logs_at_info
):
    from flows.onboard import onboard_user

    _need_sources("fub", "skyslope", "qualia")
    spec = _demo_agent(sandbox_server, AGENT)
    creds = dict(spec["credentials"])
    creds["skyslope"] = dict(creds["skyslope"], access_secret="as_wrong")
    agents.add_agent(AGENT, spec["name"], creds)

    state = onboard_user(AGENT, return_state=True)
    result = state.result()
    assert result["status"] == "Partial"
    # What the Prefect UI shows of the run: its name, a line per step, dbt's lines without the
    # terminal colour codes dbt writes at a terminal.
    logs = "\n".join(m for _, m in run_logs(state.state_details.flow_run_id))
    assert f"agent {AGENT} fub.people done: " in logs
    assert f"agent {AGENT} dbt.build done: " in logs and " models in " in logs
    assert " START sql " in logs  # dbt's own node lines reached the run's log...
    assert "\x1b[" not in logs  # ...without ANSI escapes
    steps = {s.step: s for s in jobs.get_job(AGENT).steps}
    sky = [s for k, s in steps.items() if k.startswith("skyslope.")]
    assert sky and all(s.status == "failed" and s.error for s in sky)
    assert "as_wrong" not in " ".join(s.error for s in sky)  # no secret in errors
    for key, step in steps.items():
        if key.startswith(("fub.", "qualia.")):
            assert step.status == "done", (key, step.error)
        if key.startswith("rezen."):
            assert step.status == "skipped" and "not connected" in step.error
    assert steps["dbt.build"].status == "done", steps["dbt.build"].error
    # The gate ran (never skipped silently) and, with SkySlope missing, it may object.
    assert steps["quality.gate"].status in ("done", "failed"), steps["quality.gate"].error

    # The loaded Qualia orders match what the sandbox says exists for this agent.
    import httpx

    truth = httpx.get(
        f"{sandbox_server.url}/_sandbox/truth/qualia", params={"user_id": AGENT}
    ).json()
    expected = truth[str(AGENT)]["orders"]["count"]
    with db.begin() as conn:
        in_mart = conn.execute(
            text("select count(*) from marts.title_orders where user_id = :u"), {"u": AGENT}
        ).scalar_one()
    assert in_mart == expected

    agents.set_credential(AGENT, "skyslope", spec["credentials"]["skyslope"])
    assert jobs.create_job(AGENT).status == "New"
    again = onboard_user(AGENT)
    steps = {s.step: s.status for s in jobs.get_job(AGENT).steps}
    assert all(v == "done" for k, v in steps.items() if k.startswith("skyslope.")), steps
    # Fixed credential: every step, the dbt build and the quality gate pass.
    assert again["status"] == "Complete", _not_done(again)
    assert steps["quality.gate"] == "done", steps


def _not_done(result: dict) -> list[tuple]:
    """The steps of an onboarding result that did not end ``done``/``skipped``, with their errors."""
    return [
        (s["step"], s["status"], s.get("error"))
        for s in result["steps"]
        if s["status"] not in ("done", "skipped")
    ]


# Where a real onboarding is killed: the step to wait for, a sandbox fault that keeps it running
# long enough, and how long after it starts the kill comes. Random points, 20 of them, are the
# soak's (bench/bench_kill_soak.py): each kill trial here costs minutes.
KILL_POINTS = {
    # FUB's activity step waits on a slowed response: people are loaded, activity is not.
    "extract": ("fub.activity", "fub:*events*:slow:1:25", 1.0),
    # dlt's load of FUB people held at its commit: the rows are written to raw, the load is not
    # yet recorded in raw_fub._dlt_loads (the test holds a lock that blocks that insert).
    "load": ("fub.people", None, 0.5),
    # Every source step done, dbt building the marts (incremental marts half merged).
    "dbt": ("dbt.build", None, 1.5),
    # The gate recounting and validating, some entities' kept counts committed, others not.
    "gate": ("quality.gate", None, 1.0),
}


def _wait_for_running(step: str, proc, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = kill_trial.step_status(step)
        if status == "running":
            return
        if status in ("done", "failed", "skipped"):
            pytest.fail(f"{step} finished ({status}) before the run could be killed")
        if proc.poll() is not None:
            pytest.fail(f"the onboarding exited ({proc.returncode}) before {step} ran")
        time.sleep(0.1)
    pytest.fail(f"{step} never started within {timeout:.0f}s")


def _hold_load_commits(proc, timeout: float = 300):
    """Block every FUB load's commit (the insert into ``raw_fub._dlt_loads``) and wait until
    the onboarding's load is waiting on it. Returns the connection holding the lock."""
    conn = db.engine().connect()
    conn.execute(text("lock table raw_fub._dlt_loads in exclusive mode"))  # reads still pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine().connect() as probe:
            waiting = probe.execute(
                text(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                    "and query ilike '%_dlt_loads%' and pid <> pg_backend_pid()"
                )
            ).scalar()
        if waiting:
            return conn
        if proc.poll() is not None:
            conn.close()
            pytest.fail(f"the onboarding exited ({proc.returncode}) before its load committed")
        time.sleep(0.1)
    conn.close()
    pytest.fail(f"no FUB load reached its commit within {timeout:.0f}s")


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_onboarding_rerun_equals_clean_run(
    point, sandbox_env, sandbox_server, prefect_api, pg_server, tmp_path, monkeypatch
):
    """kill -9 of a worker's main pid; the dispatcher alone recovers; marts equal a clean run's."""
    from tests.conftest import _create_database, _drop_database, database_url_for

    _need_sources("fub", "skyslope", "qualia")
    from flows.onboard import onboard_user

    step, fault, delay = KILL_POINTS[point]
    spec = _demo_agent(sandbox_server, AGENT)
    agents.add_agent(AGENT, spec["name"], spec["credentials"])
    jobs.create_job(AGENT)
    import httpx

    if fault:
        httpx.post(f"{sandbox_server.url}/_sandbox/faults", json={"spec": fault}).raise_for_status()

    # 1. An onboarding in a process of its own (its own PREFECT_HOME, so it starts Prefect's
    #    temporary API as a child), killed with SIGKILL to its main pid only, as a worker dies:
    #    its children are left behind.
    prefect_home = tmp_path / "prefect-sub"
    data_dir = Path(sandbox_env["AGENTSYNC_DATA_DIR"])
    env = dict(os.environ, PREFECT_HOME=str(prefect_home), PREFECT_LOGGING_LEVEL="WARNING")
    log = tmp_path / "onboard.log"
    proc = kill_trial.start_onboarding(AGENT, env, log)
    held = None
    try:
        _wait_for_running(step, proc)
        if point == "load":
            held = _hold_load_commits(proc)
        time.sleep(delay)
    finally:
        killed_at = kill_trial.kill_main(proc)
        if held is not None:  # the dead run's load may now commit, or not: both must recover
            held.rollback()
            held.close()
    killed = jobs.get_job(AGENT)
    assert killed.status == "Started"
    assert {s.step: s.status for s in killed.steps}[step] == "running"
    with db.begin() as conn:
        cut = (
            conn.execute(
                text("select run_id from ops.sync_runs where user_id = :u and status = 'running'"),
                {"u": AGENT},
            )
            .scalars()
            .all()
        )
    if point in ("extract", "load"):
        assert cut, f"the kill during {point} left no running sync run to settle"
    assert kill_trial.orphans(prefect_home, data_dir), "the kill left no helper behind to clean"
    if fault:
        httpx.delete(f"{sandbox_server.url}/_sandbox/faults").raise_for_status()

    # 2. The dispatcher path alone: `agentsync onboard run` (no --user-id), a new process with the
    #    same PREFECT_HOME, settles the dead run, re-queues the job and runs it to Complete.
    rec = kill_trial.recover(AGENT, env, killed_at, log)
    assert rec.exit_code == 0, _log_tail(log)
    assert rec.seconds_to_requeue is not None, "the job was never seen re-queued"
    rerun = jobs.get_job(AGENT)
    assert rerun.status == "Complete", (rerun.error, _log_tail(log))  # the gate included
    assert rerun.attempts == 2
    assert all(s.status in ("done", "skipped") for s in rerun.steps), rerun.steps
    # ops.sync_runs tells the truth: what the kill cut is failed as interrupted, with a reason;
    # nothing is left running; every entity has a done run.
    with db.begin() as conn:
        settled = conn.execute(
            text("select status, error from ops.sync_runs where run_id = any(:ids)"),
            {"ids": list(cut)},
        ).all()
    assert [r.status for r in settled] == ["failed"] * len(cut)
    assert all(r.error.startswith("interrupted: the process running it") for r in settled)
    assert kill_trial.sync_runs_truthful(kill_trial.sync_runs(AGENT)) == []
    # No orphan: the recovering command stopped the dead run's Prefect temporary server.
    assert kill_trial.wait_no_orphans(prefect_home, data_dir) == []
    after_rerun = kill_trial.mart_rows(AGENT)

    # 3. An uninterrupted run in a fresh database and data dir, against the same sandbox.
    name = f"t_clean_{uuid.uuid4().hex[:8]}"
    _create_database(pg_server, name)
    try:
        monkeypatch.setenv("AGENTSYNC_DATABASE_URL", database_url_for(pg_server, name))
        monkeypatch.setenv("AGENTSYNC_DATA_DIR", str(Path(tmp_path) / "clean"))
        agents.add_agent(AGENT, spec["name"], spec["credentials"])
        clean_run = onboard_user(AGENT)
        assert clean_run["status"] == "Complete", _not_done(clean_run)
        clean = kill_trial.mart_rows(AGENT)
    finally:
        db.engine().dispose()
        _drop_database(pg_server, name)

    assert set(after_rerun) == set(clean)
    assert sum(len(v) for v in clean.values()) > 0
    assert kill_trial.diff_rows(clean, after_rerun) == (0, 0)
    for table in clean:
        assert after_rerun[table] == clean[table], table
