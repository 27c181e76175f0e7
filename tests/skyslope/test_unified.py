"""Unified transactions/listings over real reZEN + SkySlope loads: matching against ground truth."""

from __future__ import annotations

import pytest

from agentsync.transform import run_dbt
from dlt_pipelines.qualia import run_orders
from dlt_pipelines.rezen import steps as rezen_steps
from dlt_pipelines.skyslope import run_entity
from sandbox.rezen_data import make_uuid
from tests.skyslope.conftest import rows, scalar, truth

UNIFIED = [
    "transactions",
    "listings",
    "real_estate_deals",
    "deal_match_summary",
    "title_order_deals",
]
MY_TESTS = [
    "int_deals__matches",
    *UNIFIED,
    "unified_deals_one_record_per_source",
    "unified_records_cover_sources",
    "unified_match_summary_adds_up",
    "skyslope_no_quirks_in_staging",
]


@pytest.mark.slow
def test_shared_deals_match_and_single_system_deals_do_not(register_agents, sandbox_server):
    register_agents(101, 102, 103)
    for uid in (101, 102):  # reZEN transactions need the steps before them (teams, agents)
        for spec in rezen_steps():
            if spec.name in ("teams", "agents", "transactions"):
                spec.run(uid, "onboarding", None)
    for uid in (101, 103):
        run_entity(uid, "onboarding", None, "sales")
        run_entity(uid, "onboarding", None, "listings")
        run_orders(uid, "onboarding", None)
    run_dbt(["run", "--select", "staging.skyslope", *(f"+{m}" for m in UNIFIED)])
    run_dbt(["test", "--select", *MY_TESTS])
    seed = sandbox_server.sandbox.world.seed

    for uid in (101, 103):
        files = truth(sandbox_server, "skyslope", uid, "shared_with_rezen")["files"]
        assert files
        for f in files:
            table = "listings" if f["kind"] == "listing" else "transactions"
            status, deal_key = rows(
                f"select match_status, deal_key from marts.{table} "
                "where source = 'skyslope' and user_id = :u and record_id = :r",
                u=uid,
                r=f["guid"],
            )[0]
            partner = rows(
                f"select record_id from marts.{table} "
                "where source = 'rezen' and user_id = :u and deal_key = :k",
                u=uid,
                k=deal_key,
            )
            if f["in_rezen"]:
                kind = "rezen-listing" if f["kind"] == "listing" else "rezen-tx"
                expected = make_uuid(seed, kind, uid, f["deal_key"])
                assert (status, partner) == ("matched", [(expected,)]), f
            else:
                assert (status, partner) == ("skyslope_only", []), f

    # per-agent counts: matched = files shared with reZEN; the rest stays single-system
    summary = {
        (r.user_id, r.deal_kind): r
        for r in rows("select * from marts.deal_match_summary order by user_id, deal_kind")
    }
    shared_101 = truth(sandbox_server, "skyslope", 101, "shared_with_rezen")["count"]
    assert shared_101 > 0
    assert summary[(101, "transaction")].matched + summary[(101, "listing")].matched == shared_101
    assert all(r.matched == 0 for (uid, _), r in summary.items() if uid in (102, 103))
    rezen_tx_102 = scalar("select count(*) from marts.rezen_transactions where user_id = 102")
    assert summary[(102, "transaction")].rezen_only == rezen_tx_102
    # one row per real deal: matched pairs collapse, nothing else does
    per_source = scalar("select count(*) from marts.transactions") + scalar(
        "select count(*) from marts.listings"
    )
    deals = scalar("select count(*) from marts.real_estate_deals")
    assert deals == per_source - shared_101

    # title orders on a deal's property point at that deal; the others point nowhere
    world = sandbox_server.sandbox.world
    for uid in (101, 103):
        addresses = {d.address for d in world.deals(uid) if not d.is_listing}
        linked = rows(
            "select address_line_1, deal_key from marts.title_order_deals where user_id = :u", u=uid
        )
        assert linked
        for address, deal_key in linked:
            assert (deal_key is not None) == (address in addresses), (uid, address)
