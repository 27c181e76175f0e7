"""Contract tests of the Follow Up Boss replica, over plain HTTP against a served sandbox.

Expected values come from the sandbox's ground truth (``/_sandbox/truth``) or from other answers
of the same API (e.g. a filtered list against the unfiltered one), never from copied numbers.
Behaviour references (§n) are to sections of ``docs/vendors/fub.md``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sandbox.core import RunningSandbox, start_in_thread

SEED = 42


def fub_client(running: RunningSandbox, uid: int = 101, system_key: bool = True) -> httpx.Client:
    """An httpx client authenticated as agent ``uid`` the way the docs say (§1.2, §1.4)."""
    cred = running.sandbox.modules["fub"].credentials(uid)
    headers = {"X-System": cred["system"]}
    if system_key:
        headers["X-System-Key"] = cred["system_key"]
    kwargs: dict = {"base_url": f"{running.url}/fub/v1", "headers": headers, "timeout": 30}
    if "api_key" in cred:
        kwargs["auth"] = (cred["api_key"], "")
    else:
        headers["Authorization"] = f"Bearer {cred['access_token']}"
    return httpx.Client(**kwargs)


def walk(client: httpx.Client, path: str, params: dict | None = None) -> tuple[list[dict], list]:
    """Every record of a list, following ``nextLink``; returns (records, metadata per page)."""
    records, metas = [], []
    resp = client.get(path, params={"limit": 100, **(params or {})})
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        meta = body["_metadata"]
        metas.append(meta)
        records += body[meta["collection"]]
        if not meta["nextLink"]:
            return records, metas
        resp = client.get(meta["nextLink"])


def truth(running: RunningSandbox, uid: int, entity: str | None = None) -> dict:
    params = {"user_id": uid, **({"entity": entity} if entity else {})}
    resp = httpx.get(f"{running.url}/_sandbox/truth/fub", params=params, timeout=30)
    assert resp.status_code == 200, resp.text
    out = resp.json()[str(uid)]
    return out[entity] if entity else out


def advance(running: RunningSandbox, seconds: float = 86_400, fraction: float = 0.02) -> dict:
    resp = httpx.post(
        f"{running.url}/_sandbox/advance",
        json={"seconds": seconds, "fraction": fraction},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def shared() -> Iterator[RunningSandbox]:
    """One sandbox for the read-only tests of this module (nothing here changes its state)."""
    running = start_in_thread(seed=SEED, scale="tiny")
    running.sandbox.modules["fub"].ratelimit.enabled = False
    yield running
    running.stop()


@pytest.fixture
def fresh() -> Iterator[RunningSandbox]:
    """A sandbox of its own, for tests that advance the clock, arm faults or hit limits."""
    running = start_in_thread(seed=SEED, scale="tiny")
    yield running
    running.stop()


# --------------------------------------------------------------------------------------------
# wiring and auth
# --------------------------------------------------------------------------------------------


def test_base_urls_point_at_the_fub_prefix(shared: RunningSandbox) -> None:
    env = shared.sandbox.env()
    assert env["AGENTSYNC_FUB_BASE_URL"] == f"{shared.url}/fub/v1"
    assert env["AGENTSYNC_FUB_OAUTH_TOKEN_URL"] == f"{shared.url}/fub/oauth/token"


def test_api_key_is_the_basic_username_and_anything_else_is_401(shared: RunningSandbox) -> None:
    cred = shared.sandbox.modules["fub"].credentials(101)
    url = f"{shared.url}/fub/v1/people"
    ok = httpx.get(url, auth=(cred["api_key"], "any password"))
    assert ok.status_code == 200
    for auth in [None, ("wrong-key", ""), (cred["system_key"], "")]:
        resp = httpx.get(url, auth=auth)
        assert resp.status_code == 401
        assert "errorMessage" in resp.json()
    bad = httpx.get(url, headers={"Authorization": "Basic !!notbase64"})
    assert bad.status_code == 401


def test_credentials_only_for_fub_agents_and_one_uses_oauth(shared: RunningSandbox) -> None:
    fub = shared.sandbox.modules["fub"]
    world = shared.sandbox.world
    creds = {a.user_id: fub.credentials(a.user_id) for a in world.agents}
    assert all(c is not None for c in creds.values())  # every demo agent has FUB connected
    assert fub.credentials(999) is None
    assert "api_key" in creds[101] and "access_token" not in creds[101]
    assert {"access_token", "refresh_token", "client_id", "client_secret"} <= set(creds[103])
    assert len({c.get("api_key") for c in creds.values() if "api_key" in c}) == 2


def test_each_key_sees_only_its_own_account(shared: RunningSandbox) -> None:
    with fub_client(shared, 101) as c101, fub_client(shared, 102) as c102:
        p101 = c101.get("/people", params={"limit": 1}).json()["people"][0]
        p102 = c102.get("/people", params={"limit": 1}).json()["people"][0]
        assert p101["id"] != p102["id"]
        assert c101.get(f"/people/{p101['id']}").status_code == 200
        assert c101.get(f"/people/{p102['id']}").status_code == 404
        users101 = {u["id"] for u in c101.get("/users").json()["users"]}
        users102 = {u["id"] for u in c102.get("/users").json()["users"]}
        assert users101.isdisjoint(users102)


def test_oauth_refresh_and_expiry_by_the_sandbox_clock(fresh: RunningSandbox) -> None:
    cred = fresh.sandbox.modules["fub"].credentials(103)
    token_url = f"{fresh.url}/fub/oauth/token"
    people = f"{fresh.url}/fub/v1/people"

    def bearer(token: str) -> httpx.Response:
        return httpx.get(people, headers={"Authorization": f"Bearer {token}"})

    assert bearer(cred["access_token"]).status_code == 200
    form = {"grant_type": "refresh_token", "refresh_token": cred["refresh_token"]}
    bad_client = httpx.post(token_url, data=form, auth=(cred["client_id"], "wrong"))
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    client_auth = (cred["client_id"], cred["client_secret"])
    bad_grant = httpx.post(token_url, data={**form, "refresh_token": "nope"}, auth=client_auth)
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"
    bad_type = httpx.post(token_url, data={"grant_type": "password"}, auth=client_auth)
    assert bad_type.status_code == 400 and bad_type.json()["error"] == "unsupported_grant_type"

    advance(fresh, seconds=3_601, fraction=0)  # the access token lives 60 minutes (§1.4)
    expired = bearer(cred["access_token"])
    assert expired.status_code == 401 and "expired" in expired.json()["errorMessage"]
    resp = httpx.post(token_url, data=form, auth=client_auth)
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] and body["access_token"] != cred["access_token"]
    assert bearer(body["access_token"]).status_code == 200


def test_expired_credentials_fault_refuses_then_recovers(fresh: RunningSandbox) -> None:
    spec = {"spec": "fub:/v1/people*:expired_credentials:1"}
    assert httpx.post(f"{fresh.url}/_sandbox/faults", json=spec).status_code == 200
    with fub_client(fresh, 103) as client:
        assert client.get("/people").status_code == 401
        assert client.get("/people").status_code == 200


# --------------------------------------------------------------------------------------------
# the list envelope and paging
# --------------------------------------------------------------------------------------------


def test_metadata_envelope_default_limit_and_id_descending(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        body = client.get("/people").json()
    meta = body["_metadata"]
    assert set(meta) >= {"collection", "offset", "limit", "total", "next", "nextLink"}
    assert meta["collection"] == "people" and meta["limit"] == 10 and meta["offset"] == 0
    assert meta["total"] == truth(shared, 101)["people"]["default_count"]
    ids = [p["id"] for p in body["people"]]
    assert len(ids) == 10 and ids == sorted(ids, reverse=True)
    decoded = json.loads(base64.b64decode(meta["next"]))
    assert decoded["sinceId"] == ids[-1]  # keyset position (§3.1 decodes to {"sinceId": ...})


def test_limit_is_capped_at_100_and_bad_limits_are_400(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        big = client.get("/people", params={"limit": 500}).json()
        assert big["_metadata"]["limit"] == 100 and len(big["people"]) == 100
        for bad in ("abc", "0", "-5"):
            resp = client.get("/people", params={"limit": bad})
            assert resp.status_code == 400 and "limit" in resp.json()["errorMessage"]


def test_next_walk_returns_exactly_the_truth(shared: RunningSandbox) -> None:
    expected = truth(shared, 101, "people")
    assert expected["count"] > 2000  # more than the deep-offset limit: next is a must
    with fub_client(shared) as client:
        everyone, metas = walk(client, "/people", {"includeTrash": "true"})
        visible, _ = walk(client, "/people")
    ids = [p["id"] for p in everyone]
    assert len(ids) == len(set(ids)) == expected["count"]
    assert sorted(ids) == expected["ids"]
    assert all(m["total"] == expected["count"] for m in metas)
    assert all("includeTrash=true" in m["nextLink"] for m in metas[:-1])  # filters kept
    assert metas[-1]["next"] is None and metas[-1]["nextLink"] is None
    trashed = set(expected["trashed_ids"])
    assert trashed and {p["id"] for p in everyone if p["stage"] == "Trash"} == trashed
    assert {p["id"] for p in visible} == set(ids) - trashed  # Trash hidden by default
    assert len(visible) == expected["default_count"]


def test_offset_paging_matches_next_paging_until_it_is_too_deep(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        by_next, _ = walk(client, "/people")
        by_offset = []
        for offset in range(0, 2000, 100):
            resp = client.get("/people", params={"limit": 100, "offset": offset})
            assert resp.status_code == 200
            assert resp.json()["_metadata"]["offset"] == offset
            by_offset += resp.json()["people"]
        assert [p["id"] for p in by_offset] == [p["id"] for p in by_next[:2000]]
        deep = client.get("/people", params={"limit": 100, "offset": 2000})
        assert deep.status_code == 400
        assert "Deep pagination disabled" in deep.json()["errorMessage"]
        bad_token = client.get("/people", params={"next": "not-a-token"})
        assert bad_token.status_code == 400


def test_sorting(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        asc, _ = walk(client, "/people", {"sort": "id"})
        ids = [p["id"] for p in asc]
        assert ids == sorted(ids)
        assert len(ids) == truth(shared, 101)["people"]["default_count"]
        by_updated, _ = walk(client, "/people", {"sort": "-updated", "includeTrash": "true"})
        keys = [(p["updated"], p["id"]) for p in by_updated]
        assert keys == sorted(keys, reverse=True)
        assert sorted(p["id"] for p in by_updated) == truth(shared, 101, "people")["ids"]
        created = client.get("/people", params={"sort": "created", "limit": 50}).json()["people"]
        stamps = [p["created"] for p in created]
        assert stamps == sorted(stamps)
        bad = client.get("/people", params={"sort": "favouriteColour"})
        assert bad.status_code == 400 and "sort" in bad.json()["errorMessage"]
        stages = client.get("/stages").json()["stages"]
        weights = [s["orderWeight"] for s in stages]
        assert weights == sorted(weights)  # stages default to orderWeight (§2.8)


def test_common_filters_agree_with_the_unfiltered_list(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        everyone, _ = walk(client, "/people", {"includeTrash": "true"})
        ids = sorted(p["id"] for p in everyone)
        pivot = ids[len(ids) // 2]
        gt, metas = walk(client, "/people", {"includeTrash": "true", "idGreaterThan": pivot})
        assert sorted(p["id"] for p in gt) == [i for i in ids if i > pivot]
        assert metas[0]["total"] == len(gt)
        stamp = sorted(p["created"] for p in everyone)[len(everyone) * 3 // 4]
        ca, metas = walk(client, "/people", {"includeTrash": "true", "createdAfter": stamp})
        assert {p["id"] for p in ca} == {p["id"] for p in everyone if p["created"] > stamp}
        assert metas[0]["total"] == len(ca)
        ustamp = sorted(p["updated"] for p in everyone)[len(everyone) * 9 // 10]
        ua, metas = walk(client, "/people", {"includeTrash": "true", "updatedAfter": ustamp})
        assert {p["id"] for p in ua} == {p["id"] for p in everyone if p["updated"] > ustamp}
        assert ua and metas[0]["total"] == len(ua)
        some = ids[:3]
        listed = client.get(
            "/people", params={"id": ",".join(map(str, some)), "includeTrash": "true"}
        ).json()
        assert sorted(p["id"] for p in listed["people"]) == some
        bad = client.get("/people", params={"createdAfter": "last tuesday"})
        assert bad.status_code == 400 and "createdAfter" in bad.json()["errorMessage"]


def test_fields_projection_and_all_fields(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        slim = client.get("/people", params={"fields": "name,updated"}).json()["people"]
        assert all(set(p) == {"id", "name", "updated"} for p in slim)
        plain = client.get("/people").json()["people"][0]
        assert not any(k.startswith("custom") for k in plain)
        full = client.get("/people", params={"fields": "allFields"}).json()["people"][0]
        assert {"customBirthday", "customLeadScore"} <= set(full)
        assert set(plain) <= set(full)
        deals = client.get("/deals", params={"fields": "allFields"})
        assert deals.status_code == 400  # fub.md §2.2 LIVE-OBS
        bad = client.get("/people", params={"fields": "email"})  # it's `emails` (§6)
        assert bad.status_code == 400 and "email" in bad.json()["errorMessage"]


# --------------------------------------------------------------------------------------------
# collections and shapes
# --------------------------------------------------------------------------------------------


def test_collections_totals_match_truth(shared: RunningSandbox) -> None:
    expected = truth(shared, 102)
    with fub_client(shared, 102) as client:
        for name in ("deals", "events", "calls", "appointments", "users", "stages", "pipelines"):
            records, metas = walk(client, f"/{name}")
            assert metas[0]["total"] == expected[name]["count"] == len(records), name
            assert len({r["id"] for r in records}) == len(records)
        groups = client.get("/groups").json()
        assert groups["_metadata"]["total"] == expected["groups"]["count"]


def test_record_shapes_follow_the_research_samples(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        people, _ = walk(client, "/people", {"includeTrash": "true"})
        person = next(p for p in people if p["emails"] and p["phones"])
        assert isinstance(person["id"], int) and isinstance(person["contacted"], int)
        assert person["emails"][0]["isPrimary"] == 1
        assert set(person["phones"][0]) == {"value", "normalized", "type", "status", "isPrimary"}
        assert datetime.fromisoformat(person["created"].replace("Z", "+00:00"))
        assert person["created"].endswith("Z")
        deal = client.get("/deals").json()["deals"][0]
        assert "createdAt" in deal and "updated" not in deal and "created" not in deal
        assert isinstance(deal["people"], list) and {"id", "name"} <= set(deal["people"][0])
        events, _ = walk(client, "/events")
        with_property = [e for e in events if e["property"]]
        assert with_property
        prop = with_property[0]["property"]
        assert isinstance(prop["price"], str) and isinstance(prop["bedrooms"], str)
        pipelines = client.get("/pipelines").json()["pipelines"]
        deal_stage_ids = {s["id"] for p in pipelines for s in p["stages"]}
        person_stage_ids = {s["id"] for s in client.get("/stages").json()["stages"]}
        assert deal_stage_ids.isdisjoint(person_stage_ids)  # §2.8
        assert {s["name"] for s in client.get("/stages").json()["stages"]} >= {"Lead", "Trash"}


def test_children_point_at_existing_people_of_the_same_agent(shared: RunningSandbox) -> None:
    with fub_client(shared, 102) as client:
        people, _ = walk(client, "/people", {"includeTrash": "true"})
        person_ids = {p["id"] for p in people}
        user_ids = {u["id"] for u in client.get("/users").json()["users"]}
        for name in ("events", "calls"):
            records, _ = walk(client, f"/{name}")
            assert {r["personId"] for r in records} <= person_ids, name
        deals, _ = walk(client, "/deals")
        assert {p["id"] for d in deals for p in d["people"]} <= person_ids
        assert {u["id"] for d in deals for u in d["users"]} <= user_ids
        assert {p["assignedUserId"] for p in people} - {None} <= user_ids


def test_text_messages_need_a_filter(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        resp = client.get("/textMessages")
        assert resp.status_code == 400
        assert resp.json()["errorMessage"].startswith("personId, threadId, phone")
        calls, _ = walk(client, "/calls")
        person = calls[0]["personId"]
        texts = []
        for p in {c["personId"] for c in calls[:40]}:
            body = client.get("/textMessages", params={"personId": p}).json()
            assert body["_metadata"]["collection"] == "textmessages"  # §2.6 official example
            texts += body["textmessages"]
            assert all(t["personId"] == p for t in body["textmessages"])
        assert texts, f"no texts for the first callers (e.g. {person})"
        one = client.get(f"/textMessages/{texts[0]['id']}")
        assert one.status_code == 200 and one.json()["id"] == texts[0]["id"]


def test_single_records_unknown_routes_and_bad_input(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        person = client.get("/people", params={"limit": 1}).json()["people"][0]
        single = client.get(f"/people/{person['id']}")
        assert single.status_code == 200 and single.json() == person  # the bare object
        assert client.get("/people/1").status_code == 404
        assert client.get("/people/abc").status_code == 400
        unknown = client.get("/transactions")
        assert unknown.status_code == 404
        assert "Collection name 'Transactions'" in unknown.json()["errorMessage"]
        assert client.post("/people", json={"firstName": "X"}).status_code == 405
        assert client.get("/identity").json()["user"]["isOwner"] is True
        assert client.get("/me").status_code == 200
    other = httpx.get(f"{shared.url}/fub/v2/people")
    assert other.status_code == 404 and "errorMessage" in other.json()


def test_same_seed_same_data() -> None:
    pages = []
    for _ in range(2):
        with start_in_thread(seed=SEED, scale="tiny") as running, fub_client(running) as client:
            pages.append(client.get("/people", params={"limit": 20}).json())
    assert pages[0]["people"] == pages[1]["people"]


# --------------------------------------------------------------------------------------------
# rate limits
# --------------------------------------------------------------------------------------------


def test_rate_limit_headers_and_lower_limits_without_system_key(fresh: RunningSandbox) -> None:
    with fub_client(fresh) as client, fub_client(fresh, system_key=False) as anon:
        resp = client.get("/people")
        assert resp.headers["X-RateLimit-Limit"] == "250"
        assert resp.headers["X-RateLimit-Window"] == "10"
        assert resp.headers["X-RateLimit-Context"] == "global"
        remaining = int(resp.headers["X-RateLimit-Remaining"])
        assert int(client.get("/deals").headers["X-RateLimit-Remaining"]) == remaining - 1
        assert "notice" not in resp.json()["_metadata"]
        events = client.get("/events")
        assert events.headers["X-RateLimit-Context"] == "events"
        assert events.headers["X-RateLimit-Limit"] == "20"
        low = anon.get("/people")
        assert low.headers["X-RateLimit-Limit"] == "125"
        assert "notice" in low.json()["_metadata"]
        assert anon.get("/events").headers["X-RateLimit-Limit"] == "10"
        for resp in (client.get("/people/1"), client.get("/nope")):  # errors carry them too
            assert "X-RateLimit-Remaining" in resp.headers


def test_events_context_429_with_retry_after_and_switch_off(fresh: RunningSandbox) -> None:
    # the limiter's clock is held still (a loaded machine must not stretch the 10 s window)
    now = [1_000.0]
    fresh.sandbox.modules["fub"].ratelimit.clock = lambda: now[0]
    with fub_client(fresh) as client:
        statuses = []
        for _ in range(21):
            statuses.append(client.get("/events", params={"limit": 1}).status_code)
            now[0] += 0.25
        assert statuses[:20] == [200] * 20 and statuses[20] == 429
        blocked = client.get("/events")
        assert blocked.status_code == 429
        # now 1005.25: the oldest hit (1000.0) leaves the 10 s window in 4.75 s
        assert blocked.headers["Retry-After"] == "5"
        assert blocked.headers["X-RateLimit-Remaining"] == "0"
        assert "errorMessage" in blocked.json()
        assert client.get("/people").status_code == 200  # a separate context
        now[0] += 4.875  # sliding: the first hit has left the window, the second has not
        assert client.get("/events").status_code == 200
        assert client.get("/events").status_code == 429
        now[0] += 10.0
        assert client.get("/events").headers["X-RateLimit-Remaining"] == "19"
        control = f"{fresh.url}/_sandbox/fub/ratelimit"
        # the report counts what was served and refused, per account and context
        report = httpx.get(control).json()
        uid = next(iter(report["refused"])).split(":")[0]
        assert report["refused"] == {f"{uid}:events": 3}
        assert report["allowed"] == {f"{uid}:events": 22, f"{uid}:global": 1}
        assert httpx.post(control, json={"enabled": "no"}).status_code == 400
        assert httpx.post(control, content=b"{").status_code == 400
        bad = httpx.post(control, json={"enabled": True, "limits": {"nope": 3}})
        assert bad.status_code == 400 and "limits" in bad.json()["error"]
        # a lowered limit is enforced and reported; a POST without limits restores FUB's
        lowered = httpx.post(control, json={"enabled": True, "limits": {"global": 3}}).json()
        assert lowered["limits"] == {"global": 3} and lowered["refused"] == {}
        assert [client.get("/people").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert client.get("/events").headers["X-RateLimit-Limit"] == "20"
        off = httpx.post(control, json={"enabled": False}).json()
        assert off["enabled"] is False and off["limits"] == {}
        unlimited = [client.get("/events") for _ in range(25)]
        assert all(r.status_code == 200 for r in unlimited)
        # switched off, it reports no budget either (so clients don't pace themselves)
        assert not any("X-RateLimit-Remaining" in r.headers for r in unlimited)
        assert httpx.get(control).json()["enabled"] is False


# --------------------------------------------------------------------------------------------
# time moves: changes, truth, webhooks
# --------------------------------------------------------------------------------------------


class _Receiver:
    """A loopback HTTP server that records webhook POSTs (body bytes + headers)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    self.send_response(503)
                else:
                    outer.received.append((body, dict(self.headers)))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()


