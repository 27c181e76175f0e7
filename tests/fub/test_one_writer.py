"""Issue 15 item 2, one writer per pipeline: concurrent runs of one agent's pipeline wait for
each other, pending packages of a killed run never wedge the next run, failed webhook events back
off across passes and can be replayed, and a bad signature does not reveal whether an agent
exists."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from agentsync import db
from agentsync.errors import ConflictError
from agentsync.locks import pipeline_lock
from agentsync.settings import get_settings
from dlt_pipelines.fub import FubRun, run_streams
from dlt_pipelines.run import make_pipeline
from tests.fub.conftest import add_agent, ids, rows, truth
from webhooks.fub import (
    compute_signature,
    make_app,
    process_pending,
    replay,
    store_events,
    webhook_health,
)

AGENT = 102


def test_pipeline_lock_waits_then_conflicts(agentsync_env) -> None:
    with pipeline_lock("fub_user_7"):
        t0 = time.monotonic()
        with (
            pytest.raises(ConflictError, match="another run holds pipeline fub_user_7 for agent 7"),
            pipeline_lock("fub_user_7", wait=0.5),
        ):
            pass
        assert time.monotonic() - t0 >= 0.4
        with pipeline_lock("fub_user_8", wait=0):  # another pipeline is not blocked
            pass
    with pipeline_lock("fub_user_7", wait=0):  # released with the block
        pass


def test_two_concurrent_syncs_of_one_pipeline(sandbox_env, sandbox_server) -> None:
    """Two runs of one agent's FUB pipeline at once: both succeed, every person reaches raw."""
    add_agent(sandbox_server.sandbox, AGENT)
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            run_streams(AGENT, "onboarding", None, ["people"])
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    expected = set(truth(sandbox_server.url, AGENT, "people")["ids"])
    assert ids("select id from raw_fub.people where user_id = :u", u=AGENT) == expected
    runs = rows(
        "select status from ops.sync_runs where user_id = :u and entity = 'people'", u=AGENT
    )
    assert [r[0] for r in runs] == ["done", "done"]
    assert not make_pipeline("fub", AGENT, get_settings()).has_pending_data


