"""Schema drift with a real source: FUB deals over the sandbox -> dlt -> dbt -> the gate.

An agent's deals are onboarded and re-read clean: the gate reports no drift. Then the sandbox
renames the deal's ``name`` to ``fullName`` (``drift_renamed``) and the next full re-read lands
rows with ``full_name`` and a null ``name``: the gate fails naming ``fub.deals`` field ``name``
and the agent, and lists ``raw_fub.deals.full_name`` as a new raw column no model reads; so does
``agentsync health`` (text and JSON). Once a model reads the new column the drift is no longer
reported.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from agentsync import db
from agentsync.entities import all_entities
from agentsync.quality.gate import run_quality_gate
from agentsync.quality.gx import build_context
from dlt_pipelines.fub import FubRun
from tests.fub.conftest import add_agent, build_marts, control, rows, truth

pytestmark = pytest.mark.slow

AGENT = 101


def _deals_spec() -> list[Any]:
    return [e for e in all_entities(["fub"]) if e.entity == "deals"]


def _gate(context: Path) -> Any:
    return run_quality_gate([AGENT], entities=_deals_spec(), context_root=context, dbt_args=None)


def _health(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "health", *args],
        capture_output=True, text=True, env={**env, "PATH": "/usr/bin:/bin"}, timeout=600,
    )  # fmt: skip


def test_renamed_field_fails_the_gate_and_lists_the_new_column(
    sandbox_env: dict[str, str], sandbox_server: Any, tmp_path: Path
) -> None:
    root = sandbox_server.url
    add_agent(sandbox_server.sandbox, AGENT)
    total = truth(root, AGENT, "deals")["count"]
    assert total >= 10, "the agent needs enough deals to judge a load"
    context = tmp_path / "expectations"
    build_context(_deals_spec(), root=context)

    with FubRun(AGENT, "onboarding") as run:
        run.load_stream("deals")
    build_marts()
    first = _gate(context)
    assert first.success, first.failures
    assert not first.drift and not first.new_columns  # one load: no history to compare with

    # a clean daily re-read of every deal: history and new loads agree, nothing to report
    with FubRun(AGENT, "daily") as run:
        run.load_stream("deals", full=True)
    build_marts()
    clean = _gate(context)
    assert clean.success, clean.failures
    assert not clean.drift, [d.line for d in clean.drift]
    # (record age may warn: with a pinned old sandbox epoch the newest deal is old by design)
    drift_warnings = [w for w in clean.warnings if "freshness" not in w.name]
    assert not drift_warnings, [w.line for w in drift_warnings]
    assert not clean.new_columns, [c.line for c in clean.new_columns]

    # the vendor renames `name` to `fullName` on every page of the next read
    pages = math.ceil(total / 100)
    control(root, "faults", {"spec": f"fub:/v1/deals*:drift_renamed:{pages}"})
    with FubRun(AGENT, "daily") as run:
        run.load_stream("deals", full=True)
    build_marts()
    filled = rows("select count(deal_name) from marts.deals where user_id = :u", u=AGENT)[0][0]
    assert filled == 0, "the rename nulls the mart column: what the gate must catch"

    drifted = _gate(context)
    assert not drifted.success
    line = (
        f"drift fub.deals field name: null in {total} of {total} rows of the newest load(s), "
        f"populated in 100% of earlier rows (agents {AGENT})"
    )
    assert line in drifted.failures, drifted.failures
    check = next(c for c in drifted.checks if c.line == line)
    assert check.name == "drift fub.deals field name stopped arriving"
    assert check.agents == [AGENT]
    assert [(d.column, d.kind) for d in drifted.drift] == [("name", "stopped")]
    new = {c.column: c for c in drifted.new_columns}
    assert set(new) == {"full_name"}, [c.line for c in drifted.new_columns]
    assert new["full_name"].populated == {AGENT: total}
    listed = new["full_name"].line
    assert listed.startswith("raw_fub.deals.full_name (new since load "), listed
    assert "not read by any model" in listed

    # the change mapped (as `coalesce(name, full_name)` in staging would): nothing to report
    with db.begin() as conn:
        conn.execute(
            text(
                "create view staging.test_deals_mapped as "
                "select coalesce(name, full_name) as deal_name from raw_fub.deals"
            )
        )
    try:
        mapped = _gate(context)
        assert mapped.success, mapped.failures
        assert not mapped.drift and not mapped.new_columns, [d.line for d in mapped.drift]
    finally:
        with db.begin() as conn:
            conn.execute(text("drop view staging.test_deals_mapped"))

    # health lists the unmapped column (information: it is not a problem)
    shown = _health(sandbox_env)
    assert "info: new raw column raw_fub.deals.full_name (new since load " in shown.stdout, (
        shown.stdout + shown.stderr
    )
    as_json = _health(sandbox_env, "--json")
    report = json.loads(as_json.stdout)
    items = [i for i in report["items"] if i["check"] == "new_raw_column"]
    assert [i["key"] for i in items] == ["raw_fub.deals.full_name"], items
    assert items[0]["level_name"] == "ok"
    assert "not read by any model" in items[0]["message"]