def test_webhook_subscriptions_are_checked(fresh: RunningSandbox) -> None:
    with fub_client(fresh) as client, fub_client(fresh, system_key=False) as anon:
        hook = {"event": "peopleCreated", "url": "https://example.com/hook"}
        no_system = httpx.post(
            f"{fresh.url}/fub/v1/webhooks", json=hook, auth=client.auth, headers={}
        )
        assert no_system.status_code == 400 and "X-System" in no_system.json()["errorMessage"]
        assert anon.post("/webhooks", json=hook).status_code == 403
        assert client.post("/webhooks", json={**hook, "event": "nope"}).status_code == 400
        plain = {**hook, "url": "http://example.com/hook"}
        assert client.post("/webhooks", json=plain).status_code == 400  # https only
        first = client.post("/webhooks", json=hook)
        assert first.status_code == 201 and first.json()["status"] == "Active"
        assert client.post("/webhooks", json=hook).status_code == 201
        third = client.post("/webhooks", json=hook)
        assert third.status_code == 400 and "2 webhooks" in third.json()["errorMessage"]
        listed = client.get("/webhooks").json()
        assert listed["_metadata"]["total"] == 2
        wid = first.json()["id"]
        assert client.get(f"/webhooks/{wid}").json()["event"] == "peopleCreated"
        assert client.delete(f"/webhooks/{wid}").status_code == 200
        assert client.get(f"/webhooks/{wid}").status_code == 404
        with fub_client(fresh, 102) as other:  # another account can't see it
            assert other.get("/webhooks").json()["_metadata"]["total"] == 0


