"""The unified deal marts are recomputed per agent: no new loads cost nothing, one agent's load
rewrites that agent's rows only, and the result equals a full rebuild."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from agentsync import db
from agentsync.transform import run_dbt
from dlt_pipelines.qualia import run_orders
from dlt_pipelines.rezen import steps as rezen_steps
from dlt_pipelines.skyslope import run_entity
from tests.mart_state import contents, processed_state, row_versions

RECOMPUTED = [
    "intermediate.int_deals__matches",
    "marts.transactions",
    "marts.listings",
    "marts.real_estate_deals",
    "marts.deal_match_summary",
    "marts.title_order_deals",
]
SELECT = ["--select", "staging.skyslope", *(f"+{m.split('.')[1]}" for m in RECOMPUTED)]


def processed(model: str) -> set[str]:
    with db.begin() as conn:
        return set(
            conn.execute(
                text("select load_id from ops.dbt_processed_loads where model = :m"), {"m": model}
            ).scalars()
        )


@pytest.mark.slow
def test_unified_marts_recompute_only_agents_with_new_loads(register_agents, sandbox_server):
    register_agents(101, 102, 103)
    for uid in (101, 102):
        for spec in rezen_steps():
            if spec.name in ("teams", "agents", "transactions"):
                spec.run(uid, "onboarding", None)
    for uid in (101, 103):
        run_entity(uid, "onboarding", None, "sales")
        run_entity(uid, "onboarding", None, "listings")
        run_orders(uid, "onboarding", None)
    run_dbt(["run", *SELECT])
    for relation in RECOMPUTED:
        assert contents(relation), f"{relation} is empty: the test would prove nothing"
    assert set(contents("marts.transactions")) == {101, 102, 103}

    # no new loads: nothing rewritten, nothing newly processed
    versions = {r: row_versions(r) for r in RECOMPUTED}
    state = processed_state()
    run_dbt(["run", *SELECT])
    for relation in RECOMPUTED:
        assert row_versions(relation) == versions[relation], f"{relation} was rewritten"
    assert processed_state() == state

    # a new SkySlope load for agent 103, and only the unified mart runs (its upstream
    # skyslope_sales does not): the load is not marked processed there, so it is not lost
    run_entity(103, "onboarding", None, "sales")
    with db.begin() as conn:
        new_load = conn.execute(
            text(
                "select load_id from ops.sync_runs where user_id = 103 and source = 'skyslope' "
                "and entity = 'sales' order by run_id desc limit 1"
            )
        ).scalar()
    assert new_load and new_load not in processed("marts.skyslope_sales")
    run_dbt(["run", "--select", "transactions"])
    assert new_load not in processed("marts.transactions")

    # the whole selection: 103's rows are recomputed, 101's and 102's are not touched
    run_dbt(["run", *SELECT])
    assert new_load in processed("marts.transactions")
    for relation in RECOMPUTED:
        now = row_versions(relation)
        for uid in (101, 102):
            assert now.get(uid) == versions[relation].get(uid), f"{uid}'s rows in {relation}"
        if versions[relation].get(103):
            assert not now[103] & versions[relation][103], f"103 in {relation} not recomputed"

    # and the per-agent result is what a rebuild from all history gives
    incremental = {r: contents(r) for r in RECOMPUTED}
    run_dbt(["run", "--full-refresh", *SELECT])
    for relation in RECOMPUTED:
        assert contents(relation) == incremental[relation], relation
