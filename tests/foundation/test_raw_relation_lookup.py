"""Raw tables are looked up in the catalog, not in dbt's half-filled relation cache.

dbt lists a schema it does not build (dlt's raw_*) lazily and adds its tables to the shared cache
one at a time; with two threads a model compiling meanwhile saw an existing raw table as missing,
selected nothing and marked the loads processed (marts.agent_cap empty after a full onboarding;
SkySlope sales missing in a CI run). The check macro reproduces that cache state deterministically.
"""

from __future__ import annotations

from sqlalchemy import text

from agentsync import db
from agentsync.transform import run_dbt


def test_existing_raw_table_is_found_while_the_cache_lists_its_schema(agentsync_env) -> None:
    with db.begin() as conn:
        conn.execute(text("create schema if not exists raw_probe"))
        conn.execute(text("create table if not exists raw_probe.listed (id int)"))
        conn.execute(text("create table if not exists raw_probe.probe (id int)"))
    args = "{schema: raw_probe, listed: listed, probe: probe, record_to: raw_probe.outcome}"
    result = run_dbt(
        ["run-operation", "check_raw_relation_lookup", "--args", args], raise_on_failure=False
    )
    assert result.success, result.failures

    # The hazard is real: the same state fools dbt's own lookup (cache=False), so this test would
    # fail if raw_relation() went back to adapter.get_relation.
    with db.begin() as conn:
        outcome = conn.execute(text("select via_cache, via_catalog from raw_probe.outcome")).one()
    assert tuple(outcome) == (False, True)


def test_a_missing_raw_table_reads_as_missing(agentsync_env) -> None:
    with db.begin() as conn:
        conn.execute(text("create schema if not exists raw_probe"))
        conn.execute(text("create table if not exists raw_probe.listed (id int)"))
    args = "{schema: raw_probe, listed: listed, probe: never_loaded, record_to: raw_probe.outcome}"
    result = run_dbt(
        ["run-operation", "check_raw_relation_lookup", "--args", args], raise_on_failure=False
    )
    assert not result.success
    with db.begin() as conn:
        outcome = conn.execute(text("select via_cache, via_catalog from raw_probe.outcome")).one()
    assert tuple(outcome) == (False, False)