def test_advance_changes_people_and_fires_signed_webhooks(fresh: RunningSandbox) -> None:
    receiver = _Receiver(fail_first=1)  # the first delivery fails once: it must be retried
    try:
        with fub_client(fresh) as client:
            system_key = fresh.sandbox.modules["fub"].credentials(101)["system_key"]
            for event in ("peopleCreated", "peopleUpdated", "peopleDeleted", "eventsCreated"):
                resp = client.post("/webhooks", json={"event": event, "url": receiver.url})
                assert resp.status_code == 201
            before = truth(fresh, 101, "people")
            advanced_from = fresh.sandbox.world.now()
            summary = advance(fresh, fraction=0.02)["changes"]["fub"]["101"]
            after = truth(fresh, 101, "people")
            assert summary["people"]["deleted"] >= 1 and summary["people"]["created"] >= 1
            deleted = set(after["deleted_ids"])
            assert len(deleted) == summary["people"]["deleted"]
            assert after["count"] == before["count"] + summary["people"]["created"] - len(deleted)
            everyone, _ = walk(client, "/people", {"includeTrash": "true"})
            served = {p["id"] for p in everyone}
            assert sorted(served) == after["ids"] and not served & deleted
            gone = next(iter(deleted))
            assert client.get(f"/people/{gone}").status_code == 404
            newly_trashed = set(after["trashed_ids"]) - set(before["trashed_ids"])
            assert newly_trashed
            visible = {p["id"] for p in walk(client, "/people")[0]}
            assert not visible & newly_trashed
            recent, _ = walk(
                client,
                "/people",
                {"includeTrash": "true", "updatedAfter": advanced_from.isoformat()},
            )
            assert newly_trashed <= {p["id"] for p in recent}
            deliveries = httpx.get(
                f"{fresh.url}/_sandbox/fub/deliveries", params={"wait": 1}, timeout=30
            ).json()["deliveries"]
        assert deliveries and all(d["delivered"] for d in deliveries)
        assert any(d["attempts"] > 1 for d in deliveries)
        assert len(receiver.received) == len(deliveries)
        by_event: dict[str, set[int]] = {}
        for body, headers in receiver.received:
            expected = hmac.new(
                system_key.encode(), base64.b64encode(body), hashlib.sha256
            ).hexdigest()
            assert headers["FUB-Signature"] == expected
            payload = json.loads(body)
            assert set(payload) == {"eventId", "eventCreated", "event", "resourceIds", "uri"}
            assert payload["eventCreated"].endswith("+00:00")
            by_event.setdefault(payload["event"], set()).update(payload["resourceIds"])
            if payload["event"] == "peopleDeleted":
                assert payload["uri"] is None
            else:
                assert payload["uri"].startswith(f"{fresh.url}/fub/v1/")
        assert by_event["peopleDeleted"] == deleted
        new_ids = set(after["ids"]) - set(before["ids"])
        assert by_event["peopleCreated"] == new_ids
        assert newly_trashed - deleted <= by_event["peopleUpdated"]
        assert by_event["eventsCreated"]
    finally:
        receiver.close()


