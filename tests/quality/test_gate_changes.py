"""The gate recounts only the agents whose rows changed, and still catches every change.

Real dlt loads, a real mart, real triggers, the real GX checkpoint. What is checked is which
agents a gate recounted (``GateResult.recounted``) and that a change made behind the pipeline's
back — a row deleted by hand, an agent's rows moved, a table truncated or re-created, a trigger
disabled — fails the gate exactly as a full recount would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentsync.quality.gate import GateResult, run_quality_gate
from dlt_pipelines.run import Quarantine
from tests.quality.conftest import SPEC, TinySource, execute, widgets

KEY = "qtest.widgets"


def _gate(root: Path, user_ids: list[int] | None = None) -> GateResult:
    return run_quality_gate(user_ids, entities=[SPEC], context_root=root, dbt_args=None)


def _three_agents(tiny: TinySource) -> None:
    tiny.sync(1, widgets(range(1, 8)), reported_total=7)
    tiny.sync(2, widgets(range(1, 5)), reported_total=4)
    tiny.sync(3, widgets(range(1, 4)), reported_total=3)
    tiny.build_mart()


def _failing_agents(result: GateResult) -> set[int]:
    return {a for c in result.checks for a in c.agents}


def test_a_gate_recounts_only_the_agents_whose_rows_changed(
    tiny: TinySource, context: Path
) -> None:
    _three_agents(tiny)
    first = _gate(context)
    assert first.success, first.failures
    assert first.recounted == {KEY: None}  # nothing kept yet: every agent counted
    assert first.as_dict()["recounted"] == {KEY: "all"}

    idle = _gate(context)
    assert idle.success and idle.recounted == {}  # nothing changed: nothing read

    # a day's load for agent 2 (one new record, one changed), built into the mart
    tiny.sync(2, widgets([4, 5]), reported_total=5)
    tiny.build_mart()
    daily = _gate(context)
    assert daily.success, daily.failures
    assert daily.recounted == {KEY: [2]}

    # a row deleted by hand from agent 3's final table: recounted, caught, named
    execute("delete from marts.qtest_widgets where user_id = 3 and widget_id = '2'")
    tampered = _gate(context)
    assert tampered.recounted == {KEY: [3]}
    assert not tampered.success and _failing_agents(tampered) == {3}

    # the failure is kept, not forgotten, by gates that recount nothing
    again = _gate(context)
    assert again.recounted == {} and _failing_agents(again) == {3}
    assert _gate(context, [1]).success
    assert not _gate(context, [3]).success

    # a row moved from agent 1 to agent 2: both recounted (old and new rows of an update)
    execute("update marts.qtest_widgets set user_id = 2 where user_id = 1 and widget_id = '7'")
    moved = _gate(context)
    assert moved.recounted == {KEY: [1, 2]}
    assert _failing_agents(moved) == {1, 2, 3}

    # a quarantined record of agent 1 is one more explained row: its counts change
    before = _gate(context, [1])
    q = Quarantine(1, SPEC.source)
    q.add(SPEC.entity, {"id": 99}, "bad record", "99")
    q.flush(None)
    after = _gate(context, [1])
    assert after.recounted == {KEY: [1]}
    assert before.checks != after.checks  # the gap moved by the quarantined record

    # sync age is computed at every run, whether or not counts changed
    execute("update ops.sync_runs set ended_at = now() - interval '30 hours' where user_id = 2")
    stale = _gate(context, [2])
    assert stale.recounted == {}
    assert any("freshness: last successful sync" in line for line in stale.failures)


def test_truncated_recreated_or_unwatched_tables_are_counted_again(
    tiny: TinySource, context: Path
) -> None:
    _three_agents(tiny)
    assert _gate(context).success

    # truncate: every agent, and every agent now fails
    execute("truncate marts.qtest_widgets")
    truncated = _gate(context)
    assert truncated.recounted == {KEY: None}
    assert _failing_agents(truncated) == {1, 2, 3}

    # rebuilt as `dbt --full-refresh` does: a new table, without the triggers, one row short
    execute("delete from ops.dbt_processed_loads where model = 'marts.qtest_widgets'")
    tiny.build_mart()
    assert _gate(context).success
    execute(
        "create table marts.qtest_widgets__new as select * from marts.qtest_widgets "
        "where not (user_id = 1 and widget_id = '3'); "
        "drop table marts.qtest_widgets; "
        "alter table marts.qtest_widgets__new rename to qtest_widgets"
    )
    rebuilt = _gate(context)
    assert rebuilt.recounted == {KEY: None}  # a table without its triggers cannot say what changed
    assert _failing_agents(rebuilt) == {1}

    # triggers disabled, then a row deleted: not recorded, so the gate counts every agent
    execute("insert into marts.qtest_widgets (user_id, widget_id) values (1, '3')")
    assert _gate(context).success
    execute("alter table marts.qtest_widgets disable trigger user")
    execute("delete from marts.qtest_widgets where user_id = 2 and widget_id = '1'")
    unwatched = _gate(context)
    assert unwatched.recounted == {KEY: None}
    assert _failing_agents(unwatched) == {2}
    # and the gate put the triggers back: the next change is recorded again
    execute("insert into marts.qtest_widgets (user_id, widget_id) values (2, '1')")
    back = _gate(context)
    assert back.recounted == {KEY: [2]} and back.success, back.failures


def test_stored_validation_results_are_bounded_and_the_index_lists_the_kept_ones(
    tiny: TinySource, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentsync.quality import gx

    monkeypatch.setattr(gx, "KEEP_RESULTS", 2)
    _three_agents(tiny)
    runs = []
    for day in range(4):  # a day's load before each gate: each one validates the suite in GX
        tiny.sync(1, widgets(range(1, 8 + day)), reported_total=7 + day)
        tiny.build_mart()
        runs.append(_gate(context))
    assert all(r.success and KEY in r.validated_by_gx for r in runs)
    out = gx.output_dir()
    kept = sorted((out / "validations").rglob("*.json"))
    assert len(kept) == 2  # one suite, the newest two runs
    pages = sorted((out / "data_docs" / "validations").rglob("*.html"))
    assert [p.relative_to(out / "data_docs" / "validations").with_suffix("") for p in pages] == [
        k.relative_to(out / "validations").with_suffix("") for k in kept
    ]
    # the index links exactly the kept runs' pages
    index = Path(runs[-1].data_docs_path or "").read_text()
    linked = set(re.findall(r'validations/[^"]*\.html', index))
    assert linked == {
        f"validations/{p.relative_to(out / 'data_docs' / 'validations')}" for p in pages
    }


def test_drift_reads_each_load_once_and_again_after_raw_is_rewritten(
    tiny: TinySource, context: Path
) -> None:
    execute("create schema if not exists staging")
    tiny.sync(1, widgets(range(10), colour="red"))
    execute("create view staging.qtest_widgets as select id, colour from raw_qtest.widgets")
    newest = tiny.sync(1, widgets(range(10), colour="red"))
    tiny.build_mart()
    assert _gate(context).success
    kept = execute(
        "select load_id, rows, populated->>'colour' from ops.drift_load_counts "
        "where relation = 'raw_qtest.widgets' and user_id = 1 order by load_id"
    )
    assert [(r[1], r[2]) for r in kept] == [(10, "10"), (10, "10")]  # both loads, read once

    # the kept counts are what the gate judges by: a row changed in raw behind its back…
    execute(
        "alter table raw_qtest.widgets disable trigger user; "
        "update raw_qtest.widgets set colour = null where _dlt_load_id = :l",
        l=newest,
    )
    # …with the triggers off is found by the full recount that a disabled trigger forces
    unwatched = _gate(context)
    assert unwatched.recounted == {KEY: None}
    assert [d.column for d in unwatched.drift] == ["colour"]
    assert not unwatched.success

    # and with the triggers on (the gate re-created them), a repair of raw is read again too
    execute("update raw_qtest.widgets set colour = 'red' where _dlt_load_id = :l", l=newest)
    repaired = _gate(context)
    assert repaired.recounted == {KEY: [1]}
    assert repaired.drift == [] and repaired.success, repaired.failures
