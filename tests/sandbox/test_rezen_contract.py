"""Contract tests of the reZEN replica, over plain HTTP (no agentsync code involved).

Each test checks a documented behaviour (``docs/vendors/rezen.md``; A.n below is §n there)
against what the replica serves, and the replica against its own ground truth.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

ERROR_KEY = "com.real.commons.apierror.ApiError"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STATUSES = ["ACTIVE", "INACTIVE", "CANDIDATE", "REJECTED", "RESURRECTING"]


class Rezen:
    """A tiny plain-HTTP client for one agent of the running sandbox."""

    def __init__(self, server, user_id: int) -> None:
        self.server = server
        urls = server.sandbox.base_urls()
        self.yenta = urls["rezen_yenta_url"]
        self.arrakis = urls["rezen_arrakis_url"]
        self.keymaker = urls["rezen_keymaker_url"]
        cred = server.sandbox.modules["rezen"].credentials(user_id)
        assert cred is not None
        self.headers = {"X-API-KEY": cred["api_key"]}
        self.user_id = user_id
        self.me = self.get(f"{self.yenta}/agents/me").json()

    def get(self, url: str, **params: Any) -> httpx.Response:
        return httpx.get(url, headers=self.headers, params=params, timeout=30)

    def all_pages(self, url: str, key: str, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        number = 0
        while True:
            resp = self.get(url, pageNumber=number, pageSize=7, **params)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["pageNumber"] == number
            rows.extend(body[key])
            if not body["hasNext"]:
                return rows
            number += 1

    def truth(self, entity: str) -> dict[str, Any]:
        resp = httpx.get(
            f"{self.server.url}/_sandbox/truth/rezen",
            params={"user_id": self.user_id, "entity": entity},
            timeout=30,
        )
        resp.raise_for_status()
        return resp.json()[str(self.user_id)][entity]


@pytest.fixture
def rz(sandbox_server) -> Rezen:
    return Rezen(sandbox_server, 101)


def test_auth_requires_x_api_key(sandbox_server, rz: Rezen) -> None:
    url = f"{rz.yenta}/agents/me"
    key = rz.headers["X-API-KEY"]
    for headers in ({}, {"Authorization": f"Bearer {key}"}, {"X-API-KEY": "real_wrong"}):
        resp = httpx.get(url, headers=headers, timeout=10)
        assert resp.status_code == 403
        assert resp.json() == {ERROR_KEY: {"message": "Not authorized."}}  # A.2, E: exactly
    # header names are case-insensitive (A.2: X-API-Key also works)
    assert httpx.get(url, headers={"x-api-key": key}, timeout=10).status_code == 200
    # a key sees only its own agent
    other = Rezen(sandbox_server, 102)
    resp = httpx.get(
        f"{rz.arrakis}/revshares/{other.me['id']}/payments", headers=rz.headers, timeout=10
    )
    assert resp.status_code == 403


def test_credentials_only_for_rezen_agents(sandbox_server) -> None:
    module = sandbox_server.sandbox.modules["rezen"]
    for agent in sandbox_server.sandbox.world.agents:
        cred = module.credentials(agent.user_id)
        assert (cred is not None) == ("rezen" in agent.integrations)
        if cred:
            assert cred["api_key"].startswith("real_")


def test_agent_me_and_team(rz: Rezen) -> None:
    me = rz.me
    assert UUID.match(me["id"])
    assert me["sizeOfNetwork"] == rz.truth("network")["count"]
    team_ref = me["teams"][0]
    team = rz.get(f"{rz.yenta}/teams/{team_ref['teamId']}").json()
    ids = [m["agent"]["id"] for m in team["agents"]]
    assert sorted(ids) == sorted(rz.truth("team_members")["ids"])
    roles = {r for m in team["agents"] for r in m["roles"]}
    assert {"LEADER", "ADMIN", "MEMBER"} <= roles


@pytest.mark.parametrize("kind", ["transactions", "listing-transactions"])
def test_lifecycle_lists_page_to_truth(rz: Rezen, kind: str) -> None:
    entity = "transactions" if kind == "transactions" else "listings"
    truth = rz.truth(entity)
    base = f"{rz.arrakis}/transactions/participant/{rz.me['id']}/{kind}"
    counts = rz.get(f"{base}/lifecycle-group-counts").json()
    assert counts == truth["by_lifecycle"]
    seen: list[str] = []
    for group in ("OPEN", "CLOSED", "TERMINATED"):
        rows = rz.all_pages(f"{base}/{group}", "transactions", sortBy="UPDATED_AT")
        assert len(rows) == truth["by_lifecycle"][group]
        seen.extend(r["id"] for r in rows)
        for r in rows:
            assert UUID.match(r["id"])
            money = r["price"] if kind == "transactions" else r["listingPrice"]
            assert set(money) == {"amount", "currency"}
            assert isinstance(r["updatedAt"], int)  # epoch ms
    assert sorted(seen) == sorted(truth["ids"])


def test_transactions_follow_the_shared_real_deals(sandbox_server, rz: Rezen) -> None:
    """Address, side, price and close date are the world's deals (also served by SkySlope)."""
    world = sandbox_server.sandbox.world
    deals = {
        f"{d.street_number} {d.street_name}": d
        for d in world.deals(101)
        if d.in_rezen and not d.is_listing
    }
    base = f"{rz.arrakis}/transactions/participant/{rz.me['id']}/transactions/CLOSED"
    rows = rz.all_pages(base, "transactions")
    assert rows
    for r in rows:
        deal = deals[r["address"]["street"]]
        assert Decimal(str(r["price"]["amount"])) == Decimal(deal.price_cents) / 100
        assert r["representationType"] == deal.side
        assert r["address"]["city"] == deal.city and r["address"]["zip"] == deal.zip
        assert datetime.fromtimestamp(r["closedAt"] / 1000, UTC).date() == deal.close_date


