"""The drift rules on a tiny real source (dlt loads into ``raw_qtest.widgets``, a staging view).

A model view reads ``colour`` (and ``id``): that makes ``colour`` a mapped column. Each test loads
real dlt loads through ``ops.sync_runs`` and checks what :func:`check_drift` reports.
"""

from __future__ import annotations

from agentsync import db
from agentsync.quality.drift import DROPPING, RENAMED, STOPPED, check_drift
from tests.quality.conftest import SPEC, TinySource, execute, widgets


def _model_view(columns: str = "id, colour") -> None:
    execute("create schema if not exists staging")
    execute("drop view if exists staging.qtest_widgets")
    execute(f"create view staging.qtest_widgets as select {columns} from raw_qtest.widgets")


def _drift(user_ids: list[int] | None = None, severity: str = "error"):
    with db.engine().connect() as conn:
        return check_drift(conn, [SPEC], user_ids, severity=severity)


def test_stopped_dropping_and_clean(tiny: TinySource) -> None:
    tiny.sync(1, widgets(range(10), colour="red"))
    _model_view()
    assert not _drift().fields  # one load: no history

    tiny.sync(1, widgets(range(10), colour="red"))  # clean
    tiny.sync(2, widgets(range(10), colour="blue"))
    assert not _drift().fields

    tiny.sync(1, widgets(range(10)))  # colour stops arriving for agent 1
    half = widgets(range(10), colour="blue")
    for w in half[:7]:
        w["colour"] = None
    tiny.sync(2, widgets(range(10), colour="blue"))
    tiny.sync(2, half)  # agent 2: only 3 of 10 rows have it
    report = _drift()
    got = {(f.column, f.kind): f for f in report.fields}
    stopped = got[("colour", STOPPED)]
    assert stopped.user_ids == [1] and stopped.severity == "error"
    assert stopped.line == (
        "drift qtest.widgets field colour: null in 10 of 10 rows of the newest load(s), "
        "populated in 100% of earlier rows (agents 1)"
    )
    dropping = got[("colour", DROPPING)]
    assert dropping.user_ids == [2] and dropping.severity == "warn"
    assert _drift(severity="warn").fields[1].severity == "warn"
    assert [f.user_ids for f in _drift([2]).fields] == [[2]]  # scoped to the agents asked

    # a tiny load after it (a webhook's one record) is judged with the load before it
    tiny.sync(1, widgets(range(2)))
    assert [f.user_ids for f in _drift([1]).fields] == [[1]]
    # an unmapped column is never judged
    _model_view("id")
    assert not _drift().fields


def test_new_unmapped_column_listed_until_mapped(tiny: TinySource) -> None:
    tiny.sync(1, widgets(range(10), colour="red"))
    tiny.sync(1, widgets(range(10), colour="red"))
    _model_view()
    assert not _drift().new_columns  # colour came with the table: not new

    load = tiny.sync(1, widgets(range(10), hue="red"))  # colour renamed to hue
    report = _drift()
    assert [(f.column, f.kind) for f in report.fields] == [("colour", STOPPED)]
    [new] = report.new_columns
    assert (new.raw_table, new.column, new.first_load_id) == ("raw_qtest.widgets", "hue", load)
    assert new.populated == {1: 10}
    assert new.line == (
        f"raw_qtest.widgets.hue (new since load {load}, not read by any model; "
        "in 10 rows of the newest loads (agents 1))"
    )

    _model_view("id, coalesce(colour, hue) as colour")  # the rename mapped
    report = _drift()
    assert not report.fields and not report.new_columns


def test_a_key_of_a_json_record_that_stops_arriving_is_reported(tiny: TinySource) -> None:
    """A source keeping the vendor's record as one JSON column: a renamed key shows no column.

    The model reads ``payload ->> 'order_number'`` (as Qualia's staging does); the vendor renames
    the key to ``file_number``: the JSON column stays populated, the key it fed is what stops.
    """

    def records(key: str) -> list[dict]:
        rows = widgets(range(10))
        for i, w in enumerate(rows):
            w["payload"] = {key: f"Q-{i}", "status": "open", "notes": None}
        return rows

    tiny.sync(1, records("order_number"))
    _model_view(
        "id, payload ->> 'order_number' as order_number, payload ->> 'status' as status, "
        "payload -> 'properties' -> 0 ->> 'city' as city"
    )
    tiny.sync(1, records("order_number"))
    assert not _drift().fields  # clean: history and new loads agree

    tiny.sync(1, records("file_number"))
    report = _drift()
    assert [(f.column, f.kind, f.user_ids) for f in report.fields] == [
        ("payload.order_number", STOPPED, [1])
    ]
    assert (
        report.fields[0].name == "drift qtest.widgets field payload.order_number stopped arriving"
    )
    assert report.fields[0].line.startswith(
        "drift qtest.widgets field payload.order_number: null in 10 of 10 rows of the newest load"
    )
    # the key it arrives under now is listed, like a new raw column (information only)
    assert [(c.column, c.populated) for c in report.new_columns] == [
        ("payload.file_number", {1: 10})
    ]
    assert report.new_columns[0].line.startswith(
        "raw_qtest.widgets.payload.file_number (new since load "
    )
    # a key the models do not read is not judged, however it changes
    _model_view("id, payload ->> 'status' as status")
    assert not _drift().fields


