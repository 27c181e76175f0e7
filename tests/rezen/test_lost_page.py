"""A reZEN page that goes missing can never pass as complete (issue 14).

The sandbox's ``lose_page`` fault serves the next page in place of the one asked for, so the
records of the page asked for never arrive. Before the paging checks, a lost first page of
revshare contributions took its tier's ``totalCount`` with it and the run ended ``done`` with
the records missing. Now every page is checked against the paging's own invariants (the page
served is the one asked for, a page that links on is full, the last page holds what
``totalCount`` leaves): a page lost once is read again and the data arrives whole; a page that
stays lost fails the entity's run by name, and no run claims success with the records missing.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from agentsync import agents, db
from agentsync.errors import IntegrationError
from dlt_pipelines.rezen import settings as rezen_settings
from dlt_pipelines.rezen import steps
from dlt_pipelines.rezen.client import page_problem
from tests.rezen.conftest import truth

AGENT = 102  # reZEN only; its tier-1 contributions span several pages at the test's page size
ROUTE = "/arrakis/api/v1/revshares/*/contributions/1"
PAGE = 10


def _register(sandbox_server) -> None:
    spec = next(a for a in sandbox_server.sandbox.demo_agents() if a["user_id"] == AGENT)
    agents.add_agent(AGENT, spec["name"], {"rezen": spec["credentials"]["rezen"]})


def _arm(server, count: int) -> None:
    spec = f"rezen:{ROUTE}:lose_page:{count}"
    assert httpx.post(f"{server.url}/_sandbox/faults", json={"spec": spec}).status_code == 200


def _hits(server) -> int:
    return httpx.get(f"{server.url}/_sandbox/faults").json()["faults"][0]["hits"]


def _raw_contribution_ids() -> set[str]:
    with db.begin() as conn:
        if not conn.execute(text("select to_regclass('raw_rezen.contributions')")).scalar():
            return set()
        found = conn.execute(
            text("select distinct id from raw_rezen.contributions where user_id = :u"),
            {"u": AGENT},
        )
        return {r[0] for r in found}


def _runs() -> list[tuple]:
    with db.begin() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "select status, error from ops.sync_runs where user_id = :u "
                    "and source = 'rezen' and entity = 'contributions' order by run_id"
                ),
                {"u": AGENT},
            )
        ]


@pytest.fixture
def before_contributions(sandbox_env, sandbox_server, monkeypatch):
    """Agent 102 with every reZEN step before contributions loaded, at a small page size."""
    monkeypatch.setattr(rezen_settings, "PAGE_SIZE", PAGE)
    _register(sandbox_server)
    specs = steps()
    assert specs[-1].name == "contributions"
    for spec in specs[:-1]:
        spec.run(AGENT, "onboarding", None)
    expected = set(truth(sandbox_server, AGENT, "contributions")["contributions"]["ids"])
    assert len(expected) > 2 * PAGE, "the agent's contributions fit on too few pages"
    return specs[-1], expected


def test_a_lost_contributions_page_is_read_again_and_the_data_arrives_whole(
    before_contributions, sandbox_server
):
    step, expected = before_contributions
    _arm(sandbox_server, 1)
    step.run(AGENT, "onboarding", None)
    assert _hits(sandbox_server) == 1  # page 0 of tier 1 was lost once
    assert _raw_contribution_ids() == expected
    assert _runs() == [("done", None)]


def test_a_page_that_stays_lost_fails_the_run_by_name(before_contributions, sandbox_server):
    step, expected = before_contributions
    _arm(sandbox_server, rezen_settings.SHORT_PAGE_REREADS + 1)
    with pytest.raises(IntegrationError) as err:
        step.run(AGENT, "onboarding", None)
    message = str(err.value)
    assert message.startswith(f"agent {AGENT}, rezen: arrakis /revshares/")
    assert "/contributions/1 page 0: page 1 was served for page 0; records would be lost" in (
        message
    )
    assert _hits(sandbox_server) == rezen_settings.SHORT_PAGE_REREADS + 1
    ((status, error),) = _runs()
    assert status == "failed" and message in error
    assert not _raw_contribution_ids()  # nothing loaded that could pass for the whole list

    # the vendor serves whole pages again: a re-run loads everything
    step.run(AGENT, "onboarding", None)
    assert _raw_contribution_ids() == expected
    assert [r[0] for r in _runs()] == ["failed", "done"]


@pytest.mark.parametrize(
    ("body", "number", "problem"),
    [
        ({"x": [1] * 10, "pageNumber": 0, "hasNext": True, "totalCount": 25}, 0, None),
        ({"x": [1] * 5, "pageNumber": 2, "hasNext": False, "totalCount": 25}, 2, None),
        ({"x": [], "hasNext": False, "totalCount": 0}, 0, None),
        # an API that caps the page size and says so is honest
        ({"x": [1] * 4, "pageSize": 4, "hasNext": True}, 0, None),
        ({"x": [1] * 10, "pageNumber": 1, "hasNext": True}, 0, "page 1 was served for page 0"),
        ({"x": [1] * 9, "hasNext": True}, 3, "9 of 10 records on a page that links to a next one"),
        (
            {"x": [1] * 3, "pageNumber": 2, "hasNext": False, "totalCount": 25},
            2,
            "the last page holds 3 records where totalCount 25 leaves 5",
        ),
        ({"x": [], "hasNext": False, "totalCount": 7}, 0, "the last page holds 0 records"),
        ({"x": {"a": 1}}, 0, "'x' is a dict, not a list"),
    ],
)
def test_page_invariants(body, number, problem):
    got = page_problem(body, "x", number, 10)
    if problem is None:
        assert got is None
    else:
        assert got is not None and got.startswith(problem)
