"""People end to end: full first load past the deep-offset limit under 429/5xx faults,
incremental second run, deletions and trash flagged, two agents never mixed."""

from __future__ import annotations

import pytest

from dlt_pipelines.fub import FubRun, run_deletions
from dlt_pipelines.fub.settings import CURSOR_LOOKBACK_SECONDS
from dlt_pipelines.http import gate_for
from tests.fub.conftest import add_agent, build_marts, control, ids, rows, truth

pytestmark = pytest.mark.slow


def _load_people(user_id: int) -> tuple[int, int]:
    with FubRun(user_id, "manual") as run:
        result = run.load_stream("people")
        return result.rows, run.client.requests


def test_people_full_then_incremental_with_faults(big_sandbox) -> None:
    root = big_sandbox.url
    add_agent(big_sandbox.sandbox, 101)
    add_agent(big_sandbox.sandbox, 102)
    t101 = truth(root, 101, "people")
    assert t101["count"] > 2000, "agent 101 must have more people than the deep-offset limit"
    assert t101["trashed_ids"], "trashed people must exist for this test to mean anything"

    with FubRun(101, "manual") as probe:
        gate = gate_for(f"{probe.client.fingerprint}:global")
    before_429 = gate.responses_429
    control(root, "faults", {"spec": "fub:/v1/people*:rate_limit:3"})
    control(root, "faults", {"spec": "fub:/v1/people*:server_error:2:503"})

    first_rows, first_requests = _load_people(101)
    _load_people(102)
    # only the injected 429s: pacing from X-RateLimit-* kept the run under the limit
    assert gate.responses_429 - before_429 == 3
    assert first_rows == t101["count"]

    reported = rows(
        "select reported_total from ops.sync_runs where user_id = 101 and entity = 'people' "
        "and status = 'done' order by run_id"
    )
    assert reported[-1][0] == t101["count"]

    build_marts()
    mart101 = ids("select person_id from marts.people where user_id = 101")
    assert mart101 == set(t101["ids"])
    trashed = ids("select person_id from marts.people where user_id = 101 and is_trashed")
    assert trashed == set(t101["trashed_ids"])
    t102 = truth(root, 102, "people")
    assert ids("select person_id from marts.people where user_id = 102") == set(t102["ids"])
    assert not mart101 & set(t102["ids"])  # agents' data never mix

    # --- nothing changed: the look-back window re-reads the last second, and lands nothing ---
    raw_before = rows("select count(*) from raw_fub.people where user_id = 101")[0][0]
    quiet_rows, quiet_requests = _load_people(101)
    assert quiet_requests >= 1  # the window was read
    assert quiet_rows == 0
    assert rows("select count(*) from raw_fub.people where user_id = 101")[0][0] == raw_before

    # --- the clock moves: some people created, updated, trashed, deleted ---------------------
    watermark = rows(
        "select max(updated) from raw_fub.people where user_id = 101",
    )[0][0]
    boundary = rows(
        "select count(*) from raw_fub.people where user_id = 101 "
        "and updated >= cast(:w as timestamptz) - make_interval(secs => :lb)",
        w=watermark,
        lb=CURSOR_LOOKBACK_SECONDS,
    )[0][0]
    changes = control(root, "advance", {"seconds": 86_400, "fraction": 0.05})["changes"]["fub"]
    c = changes["101"]["people"]
    second_rows, second_requests = _load_people(101)
    # what changed lands; what the look-back window re-read unchanged does not
    assert boundary > 0
    assert c["created"] <= second_rows <= c["created"] + c["updated"] + c["trashed"]
    assert second_requests < first_requests / 3

    run_deletions(101, "manual", None)
    build_marts()
    t101b = truth(root, 101, "people")
    live = ids("select person_id from marts.people where user_id = 101 and not is_deleted")
    assert live == set(t101b["ids"])
    deleted = ids(
        "select person_id from marts.people where user_id = 101 and is_deleted "
        "and deleted_at is not null"
    )
    assert deleted == set(t101b["deleted_ids"]) & mart101
    assert ids(
        "select person_id from marts.people where user_id = 101 and is_trashed and not is_deleted"
    ) == set(t101b["trashed_ids"])
    # agent 102 untouched by 101's runs
    assert ids("select person_id from marts.people where user_id = 102") == set(t102["ids"])
