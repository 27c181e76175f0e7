"""The quality gate: the GX checkpoint plus dbt's tests; any failure fails the gate.

This is the step that gates a deployment (``agentsync quality-gate``, exit 1 on failure) and the
last step of every flow (``run_quality_gate(user_ids)``). Each failure is one line naming the
check: ``gx <source>.<entity> count: ...`` / ``gx <source>.<entity> freshness: ...`` (with the
failing agents) or ``dbt test.<project>.<test>: fail: ...``.

Two kinds of result are neither passed nor failed:

- *warnings*: a newest record older than its record-age threshold (while
  ``AGENTSYNC_RECORD_AGE_SEVERITY`` is ``warn``, the default), with the observed age and the
  threshold; the gate still passes.
- *skipped dbt tests*: a test over a model whose relation does not exist in the database (e.g.
  the FUB marts on an install where no agent has loaded FUB yet) is not run; it is listed with
  the reason. A test over a built model runs and fails the gate as before.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentsync import db
from agentsync.contracts import EntitySpec
from agentsync.entities import all_entities
from agentsync.errors import AgentsyncError, DatabaseError, SettingError
from agentsync.quality import gx
from agentsync.quality.drift import FieldDrift, NewColumn, check_drift
from agentsync.quality.gx import CheckResult, FailedCheck
from agentsync.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass
class SkippedTest:
    """A dbt test the gate did not run: ``name`` as in failures (``dbt test.<project>.<test>``)."""

    name: str
    reason: str

    @property
    def line(self) -> str:
        return f"{self.name}: skipped: {self.reason}"


@dataclass
class GateResult:
    """``success`` is False when any check failed; ``failures`` names each failing check.

    ``checks`` holds the same failures as :class:`~agentsync.quality.gx.FailedCheck` items (a
    stable check name and the failing agents), which is what alerts are keyed on; ``user_ids`` is
    the scope the gate ran with (None: all agents), so an alert about another agent's data is
    neither confirmed nor cleared by a gate that did not look at that agent.
    """

    success: bool
    failures: list[str] = field(default_factory=list)
    data_docs_path: str | None = None
    checks: list[FailedCheck] = field(default_factory=list)
    user_ids: list[int] | None = None
    #: reported, never failing: e.g. a newest record older than its threshold (observed, limit)
    warnings: list[FailedCheck] = field(default_factory=list)
    #: dbt tests not run because a model they read was never built, each with the reason
    skipped: list[SkippedTest] = field(default_factory=list)
    #: mapped raw fields that stopped arriving or are dropping (also in checks or warnings)
    drift: list[FieldDrift] = field(default_factory=list)
    #: information only: raw columns dlt added after creating the table that no model reads
    new_columns: list[NewColumn] = field(default_factory=list)
    #: every check that ran, passed or not (GX expectations, drift, dbt tests), for ``--json``
    results: list[CheckResult] = field(default_factory=list)
    #: entity key -> agents whose counts this run recomputed from the data because their rows
    #: changed (None: every agent); the others' counts were kept from an earlier run
    recounted: dict[str, list[int] | None] = field(default_factory=dict)
    #: seconds per part: ``counts``, ``sql_checks``, ``checkpoint`` (GX, Data Docs), ``drift``,
    #: ``dbt``
    seconds: dict[str, float] = field(default_factory=dict)
    #: suite -> why GX validated it this run; every other suite passed in the SQL pass with
    #: nothing changed since GX last validated it (its Data Docs page is that validation's)
    validated_by_gx: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The gate as ``agentsync quality-gate --json`` prints it."""
        verdicts = [r.verdict for r in self.results]
        return {
            "success": self.success,
            "summary": {v: verdicts.count(v) for v in ("pass", "fail", "warn", "error", "skip")},
            "checks": [r.as_dict() for r in self.results],
            "failures": self.failures,
            "warnings": [w.line for w in self.warnings],
            "skipped": [{"test": t.name, "reason": t.reason} for t in self.skipped],
            "drift": [d.as_dict() for d in self.drift],
            "new_columns": [c.as_dict() for c in self.new_columns],
            "data_docs_path": self.data_docs_path,
            "recounted": {k: "all" if v is None else v for k, v in self.recounted.items()},
            "validated_by_gx": self.validated_by_gx,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


# --- which dbt tests can run -----------------------------------------------------------------


def _existing_relations(settings: Settings) -> set[tuple[str, str]]:
    import sqlalchemy as sa

    with db.engine(settings).connect() as conn:
        rows = conn.execute(
            sa.text(
                "select n.nspname, c.relname from pg_class as c "
                "join pg_namespace as n on n.oid = c.relnamespace "
                "where c.relkind in ('r', 'v', 'm', 'p', 'f')"
            )
        ).all()
    return {(str(schema), str(name)) for schema, name in rows}


def unbuilt_tests(manifest: dict, relations: set[tuple[str, str]]) -> dict[str, SkippedTest]:
    """The tests in a dbt ``manifest`` that read a model (or source) absent from ``relations``.

    A model counts as built when its relation exists (an ephemeral model: when everything it
    reads does). The reason names the first missing model and why it is missing: no agent has
    loaded its source yet (none of that source's raw tables exist), a raw table not loaded yet,
    or simply not built.

    Returns:
        ``{test node name: SkippedTest}``.
    """
    nodes: dict[str, dict] = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    loaded_sources = {
        str(n.get("source_name"))
        for n in manifest.get("sources", {}).values()
        if (str(n.get("schema")), str(n.get("identifier") or n.get("name"))) in relations
    }
    memo: dict[str, str | None] = {}

    def exists(node: dict) -> bool:
        return (str(node.get("schema")), str(node.get("alias") or node.get("name"))) in relations

    def missing_sources(uid: str, seen: set[str]) -> list[dict]:
        if uid in seen or uid not in nodes:
            return []
        seen.add(uid)
        node = nodes[uid]
        if node.get("resource_type") == "source":
            return [] if exists({**node, "alias": node.get("identifier")}) else [node]
        out: list[dict] = []
        for parent in node.get("depends_on", {}).get("nodes", []):
            out += missing_sources(parent, seen)
        return out

    def why_missing(uid: str) -> str | None:
        """None when ``uid`` can be read, else why not."""
        if uid in memo:
            return memo[uid]
        memo[uid] = None  # cycles cannot happen in dbt; this guards the recursion anyway
        node = nodes.get(uid)
        reason: str | None = None
        if node is None:
            reason = None
        elif node.get("resource_type") == "source":
            if not exists({**node, "alias": node.get("identifier")}):
                src = str(node.get("source_name"))
                reason = (
                    f"source {src}.{node.get('name')} not loaded yet"
                    if src in loaded_sources
                    else f"no agent has loaded {src} yet"
                )
        elif node.get("resource_type") in ("model", "seed", "snapshot"):
            ephemeral = node.get("config", {}).get("materialized") == "ephemeral"
            if ephemeral:
                for parent in node.get("depends_on", {}).get("nodes", []):
                    reason = why_missing(parent)
                    if reason:
                        break
            elif not exists(node):
                absent = missing_sources(uid, set())
                unloaded = sorted({str(n.get("source_name")) for n in absent} - loaded_sources)
                if unloaded:
                    cause = f"no agent has loaded {', '.join(unloaded)} yet"
                elif absent:
                    cause = f"raw {absent[0].get('source_name')}.{absent[0].get('name')} not loaded"
                else:
                    cause = "not built yet (run `agentsync rebuild` or a sync)"
                reason = f"model {node.get('name')} not built: {cause}"
        memo[uid] = reason
        return reason

    skipped: dict[str, SkippedTest] = {}
    for uid, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") != "test":
            continue
        for parent in node.get("depends_on", {}).get("nodes", []):
            reason = why_missing(parent)
            if reason:
                skipped[str(node["name"])] = SkippedTest(f"dbt {uid}", reason)
                break
    return skipped


def _dbt_test_plan(settings: Settings) -> tuple[list[str], list[SkippedTest]]:
    """``--exclude`` arguments for the tests over unbuilt models, and those tests as skipped.

    Reads the manifest of a fresh ``dbt parse``; if that fails, nothing is excluded (``dbt
    test`` then reports what is wrong itself).
    """
    from agentsync.transform import run_dbt, target_dir

    parsed = run_dbt(["parse"], settings, raise_on_failure=False, use_prefect=False)
    path = target_dir(settings) / "manifest.json"
    if not parsed.success or not path.is_file():
        log.warning("quality gate: dbt parse failed; running every dbt test")
        return [], []
    skipped = unbuilt_tests(json.loads(path.read_text()), _existing_relations(settings))
    if not skipped:
        return [], []
    return ["--exclude", *sorted(skipped)], sorted(skipped.values(), key=lambda t: t.name)


def run_quality_gate(
    user_ids: list[int] | None = None,
    *,
    entities: Sequence[EntitySpec] | None = None,
    context_root: Path = gx.CONTEXT_ROOT,
    dbt_args: Sequence[str] | None = ("test",),
    auto_build: bool = True,
    settings: Settings | None = None,
) -> GateResult:
    """Run the GX checkpoint (for ``user_ids``, default all agents) and ``dbt test``.

    Args:
        user_ids: scope the GX checks to these agents (dbt tests always cover all rows).
        entities: default the whole registry.
        context_root: the GX project root (default ``expectations/``).
        dbt_args: the dbt command to run (``None`` skips dbt, for callers that just ran it).
            For ``test``, tests over models that were never built are excluded and returned
            as ``skipped`` with the reason.
        auto_build: when the context is out of date with the registry, validate with a private
            up-to-date one (see :func:`agentsync.quality.gx.run_checkpoint`) instead of failing.
        settings: default the process settings.

    Returns:
        A :class:`GateResult`; it never raises for a failing check, only for a broken setup
        that it reports as a failure too.

    Raises:
        SettingError: a quality setting is wrong (e.g. an unknown entity in
            ``AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY``).
        DatabaseError: the database cannot be reached.
    """
    s = settings or get_settings()
    db.ensure_ready(s)  # an unreachable database fails the run, it is not a failing check
    checks: list[FailedCheck] = []
    warnings: list[FailedCheck] = []
    skipped: list[SkippedTest] = []
    results: list[CheckResult] = []
    docs: str | None = None
    recounted: dict[str, list[int] | None] = {}
    seconds: dict[str, float] = {}
    validated_by_gx: dict[str, str] = {}
    try:
        outcome = gx.run_checkpoint(
            user_ids, entities=entities, root=context_root, settings=s, auto_build=auto_build
        )
        checks += outcome.checks
        warnings += outcome.warnings
        results += outcome.results
        docs = outcome.data_docs_path
        recounted = outcome.recounted
        seconds.update(outcome.seconds)
        validated_by_gx = outcome.validated_by_gx
        if not outcome.success and not outcome.checks:
            line = "gx checkpoint failed without a failing expectation (see Data Docs)"
            checks.append(FailedCheck("gx checkpoint", [], line))
    except (SettingError, DatabaseError):  # a wrong setting or no database: not a check result
        raise
    except AgentsyncError as err:
        checks.append(FailedCheck("gx context", [], f"gx: {err}"))
        results.append(_error_result("gx", f"gx: {err}"))
    started = time.monotonic()
    drift, new_columns = _drift(user_ids, entities, s, checks, warnings)
    seconds["drift"] = time.monotonic() - started
    results += [_drift_result(d) for d in drift]
    if dbt_args:
        from agentsync.transform import run_dbt

        args = list(dbt_args)
        if args[0] == "test":
            exclude, skipped = _dbt_test_plan(s)
            args += exclude
            for t in skipped:
                log.info("quality gate: %s", t.line)
        started = time.monotonic()
        res = run_dbt(args, s, raise_on_failure=False)
        seconds["dbt"] = time.monotonic() - started
        results += [_dbt_result(r) for r in res.results if str(r["node"]).startswith("test.")]
        results += [
            CheckResult(
                "dbt", t.name.removeprefix("dbt "), "dbt_test", t.name, "skip", error=t.reason
            )
            for t in skipped
        ]
        # a dbt failure reads "<node>: <status>: <message>"; the node is the stable name
        checks += [FailedCheck(f"dbt {f.split(': ')[0]}", [], f"dbt {f}") for f in res.failures]
        if not res.success and not res.failures:
            line = f"dbt {' '.join(dbt_args)} failed (see dbt logs)"
            checks.append(FailedCheck(f"dbt {' '.join(dbt_args)}", [], line))
    failures = [c.line for c in checks]
    for line in failures:
        log.warning("quality gate: %s", line)
    for w in warnings:
        log.warning("quality gate: WARN %s", w.line)
    for c in new_columns:
        log.info("quality gate: INFO %s", c.line)
    return GateResult(
        success=not failures,
        failures=failures,
        data_docs_path=docs,
        checks=checks,
        user_ids=sorted(set(user_ids)) if user_ids else None,
        warnings=warnings,
        skipped=skipped,
        drift=drift,
        new_columns=new_columns,
        results=results,
        recounted=recounted,
        seconds=seconds,
        validated_by_gx=validated_by_gx,
    )


def _error_result(source: str, line: str) -> CheckResult:
    """A check that could not run (a broken context, a view that is not built)."""
    return CheckResult(source, "*", "error", line, "error", error=line)


def _drift_result(d: FieldDrift) -> CheckResult:
    return CheckResult(
        source=d.source,
        entity=d.entity,
        kind="drift",
        check=d.name.removeprefix(f"drift {d.key} "),
        verdict="fail" if d.severity == "error" else "warn",
        column=d.column,
        agents=[
            {
                "user_id": a.user_id,
                "observed": {"newest_rows": a.new_rows, "newest_populated": a.new_populated},
            }
            for a in d.agents
        ],
        observed=d.line,
    )


def _dbt_result(r: dict[str, Any]) -> CheckResult:
    """A dbt test node's result (``pass``, ``fail``, ``warn``, ``error``, ``skipped``)."""
    status = str(r.get("status") or "")
    verdict = {"success": "pass", "skipped": "skip", "runtime error": "error"}.get(status, status)
    return CheckResult(
        source="dbt",
        entity=str(r["node"]),
        kind="dbt_test",
        check=str(r["node"]).split(".")[-1],
        verdict=verdict,
        observed=r.get("message") if verdict != "pass" else None,
    )


def _drift(
    user_ids: list[int] | None,
    entities: Sequence[EntitySpec] | None,
    settings: Settings,
    checks: list[FailedCheck],
    warnings: list[FailedCheck],
) -> tuple[list[FieldDrift], list[NewColumn]]:
    """The drift check (:mod:`agentsync.quality.drift`): a stopped field is a failing check
    (a warning with ``AGENTSYNC_DRIFT_SEVERITY=warn``), a dropping one a warning. A drift check
    that cannot run is a warning naming why (it never hides the other checks)."""
    if entities is None:
        entities = all_entities()
    try:
        with db.begin(settings) as conn:  # commits what drift kept of each load
            report = check_drift(conn, entities, user_ids, severity=settings.drift_severity)
    except Exception as err:  # reported, never fatal to the gate
        log.exception("quality gate: drift check failed")
        warnings.append(FailedCheck("drift check", [], f"drift check could not run: {err}"))
        return [], []
    for f in report.fields:
        item = FailedCheck(f.name, f.user_ids, f.line)
        (checks if f.severity == "error" else warnings).append(item)
    return report.fields, report.new_columns