def test_detail_has_participants_and_unknown_agents(rz: Rezen) -> None:
    network = set(rz.truth("network")["ids"]) | {rz.me["id"]}
    roster = set(rz.truth("team_members")["ids"])
    unknown = 0
    total = 0
    for tid in rz.truth("transactions")["ids"]:
        detail = rz.get(f"{rz.arrakis}/transactions/{tid}").json()
        parts = detail["participants"]
        total += len(parts)
        assert any(p["external"] for p in parts)
        agents = [p["yentaUserId"] for p in parts if p["yentaUserId"]]
        unknown += sum(1 for a in agents if a not in network | roster)
        if detail["lifecycleState"]["state"] == "SETTLED":
            paid = sum(
                Decimal(str(p["payment"]["amount"]["amount"])) for p in parts if p.get("payment")
            )
            assert paid == Decimal(str(detail["grossCommission"]["amount"]))
    assert total == rz.truth("participants")["count"]
    assert unknown > 0, "the replica must name some agents that are not known"
    assert (
        rz.get(f"{rz.arrakis}/transactions/00000000-0000-4000-8000-000000000000").status_code == 404
    )


def test_downline_defaults_to_active_and_agrees_with_sponsor_tree(rz: Rezen) -> None:
    truth = rz.truth("network")
    agents: list[dict[str, Any]] = []
    active_only = 0
    for tier in range(1, 6):
        url = f"{rz.yenta}/agents/{rz.me['id']}/down-line/{tier}"
        rows = rz.all_pages(url, "downLineAgents", statusIn=STATUSES)
        assert len(rows) == truth["by_tier"][str(tier)] > 0
        agents.extend(dict(r, tier=tier) for r in rows)
        default = rz.all_pages(url, "downLineAgents")
        assert {r["status"] for r in default} <= {"ACTIVE"}
        active_only += len(default)
    assert sorted(a["id"] for a in agents) == sorted(truth["ids"])
    assert {a["status"] for a in agents} == set(STATUSES)
    assert active_only == truth["by_status"]["ACTIVE"] < truth["count"]
    by_id = {a["id"]: a for a in agents}
    for a in agents[:: max(1, len(agents) // 10)]:
        tree = rz.get(f"{rz.yenta}/agents/{a['id']}/sponsor-tree").json()["flattenedSponsors"]
        ids = [s["id"] for s in tree]
        assert ids.index(rz.me["id"]) == a["tier"] - 1  # tier = sponsors up to the agent
        assert ids[0] == a["sponsorId"]
        for level, s in enumerate(tree[: a["tier"] - 1], start=1):
            assert by_id[s["id"]]["tier"] == a["tier"] - level
    front = rz.get(f"{rz.yenta}/agents/{rz.me['id']}/front-line-agents-info").json()
    assert sorted(f["id"] for f in front["frontLineAgentInfos"]) == sorted(
        rz.truth("front_line")["ids"]
    )


def test_revshare_equity_cap(rz: Rezen) -> None:
    aid = rz.me["id"]
    payments = rz.all_pages(f"{rz.arrakis}/revshares/{aid}/payments", "payments")
    assert sorted(p["id"] for p in payments) == sorted(rz.truth("revshare_payments")["ids"])
    contributions = []
    for tier in range(1, 6):
        contributions += rz.all_pages(
            f"{rz.arrakis}/revshares/{aid}/contributions/{tier}", "contributions"
        )
    assert sorted(c["id"] for c in contributions) == sorted(rz.truth("contributions")["ids"])
    pending = rz.all_pages(f"{rz.arrakis}/revshares/{aid}/payments/pending", "contributions")
    assert len(pending) == rz.truth("pending_contributions")["count"] > 0
    resp = rz.get(f"{rz.arrakis}/revshares/{aid}/contributors/1")
    assert resp.status_code == 400 and "startDate" in resp.json()[ERROR_KEY]["message"]
    contributors = []
    for tier in range(1, 6):
        contributors += rz.all_pages(
            f"{rz.arrakis}/revshares/{aid}/contributors/{tier}",
            "contributors",
            startDate="2000-01-01",
            endDate="2100-01-01",
        )
    assert len(contributors) == rz.truth("contributors")["count"]
    equity = rz.all_pages(f"{rz.yenta}/agents/{aid}/equity-purchases", "equityPurchases")
    assert len(equity) == rz.truth("equity")["count"]
    cap = rz.get(f"{rz.yenta}/agents/{aid}/cap-info").json()
    assert set(cap["brokerageCap"]) == {"amount", "currency"}
    assert rz.get(f"{rz.keymaker}/api-keys").status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("transactions/OPEN", {"pageSize": "many"}, "pageSize"),
        ("transactions/OPEN", {"pageNumber": "-1"}, "pageNumber"),
        ("transactions/OPEN", {"pageSize": "5000"}, "pageSize"),
        ("transactions/PENDING", {}, "lifecycleGroup"),
        ("transactions/OPEN", {"sortBy": "PRICE"}, "sortBy"),
    ],
)
def test_bad_parameters_answer_400(rz: Rezen, path: str, params: dict, fragment: str) -> None:
    url = f"{rz.arrakis}/transactions/participant/{rz.me['id']}/{path}"
    resp = rz.get(url, **params)
    assert resp.status_code == 400
    assert fragment in resp.json()[ERROR_KEY]["message"]