def test_deleted_people_take_their_activity_with_them(fresh: RunningSandbox) -> None:
    advance(fresh, fraction=0.05)
    with fub_client(fresh) as client:
        alive = set(truth(fresh, 101, "people")["ids"])
        for name in ("events", "calls"):
            records, metas = walk(client, f"/{name}")
            assert {r["personId"] for r in records} <= alive, name
            assert metas[0]["total"] == len(records) == truth(fresh, 101)[name]["count"]


# --------------------------------------------------------------------------------------------
# record-level faults
# --------------------------------------------------------------------------------------------


def _arm(running: RunningSandbox, spec: str) -> None:
    resp = httpx.post(f"{running.url}/_sandbox/faults", json={"spec": spec})
    assert resp.status_code == 200, resp.text


def test_record_faults(fresh: RunningSandbox) -> None:
    with fub_client(fresh) as client:
        clean = client.get("/people", params={"limit": 20}).json()["people"]
        _arm(fresh, "fub:/v1/people:malformed:1")
        bad = client.get("/people", params={"limit": 20}).json()["people"]
        assert sum("id" not in r for r in bad) == 1
        assert any(isinstance(r.get("created"), int) for r in bad)
        _arm(fresh, "fub:/v1/people:drift_added:1")
        added = client.get("/people", params={"limit": 20}).json()["people"]
        assert all(set(r) - set(clean[0]) == {"sandboxDriftField"} for r in added)
        _arm(fresh, "fub:/v1/people:drift_renamed:1")
        renamed = client.get("/people", params={"limit": 20}).json()["people"]
        assert all("name" not in r and "fullName" in r for r in renamed)
        assert client.get("/people", params={"limit": 20}).json()["people"] == clean
        _arm(fresh, "fub:/v1/people:lose_page:1")
        lost, metas = walk(client, "/people", {"includeTrash": "true"})
        expected = truth(fresh, 101, "people")
        assert metas[0]["total"] == expected["count"]
        assert len(lost) == expected["count"] - 99  # one page of 100 kept only its first record


