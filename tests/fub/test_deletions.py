"""Deletion detection that costs the change (issue 16): a day without deletions is proved by a
count (no request, no raw row); deletions, ids served again and a lost page of ids are exact;
earlier full snapshots are migrated and pruned."""

from __future__ import annotations

import dlt
import pytest
from sqlalchemy import text

from agentsync.entities import FUB as ENTITIES
from dlt_pipelines.fub import FubRun, deletions, run_deletions, run_streams
from dlt_pipelines.fub.settings import RECONCILED_STREAMS
from tests.fub.conftest import add_agent, build_marts, control, ids, rows, truth

pytestmark = pytest.mark.slow

# mart and id column of every entity the deletions step checks, from the source's registry
MARTS = {
    e.entity: (e.mart.removeprefix("marts."), e.mart_id_column)
    for e in ENTITIES
    if e.entity in RECONCILED_STREAMS
}


def _changes_rows() -> int:
    exists = rows("select to_regclass('raw_fub.id_changes')")[0][0]
    return rows("select count(*) from raw_fub.id_changes")[0][0] if exists else 0


def _check_all(user_id: int) -> dict[str, tuple[int, int]]:
    """Run every entity's deletion check in one session: {entity: (rows, requests it made)}."""
    out = {}
    with FubRun(user_id, "daily") as run:
        for name in RECONCILED_STREAMS:
            before = run.client.requests
            result = run.check_deletions(name)
            out[name] = (result.rows, run.client.requests - before)
    return out


def _assert_marts_match_truth(root: str, user_id: int) -> None:
    for entity, (mart, id_col) in MARTS.items():
        t = truth(root, user_id, entity)
        live = ids(
            f"select {id_col} from marts.{mart} where user_id = :u and not is_deleted", u=user_id
        )
        assert live == set(t["ids"]), f"{entity}: live rows differ from what FUB serves"
        flagged = ids(
            f"select {id_col} from marts.{mart} where user_id = :u and is_deleted", u=user_id
        )
        assert not flagged & set(t["ids"]), f"{entity}: a served record is flagged deleted"
        held = ids(f"select {id_col} from marts.{mart} where user_id = :u", u=user_id)
        assert flagged == held & set(t["deleted_ids"]), f"{entity}: a deletion was missed"


