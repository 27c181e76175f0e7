"""A Qualia page that comes back short can never pass as complete (issue 14).

Qualia reports no total: the ``reported_total`` is the offset at which the walk met an empty page,
which a page that failed to serve some orders does not change. The source checks offset paging's
invariants instead: a page shorter than the limit must be the last one, and every offset serves a
different order. One short page (``lose_page`` count 1) is read again and the data arrives whole;
a page that stays short fails the run by name, and no run claims success with orders missing.
"""

from __future__ import annotations

import httpx
import pytest

from agentsync import agents
from agentsync.errors import IntegrationError
from dlt_pipelines.qualia import client as qualia_client
from dlt_pipelines.qualia import run_orders
from tests.skyslope.conftest import rows, truth

AGENT = 103  # 9 orders: the smallest Qualia account
PAGE = 100  # AGENTSYNC_QUALIA_PAGE_SIZE's default


def _arm(server, count: int) -> None:
    spec = f"qualia:/graphql:lose_page:{count}"
    assert httpx.post(f"{server.url}/_sandbox/faults", json={"spec": spec}).status_code == 200


def _hits(server) -> int:
    return httpx.get(f"{server.url}/_sandbox/faults").json()["faults"][0]["hits"]


def _raw_ids(user_id: int) -> set[str]:
    if not rows("select to_regclass('raw_qualia.orders')")[0][0]:
        return set()
    found = rows("select distinct order_id from raw_qualia.orders where user_id = :u", u=user_id)
    return {r[0] for r in found}


def _runs(user_id: int) -> list[tuple]:
    return rows(
        "select status, rows, reported_total, error from ops.sync_runs "
        "where user_id = :u and source = 'qualia' order by run_id",
        u=user_id,
    )


@pytest.mark.slow
def test_one_short_page_is_read_again_and_the_data_arrives_whole(register_agents, sandbox_server):
    register_agents(AGENT)
    expected = truth(sandbox_server, "qualia", AGENT, "orders")
    assert 1 < expected["count"] < PAGE
    _arm(sandbox_server, 1)  # offset 0 serves only its last order; offset 1 shows more follow
    result = run_orders(AGENT, "onboarding", None)
    assert _hits(sandbox_server) == 1
    assert _raw_ids(AGENT) == set(expected["ids"])
    assert result.rows == result.reported_total == expected["count"]
    assert _runs(AGENT) == [("done", expected["count"], expected["count"], None)]


@pytest.mark.slow
def test_a_page_that_stays_short_fails_the_run_by_name(register_agents, sandbox_server):
    register_agents(AGENT)
    _arm(sandbox_server, 10)  # the page, its re-reads and the pages after them: all short
    with pytest.raises(IntegrationError) as err:
        run_orders(AGENT, "onboarding", None)
    message = str(err.value)
    assert message.startswith(f"agent {AGENT}, qualia: orders page at offset 0: ")
    assert f"1 of {PAGE} orders on a page that more orders follow: records would be lost" in (
        message
    )
    # no run claims success with the orders missing: the one run failed with that error
    ((status, _, reported, error),) = _runs(AGENT)
    assert status == "failed" and reported is None and message in error
    assert _raw_ids(AGENT) == set()

    # the API serves whole pages again: a re-run loads every order
    httpx.delete(f"{sandbox_server.url}/_sandbox/faults")
    expected = truth(sandbox_server, "qualia", AGENT, "orders")
    result = run_orders(AGENT, "onboarding", None)
    assert _raw_ids(AGENT) == set(expected["ids"])
    assert result.reported_total == expected["count"]
    assert [r[0] for r in _runs(AGENT)] == ["failed", "done"]


def test_an_order_served_twice_in_place_of_another_fails_the_run(agentsync_env, monkeypatch):
    # offsets 0..5 serve a, b, c, c, d, e: six offsets, five orders; one order was never served
    served = [{"_id": oid} for oid in ("a", "b", "c", "c", "d", "e")]
    monkeypatch.setattr(
        qualia_client,
        "fetch_page",
        lambda client, uid, limit, offset: served[offset : offset + limit],
    )
    agents.add_agent(AGENT, "Casey Ellis", {"qualia": {"username": "u", "password": "p"}})
    with pytest.raises(IntegrationError, match="5 distinct orders for 6 offsets") as err:
        run_orders(AGENT, "onboarding", None)
    assert "records would be lost" in str(err.value)
    assert [r[0] for r in _runs(AGENT)] == ["failed"]
