"""The quality gate: GX suites (counts + freshness) on real tables, Data Docs, failures named."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsync.quality.gate import run_quality_gate
from tests.quality.conftest import SPEC, TinySource, execute, widgets


def _gate(root: Path, user_ids: list[int] | None = None):
    return run_quality_gate(user_ids, entities=[SPEC], context_root=root, dbt_args=None)


def test_clean_run_passes_and_builds_data_docs(tiny: TinySource, context: Path) -> None:
    tiny.sync(1, widgets(range(1, 8)), reported_total=7)
    tiny.sync(2, widgets(range(1, 4)) + widgets([4], is_deleted=True), reported_total=3)
    tiny.build_mart()
    result = _gate(context)
    assert result.success, result.failures
    assert result.failures == []
    assert result.data_docs_path and Path(result.data_docs_path).is_file()
    assert not Path(result.data_docs_path).is_relative_to(context)  # docs live in the data dir
    html = Path(result.data_docs_path).read_text()
    assert "qtest.widgets" in html


def test_rows_deleted_from_a_mart_fail_the_gate_naming_the_check(
    tiny: TinySource, context: Path
) -> None:
    tiny.sync(1, widgets(range(1, 8)), reported_total=7)
    tiny.sync(2, widgets(range(1, 4)), reported_total=3)
    tiny.build_mart()
    assert _gate(context).success
    execute("delete from marts.qtest_widgets where user_id = 2 and widget_id = '2'")
    result = _gate(context)
    assert not result.success
    # each failure line names the check, the agent, what was observed and what is allowed
    assert (
        "gx qtest.widgets count: every raw id is in the final table (agents 2): "
        "1 raw id(s) not in the final table (allowed 0)"
    ) in result.failures
    assert (
        "gx qtest.widgets count: source-reported total = final + excluded (no unexplained gap) "
        "(agents 2): unexplained gap of 1 row(s) (allowed 0)"
    ) in result.failures
    # scoped to an agent whose data is intact, the gate passes
    assert _gate(context, [1]).success
    assert not _gate(context, [2]).success


def test_stale_sync_and_unreported_loss_fail_freshness_and_counts(
    tiny: TinySource, context: Path
) -> None:
    tiny.sync(1, widgets(range(1, 5)), reported_total=6)  # 2 records never arrived
    tiny.build_mart()
    execute("update ops.sync_runs set ended_at = now() - interval '30 hours'")
    result = _gate(context)
    assert not result.success
    text = "\n".join(result.failures)
    assert "qtest.widgets count: source-reported total = final + excluded" in text
    assert "qtest.widgets freshness: last successful sync within the sync-age threshold" in text


def test_removed_agents_keep_counts_but_not_freshness(tiny: TinySource, context: Path) -> None:
    tiny.sync(1, widgets(range(1, 4)), reported_total=3)
    tiny.sync(2, widgets(range(1, 4)), reported_total=3)
    tiny.build_mart()
    execute("update ops.sync_runs set ended_at = now() - interval '30 hours' where user_id = 2")
    assert not _gate(context).success
    execute("delete from ops.agents where user_id = 2")
    result = _gate(context)
    assert result.success, result.failures
    execute("delete from marts.qtest_widgets where user_id = 2 and widget_id = '1'")
    assert (
        "gx qtest.widgets count: every raw id is in the final table (agents 2): "
        "1 raw id(s) not in the final table (allowed 0)"
    ) in _gate(context).failures


def test_records_from_the_future_fail_freshness(
    tiny: TinySource, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny.sync(1, widgets(range(1, 3)), reported_total=2)
    tiny.build_mart()
    execute("update marts.qtest_widgets set updated_at = now() + interval '2 days'")
    for severity in ("warn", "error"):  # a future record is a data error whatever the severity
        monkeypatch.setenv("AGENTSYNC_RECORD_AGE_SEVERITY", severity)
        result = _gate(context)
        assert not result.success
        [line] = result.failures
        assert line.startswith(
            "gx qtest.widgets freshness: newest updated_at not in the future (agents 1): "
            "newest record 4"  # 47.x or 48.0 h
        ), line
        assert "h in the future" in line
        assert result.warnings == []


def test_an_out_of_date_context_fails_or_falls_back(tiny: TinySource, context: Path) -> None:
    tiny.sync(1, widgets(range(1, 3)), reported_total=2)
    tiny.build_mart()
    other = SPEC.__class__(
        **{**SPEC.__dict__, "entity": "gadgets", "raw_table": "raw_qtest.g", "mart": "marts.g"}
    )
    strict = run_quality_gate(
        None, entities=[SPEC, other], context_root=context, dbt_args=None, auto_build=False
    )
    assert not strict.success
    assert "missing: qtest.gadgets" in strict.failures[0]
    assert "agentsync quality-build" in strict.failures[0]
    # default: a private context is built in the data dir; the committed one is left alone
    before = (context / "gx" / "registry.json").read_text()
    result = run_quality_gate(None, entities=[SPEC, other], context_root=context, dbt_args=None)
    assert (context / "gx" / "registry.json").read_text() == before
    # gadgets has no raw table and no runs: no agents, nothing to fail
    assert result.success, result.failures


def test_running_the_gate_does_not_rewrite_the_context(tiny: TinySource, context: Path) -> None:
    tiny.sync(1, widgets(range(1, 3)), reported_total=2)
    tiny.build_mart()
    files = {p: p.read_bytes() for p in (context / "gx").rglob("*") if p.is_file()}
    assert _gate(context).success
    after = {p: p.read_bytes() for p in (context / "gx").rglob("*") if p.is_file()}
    assert after == files


def test_parallel_gates_keep_their_own_agent_scope(tiny: TinySource, context: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    tiny.sync(1, widgets(range(1, 4)), reported_total=3)
    tiny.sync(2, widgets(range(1, 3)), reported_total=2)
    tiny.build_mart()
    execute("delete from marts.qtest_widgets where user_id = 2 and widget_id = '1'")
    scopes = [[1], [2], [1], [2]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda users: _gate(context, users), scopes))
    assert [r.success for r in results] == [True, False, True, False]
    assert all("(agents 2)" in "".join(r.failures) for r in results[1::2])


def test_a_spec_that_does_not_match_its_mart_is_named(tiny: TinySource, context: Path) -> None:
    from agentsync.quality.reconcile import ReconcileError, reconcile

    tiny.sync(1, widgets(range(1, 3)), reported_total=2)
    tiny.build_mart()
    execute("alter table marts.qtest_widgets drop column is_trashed")
    result = _gate(context)
    assert not result.success
    assert [f for f in result.failures if f.startswith("gx qtest.widgets: check view not built")]
    with pytest.raises(ReconcileError, match=r"reconcile qtest\.widgets: cannot count"):
        reconcile(entities=[SPEC])


def test_an_old_newest_record_is_a_warning_with_observed_age_and_threshold(
    tiny: TinySource, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    tiny.sync(1, widgets(range(1, 3), updated_at=ten_days_ago), reported_total=2)
    tiny.build_mart()
    clean = _gate(context)  # the default limit (a year) allows a 10-day-old record
    assert clean.success and clean.warnings == []

    # over the threshold, the sync itself fine: a warning naming observed age and threshold
    monkeypatch.setenv("AGENTSYNC_MAX_RECORD_AGE_HOURS", str(9 * 24))
    result = _gate(context)
    assert result.success, result.failures
    assert result.failures == [] and result.checks == []
    [warning] = result.warnings
    assert warning.name == (
        "qtest.widgets freshness: newest updated_at within the record-age threshold"
    )
    assert warning.agents == [1]
    assert warning.line == (
        "gx qtest.widgets freshness: newest updated_at within the record-age threshold "
        "(agents 1): newest record 240 h old (threshold 216 h, AGENTSYNC_MAX_RECORD_AGE_HOURS)"
    )

    # an operator who wants old records to fail the gate
    monkeypatch.setenv("AGENTSYNC_RECORD_AGE_SEVERITY", "error")
    failed = _gate(context)
    assert not failed.success
    assert failed.failures == [warning.line]
    assert failed.warnings == []

    # a per-entity threshold overrides the global one, and is named in the line
    monkeypatch.setenv("AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY", "qtest.widgets=100")
    per_entity = _gate(context)
    assert per_entity.failures == [
        "gx qtest.widgets freshness: newest updated_at within the record-age threshold "
        "(agents 1): newest record 240 h old "
        "(threshold 100 h, AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY qtest.widgets)"
    ]
    monkeypatch.setenv("AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY", "qtest.widgets=300")
    assert _gate(context).success
    assert _gate(context).warnings == []


def test_a_stale_sync_still_fails_while_record_age_only_warns(
    tiny: TinySource, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    old = datetime.now(UTC) - timedelta(days=10)
    tiny.sync(1, widgets(range(1, 3), updated_at=old), reported_total=2)
    tiny.build_mart()
    monkeypatch.setenv("AGENTSYNC_MAX_RECORD_AGE_HOURS", "24")
    execute("update ops.sync_runs set ended_at = now() - interval '30 hours'")
    result = _gate(context)
    assert not result.success
    assert result.failures == [
        "gx qtest.widgets freshness: last successful sync within the sync-age threshold "
        "(agents 1): last successful sync 30 h ago (threshold 24 h, AGENTSYNC_SYNC_AGE_WARN_HOURS)"
    ]
    assert [w.name for w in result.warnings] == [
        "qtest.widgets freshness: newest updated_at within the record-age threshold"
    ]


def test_an_unknown_entity_in_the_record_age_mapping_is_a_setting_error(
    tiny: TinySource, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentsync.errors import SettingError

    monkeypatch.setenv("AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY", "fub.peeple=100")
    with pytest.raises(
        SettingError, match=r"AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY names fub\.peeple"
    ):
        _gate(context)


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("AGENTSYNC_RECORD_AGE_SEVERITY", "fatal", "Input should be 'warn' or 'error'"),
        ("AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY", "fub.people", "is not <source>.<entity>="),
        ("AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY", "fub.people=soon", "'soon' is not a number"),
        ("AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY", "fub.people=0", "must be a positive number"),
    ],
)
def test_bad_record_age_settings_are_one_line_exit_2(
    qenv: dict[str, str], var: str, value: str, expected: str
) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "quality-gate", "--skip-dbt"],
        capture_output=True, text=True, env={**qenv, var: value, "PATH": "/usr/bin:/bin"},
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"agentsync: error: {var} ") and expected in line, line


def test_record_age_settings_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentsync.settings import load_settings

    monkeypatch.setenv("AGENTSYNC_RECORD_AGE_SEVERITY", " ERROR ")
    monkeypatch.setenv(
        "AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY", "FUB.people=17520, rezen.transactions=1.5,"
    )
    s = load_settings()
    assert s.record_age_severity == "error"
    assert s.max_record_age_hours_by_entity == {"fub.people": 17520.0, "rezen.transactions": 1.5}


def test_the_committed_context_matches_the_entity_registry() -> None:
    """A registry change without `agentsync quality-build` (a stale commit) fails here, in CI,
    instead of the gate quietly validating with a private context at run time."""
    from agentsync.entities import all_entities
    from agentsync.quality.gx import CONTEXT_ROOT, _check_manifest

    entities = all_entities()
    assert entities, "the registry has no entities"
    _check_manifest(CONTEXT_ROOT / "gx", entities)  # raises GxContextError naming the drift
    suites = {
        f"{p.parent.name}.{p.stem}" for p in (CONTEXT_ROOT / "gx" / "expectations").rglob("*.json")
    }
    assert suites == {f"{e.source}.{e.entity}" for e in entities}


def test_a_gate_that_only_warns_is_a_done_step_and_a_warning_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The onboarding's ``quality.gate`` step is ``done`` (so the job is not partial) when the
    gate only warns; the warning still alerts, at warning level."""
    from agentsync.quality import alerts, gate
    from agentsync.quality.gx import FailedCheck
    from flows import after_load

    name = "fub.people freshness: newest updated_at within the record-age threshold"
    line = f"gx {name} (agents 7): newest record 9120 h old (threshold 8760 h, X)"
    result = gate.GateResult(success=True, warnings=[FailedCheck(name, [7], line)], user_ids=[7])
    monkeypatch.setattr(after_load, "run_quality_gate", lambda *a, **k: result)
    outcome = after_load.quality_gate([7])
    assert outcome.status == "done", outcome
    [item] = alerts.gate_items(result)
    assert item.level == alerts.WARNING
    assert item.key == f"user 7 {name}"