def test_filtered_totals_and_updated_order_follow_advance(fresh: RunningSandbox) -> None:
    fresh.sandbox.modules["fub"].ratelimit.enabled = False
    epoch = fresh.sandbox.world.now().isoformat()
    params = {"includeTrash": "true", "updatedAfter": epoch}
    with fub_client(fresh) as client:
        before, metas = walk(client, "/people", params)
        assert before == [] and metas[0]["total"] == 0  # nothing changed since the epoch yet
        by_updated_before, _ = walk(client, "/people", {"sort": "updated", "includeTrash": "true"})
        advance(fresh, fraction=0.03)
        changed, metas = walk(client, "/people", params)
        assert changed and metas[0]["total"] == len(changed)  # the cached total was dropped
        expected = truth(fresh, 101, "people")
        assert {p["id"] for p in changed} <= set(expected["ids"])
        assert all(p["updated"] > epoch.replace("+00:00", "Z") for p in changed)
        by_updated, _ = walk(client, "/people", {"sort": "updated", "includeTrash": "true"})
        assert sorted(p["id"] for p in by_updated) == expected["ids"]
        assert {p["id"] for p in by_updated[-len(changed) :]} == {p["id"] for p in changed}
        assert by_updated != by_updated_before


def _token(data: object) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "1e3"},
        {"offset": "-1"},
        {"offset": "x"},
        {"next": _token({"sinceId": "1"})},
        {"next": _token({"sinceId": 1, "offset": "a"})},
        {"next": _token({"sinceId": 1, "sinceUpdated": [1]})},
        {"next": _token([1, 2])},
        {"idGreaterThan": "ten"},
        {"updatedAfter": "2026-13-45"},
        {"sort": "-"},
    ],
)
def test_bad_parameters_are_400_with_an_error_message(
    shared: RunningSandbox, params: dict[str, str]
) -> None:
    with fub_client(shared) as client:
        for path in ("/people", "/events", "/users"):
            resp = client.get(path, params=params)
            assert resp.status_code == 400, (path, params, resp.text)
            assert resp.json()["errorMessage"]