def test_deletions_cost_the_change_and_stay_exact(sandbox_env, sandbox_server) -> None:
    root = sandbox_server.url
    add_agent(sandbox_server.sandbox, 101)
    run_streams(101, "onboarding", None, RECONCILED_STREAMS)

    # onboarding: what we hold equals what FUB reported before the extract: proved by the count
    first = _check_all(101)
    assert all(requests == 0 for _, requests in first.values()), first
    assert first["people"][0] == truth(root, 101, "people")["count"]
    assert _changes_rows() == 0

    # a day without changes: the same, and raw does not grow
    control(root, "advance", {"seconds": 86_400, "fraction": 0})
    run_streams(101, "daily", None, RECONCILED_STREAMS)
    assert all(requests == 0 for _, requests in _check_all(101).values())
    assert _changes_rows() == 0

    # a day with creations, updates and deletions (people and their activity go together):
    # the counts differ, the ids are walked, only what changed is stored
    changes = control(root, "advance", {"seconds": 86_400, "fraction": 0.1})["changes"]["fub"]
    assert changes["101"]["people"]["deleted"] > 0
    run_streams(101, "daily", None, RECONCILED_STREAMS)
    walked = _check_all(101)
    assert walked["people"][1] > 0, "people were deleted: the ids must be walked"
    deleted_people = set(truth(root, 101, "people")["deleted_ids"])
    gone = ids("select id from raw_fub.id_changes where entity = 'people' and change = 'gone'")
    assert gone == deleted_people & ids("select distinct id from raw_fub.people")
    build_marts()
    _assert_marts_match_truth(root, 101)

    # deleted people served again under their old ids (no new version): a lost page of ids in
    # that walk is refused, flags nothing, and the next check finds them back
    back = sorted(gone)[:2]
    assert control(root, "fub/restore", {"user_id": 101, "ids": back})["restored"] == back
    run_streams(
        101, "daily", None, RECONCILED_STREAMS
    )  # the count is taken as the day's run starts
    control(root, "faults", {"spec": "fub:/v1/people*:lose_page:1"})
    with pytest.raises(RuntimeError, match="would flag false deletions"):
        run_deletions(101, "daily", None)
    failed = rows(
        "select error from ops.sync_runs where user_id = 101 and entity = 'people_ids' "
        "order by run_id desc limit 1"
    )[0][0]
    assert "would flag false deletions" in failed
    assert (
        ids("select id from raw_fub.id_changes where entity = 'people' and change = 'back'")
        == set()
    )
    run_deletions(101, "daily", None)
    assert ids(
        "select id from raw_fub.id_changes where entity = 'people' and change = 'back'"
    ) == set(back)
    # the count proof counts in the database what a walk compares in Python: the same K, with
    # ids held as gone, come back, and quarantined
    for name in RECONCILED_STREAMS:
        assert deletions.held_count(101, name) == (len(deletions.held_ids(101, name).live), False)
    build_marts()
    _assert_marts_match_truth(root, 101)

    # an agent whose deletions were last checked with full snapshots (before id_changes): the
    # next check walks, keeps every deletion, and deletes the old snapshot rows
    held_gone = {
        e: set(truth(root, 101, e)["deleted_ids"]) & ids(f"select distinct id from raw_fub.{e}")
        for e in ("events", "deals", "calls", "appointments")
    }
    entity = next((e for e, gone_ids in held_gone.items() if gone_ids), None)
    assert entity, "activity of deleted people was deleted too"
    from agentsync import db

    with db.begin() as conn:
        conn.exec_driver_sql(f"delete from raw_fub.id_changes where entity = '{entity}'")
    _legacy_snapshot(101, entity, truth(root, 101, entity)["ids"])
    run_deletions(101, "daily", None)
    for table in ("id_snapshots", "id_snapshot_runs"):
        left = rows(f"select count(*) from raw_fub.{table} where entity = :e", e=entity)
        assert left[0][0] == 0, f"{table} rows of {entity} were not pruned"
    assert ids("select id from raw_fub.id_changes where entity = :e", e=entity) == held_gone[entity]
    build_marts()
    _assert_marts_match_truth(root, 101)
    # and with nothing left to migrate, the next check is a count again
    assert _check_all(101)[entity][1] == 0


def _legacy_snapshot(user_id: int, entity: str, served: list[int]) -> None:
    """Land a full id snapshot as the deletion step did before id_changes."""
    from datetime import UTC, datetime

    from agentsync import db
    from agentsync.settings import get_settings

    pipe = dlt.pipeline(
        pipeline_name=f"legacy_snapshot_{user_id}",
        destination=dlt.destinations.postgres(credentials=db.database_url(get_settings())),
        dataset_name="raw_fub",
        pipelines_dir=str(get_settings().dlt_dir),
    )
    snap = [{"user_id": user_id, "entity": entity, "id": i} for i in served]
    head = [
        {
            "user_id": user_id,
            "entity": entity,
            "taken_at": datetime.now(UTC),
            "id_count": len(served),
            "reported_total": len(served),
        }
    ]
    pipe.run(
        [
            dlt.resource(snap, name="id_snapshots", write_disposition="append"),
            dlt.resource(head, name="id_snapshot_runs", write_disposition="append"),
        ]
    )


