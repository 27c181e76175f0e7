"""A/B of the load paths over every typed source's sandbox data: raw identical, row for row.

Agent 101's FUB (every stream), SkySlope (users, listings, sales) and Qualia (orders) are
onboarded twice from the same sandbox with the same faults armed through ``/_sandbox/faults``
on every list route: ``edge_values`` (empty strings in text, time, number and object fields,
timestamps with offsets and milliseconds, numbers with more decimals than ``numeric(38,9)``
keeps, CSV-hostile text), ``malformed`` and ``malformed_types`` (quarantined, or landed in
dlt's variant columns), ``drift_added`` and ``drift_renamed`` (new raw columns). The first
onboarding takes dlt's dict path (``AGENTSYNC_TYPED_LOADS=false``: row normaliser, ``INSERT``),
the second the typed path (Arrow, CSV, ``COPY``); their raw schemas have the same tables, the
same columns and types, and no row of one is missing from the other (``except all`` both ways
over every column that is not dlt's own), and the same records are quarantined for the same
reasons. The control lands FUB people through the typed path with dlt's own CSV job
(``FORCE_NULL``): the same comparison finds the people whose empty strings became ``NULL``.

reZEN has no typed path (``dlt_pipelines/typed.py``: dlt flattens its nested records), so it is
not part of this A/B. FUB requests go one at a time (``AGENTSYNC_FUB_MAX_CONCURRENT_REQUESTS=1``)
so that each armed fault hits the same page in both onboardings.
"""

from __future__ import annotations

import shutil
from collections import Counter
from typing import Any

import httpx
import pytest
from dlt.destinations.impl.postgres.postgres import PostgresCsvCopyJob
from sqlalchemy import text

from agentsync import agents, db
from agentsync.settings import get_settings
from dlt_pipelines.destination import ExactCsvPostgresClient
from tests.raw_compare import compare

pytestmark = pytest.mark.slow

AGENT = 101
SOURCES = ("fub", "skyslope", "qualia")
RECORD_FAULTS = (
    "edge_values:2", "malformed:1", "malformed_types:1", "drift_added:1", "drift_renamed:1",
)  # fmt: skip
FUB_PATHS = (
    "people", "deals", "events", "calls", "appointments", "textMessages",
    "users", "stages", "pipelines", "groups",
)  # fmt: skip
ROUTES = (
    *(("fub", f"/v1/{p}*") for p in FUB_PATHS),
    ("skyslope", "/api/files/listings"),
    ("skyslope", "/api/files/sales"),
    ("qualia", "*"),
)


def _arm(root: str) -> None:
    """The same faults before each onboarding (each rule hits the first matching pages)."""
    spec = ",".join(f"{api}:{route}:{kind}" for api, route in ROUTES for kind in RECORD_FAULTS)
    httpx.delete(f"{root}/_sandbox/faults", timeout=30).raise_for_status()
    httpx.post(f"{root}/_sandbox/faults", json={"spec": spec}, timeout=30).raise_for_status()


def _onboard(
    typed: bool, monkeypatch: pytest.MonkeyPatch, fub_streams: tuple[str, ...] = ()
) -> None:
    from dlt_pipelines.fub import FubRun
    from dlt_pipelines.fub.settings import STREAMS
    from dlt_pipelines.qualia import run_orders
    from dlt_pipelines.skyslope import run_entity

    monkeypatch.setenv("AGENTSYNC_TYPED_LOADS", "true" if typed else "false")
    with FubRun(AGENT, "onboarding") as run:
        for stream in fub_streams or STREAMS:
            run.load_stream(stream)
    if fub_streams:
        return
    for entity in ("users", "listings", "sales"):
        run_entity(AGENT, "onboarding", None, entity)
    run_orders(AGENT, "onboarding", None)


