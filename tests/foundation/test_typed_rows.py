"""Typed loads land what dlt's dict path lands, on rows built to catch every way they could not.

The same rows go through dlt's dict path (row normaliser, ``INSERT``) and through
:func:`dlt_pipelines.typed.typed_batches` (Arrow, CSV, ``COPY``) into two raw schemas of a real
PostgreSQL, twice (a first load types the columns; a second brings drift and values that do not
fit them), and :mod:`tests.raw_compare` finds no difference: same columns and types, same rows.
The control loads the typed rows with dlt's own CSV job (``FORCE_NULL``), which turns ``""``
into ``NULL``: the comparison catches it.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import dlt
import pytest
from dlt.destinations.impl.postgres.postgres import PostgresCsvCopyJob
from dlt.pipeline.exceptions import PipelineStepFailed
from sqlalchemy import text

from agentsync import db
from dlt_pipelines.destination import ExactCsvPostgresClient
from dlt_pipelines.run import make_pipeline
from dlt_pipelines.typed import typed_batches
from tests.raw_compare import compare

DECLARED: dict[str, Any] = {
    "id": {"data_type": "bigint", "nullable": False},
    "price": {"data_type": "decimal"},
    "obj": {"data_type": "json"},
}

FIRST: list[dict[str, Any]] = [
    {"id": 1, "name": "Ann", "when": "2024-01-01T10:00:00Z", "n": 5, "f": 1.5, "b": True,
     "obj": {"a": 1, "b": [1, 2.5, "x"]}, "lst": [1, 2], "price": Decimal("12.34")},
    {"id": 2, "name": "", "when": "2024-01-01T10:00:00.123456+05:30", "n": "7", "f": 2,
     "b": False, "obj": [], "lst": {}, "price": Decimal("1.1234567895")},
    {"id": 3, "name": None, "when": "", "n": "abc", "f": "x", "b": "true", "obj": "not json",
     "lst": None, "price": None, "fooBar": 1, "foo_bar": 2},
    {"id": 4, "name": 42, "when": "2024-01-05", "n": 3.0, "f": None, "b": 1, "obj": '{"k": "v"}',
     "lst": "[1]", "price": Decimal("-0.0000000005"), "": "empty key", " ": "space key"},
    {"id": 5, "name": {"nested": True}, "when": "2024-01-05T10:00:00", "n": 3.5,
     "f": float("inf"), "b": 0, "obj": 5,
     "price": Decimal("99999999999999999999999999999.999999999")},
    {"id": 6, "name": 'tab\there, "q"\nnl \\N NULL', "when": "2024-01-05T10:00:00.1234567Z",
     "n": True, "f": 1e300, "b": None, "obj": {"uni": "żółw 🐢", "nan": float("nan")},
     "price": 7, "custom": "2024-03-01T00:00:00Z"},
    {"id": 7, "name": "x", "when": "2024-02-30T10:00:00Z", "n": 2**62, "f": -0.0, "b": "no",
     "obj": None, "price": 2.5, "custom": "not a time", "late": None},
    {"id": 8, "name": "y", "when": "2024", "n": -1, "f": 0.1, "b": "yes", "obj": {"a": None},
     "price": "3.14", "custom": 5, "late": "2023-05-05T00:00:00-07:00"},
]  # fmt: skip
# a second load: columns typed by the first, drift, values of other types, empty strings
SECOND: list[dict[str, Any]] = [
    {"id": 9, "name": "", "when": "2025-06-01T00:00:00+14:00", "n": "", "f": "", "b": "",
     "obj": "", "price": "", "drift": "", "late": ""},
    {"id": 10, "name": "z", "when": "2025-06-01T00:00:00.5-03:30", "n": 1.5, "f": 3,
     "obj": {"deep": {"deeper": [None, "", 0.30000000000000004]}}, "price": 0.30000000000000004,
     "drift": {"new": "object"}, "drift2": "2025-01-01T00:00:00Z", "custom": "2025-01-01"},
    {"id": 11, "name": None, "when": None, "n": None, "drift": "text after an object",
     "drift2": "later not a time", "custom__v_text": "explicit variant"},
]  # fmt: skip

# every row of a batch (min_rows=3) has the same keys: the typed path's fast paths — values read
# in one pass per row, integers of a decimal column converted by Arrow, JSON written by orjson's
# plain call — and the batches they must leave (a non-str key, a decimal, an int beyond 64 bits)
UNIFORM: list[dict[str, Any]] = [
    {"id": 12, "name": "u1", "price": 5, "obj": {"k": [1, "a", None]}, "n": 4},
    {"id": 13, "name": "u2", "price": -7, "obj": {1: "an int key"}, "n": 5},
    {"id": 14, "name": "u3", "price": None, "obj": {"d": Decimal("1.5")}, "n": 6},
    {"id": 15, "name": "u4", "price": 2**63 + 5, "obj": [], "n": 7},
    {"id": 16, "name": None, "price": 0, "obj": {"x": 1.5e-7}, "n": None},
    {"id": 17, "name": "u6", "price": -(2**63), "obj": None, "n": 8},
    {"id": 18, "name": "u7", "price": 1, "obj": {"é": "ü"}, "n": 9},
    {"id": 19, "name": "u8", "price": 123456789012, "obj": [{"a": {}}], "n": 10},
    {"id": 20, "price": -1, "name": "u9", "n": 11, "obj": "a string"},
]  # fmt: skip


def _load(source: str, typed: bool, rows: list[dict[str, Any]], nested: bool = False) -> Any:
    """Load ``rows`` into ``raw_<source>.t`` by the dict path or the typed path."""
    pipeline = make_pipeline(source, 1)
    rows = copy.deepcopy(rows)

    def data() -> Any:
        if typed:
            return typed_batches("t", DECLARED, rows, nested=nested, min_rows=3)
        return iter([rows])

    resource = dlt.resource(
        data,
        name="t",
        table_name="t",
        columns=DECLARED,
        **({} if nested else {"max_table_nesting": 0}),
    )
    info = pipeline.run(resource, schema=dlt.Schema(source))
    return [j.file_path for p in info.load_packages for j in p.jobs["completed_jobs"]]


def _dlt_columns(source: str) -> dict[str, tuple[Any, ...]]:
    """What the pipeline's own schema says of each column of ``t`` (dlt reads it next time)."""
    columns = make_pipeline(source, 1).default_schema.get_table_columns("t")
    return {
        name: (c.get("data_type"), c.get("nullable", True), bool(c.get("variant")))
        for name, c in columns.items()
    }


