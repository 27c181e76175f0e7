"""A SkySlope page that comes back short can never pass as complete (issue 14).

SkySlope reports no total, so the listed count is all the count checks have: a page that lost rows
would pass. The source checks the paging instead: a page that links to a next one must hold 10
rows. One short page (``lose_page`` count 1) is read again and the data arrives whole; a page that
stays short fails the entity's run by name, and no run claims success with the records missing.
"""

from __future__ import annotations

import httpx
import pytest

from agentsync.errors import IntegrationError
from dlt_pipelines.skyslope import run_entity
from dlt_pipelines.skyslope.client import PAGE_SIZE, SHORT_PAGE_REREADS
from tests.skyslope.conftest import rows, truth

SALES_AGENT = 103  # 18 sales: two pages, the smallest account with a second page
LISTINGS_AGENT = 101  # 5 listings at start: advanced until they fill more than a page


def _arm(server, entity: str, count: int) -> None:
    spec = f"skyslope:/api/files/{entity}:lose_page:{count}"
    assert httpx.post(f"{server.url}/_sandbox/faults", json={"spec": spec}).status_code == 200


def _hits(server) -> int:
    return httpx.get(f"{server.url}/_sandbox/faults").json()["faults"][0]["hits"]


def _raw_ids(entity: str, user_id: int) -> set[str]:
    column = "sale_guid" if entity == "sales" else "listing_guid"
    found = rows(
        f"select distinct {column} from raw_skyslope.{entity} where user_id = :u", u=user_id
    )
    return {r[0] for r in found}


def _table_exists(entity: str) -> bool:
    return bool(rows("select to_regclass(:t)", t=f"raw_skyslope.{entity}")[0][0])


def _runs(user_id: int, entity: str) -> list[tuple]:
    return rows(
        "select status, rows, reported_total, error from ops.sync_runs "
        "where user_id = :u and source = 'skyslope' and entity = :e order by run_id",
        u=user_id,
        e=entity,
    )


def _prepare(server, entity: str) -> int:
    """The agent whose ``entity`` spans more than one page (advancing the clock if needed)."""
    if entity == "sales":
        return SALES_AGENT
    for _ in range(10):
        if truth(server, "skyslope", LISTINGS_AGENT, "listings")["count"] > PAGE_SIZE:
            return LISTINGS_AGENT
        resp = httpx.post(f"{server.url}/_sandbox/advance", json={"seconds": 60, "fraction": 1})
        assert resp.status_code == 200, resp.text
    raise AssertionError("the sandbox never gave the agent a second page of listings")


@pytest.mark.slow
@pytest.mark.parametrize("entity", ["sales", "listings"])
def test_one_short_page_is_read_again_and_the_data_arrives_whole(
    register_agents, sandbox_server, entity
):
    agent = _prepare(sandbox_server, entity)
    register_agents(agent)
    expected = truth(sandbox_server, "skyslope", agent, entity)
    assert expected["count"] > PAGE_SIZE
    _arm(sandbox_server, entity, 1)
    result = run_entity(agent, "onboarding", None, entity)
    assert _hits(sandbox_server) == 1  # page 1 came back with 1 of its 10 rows, once
    assert _raw_ids(entity, agent) == set(expected["ids"])
    assert result.rows == expected["count"] and result.reported_total == expected["count"]
    assert _runs(agent, entity) == [("done", expected["count"], expected["count"], None)]


@pytest.mark.slow
@pytest.mark.parametrize("entity", ["sales", "listings"])
def test_a_page_that_stays_short_fails_the_run_by_name(register_agents, sandbox_server, entity):
    agent = _prepare(sandbox_server, entity)
    register_agents(agent)
    _arm(sandbox_server, entity, SHORT_PAGE_REREADS + 1)  # the page and every re-read: short
    with pytest.raises(IntegrationError) as err:
        run_entity(agent, "onboarding", None, entity)
    message = str(err.value)
    assert message.startswith(f"agent {agent}, skyslope: {entity} page 1 ")
    assert f"1 of {PAGE_SIZE} rows on a page that links to a next one: records would be lost" in (
        message
    )
    assert _hits(sandbox_server) == SHORT_PAGE_REREADS + 1
    # no run claims success with the records missing: the one run failed with that error
    ((status, _, reported, error),) = _runs(agent, entity)
    assert status == "failed" and reported is None and message in error
    # and nothing was loaded that a later check could take for the whole account
    assert not _table_exists(entity) or not _raw_ids(entity, agent)

    # the vendor serves whole pages again: a re-run loads everything
    result = run_entity(agent, "onboarding", None, entity)
    expected = truth(sandbox_server, "skyslope", agent, entity)
    assert _raw_ids(entity, agent) == set(expected["ids"])
    assert result.reported_total == expected["count"]
    assert [r[0] for r in _runs(agent, entity)] == ["failed", "done"]


@pytest.mark.slow
def test_a_daily_window_is_checked_the_same_way(register_agents, sandbox_server):
    register_agents(SALES_AGENT)
    run_entity(SALES_AGENT, "onboarding", None, "sales")
    # every file changes: the next window lists all of them again, on two pages
    httpx.post(f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 3600, "fraction": 1})
    expected = truth(sandbox_server, "skyslope", SALES_AGENT, "sales")
    _arm(sandbox_server, "sales", SHORT_PAGE_REREADS + 1)
    with pytest.raises(IntegrationError, match=r"sales page 1 \(earliestDate=[1-9]"):
        run_entity(SALES_AGENT, "daily", None, "sales")
    _arm(sandbox_server, "sales", 1)
    window = run_entity(SALES_AGENT, "daily", None, "sales")  # page 1 read again: whole
    assert window.reported_total is None and window.rows == expected["count"]
    assert [r[0] for r in _runs(SALES_AGENT, "sales")] == ["done", "failed", "done"]
    assert _raw_ids("sales", SALES_AGENT) == set(expected["ids"])