def _set_aside(prefix: str, sources: tuple[str, ...]) -> None:
    """Rename ``raw_<source>`` to ``<prefix>_<source>`` and forget the pipelines' local state,
    so the next onboarding starts from nothing (dlt finds no state in the database either)."""
    with db.begin() as conn:
        for source in sources:
            conn.execute(text(f"alter schema raw_{source} rename to {prefix}_{source}"))
    shutil.rmtree(get_settings().dlt_dir, ignore_errors=True)


def _quarantined() -> list[tuple[Any, ...]]:
    with db.begin() as conn:
        return conn.execute(
            text(
                "select source, entity, record_id, reason, record::text from ops.quarantine "
                "order by quarantine_id"
            )
        ).all()


def _scalar(sql: str) -> Any:
    with db.begin() as conn:
        return conn.execute(text(sql)).scalar()


def test_typed_loads_land_what_the_dict_path_lands(sandbox_env, sandbox_server, monkeypatch):
    root = sandbox_server.sandbox.root_url
    monkeypatch.setenv("AGENTSYNC_FUB_MAX_CONCURRENT_REQUESTS", "1")
    for agent in sandbox_server.sandbox.demo_agents():
        if agent["user_id"] == AGENT:
            creds = {s: agent["credentials"][s] for s in SOURCES}
            agents.add_agent(AGENT, agent["name"], creds)

    _arm(root)
    _onboard(False, monkeypatch)
    dict_quarantine = _quarantined()
    _set_aside("dictpath", SOURCES)

    _arm(root)
    _onboard(True, monkeypatch)
    typed_quarantine = _quarantined()[len(dict_quarantine) :]

    with db.begin() as conn:
        diffs = {s: compare(conn, f"dictpath_{s}", f"raw_{s}") for s in SOURCES}
    for source, diff in diffs.items():
        assert diff.identical, diff.describe()
        assert all(diff.counts.values()), (source, diff.counts)
    assert Counter(map(tuple, typed_quarantine)) == Counter(map(tuple, dict_quarantine))
    assert {q[0] for q in dict_quarantine} == set(SOURCES)

    # what the sandbox served is in raw: the comparison above had something to compare
    fub = diffs["fub"].counts
    assert set(fub) >= {"people", "deals", "events", "calls", "appointments", "text_messages"}
    assert _scalar("select count(*) from raw_fub.people where name = ''") > 0
    assert _scalar("select count(*) from raw_fub.people where last_activity__v_text = ''") > 0
    assert _scalar("select count(*) from raw_fub.people where sandbox_drift_field is not null")
    assert _scalar(  # drift_renamed: a served field under a new name is a new column
        "select count(*) from information_schema.columns where table_schema = 'raw_fub' "
        "and column_name in ('full_name', 'event_type', 'subject')"
    )
    assert _scalar("select count(*) from raw_fub.people where price % 1 <> 0") > 0  # decimals
    assert _scalar(
        "select count(*) from raw_fub.people where name like '%, \"quoted\"' || chr(10) || '%'"
    )
    assert _scalar('select count(*) from raw_qualia.orders where "order"::text like \'%""%\'')
    assert _scalar("select count(*) from raw_skyslope.sales where summary::text like '%\"\"%'")
    assert _scalar("select count(*) from raw_fub.events where occurred__v_text = ''")

    # control: dlt's own CSV job (FORCE_NULL) under the typed path; the check catches it
    def stock_job(self, table, file_path, load_id, restore=False):
        if file_path.endswith(".csv"):
            return PostgresCsvCopyJob(file_path)
        return super(ExactCsvPostgresClient, self).create_load_job(
            table, file_path, load_id, restore
        )

    _set_aside("typed", ("fub",))
    monkeypatch.setattr(ExactCsvPostgresClient, "create_load_job", stock_job)
    _arm(root)
    _onboard(True, monkeypatch, fub_streams=("people",))
    with db.begin() as conn:
        control = compare(conn, "dictpath_fub", "raw_fub")
    assert control.rows["people"] != (0, 0), control.describe()
    assert _scalar("select count(*) from raw_fub.people where name = ''") == 0
    assert _scalar("select count(*) from dictpath_fub.people where name = ''") > 0