def test_half_written_package_does_not_wedge_or_lose(sandbox_env, sandbox_server) -> None:
    """A run killed after extract left a package without its schema: the next run discards it
    (restoring the cursor) and loads everything; the package is not booked as another entity.

    A regression guard: dlt 1.31 also gets through this package on the old code (it falls back to
    the pipeline schema), so unlike the other tests here it does not fail there."""
    add_agent(sandbox_server.sandbox, AGENT)
    with FubRun(AGENT, "onboarding") as run:
        pipeline = run.pipeline
        pipeline.normalize = pipeline.load = lambda *a, **kw: None  # "killed" after extract
        run.load_stream("people")
    packages = list(Path(pipeline.working_dir).glob("normalize/extracted/*"))
    assert packages, "extract left no pending package"
    for package in packages:  # half-written: no schema, data files cut mid-record
        (package / "schema.json").unlink()
        for job in (package / "new_jobs").iterdir():
            data = job.read_bytes()
            job.write_bytes(data[: len(data) // 2])

    run_streams(AGENT, "daily", None, ["users", "people"])
    expected = set(truth(sandbox_server.url, AGENT, "people")["ids"])
    assert ids("select id from raw_fub.people where user_id = :u", u=AGENT) == expected
    users = rows(
        "select rows from ops.sync_runs where user_id = :u and entity = 'users' and kind = 'daily'",
        u=AGENT,
    )
    n_users = len(truth(sandbox_server.url, AGENT, "users")["ids"])
    assert [r[0] for r in users] == [n_users]
    assert not make_pipeline("fub", AGENT, get_settings()).has_pending_data


def test_complete_pending_package_is_loaded_not_booked_as_next_entity(
    sandbox_env, sandbox_server
) -> None:
    """A complete extracted package of a killed people run is loaded before the users run."""
    add_agent(sandbox_server.sandbox, AGENT)
    with FubRun(AGENT, "onboarding") as run:
        pipeline = run.pipeline
        pipeline.normalize = pipeline.load = lambda *a, **kw: None  # "killed" after extract
        run.load_stream("people")
    run_streams(AGENT, "daily", None, ["users"])
    expected = set(truth(sandbox_server.url, AGENT, "people")["ids"])
    assert ids("select id from raw_fub.people where user_id = :u", u=AGENT) == expected
    [(users_load,)] = rows(
        "select load_id from ops.sync_runs where user_id = :u and entity = 'users' "
        "and kind = 'daily'",
        u=AGENT,
    )
    people_loads = {r[0] for r in rows("select distinct _dlt_load_id from raw_fub.people")}
    assert users_load not in people_loads


# The shared ``receiver`` fixture (tests/fub/conftest.py) runs its worker at this interval here:
# short, so the worker's passes overlap ``webhooks process`` during the flood.
RECEIVER_INTERVAL = 0.5


def test_worker_and_process_under_a_flood(sandbox_server, receiver) -> None:
    """The receiver's worker and ``webhooks process`` run at once over a few hundred signed
    events: every acknowledged event is processed and its records reach raw."""
    root, _worker = receiver
    cred = add_agent(sandbox_server.sandbox, AGENT)
    people = truth(sandbox_server.url, AGENT, "people")["ids"]
    stop = threading.Event()
    errors: list[BaseException] = []

    def processor() -> None:
        while not stop.is_set():
            try:
                process_pending(AGENT)
            except BaseException as err:
                errors.append(err)
            time.sleep(0.05)

    side = threading.Thread(target=processor)
    side.start()
    acked: set[int] = set()
    with httpx.Client(timeout=60) as client:
        for i in range(300):
            pid = people[i % len(people)]
            body = json.dumps({"event": "peopleUpdated", "resourceIds": [pid]}).encode()
            resp = client.post(
                f"{root}/fub/webhooks/{AGENT}",
                content=body,
                headers={"FUB-Signature": compute_signature(body, cred["system_key"])},
            )
            if resp.status_code == 200:
                acked.add(pid)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if rows("select count(*) from ops.webhook_events where status <> 'processed'")[0][0] == 0:
            break
        time.sleep(0.5)
    stop.set()
    side.join(timeout=120)
    assert not errors, errors
    assert len(acked) == min(300, len(people))
    statuses = dict(rows("select status, count(*) from ops.webhook_events group by 1"))
    assert statuses == {"processed": 300}, statuses
    assert acked <= ids("select id from raw_fub.people where user_id = :u", u=AGENT)


def test_failed_events_back_off_and_replay(sandbox_env) -> None:
    """An event that fails is tried once per pass, later passes wait for its back-off, it stops
    after AGENTSYNC_WEBHOOK_MAX_ATTEMPTS, and replay re-queues it; webhook_health reports it."""
    db.ensure_ready()
    [event] = store_events(9191, [{"event": "peopleUpdated", "resourceIds": [1]}])  # no agent
    assert webhook_health()["pending"] == 1
    assert process_pending()["failed"] == 1
    (attempts, status, due) = rows(
        "select attempts, status, next_attempt_at > now() from ops.webhook_events"
    )[0]
    assert (attempts, status, due) == (1, "failed", True)
    assert process_pending() == {"processed": 0, "failed": 0, "ignored": 0}  # backing off
    rows_ = rows("update ops.webhook_events set next_attempt_at = now() returning event_id")
    assert rows_ == [(event,)]
    assert process_pending()["failed"] == 1
    delays = rows(
        "select attempts, extract(epoch from next_attempt_at - now()) from ops.webhook_events"
    )[0]
    assert delays[0] == 2 and delays[1] > 40  # doubled
    max_attempts = get_settings().webhook_max_attempts
    rows(
        "update ops.webhook_events set attempts = :m - 1, next_attempt_at = now() "
        "returning event_id",
        m=max_attempts,
    )
    assert process_pending()["failed"] == 1
    assert rows("select attempts, next_attempt_at from ops.webhook_events")[0] == (
        max_attempts,
        None,
    )
    health = webhook_health()
    assert health["failed"] == 1 and health["failed_permanently"] == 1
    assert health["failed_oldest_seconds"] is not None and health["pending"] == 0
    assert replay(user_id=1) == 0
    assert replay(user_id=9191) == 1
    assert rows("select status, attempts from ops.webhook_events")[0] == ("received", 0)


def test_bad_signature_same_status_for_unknown_and_known_agent(sandbox_env, sandbox_server):
    cred = add_agent(sandbox_server.sandbox, AGENT)
    client = TestClient(make_app(None))
    body = json.dumps({"event": "peopleUpdated", "resourceIds": [1]}).encode()
    known = client.post(f"/fub/webhooks/{AGENT}", content=body, headers={"FUB-Signature": "00"})
    unknown = client.post("/fub/webhooks/4242", content=body, headers={"FUB-Signature": "00"})
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()
    good = client.post(
        f"/fub/webhooks/{AGENT}",
        content=body,
        headers={"FUB-Signature": compute_signature(body, cred["system_key"])},
    )
    assert good.status_code == 200
    assert rows("select count(*) from ops.webhook_events")[0][0] == 1


def test_unloadable_normalized_package_is_discarded_without_loss(sandbox_env, sandbox_server):
    """A killed run left a normalized package whose load file is cut mid-statement: the next run
    discards it (the cursor goes back with it) instead of failing on it, and loses nothing.

    A regression guard: it also passes on the old code (dlt 1.31 aborts such a package itself)."""
    add_agent(sandbox_server.sandbox, AGENT)
    with FubRun(AGENT, "onboarding") as run:
        pipeline = run.pipeline
        pipeline.load = lambda *a, **kw: None  # "killed" after normalize
        run.load_stream("people")
    jobs = [
        j
        for j in Path(pipeline.working_dir).glob("load/normalized/*/new_jobs/people.*")
        if j.is_file()
    ]
    assert jobs, "normalize left no people load job"
    for job in jobs:
        data = job.read_bytes()
        job.write_bytes(data[: len(data) // 2])

    run_streams(AGENT, "daily", None, ["users", "people"])
    expected = set(truth(sandbox_server.url, AGENT, "people")["ids"])
    assert ids("select id from raw_fub.people where user_id = :u", u=AGENT) == expected
    assert not make_pipeline("fub", AGENT, get_settings()).has_pending_data
