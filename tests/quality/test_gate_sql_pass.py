"""The gate evaluates every suite in one SQL pass and runs GX only where something changed.

Real dlt loads, a real mart, the real GX context: what is checked is which suites GX validated
(``GateResult.validated_by_gx``), that a failure on data nothing loaded into is still caught by
GX with its agents and observed values, and that the SQL pass finds exactly the rows GX finds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agentsync import db
from agentsync.quality import sql_checks
from agentsync.quality.gate import GateResult, run_quality_gate
from agentsync.quality.gx import build_context, output_dir
from tests.quality.conftest import SPEC, TinySource, execute, widgets

KEY = "qtest.widgets"
# a second suite whose data never changes here: no raw table, so no agents
GADGETS = SPEC.__class__(
    **{**SPEC.__dict__, "entity": "gadgets", "raw_table": "raw_qtest.g", "mart": "marts.g"}
)


def _gate(root: Path) -> GateResult:
    return run_quality_gate(None, entities=[SPEC, GADGETS], context_root=root, dbt_args=None)


def _stored_results() -> int:
    return len(list((output_dir() / "validations").rglob("*.json")))


def _verdicts(result: GateResult) -> list[tuple[str, str, str]]:
    return [(f"{r.source}.{r.entity}", r.check, r.verdict) for r in result.results]


@pytest.fixture
def two_suites(tiny: TinySource, tmp_path: Path) -> Path:
    root = tmp_path / "expectations"
    build_context([SPEC, GADGETS], root=root)
    return root


def test_gx_validates_only_what_changed_and_every_failure_is_still_shown_by_gx(
    tiny: TinySource, two_suites: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny.sync(1, widgets(range(1, 8)), reported_total=7)
    tiny.sync(2, widgets(range(1, 4)), reported_total=3)
    tiny.build_mart()
    first = _gate(two_suites)
    assert first.success, first.failures
    assert first.validated_by_gx == {
        KEY: "new loads since the last gate",
        "qtest.gadgets": "no earlier validation kept",
    }
    stored = _stored_results()
    assert stored == 2

    # a day without change: no GX run, no new result, the same checks reported as passed
    idle = _gate(two_suites)
    assert idle.success and idle.validated_by_gx == {}
    assert _verdicts(idle) == _verdicts(first)
    assert {v for _, _, v in _verdicts(idle)} == {"pass"}
    assert _stored_results() == stored
    assert idle.data_docs_path and Path(idle.data_docs_path).is_file()

    # a day's load for one entity: GX validates that suite alone
    tiny.sync(2, widgets([4]), reported_total=4)
    tiny.build_mart()
    daily = _gate(two_suites)
    assert daily.success and daily.validated_by_gx == {KEY: "new loads since the last gate"}

    # nothing loaded, but agent 1's last sync is now 30 h old: the SQL pass catches it and GX
    # reports it as before, with the agent and the observed age
    execute("update ops.sync_runs set ended_at = now() - interval '30 hours' where user_id = 1")
    stale = _gate(two_suites)
    assert not stale.success
    assert stale.validated_by_gx == {KEY: "a check does not pass"}
    assert stale.recounted == {}
    [line] = stale.failures
    assert line.startswith(
        "gx qtest.widgets freshness: last successful sync within the sync-age threshold "
        "(agents 1): last successful sync 30 h ago (threshold"
    ), line

    # fixed: GX validates it once more so the Data Docs show it passing, then rests
    execute("update ops.sync_runs set ended_at = now() where user_id = 1")
    fixed = _gate(two_suites)
    assert fixed.success and fixed.validated_by_gx == {KEY: "its last validation failed"}
    assert _gate(two_suites).validated_by_gx == {}

    # an old newest record on unchanged data is still a warning, reported by GX (agent 2's
    # newest record is 1 h old); the other suite's threshold changed too, so GX validates it
    monkeypatch.setenv("AGENTSYNC_MAX_RECORD_AGE_HOURS", "0.5")
    warned = _gate(two_suites)
    assert warned.success and warned.validated_by_gx == {
        KEY: "a check does not pass",
        "qtest.gadgets": "its checks or thresholds changed since the last validation",
    }
    [warning] = warned.warnings
    assert (
        warning.name == "qtest.widgets freshness: newest updated_at within the record-age threshold"
    )
    assert warning.agents == [2]
    assert _gate(two_suites).validated_by_gx == {KEY: "a check does not pass"}
    monkeypatch.setenv("AGENTSYNC_MAX_RECORD_AGE_HOURS", "8760")
    back = _gate(two_suites)
    assert back.success and back.warnings == []
    assert back.validated_by_gx == {
        k: "its checks or thresholds changed since the last validation"
        for k in (KEY, "qtest.gadgets")
    }


def test_a_lost_result_or_an_edited_suite_sends_the_suite_back_to_gx(
    tiny: TinySource, two_suites: Path
) -> None:
    tiny.sync(1, widgets(range(1, 4)), reported_total=3)
    tiny.build_mart()
    assert _gate(two_suites).success
    for path in (output_dir() / "validations" / "qtest" / "gadgets").rglob("*.json"):
        path.unlink()
    assert _gate(two_suites).validated_by_gx == {"qtest.gadgets": "no earlier validation kept"}

    # a suite edited by hand with an expectation the SQL pass does not evaluate: left to GX
    [path] = (two_suites / "gx" / "expectations" / "qtest").glob("widgets.json")
    text = path.read_text()
    path.write_text(text.replace('"max_value": 0.0', '"max_value": 0.0, "mostly": 1.0', 1))
    assert _gate(two_suites).validated_by_gx == {
        KEY: "expect_column_values_to_be_between with mostly is validated by GX only"
    }


def test_an_onboarding_gate_validates_its_agent_even_when_another_gate_took_its_loads(
    tiny: TinySource, two_suites: Path
) -> None:
    """Two agents onboard at once: both loads land before the first gate, which is scoped to
    agent 2 and takes every new count. Agent 1's gate still validates with GX (its Data Docs
    page is its own), and only its own new loads count as new loads."""

    def gate(*agents: int) -> GateResult:
        return run_quality_gate(
            list(agents), entities=[SPEC, GADGETS], context_root=two_suites, dbt_args=None
        )

    tiny.sync(1, widgets(range(1, 4)), reported_total=3)
    tiny.sync(2, widgets(range(1, 3)), reported_total=2)
    tiny.build_mart()
    second = gate(2)
    assert second.success and second.validated_by_gx[KEY] == "new loads since the last gate"
    first = gate(1)
    assert first.success
    assert first.validated_by_gx == {
        k: "its last validation covered other agents" for k in (KEY, "qtest.gadgets")
    }
    assert gate(1).validated_by_gx == {}
    # agent 2's next day: not a new load for agent 1's gate, which covered agent 1 last
    tiny.sync(2, widgets([3]), reported_total=3)
    tiny.build_mart()
    assert gate(1).validated_by_gx == {}
    assert gate(1, 2).validated_by_gx == {
        k: "its last validation covered other agents" for k in (KEY, "qtest.gadgets")
    }


# --- the SQL pass finds exactly the rows GX finds ------------------------------------------------

ROWS = [(1, 0.0, True), (2, 5.0, False), (3, None, None), (4, 10.0, True), (5, -1.0, True)]
EXPECTATIONS: list[dict[str, Any]] = [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0.0}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "max_value": 5.0}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "x", "min_value": 0.0, "max_value": 10.0, "strict_max": True},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "x", "min_value": 0.0, "strict_min": True},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "x", "max_value": {"$PARAMETER": "limit"}},
    },
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "ok", "value_set": [True]}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "max_value": 99.0}},
]


def test_the_sql_pass_counts_the_rows_gx_finds_unexpected(qenv: dict[str, str]) -> None:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    execute("create schema if not exists qcheck")
    execute("drop table if exists qcheck.t")
    execute("create table qcheck.t (user_id bigint, x double precision, ok boolean)")
    for u, x, ok in ROWS:
        execute("insert into qcheck.t values (:u, :x, :ok)", u=u, x=x, ok=ok)
    params = {"limit": 4.0}
    suite = sql_checks.Suite("qcheck.t", EXPECTATIONS, "-")

    ctx = gx.get_context(mode="ephemeral")
    ds = ctx.data_sources.add_postgres(name="q", connection_string=db.sqlalchemy_url())
    batch = ds.add_table_asset(name="t", table_name="t", schema_name="qcheck")
    definition = batch.add_batch_definition_whole_table(name="all")
    classes = {
        "expect_column_values_to_be_between": gxe.ExpectColumnValuesToBeBetween,
        "expect_column_values_to_be_in_set": gxe.ExpectColumnValuesToBeInSet,
    }
    gx_suite = ctx.suites.add(
        gx.ExpectationSuite(
            name="q",
            expectations=[
                classes[e["type"]](**e["kwargs"], meta={"i": i}) for i, e in enumerate(EXPECTATIONS)
            ],
        )
    )
    result = definition.get_batch().validate(gx_suite, expectation_parameters=params)
    # GX reports results in an order of its own: match them to the suite's by their meta
    found = {int(r.expectation_config.meta["i"]): r.result for r in result.results}
    by_gx = [int(found[i].get("unexpected_count") or 0) for i in range(len(EXPECTATIONS))]
    with db.engine().connect() as conn:
        got = sql_checks.evaluate(conn, {"qcheck.t": suite}, {"qcheck.t": "qcheck.t"}, params)
    assert got["qcheck.t"].unexpected == by_gx
    assert by_gx == [1, 1, 2, 2, 2, 1, 0]  # the rows are chosen so every bound matters
    assert got["qcheck.t"].passed is False


def test_a_statement_that_fails_leaves_every_suite_to_gx(qenv: dict[str, str]) -> None:
    suite = sql_checks.Suite("qcheck.none", EXPECTATIONS[:1], "-")
    with db.engine().connect() as conn:
        got = sql_checks.evaluate(
            conn, {"qcheck.none": suite}, {"qcheck.none": 'qcheck."no_such_table"'}, {}
        )
        assert conn.execute(sa.text("select 1")).scalar() == 1  # the connection is usable
    assert got["qcheck.none"].passed is None
    assert "the SQL pass failed" in got["qcheck.none"].why