def test_a_field_renamed_in_part_of_the_first_load_fails_without_history(
    tiny: TinySource,
) -> None:
    """An onboarding whose first pages name the field ``colour`` and later ones ``hue``: there
    is no earlier load to compare with, but the rows split exactly between the two names."""
    old_name = widgets(range(6), colour="red")
    new_name = widgets(range(6, 14), hue="blue")
    tiny.sync(1, old_name + new_name)
    _model_view()
    [renamed] = _drift().fields
    assert (renamed.column, renamed.kind, renamed.replaced_by) == ("colour", RENAMED, "hue")
    assert renamed.severity == "error" and renamed.user_ids == [1]
    assert renamed.name == "drift qtest.widgets field colour replaced by hue"
    assert renamed.line == (
        "drift qtest.widgets field colour: null in 8 of 14 rows of the newest load(s), exactly "
        "the rows that carry the unmapped field hue (a renamed field: map it, e.g. "
        "coalesce(colour, hue)) (agents 1)"
    )
    assert _drift(severity="warn").fields[0].severity == "warn"

    _model_view("id, coalesce(colour, hue) as colour")  # the rename mapped: nothing to report
    assert not _drift().fields


def test_sparse_fields_that_overlap_or_leave_rows_empty_are_not_a_rename(
    tiny: TinySource,
) -> None:
    # an unmapped field in some of the rows that lack colour and one row that has it
    rows = widgets(range(6), colour="red") + widgets(range(6, 12))
    for r in rows[5:11]:
        r["note"] = "x"
    tiny.sync(1, rows)
    # and an unmapped field in only some of the rows that lack colour
    partial = widgets(range(6), colour="red") + widgets(range(6, 12))
    for r in partial[6:11]:
        r["remark"] = "y"
    tiny.sync(2, partial)
    _model_view()
    assert not _drift().fields


def test_a_finding_is_kept_while_its_inputs_hold(tiny: TinySource) -> None:
    """A gate after a day on which nothing landed reuses each table's finding
    (``ops.drift_results``) instead of reading raw rows and schema history again; a new load, a
    changed model, another severity or rewritten raw rows make it judge again."""
    from agentsync.quality.changes import forget_load_counts

    def gate_drift(severity: str = "error"):
        with db.begin() as conn:  # as the gate runs it: what it keeps is committed
            return check_drift(conn, [SPEC], None, severity=severity)

    def judged_at():
        [(at,)] = execute(
            "select checked_at from ops.drift_results where relation = 'raw_qtest.widgets'"
        )
        return at

    tiny.sync(1, widgets(range(10), colour="red"))
    tiny.sync(1, widgets(range(10), colour="red"))
    _model_view()
    assert not gate_drift().fields
    tiny.sync(1, widgets(range(10), hue="red"))  # colour stops arriving, hue is new
    first = gate_drift()
    assert [(f.column, f.kind) for f in first.fields] == [("colour", STOPPED)]
    at = judged_at()

    again = gate_drift()  # nothing changed: the kept finding, equal in every field
    assert judged_at() == at
    assert [f.as_dict() for f in again.fields] == [f.as_dict() for f in first.fields]
    assert [c.as_dict() for c in again.new_columns] == [c.as_dict() for c in first.new_columns]
    assert again.new_columns[0].populated == {1: 10}

    assert gate_drift("warn").fields[0].severity == "warn"  # another severity: judged again
    assert judged_at() > at
    assert gate_drift().fields[0].severity == "error"

    at = judged_at()
    with db.begin() as conn:  # the gate saw agent 1's raw rows rewritten
        forget_load_counts(conn, "raw_qtest.widgets", {1})
    assert execute("select count(*) from ops.drift_results") == [(0,)]
    assert [(f.column, f.kind) for f in gate_drift().fields] == [("colour", STOPPED)]
    assert judged_at() > at

    _model_view("id, coalesce(colour, hue) as colour")  # the rename mapped: judged again
    assert not gate_drift().fields
    _model_view()  # and unmapped again
    assert [(f.column, f.kind) for f in gate_drift().fields] == [("colour", STOPPED)]
    tiny.sync(1, widgets(range(10), colour="red"))  # a new load: colour arrives again
    assert not gate_drift().fields