def _compare(a: str, b: str) -> Any:
    with db.begin() as conn:
        return compare(conn, f"raw_{a}", f"raw_{b}")


@pytest.mark.usefixtures("agentsync_env")
def test_typed_rows_land_exactly_as_dict_rows() -> None:
    for rows in (FIRST, SECOND, UNIFORM):
        _load("dictpath", False, rows)
        jobs = _load("typedpath", True, rows)
        assert any(j.endswith(".csv") and "/t." in j for j in jobs), jobs  # COPY, not INSERT
    diff = _compare("dictpath", "typedpath")
    assert diff.identical, diff.describe()
    assert diff.counts == {"t": len(FIRST) + len(SECOND) + len(UNIFORM)}
    assert _dlt_columns("typedpath") == _dlt_columns("dictpath")
    with db.begin() as conn:
        empty = conn.execute(text("select count(*) from raw_typedpath.t where name = ''")).scalar()
        variants = conn.execute(
            text(
                "select count(*) from information_schema.columns where table_schema = "
                "'raw_typedpath' and column_name like '%\\_\\_v\\_%'"
            )
        ).scalar()
    assert empty == 2  # the empty strings are there, not NULL
    assert variants >= 8  # values that fit no column type went where dlt puts them


@pytest.mark.usefixtures("agentsync_env")
def test_control_dlt_csv_job_turns_empty_strings_into_null(monkeypatch) -> None:
    """dlt's own CSV job (FORCE_NULL on nullable columns) on the same Arrow rows: the
    comparison that finds nothing above finds the rows whose "" became NULL."""
    _load("dictpath", False, FIRST)

    def stock_job(self, table, file_path, load_id, restore=False):
        if file_path.endswith(".csv"):
            return PostgresCsvCopyJob(file_path)
        return super(ExactCsvPostgresClient, self).create_load_job(
            table, file_path, load_id, restore
        )

    monkeypatch.setattr(ExactCsvPostgresClient, "create_load_job", stock_job)
    _load("forcenull", True, FIRST)
    diff = _compare("dictpath", "forcenull")
    assert not diff.identical
    # the two rows with an empty string: id 2 (name) and id 3 (when, in its text variant)
    assert diff.rows == {"t": (2, 2)}, diff.describe()
    with db.begin() as conn:
        blanks = conn.execute(
            text(
                "select id, name is null, when__v_text is null from raw_forcenull.t "
                "where id in (2, 3) order by id"
            )
        ).all()
    assert blanks == [(2, True, True), (3, True, True)]


@pytest.mark.usefixtures("agentsync_env")
def test_rows_dlt_would_flatten_fall_back_to_the_dict_path(caplog) -> None:
    """A nested source (objects of undeclared columns become ``a__b`` columns): the typed
    batches before the first such row land as Arrow, that batch and the rest as dict rows; the
    raw is still what the all-dict load gives."""
    rows = [{"id": i, "name": f"n{i}", "n": i} for i in range(1, 7)]
    rows += [{"id": 7, "name": "flat", "addr": {"city": "Reno", "zip": "89501"}}]
    rows += [{"id": 8, "name": "after", "n": "8"}]
    _load("dictnested", False, rows, nested=True)
    jobs = _load("typednested", True, rows, nested=True)
    assert any(j.endswith(".csv") for j in jobs) and any(
        j.endswith(".insert_values") and "/t." in j for j in jobs
    ), jobs
    assert "the rest of this load goes through dlt's row normaliser" in caplog.text
    diff = _compare("dictnested", "typednested")
    assert diff.identical, diff.describe()
    assert diff.counts == {"t": 8}


@pytest.mark.usefixtures("agentsync_env")
def test_dict_rows_are_never_written_as_csv() -> None:
    """The exact CSV job reads files written from Arrow only: asking the destination for CSV
    (which would have dlt write dict rows with Python's csv, ``None`` as ``""``) is refused."""
    pipeline = make_pipeline("csvasked", 1)
    resource = dlt.resource([{"id": 1, "name": None}], name="t", max_table_nesting=0)
    with pytest.raises(PipelineStepFailed, match="loads CSV written from Arrow tables only"):
        pipeline.run(resource, loader_file_format="csv")


def test_collector_thresholds_are_put_back_by_the_last_load_to_finish() -> None:
    """Typed batches run the garbage collector less often (thresholds are process-wide): two
    loads at once (a daily sync runs agents in threads) and the first to finish leaves them
    raised for the other; the last one puts back what the first found."""
    import gc

    from dlt_pipelines.typed import _FewerCollections

    before = gc.get_threshold()
    first, second = _FewerCollections(), _FewerCollections()
    first.__enter__()
    raised = gc.get_threshold()
    assert raised[0] >= 50_000 and raised != before
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == raised
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