def test_bad_downline_params(rz: Rezen) -> None:
    base = f"{rz.yenta}/agents/{rz.me['id']}/down-line"
    assert rz.get(f"{base}/9").status_code == 400
    assert rz.get(f"{base}/1", statusIn="RETIRED").status_code == 400
    assert rz.get(f"{base}/1", updatedAtFrom="yesterday").status_code == 400


def test_advance_changes_transactions_and_truth(sandbox_server, rz: Rezen) -> None:
    before = rz.truth("transactions")
    payments_before = rz.truth("revshare_payments")["count"]
    resp = httpx.post(
        f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.2}
    )
    summary = resp.json()["changes"]["rezen"]["101"]
    assert summary["transactions_updated"] > 0
    after = rz.truth("transactions")
    assert after["count"] == before["count"] + summary["transactions_created"]
    assert set(before["ids"]) <= set(after["ids"])
    assert sum(after["by_lifecycle"].values()) == after["count"]
    assert rz.truth("revshare_payments")["count"] == payments_before + 1
    base = f"{rz.arrakis}/transactions/participant/{rz.me['id']}/transactions"
    newest = rz.get(f"{base}/OPEN", sortBy="UPDATED_AT", sortDirection="DESC", pageSize=1)
    now_ms = sandbox_server.sandbox.world.now().timestamp() * 1000
    assert newest.json()["transactions"][0]["updatedAt"] > now_ms - 2 * 86_400_000
    served = sum(
        len(rz.all_pages(f"{base}/{g}", "transactions")) for g in ("OPEN", "CLOSED", "TERMINATED")
    )
    assert served == after["count"]


