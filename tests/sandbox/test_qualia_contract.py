"""Contract tests for the Qualia replica over plain HTTP (``docs/vendors/qualia.md``)."""

from __future__ import annotations

import httpx
import pytest

AGENT = 101
QUERY = (
    "query GetOrders($limit: Int, $offset: Int) { orders(input: {limit: $limit, offset: $offset})"
    " { orders { _id order_number status open_date close_date purchase_price"
    " properties { address_line_1 city state zipcode } } } }"
)


@pytest.fixture
def qualia(sandbox_server):
    url = sandbox_server.sandbox.base_urls()["qualia_base_url"]
    cred = sandbox_server.sandbox.modules["qualia"].credentials(AGENT)
    return sandbox_server, url, httpx.BasicAuth(cred["username"], cred["password"])


def test_documented_auth_errors(qualia):
    _, url, _ = qualia
    body = {"query": QUERY, "variables": {"limit": 5, "offset": 0}}
    missing = httpx.post(url, json=body)
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["message"] == "Authorization header is missing"
    bearer = httpx.post(url, json=body, headers={"Authorization": "Bearer abc"})
    assert bearer.status_code == 401
    assert bearer.json()["errors"][0]["message"] == "Authorization header is not properly formatted"
    bad = httpx.post(url, json=body, auth=httpx.BasicAuth("someone", "wrong"))
    assert bad.status_code == 403
    assert bad.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_offset_paging_until_empty_equals_truth(qualia):
    running, url, auth = qualia
    truth = httpx.get(
        f"{running.url}/_sandbox/truth/qualia", params={"user_id": AGENT, "entity": "orders"}
    ).json()[str(AGENT)]["orders"]
    seen, offset = [], 0
    while True:
        resp = httpx.post(
            url, json={"query": QUERY, "variables": {"limit": 7, "offset": offset}}, auth=auth
        )
        assert resp.status_code == 200
        orders = resp.json()["data"]["orders"]["orders"]
        if not orders:
            break
        seen.extend(o["_id"] for o in orders)
        offset += len(orders)
    assert seen == truth["ids"]
    literal = httpx.post(
        url,
        json={"query": "{ orders(input: {limit: 2, offset: 1}) { orders { _id } } }"},
        auth=auth,
    ).json()["data"]["orders"]["orders"]
    assert [o["_id"] for o in literal] == truth["ids"][1:3]


