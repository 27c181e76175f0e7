"""SkySlope/Qualia dbt models over real loads: quirks cleaned in staging, raw untouched, marts."""

from __future__ import annotations

import pytest

from agentsync.transform import run_dbt
from dlt_pipelines.qualia import run_orders
from dlt_pipelines.skyslope import steps
from tests.skyslope.conftest import rows, scalar, truth

SELECT = [
    "staging.skyslope",
    "staging.qualia",
    "skyslope_sales",
    "skyslope_listings",
    "skyslope_users",
    "title_orders",
]


def _load(uid: int) -> None:
    for step in steps():
        step.run(uid, "onboarding", None)
    run_orders(uid, "onboarding", None)


@pytest.mark.slow
def test_staging_cleans_quirks_and_marts_match_truth(register_agents, sandbox_server):
    register_agents(101, 103)
    for uid in (101, 103):
        _load(uid)
    run_dbt(["build", "--select", *SELECT, "--indirect-selection", "cautious"])
    for uid in (101, 103):
        for entity, mart, key in (
            ("sales", "skyslope_sales", "sale_guid"),
            ("listings", "skyslope_listings", "listing_guid"),
            ("users", "skyslope_users", "user_guid"),
        ):
            expected = set(truth(sandbox_server, "skyslope", uid, entity)["ids"])
            got = {r[0] for r in rows(f"select {key} from marts.{mart} where user_id = :u", u=uid)}
            assert got == expected, (uid, entity)
        orders = set(truth(sandbox_server, "qualia", uid, "orders")["ids"])
        got = {
            r[0] for r in rows("select order_id from marts.title_orders where user_id = :u", u=uid)
        }
        assert got == orders
    # quirks: raw keeps them, staging and marts are clean
    raw_ctrl = scalar(
        "select count(*) from raw_skyslope.sales where file->'property'->>'streetAddress' ~ '[[:cntrl:]]'"
    )
    assert raw_ctrl > 0
    assert (
        scalar("select count(*) from staging.stg_skyslope__sales where street_name ~ '[[:cntrl:]]'")
        == 0
    )
    assert (
        scalar("select count(*) from marts.skyslope_sales where street_address ~ '[[:cntrl:]]'")
        == 0
    )
    null_marker = scalar(
        "select count(*) from raw_skyslope.sales where file->>'actualClosingDate' like '0001-01-01%'"
    )
    assert null_marker > 0
    assert (
        scalar("select count(*) from marts.skyslope_sales where actual_closing_date is null")
        == null_marker
    )
    assert (
        scalar(
            "select count(*) from marts.skyslope_sales where extract(year from actual_closing_date) < 1900"
        )
        == 0
    )
    # naive datetimes read as America/Los_Angeles wall time (the default rule)
    raw_text, cleaned = rows(
        "select r.file->>'createdOn', s.created_at from raw_skyslope.sales r "
        "join marts.skyslope_sales s using (user_id, sale_guid) limit 1"
    )[0]
    local = scalar("select cast(:t as timestamptz) at time zone 'America/Los_Angeles'", t=cleaned)
    assert local.isoformat(timespec="milliseconds").startswith(raw_text[:19])
    # prices are exact numerics
    assert (
        scalar("select pg_typeof(sale_price)::text from marts.skyslope_sales limit 1") == "numeric"
    )
    # incremental re-run processes nothing new and keeps the same rows
    before = scalar("select count(*) from marts.skyslope_sales")
    run_dbt(["build", "--select", *SELECT, "--indirect-selection", "cautious"])
    assert scalar("select count(*) from marts.skyslope_sales") == before


@pytest.mark.slow
def test_naive_timezone_is_configurable(register_agents, sandbox_server, monkeypatch):
    register_agents(103)
    _load(103)
    run_dbt(["run", "--select", "staging.skyslope"])
    la = scalar("select min(created_at) from staging.stg_skyslope__sales")
    run_dbt(["run", "--select", "staging.skyslope", "--vars", "{skyslope_naive_timezone: UTC}"])
    utc = scalar("select min(created_at) from staging.stg_skyslope__sales")
    assert (la - utc).total_seconds() in (7 * 3600, 8 * 3600)


@pytest.mark.slow
def test_models_build_on_an_empty_database(agentsync_env):
    mine = ["staging.skyslope", "staging.qualia", "intermediate.deals", "marts.transactions"]
    run_dbt(["run", "--select", *(f"+{m}" for m in mine)])
    run_dbt(
        [
            "test",
            "--select",
            *mine,
            "unified_deals_one_record_per_source",
            "unified_records_cover_sources",
            "unified_match_summary_adds_up",
            "skyslope_no_quirks_in_staging",
            "--indirect-selection",
            "cautious",
        ]
    )
    assert scalar("select count(*) from marts.transactions") == 0
    assert scalar("select count(*) from marts.title_orders") == 0
