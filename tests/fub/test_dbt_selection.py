"""A flow's dbt build does only the work the new loads need (issue 16): the loaded source's
models and their ancestors on a first build, nothing when no load arrived, and after one
entity's load only the models downstream of that entity's raw table — read from the run dbt
itself recorded.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from agentsync import db, pending_loads
from agentsync.transform import target_dir
from dlt_pipelines.fub import run_deletions, run_streams
from dlt_pipelines.fub.settings import RECONCILED_STREAMS
from flows.after_load import dbt_build
from tests.fub.conftest import add_agent, control, ids, rows, truth

pytestmark = pytest.mark.slow


def _ran_models() -> set[str]:
    """The models the last dbt invocation ran (its ``run_results.json``)."""
    results = json.loads((target_dir() / "run_results.json").read_text())["results"]
    return {r["unique_id"] for r in results if r["unique_id"].startswith("model.")}


def _oid(relation: str) -> int:
    return rows("select cast(to_regclass(:r) as oid)", r=relation)[0][0]


def _downstream(manifest: dict[str, Any], source_table: str) -> set[str]:
    """Every model downstream of ``source.agentsync.<source_table>`` in dbt's own graph."""
    children, todo, seen = manifest["child_map"], [f"source.agentsync.{source_table}"], set()
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return {n for n in seen if n.startswith("model.")}


def test_build_selects_the_models_of_the_tables_with_new_loads(sandbox_env, sandbox_server):
    root = sandbox_server.url
    add_agent(sandbox_server.sandbox, 101)
    run_streams(101, "onboarding", None, RECONCILED_STREAMS)

    # first build: the models those loads feed do not exist yet, so they are built with their
    # ancestors (dbt's @), and the whole FUB folder with its ancestors, so every FUB mart exists
    first_plan = pending_loads.plan(["fub"])
    assert "@staging.fub" in first_plan.select
    assert all(t.startswith("@") for t in first_plan.select)
    first = dbt_build(["fub"])
    assert first.status == "done", first.error
    manifest = json.loads((target_dir() / "manifest.json").read_text())
    every_model = {
        uid
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == "model" and n["config"]["materialized"] != "ephemeral"
    }
    fub_models = set().union(*(_downstream(manifest, f"fub.{e}") for e in RECONCILED_STREAMS))
    assert fub_models & every_model <= _ran_models()
    assert pending_loads.plan(["fub"]).loads == []

    # nothing new: no dbt invocation at all
    (target_dir() / "run_results.json").unlink()
    idle = dbt_build(["fub"])
    assert (idle.status, idle.error) == ("skipped", "no new rows in any table dbt reads")
    # a run that landed rows another run's build already took (two onboardings at once): done,
    # with nothing left to build, still without a dbt invocation
    taken = dbt_build(["fub"], landed=True)
    assert (taken.status, taken.rows, taken.error) == ("done", 0, None)
    assert taken.detail and taken.detail.startswith("nothing left to build")
    assert not (target_dir() / "run_results.json").exists()

    # a day of changes, but only deals are loaded: only deals' models run
    control(root, "advance", {"seconds": 86_400, "fraction": 0.2})
    run_streams(101, "daily", None, ["deals"])
    todo = pending_loads.plan(["fub"])
    assert todo.tables == [("raw_fub", "deals")] and todo.select == ["source:fub.deals+"]
    view_before = _oid("staging.stg_fub__deals")
    deals = dbt_build(["fub"])
    assert deals.status == "done", deals.error
    # the staging view's definition did not change: it ran, but was not re-created
    assert _oid("staging.stg_fub__deals") == view_before
    ran = _ran_models()
    assert ran == _downstream(manifest, "fub.deals") & every_model
    assert "model.agentsync.deals" in ran and "model.agentsync.people" not in ran
    served = set(truth(root, 101, "deals")["ids"])
    assert served <= ids("select deal_id from marts.deals where user_id = 101")

    # a raw table that gained a column changes what its views read: they are re-created
    with db.begin() as conn:
        conn.execute(text("alter table raw_fub.deals add column x_new_field text"))
    control(root, "advance", {"seconds": 86_400, "fraction": 0.2})
    run_streams(101, "daily", None, ["deals"])
    assert dbt_build(["fub"]).status == "done"
    assert _oid("staging.stg_fub__deals") != view_before

    # a deletion check that finds people gone lands in raw_fub.id_changes: the people models
    # run (the mart's deletion post-hook reads it), not models over id_changes
    run_streams(101, "daily", None, ["people"])
    assert dbt_build(["fub"]).status == "done"
    assert "model.agentsync.people" in _ran_models()
    run_deletions(101, "daily", None)
    gone = ids("select id from raw_fub.id_changes where entity = 'people' and change = 'gone'")
    assert gone, "the day deleted people we hold"
    todo = pending_loads.plan(["fub"])
    assert ("raw_fub", "people") in todo.tables
    assert not {t for _, t in todo.tables} & {"id_changes", "deleted_ids"}
    assert dbt_build(["fub"]).status == "done"
    assert "model.agentsync.people" in _ran_models()
    flagged = ids("select person_id from marts.people where user_id = 101 and is_deleted")
    assert flagged == gone