@pytest.mark.slow
def test_the_held_count_is_kept_until_the_agents_own_evidence_changes(
    sandbox_env, sandbox_server, monkeypatch
) -> None:
    """The count proof reads the agent's raw only when its evidence may have changed: another
    agent's load leaves the kept |K| in use; the agent's own load (a ``*Deleted`` webhook's), a
    quarantined record, a hand edit of raw, and a table that lost its triggers make the next
    check count again, and the count it keeps is always the one raw gives. A walk's count is
    kept when its changes land, unless another write came in between."""
    from datetime import UTC, datetime

    from agentsync import db
    from dlt_pipelines.run import Quarantine

    agent, other = 103, 101
    add_agent(sandbox_server.sandbox, agent)
    add_agent(sandbox_server.sandbox, other)
    run_streams(agent, "onboarding", None, ("people",))
    live = deletions.held_ids(agent, "people").live
    assert deletions.held_count(agent, "people") == (len(live), False)
    kept = "select held, counted_at from ops.fub_held_counts where user_id = :u and entity = :e"
    counted = rows(kept, u=agent, e="people")
    assert deletions.held_count(agent, "people")[0] == len(live)
    assert rows(kept, u=agent, e="people") == counted  # reused: nothing landed since

    def held() -> int:
        count = deletions.held_count(agent, "people")[0]
        assert count == len(deletions.held_ids(agent, "people").live)
        return count

    with FubRun(agent, "daily") as run:  # the agent's own load
        run.record_deleted("people", [min(live)], datetime.now(UTC))
    assert held() == len(live) - 1

    # another agent's load (a webhook's deletion, into a table the proof reads): still reused
    counted = rows(kept, u=agent, e="people")
    with FubRun(other, "daily") as run:
        run.record_deleted("people", [1], datetime.now(UTC))
    assert deletions.held_count(agent, "people")[0] == len(live) - 1
    assert rows(kept, u=agent, e="people") == counted, "another agent's load forced a recount"

    quarantine = Quarantine(agent, "fub")
    quarantine.add(
        "people", {"id": 987_654_321}, "a record FUB serves that staging refuses", 987_654_321
    )
    quarantine.flush()
    assert held() == len(live)

    # a hand edit of raw, outside any load: every version of one person removed
    with db.begin() as conn:
        conn.execute(
            text("delete from raw_fub.people where user_id = :u and id = :i"),
            {"u": agent, "i": max(live)},
        )
    assert held() == len(live) - 1

    # a table without its triggers (dropped here; a table dlt re-created has none) records
    # nothing: the check re-installs them and counts again
    with db.begin() as conn:
        for trigger in ("agfub_ins", "agfub_del", "agfub_upd", "agfub_trunc"):
            conn.execute(text(f"drop trigger {trigger} on raw_fub.people"))
        conn.execute(
            text("delete from raw_fub.people where user_id = :u and id = :i"),
            {"u": agent, "i": sorted(live)[1]},
        )
    assert held() == len(live) - 2
    triggers = rows(
        "select count(*) from pg_trigger where tgrelid = 'raw_fub.people'::regclass "
        "and tgname like 'agfub%'"
    )
    assert triggers[0][0] == 4

    # a walk keeps the count its changes leave (the load of exactly those changes hands it
    # over), so the day after a walk reads no raw row either; not the first walk, whose load
    # creates raw_fub.id_changes (without triggers yet), nor one that another write overtook
    root = sandbox_server.url
    for day in ("creates the table", "handed over", "another write between"):
        changes = control(root, "advance", {"seconds": 86_400, "fraction": 0.1})["changes"]["fub"]
        assert changes[str(agent)]["people"]["deleted"] > 0
        run_streams(agent, "daily", None, ("people",))
        walk = deletions.walk_ids
        if day == "another write between":

            def walk_with_a_write(client, stream, walk=walk):  # a record quarantined meanwhile
                late = Quarantine(agent, "fub")
                late.add("people", {"id": 987_654_322}, "lands while the ids are walked", 1)
                late.flush()
                return walk(client, stream)

            monkeypatch.setattr(deletions, "walk_ids", walk_with_a_write)
        before = _changes_rows()
        with FubRun(agent, "daily") as run:
            run.check_deletions("people")
        monkeypatch.setattr(deletions, "walk_ids", walk)
        assert _changes_rows() > before, "the day's deletions were walked and landed"
        handed = rows(kept, u=agent, e="people")
        if day == "handed over":
            assert handed, "the walk's count was not kept"
            assert handed[0][0] == len(deletions.held_ids(agent, "people").live)
            assert deletions.held_count(agent, "people")[0] == handed[0][0]
            assert rows(kept, u=agent, e="people") == handed  # reused, not counted again
        else:
            assert not handed, f"{day}: a count kept that no check or trigger can vouch for"
            held()