def test_other_queries_get_graphql_error(qualia):
    _, url, auth = qualia
    resp = httpx.post(
        url, json={"query": "{ usersInOrganization { users { user_id } } }"}, auth=auth
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["message"]
    assert httpx.post(url.rsplit("/graphql", 1)[0] + "/", json={}).status_code == 404


def test_some_orders_are_on_the_agents_deal_addresses(qualia):
    running, url, auth = qualia
    orders = httpx.post(
        url, json={"query": QUERY, "variables": {"limit": 100, "offset": 0}}, auth=auth
    ).json()["data"]["orders"]["orders"]
    addresses = {d.address for d in running.sandbox.world.deals(AGENT)}
    linked = [o for o in orders if o["properties"][0]["address_line_1"] in addresses]
    assert 0 < len(linked) < len(orders)


def test_advance_adds_orders_at_the_end(qualia):
    running, _, _ = qualia
    before = httpx.get(
        f"{running.url}/_sandbox/truth/qualia", params={"user_id": AGENT, "entity": "orders"}
    ).json()
    httpx.post(f"{running.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.1})
    after = httpx.get(
        f"{running.url}/_sandbox/truth/qualia", params={"user_id": AGENT, "entity": "orders"}
    ).json()
    b, a = before[str(AGENT)]["orders"]["ids"], after[str(AGENT)]["orders"]["ids"]
    assert len(a) > len(b) and a[: len(b)] == b


def _all_orders(url: str, auth: httpx.BasicAuth) -> list[dict]:
    """Every order served, paging by offset until an empty list (C.2)."""
    seen, offset = [], 0
    while True:
        resp = httpx.post(
            url, json={"query": QUERY, "variables": {"limit": 9, "offset": offset}}, auth=auth
        )
        assert resp.status_code == 200, resp.text
        orders = resp.json()["data"]["orders"]["orders"]
        if not orders:
            return seen
        seen.extend(orders)
        offset += len(orders)


def test_advance_closes_cancels_and_creates_orders_as_truth_says(qualia):
    running, url, _ = qualia
    module = running.sandbox.modules["qualia"]
    agents = [a.user_id for a in running.sandbox.world.agents_with("qualia")]
    auths = {
        uid: httpx.BasicAuth(
            module.credentials(uid)["username"], module.credentials(uid)["password"]
        )
        for uid in agents
    }
    before = {uid: {o["_id"]: o for o in _all_orders(url, auths[uid])} for uid in agents}
    totals = {"orders_created": 0, "orders_changed": 0, "orders_cancelled": 0}
    for _ in range(3):  # random changes: move on until at least one order is cancelled
        resp = httpx.post(f"{running.url}/_sandbox/advance", json={"seconds": 3600, "fraction": 1})
        for key in totals:
            totals[key] += resp.json()["changes"]["qualia"][key]
        if totals["orders_cancelled"]:
            break
    assert totals["orders_cancelled"] > 0
    cancelled = changed = created = 0
    for uid in agents:
        served = _all_orders(url, auths[uid])
        truth = httpx.get(
            f"{running.url}/_sandbox/truth/qualia", params={"user_id": uid, "entity": "orders"}
        ).json()[str(uid)]["orders"]
        old = before[uid]
        ids = [o["_id"] for o in served]
        # HTTP (every page) == truth; nothing disappears (a cancelled order keeps its place)
        assert ids == truth["ids"] and truth["deleted_ids"] == []
        assert ids[: len(old)] == list(old)
        statuses = [o["status"] for o in served]
        assert {s: statuses.count(s) for s in truth["by_status"]} == truth["by_status"]
        assert len(statuses) == truth["count"]
        assert [o["_id"] for o in served if o["status"] == "cancelled"] == truth["cancelled_ids"]
        for o in served:  # new orders start open (a later advance may already change them)
            was = old[o["_id"]]["status"] if o["_id"] in old else "open"
            if o["status"] != was:
                assert was == "open" and o["status"] in ("closed", "cancelled")
                changed += 1
                cancelled += o["status"] == "cancelled"
                assert (o["close_date"] is None) == (o["status"] == "cancelled")
        created += len(served) - len(old)
    assert (cancelled, changed, created) == (
        totals["orders_cancelled"],
        totals["orders_changed"],
        totals["orders_created"],
    )


def _orders(url: str, auth, variables: object = None, query: str = QUERY) -> httpx.Response:
    return httpx.post(url, json={"query": query, "variables": variables}, auth=auth, timeout=30)


def test_record_faults_on_orders(qualia):
    running, url, auth = qualia
    variables = {"limit": 5, "offset": 0}
    clean = _orders(url, auth, variables).json()["data"]["orders"]["orders"]
    assert len(clean) == 5

    def armed(kind: str) -> list[dict]:
        spec = f"qualia:/graphql:{kind}:1"
        assert httpx.post(f"{running.url}/_sandbox/faults", json={"spec": spec}).status_code == 200
        resp = _orders(url, auth, variables)
        assert resp.status_code == 200
        return resp.json()["data"]["orders"]["orders"]

    missing = armed("malformed")
    assert "_id" not in missing[0] and missing[1:] == clean[1:]
    typed = armed("malformed_types")
    assert typed[:-1] == clean[:-1] and typed[-1]["_id"] == clean[-1]["_id"]
    for key, value in clean[-1].items():
        if key != "_id" and value is not None:
            assert type(typed[-1][key]) is not type(value), key
    added = armed("drift_added")
    assert all(set(a) - set(c) == {"escrow_officer"} for a, c in zip(added, clean, strict=True))
    renamed = armed("drift_renamed")
    for r, c in zip(renamed, clean, strict=True):  # one field under a new name, same value
        (gone,) = set(c) - set(r)
        (new,) = set(r) - set(c)
        assert r[new] == c[gone]
    lost = armed("lose_page")  # fewer orders than asked for although more exist
    assert lost == clean[-1:]
    after = _orders(url, auth, {"limit": 5, "offset": len(lost)}).json()["data"]["orders"]
    assert after["orders"][:4] == clean[1:]  # moving the offset on by 1 never serves clean[0]
    assert _orders(url, auth, variables).json()["data"]["orders"]["orders"] == clean


def test_bad_variables_and_input_are_bad_user_input(qualia):
    _, url, auth = qualia
    by_input = "query Q($input: OrdersInput) { orders(input: $input) { orders { _id } } }"
    for variables, query in (
        ([1, 2], QUERY),  # variables not an object
        ("limit=5", QUERY),
        ({"input": "all of them"}, by_input),  # input not an object
        ({"input": [5, 0]}, by_input),
        ({"limit": True, "offset": 0}, QUERY),  # a boolean is not an Int
        ({"limit": 2.5, "offset": 0}, QUERY),
    ):
        resp = _orders(url, auth, variables, query)
        assert resp.status_code == 400, (variables, resp.text)
        (error,) = resp.json()["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["message"]
    ok = _orders(url, auth, {"input": {"limit": 2, "offset": 0}}, by_input)
    assert ok.status_code == 200 and len(ok.json()["data"]["orders"]["orders"]) == 2
    other = httpx.get(url, auth=auth)  # any other method or path: Express's 404 (C.1)
    assert other.status_code == 404 and "Cannot GET" in other.text