def test_odd_but_valid_parameters_never_break_the_server(shared: RunningSandbox) -> None:
    with fub_client(shared) as client:
        for path in ("/people", "/deals", "/events", "/calls", "/appointments", "/stages"):
            for params in (
                {"id": ""},
                {"fields": ",,"},
                {"idGreaterThan": "999999999999"},
                {"idLessThan": "0"},
                {"createdAfter": "2100-01-01"},
                {"createdBefore": "1990-01-01T00:00:00"},
                {"next": _token({"sinceId": 5})},
                {"limit": "100", "sort": "-created", "includeTrash": "1"},
            ):
                resp = client.get(path, params=params)
                assert resp.status_code == 200, (path, params, resp.text)
                body = resp.json()
                assert body["_metadata"]["total"] >= len(body[body["_metadata"]["collection"]])
        assert client.get("/events", params={"personId": "abc"}).status_code == 400
        hook = client.post("/webhooks", json={"event": ["peopleCreated"], "url": 5})
        assert hook.status_code == 400
        assert client.post("/webhooks", content=b"[]").status_code == 400


def test_undeliverable_webhooks_are_retried_then_recorded_as_failed(fresh: RunningSandbox) -> None:
    from sandbox.core import free_port
    from sandbox.fub_webhooks import MAX_ATTEMPTS

    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    with fub_client(fresh) as client:
        assert client.post("/webhooks", json={"event": "peopleDeleted", "url": dead}).is_success
    advance(fresh, fraction=0.01)
    deliveries = httpx.get(
        f"{fresh.url}/_sandbox/fub/deliveries", params={"wait": 1}, timeout=60
    ).json()["deliveries"]
    assert deliveries
    for d in deliveries:
        assert not d["delivered"] and d["attempts"] == MAX_ATTEMPTS
        assert d["error"] and d["payload"]["event"] == "peopleDeleted"