def test_record_faults(sandbox_server, rz: Rezen) -> None:
    url = f"{rz.arrakis}/transactions/participant/{rz.me['id']}/transactions/CLOSED"
    faults = f"{sandbox_server.url}/_sandbox/faults"
    httpx.post(faults, json={"spec": "rezen:/arrakis/*/CLOSED:malformed:1"})
    rows = rz.get(url, pageSize=5).json()["transactions"]
    assert rows[0]["id"] is None and all(r["id"] for r in rows[1:])
    httpx.post(faults, json={"spec": "rezen:/arrakis/*/CLOSED:drift_added:1"})
    assert "sandboxAddedField" in rz.get(url, pageSize=5).json()["transactions"][0]
    httpx.post(faults, json={"spec": "rezen:/arrakis/*/CLOSED:lose_page:1"})
    lost = rz.get(url, pageSize=5, pageNumber=0).json()
    first = rz.get(url, pageSize=5, pageNumber=0).json()
    assert {r["id"] for r in lost["transactions"]}.isdisjoint(
        {r["id"] for r in first["transactions"]}
    )
    httpx.post(faults, json={"spec": "rezen:/arrakis/*:server_error:1"})
    assert rz.get(url).status_code == 500
    assert rz.get(url).status_code == 200


def _by_group(rz: Rezen, family: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``family`` (transactions / listing-transactions): every row served, per lifecycle group."""
    base = f"{rz.arrakis}/transactions/participant/{rz.me['id']}/{family}"
    return {
        g: {r["id"]: r for r in rz.all_pages(f"{base}/{g}", "transactions")}
        for g in ("OPEN", "CLOSED", "TERMINATED")
    }


def test_advance_terminates_closes_and_creates_as_truth_says(sandbox_server, rz: Rezen) -> None:
    families = {"transactions": "transactions", "listings": "listing-transactions"}
    before = {entity: _by_group(rz, fam) for entity, fam in families.items()}
    totals = {"terminated": 0, "transactions_created": 0, "listings_created": 0}
    for _ in range(3):  # random changes: move on until at least one record is terminated
        resp = httpx.post(
            f"{sandbox_server.url}/_sandbox/advance",
            json={"seconds": 3600, "fraction": 1.0},
            timeout=60,
        )
        mine = resp.json()["changes"]["rezen"][str(rz.user_id)]
        for key in totals:
            totals[key] += mine[key]
        if totals["terminated"]:
            break
    assert totals["terminated"] > 0
    terminated = 0
    for entity, fam in families.items():
        after = _by_group(rz, fam)
        truth = rz.truth(entity)
        served = {i: g for g, rows in after.items() for i in rows}
        old = {i: g for g, rows in before[entity].items() for i in rows}
        was = {i: old.get(i, "OPEN") for i in served}  # created records start OPEN
        # HTTP (every group, every page) == truth; nothing disappears: removal is a lifecycle
        assert sorted(served) == sorted(truth["ids"]) and truth["deleted_ids"] == []
        assert {g: len(rows) for g, rows in after.items()} == truth["by_lifecycle"]
        assert set(old) <= set(served)
        created = set(served) - set(old)
        assert len(created) == totals[f"{entity}_created"]
        moved = {i for i, g in served.items() if g == "TERMINATED" and was[i] == "OPEN"}
        assert all(old[i] != "TERMINATED" or served[i] == "TERMINATED" for i in old)
        terminated += len(moved)
        for i in moved:
            row = after["TERMINATED"][i]
            assert row["lifecycleState"]["state"] == "TERMINATED"
            assert "closedAt" not in row and "closingDateEstimated" not in row
            if i in old:
                assert row["updatedAt"] > before[entity]["OPEN"][i]["updatedAt"]
            if entity == "transactions":
                detail = rz.get(f"{rz.arrakis}/transactions/{i}").json()
                assert detail["lifecycleState"]["state"] == "TERMINATED"
    assert terminated == totals["terminated"]


def test_drift_renamed_and_wrong_types_faults(sandbox_server, rz: Rezen) -> None:
    url = f"{rz.arrakis}/transactions/participant/{rz.me['id']}/transactions/CLOSED"
    faults = f"{sandbox_server.url}/_sandbox/faults"
    clean = rz.get(url, pageSize=5).json()["transactions"]
    assert len(clean) > 1
    arm = httpx.post(faults, json={"spec": "rezen:/arrakis/*/CLOSED:drift_renamed:1"})
    assert arm.status_code == 200
    renamed = rz.get(url, pageSize=5).json()["transactions"]
    assert [r["id"] for r in renamed] == [r["id"] for r in clean]
    for before, after in zip(clean, renamed, strict=True):  # one field, under a new name
        (gone,) = set(before) - set(after)
        assert set(after) - set(before) == {f"{gone}Renamed"}
        assert after[f"{gone}Renamed"] == before[gone]
    httpx.post(faults, json={"spec": "rezen:/arrakis/*/CLOSED:malformed_types:1"})
    typed = rz.get(url, pageSize=5).json()["transactions"]
    assert typed[:-1] == clean[:-1]
    bad, good = typed[-1], clean[-1]
    assert bad["id"] == good["id"]  # the id is intact: only the types are wrong
    for key, value in good.items():
        if key != "id" and value is not None:
            assert type(bad[key]) is not type(value), key
    assert rz.get(url, pageSize=5).json()["transactions"] == clean  # one hit only


def test_unknown_paths_and_methods_answer_in_rezen_error_shape(rz: Rezen) -> None:
    for url in (f"{rz.yenta}/no-such-endpoint", f"{rz.arrakis}/x/y", f"{rz.keymaker}/z"):
        resp = rz.get(url)
        assert resp.status_code == 404 and set(resp.json()) == {ERROR_KEY}, url
        assert set(resp.json()[ERROR_KEY]) == {"message"}
        anon = httpx.get(url, timeout=10)  # without a key: 403 as for any endpoint (A.2)
        assert anon.json() == {ERROR_KEY: {"message": "Not authorized."}}
    outside = rz.get(rz.yenta.split("/yenta/")[0] + "/nothing")
    assert outside.status_code == 404 and set(outside.json()) == {ERROR_KEY}
    for method in ("POST", "PUT", "DELETE"):
        resp = httpx.request(method, f"{rz.yenta}/agents/me", headers=rz.headers, timeout=10)
        assert resp.status_code == 405 and set(resp.json()[ERROR_KEY]) == {"message"}, method


def test_payments_added_by_advance_are_paid_at_the_sandbox_time(sandbox_server, rz: Rezen) -> None:
    """Each advance adds one revshare payment, paid when the clock got there: three one-day
    advances never date a payment (or its contributions) after the sandbox's now. They were
    dated a month after the last one, so the second advance put one 30 days in the future and
    the fleet benchmark's quality gate failed on it."""
    aid = rz.me["id"]
    for _ in range(3):
        httpx.post(
            f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.05}
        ).raise_for_status()
    now_ms = sandbox_server.sandbox.world.now().timestamp() * 1000
    payments = rz.all_pages(f"{rz.arrakis}/revshares/{aid}/payments", "payments")
    newest = sorted(p["paidAt"] for p in payments)[-3:]
    assert all(paid <= now_ms for paid in newest)
    assert newest[-1] > now_ms - 86_400_000  # the last one was paid on the last advance's day
    contributions = []
    for tier in range(1, 6):
        contributions += rz.all_pages(
            f"{rz.arrakis}/revshares/{aid}/contributions/{tier}", "contributions"
        )
    dates = [c[k] for c in contributions for k in c if k.endswith("At") and c[k]]
    assert dates and max(dates) <= now_ms