def test_oauth_token_endpoint_accepts_json_and_refuses_get(fresh: RunningSandbox) -> None:
    cred = fresh.sandbox.modules["fub"].credentials(103)
    url = f"{fresh.url}/fub/oauth/token"
    auth = (cred["client_id"], cred["client_secret"])
    body = {"grant_type": "refresh_token", "refresh_token": cred["refresh_token"]}
    resp = httpx.post(url, json=body, auth=auth)
    assert resp.status_code == 200 and resp.json()["expires_in"] == 3600
    assert (
        httpx.post(
            url, content=b"[", auth=auth, headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert httpx.get(url).status_code == 405  # GET /oauth/token is deprecated (§1.4)


def test_stage_people_counts_are_exact_before_and_after_advance(fresh: RunningSandbox) -> None:
    fresh.sandbox.modules["fub"].ratelimit.enabled = False

    def check(client: httpx.Client) -> None:
        people, _ = walk(client, "/people", {"includeTrash": "true"})
        served: dict[int, int] = {}
        for p in people:
            served[p["stageId"]] = served.get(p["stageId"], 0) + 1
        stages = client.get("/stages").json()["stages"]
        assert {s["id"]: s["peopleCount"] for s in stages if s["peopleCount"]} == served
        names = {s["id"]: s["name"] for s in stages}
        assert all(names[p["stageId"]] == p["stage"] for p in people)

    with fub_client(fresh, 102) as client:
        check(client)
        advance(fresh, fraction=0.05)
        check(client)


def _burst(client: httpx.Client, path: str, n: int, now: list[float], step: float) -> list[int]:
    """``n`` GETs of ``path`` with the limiter's clock moving ``step`` s per request."""
    statuses = []
    for _ in range(n):
        statuses.append(client.get(path, params={"limit": 1}).status_code)
        now[0] += step
    return statuses


def test_global_limit_250_with_system_key_answers_429_with_retry_after(
    fresh: RunningSandbox,
) -> None:
    # §4: global context, 250 per sliding 10 s with a valid X-System-Key; the limiter's clock is
    # driven by the test so a loaded machine cannot stretch the window
    now = [2_000.0]
    fresh.sandbox.modules["fub"].ratelimit.clock = lambda: now[0]
    with fub_client(fresh) as client:
        first = client.get("/people", params={"limit": 1})
        limit = int(first.headers["X-RateLimit-Limit"])
        assert limit == 250 and first.headers["X-RateLimit-Context"] == "global"
        statuses = [first.status_code, *_burst(client, "/people", limit, now, 0.02)]
        assert statuses[:limit] == [200] * limit and statuses[limit] == 429
        blocked = client.get("/deals", params={"limit": 1})  # every endpoint of the context
        assert blocked.status_code == 429 and "errorMessage" in blocked.json()
        assert blocked.headers["X-RateLimit-Remaining"] == "0"
        wait = 2_000.0 + 10 - now[0]  # until the oldest hit leaves the window
        assert math.ceil(wait) <= int(blocked.headers["Retry-After"]) <= math.ceil(wait) + 1
        assert client.get("/events", params={"limit": 1}).status_code == 200  # own context
        now[0] += 10.0
        assert client.get("/people", params={"limit": 1}).status_code == 200


def test_lower_limits_without_system_key_really_answer_429(fresh: RunningSandbox) -> None:
    # §4: without X-System-Key the limits are 125 (global) and 10 (GET /events)
    now = [3_000.0]
    fresh.sandbox.modules["fub"].ratelimit.clock = lambda: now[0]
    with fub_client(fresh, system_key=False) as anon:
        for path, context, expected in (("/events", "events", 10), ("/people", "global", 125)):
            probe = anon.get(path, params={"limit": 1})
            limit = int(probe.headers["X-RateLimit-Limit"])
            assert (limit, probe.headers["X-RateLimit-Context"]) == (expected, context)
            statuses = [probe.status_code, *_burst(anon, path, limit, now, 0.01)]
            assert statuses[:limit] == [200] * limit and statuses[limit] == 429, path
            refused = anon.get(path)
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
            assert "errorMessage" in refused.json()
    with fub_client(fresh) as registered:  # the same account with the key: a higher budget
        assert registered.get("/events", params={"limit": 1}).status_code == 200
