"""The sandbox's fleet profile (issue 17 item 5): its shape, its credentials, its limits.

A brokerage of 250 agents, each with its own vendor accounts and credentials, mostly 1-5k FUB
people and a few large accounts, and every vendor's request limits on (FUB's documented ones,
SkySlope's quoted 100/min, stand-ins for reZEN and Qualia: ``sandbox.world.VENDOR_LIMITS``).
The fleet benchmark (``bench/bench_fleet.py``) relies on all of it; these tests keep it so. The
requests go over real HTTP to a sandbox served on loopback.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from sandbox.core import RunningSandbox, Sandbox, start_in_thread
from sandbox.skyslope import hmac_signature
from sandbox.world import VENDOR_LIMITS, World, _deals, fleet_people

INTEGRATIONS = ("fub", "rezen", "skyslope", "qualia")
QUERY = "{ orders(input: {limit: 1, offset: 0}) { orders { _id } } }"


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningSandbox]:
    server = start_in_thread(seed=42, scale="fleet")
    yield server
    server.stop()


def test_fleet_has_hundreds_of_mostly_small_to_mid_accounts_and_a_few_large() -> None:
    world = World(seed=42, scale="fleet")
    people = [world.share("fub", world.profile.fub_people, a.user_id) for a in world.agents]
    assert len(world.agents) >= 200
    assert all(1_000 <= p <= 60_000 for p in people)
    assert sum(1 for p in people if p <= 5_000) / len(people) >= 0.85  # mostly 1-5k
    large = [p for p in people if p >= 20_000]
    assert 2 <= len(large) <= 0.05 * len(people)  # a few large
    assert 1_000 <= statistics.median(people) <= 5_000
    assert len(set(people)) > 0.9 * len(people)  # sizes vary (drawn per agent)
    # every other volume follows the agent's book: an agent's reZEN deals grow with its people
    rezen = [a for a in world.agents if "rezen" in a.integrations]
    small = min(rezen, key=lambda a: people[a.index])
    big = max(rezen, key=lambda a: people[a.index])
    assert (
        0
        < world.share("rezen", world.profile.rezen_transactions, small.user_id)
        < (world.share("rezen", world.profile.rezen_transactions, big.user_id))
    )
    # deterministic from the seed; another seed draws other sizes
    assert fleet_people(42, len(people)) == tuple(people)
    assert fleet_people(7, len(people)) != tuple(people)
    # the skewed profiles are unchanged: the first agent holds the biggest share
    tiny = World(seed=42, scale="tiny")
    assert tiny.share("fub", 4_000, 101) > tiny.share("fub", 4_000, 102) > 0


def test_every_fleet_agent_has_its_own_credentials() -> None:
    sandbox = Sandbox(seed=42, scale="fleet")
    agents = sandbox.demo_agents()
    assert all("fub" in a["credentials"] for a in agents)
    for name, field in [
        ("fub", "api_key"),  # one agent (103) connects through OAuth: its client id instead
        ("rezen", "api_key"),
        ("skyslope", "access_key"),
        ("qualia", "username"),
    ]:
        creds = [
            a["credentials"][name].get(field) or a["credentials"][name]["client_id"]
            for a in agents
            if name in a["credentials"]
        ]
        assert len(creds) >= len(agents) // 3, name
        assert len(set(creds)) == len(creds), f"{name}: two agents share a {field}"
    # SkySlope issues the client id per integrating company (skyslope.md §1): shared, by design
    sky = {
        a["credentials"]["skyslope"]["client_id"] for a in agents if "skyslope" in a["credentials"]
    }
    assert len(sky) == 1


def test_each_credential_opens_its_own_account(fleet: RunningSandbox) -> None:
    agents = fleet.sandbox.demo_agents()
    base = fleet.sandbox.base_urls()["fub_base_url"]
    seen = set()
    for agent in (agents[0], agents[1], agents[-1]):
        cred = agent["credentials"]["fub"]
        resp = httpx.get(
            f"{base}/identity",
            auth=(cred["api_key"], ""),
            headers={"X-System": cred["system"], "X-System-Key": cred["system_key"]},
        )
        assert resp.status_code == 200
        seen.add(resp.json()["account"]["id"])
    assert len(seen) == 3


def test_the_fleet_is_derived_on_demand_not_at_start_up() -> None:
    """250 agents must not cost 250 agents' records at start-up: nothing is derived until an
    agent's own request asks for it (a key lookup once derived every agent's reZEN book)."""
    _deals.cache_clear()
    sandbox = Sandbox(seed=42, scale="fleet")
    rezen = sandbox.modules["rezen"]
    assert rezen.data._books == {} and _deals.cache_info().currsize == 0
    last = [a for a in sandbox.world.agents if "rezen" in a.integrations][-1]
    assert rezen.data.book_by_key(rezen.data.api_key(last.user_id)).user_id == last.user_id
    assert set(rezen.data._books) == {last.user_id}
    assert rezen.data.book_by_key("real_not-a-key") is None


def _fub(http: httpx.Client, fleet: RunningSandbox, agent: dict, path: str) -> httpx.Response:
    cred = agent["credentials"]["fub"]
    return http.get(
        f"{fleet.sandbox.base_urls()['fub_base_url']}/{path}",
        params={"limit": 1},
        auth=(cred["api_key"], ""),
        headers={"X-System": cred["system"], "X-System-Key": cred["system_key"]},
    )


def _rezen(http: httpx.Client, fleet: RunningSandbox, agent: dict) -> httpx.Response:
    url = fleet.sandbox.base_urls()["rezen_yenta_url"]
    key = agent["credentials"]["rezen"]["api_key"]
    return http.get(f"{url}/agents/me", headers={"X-API-KEY": key})


def _qualia(http: httpx.Client, fleet: RunningSandbox, agent: dict) -> httpx.Response:
    cred = agent["credentials"]["qualia"]
    return http.post(
        fleet.sandbox.base_urls()["qualia_base_url"],
        json={"query": QUERY},
        auth=(cred["username"], cred["password"]),
    )


def _skyslope_session(http: httpx.Client, base: str, cred: dict[str, str]) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = hmac_signature(cred["access_secret"], cred["client_id"], cred["client_secret"], stamp)
    resp = http.post(
        f"{base}/auth/login",
        json={"ClientId": cred["client_id"], "ClientSecret": cred["client_secret"]},
        headers={"Authorization": f"SS {cred['access_key']}:{sig}", "Timestamp": stamp},
    )
    assert resp.status_code == 200, resp.text
    return {"Session": resp.json()["Session"]}


def test_fleet_enforces_every_vendors_limit_per_account(fleet: RunningSandbox) -> None:
    """FUB's documented limits (fub.md §4) answer in the headers; SkySlope, reZEN and Qualia
    refuse the request beyond their limit with 429 and Retry-After, per account: another
    agent's account is still served. The limiters' clock stands still for the test, so however
    slowly a busy machine sends the requests they fall in one window."""
    agents = fleet.sandbox.demo_agents()
    both = [a for a in agents if {"rezen", "skyslope", "qualia"} <= set(a["credentials"])]
    one, other = both[0], both[1]
    limiters = fleet.sandbox.limiters()
    clocks = {name: lim.clock for name, lim in limiters.items()}
    for lim in limiters.values():
        lim.clock = lambda: 1_000.0
    try:
        httpx.post(f"{fleet.url}/_sandbox/limits", json={}).raise_for_status()
        with httpx.Client(timeout=30) as http:
            people = _fub(http, fleet, one, "people")
            assert people.headers["X-RateLimit-Limit"] == "250"
            assert _fub(http, fleet, one, "events").headers["X-RateLimit-Limit"] == "20"

            sky_base = fleet.sandbox.base_urls()["skyslope_base_url"]
            sessions = {
                a["user_id"]: _skyslope_session(http, sky_base, a["credentials"]["skyslope"])
                for a in (one, other)
            }
            calls = {
                "skyslope": lambda a: http.get(
                    f"{sky_base}/api/users", headers=sessions[a["user_id"]]
                ),
                "rezen": lambda a: _rezen(http, fleet, a),
                "qualia": lambda a: _qualia(http, fleet, a),
            }
            for api, call in calls.items():
                limit = VENDOR_LIMITS[api][0]
                statuses = [call(one).status_code for _ in range(limit)]
                assert statuses == [200] * limit, api
                over = call(one)
                assert over.status_code == 429, api
                assert int(over.headers["Retry-After"]) >= 1, api
                assert call(other).status_code == 200, f"{api}: one account held another back"
            # SkySlope's headers report the budget it enforces (skyslope.md §3)
            last = http.get(f"{sky_base}/api/users", headers=sessions[other["user_id"]])
            assert last.headers["x-ratelimit-limit"] == "100"
            assert last.headers["x-ratelimit-remaining"] == "98"
        report = httpx.get(f"{fleet.url}/_sandbox/limits").json()
    finally:
        for name, lim in limiters.items():
            lim.clock = clocks[name]
    for api in calls:
        assert report[api]["refused"] == {str(one["user_id"]): 1}, report[api]
        assert report[api]["allowed"][str(one["user_id"])] == VENDOR_LIMITS[api][0]
    assert report["fub"]["allowed"][f"{one['user_id']}:global"] == 1


def test_control_other_profiles_do_not_enforce_the_unpublished_limits() -> None:
    """The control: outside the fleet, SkySlope, reZEN and Qualia serve past those limits."""
    server = start_in_thread(seed=42, scale="tiny")
    try:
        agent = next(a for a in server.sandbox.demo_agents() if "qualia" in a["credentials"])
        limit = VENDOR_LIMITS["qualia"][0]
        with httpx.Client(timeout=30) as http:
            statuses = {_qualia(http, server, agent).status_code for _ in range(limit + 5)}
        assert statuses == {200}
        assert "qualia" not in httpx.get(f"{server.url}/_sandbox/limits").json()
    finally:
        server.stop()


def test_skyslopes_reported_budget_can_be_switched_off_for_a_pipeline_bound_run() -> None:
    """Outside the fleet SkySlope reports (never enforces) a per-session budget, and the client
    paces itself by it; ``POST /_sandbox/limits {"enabled": false}`` stops the report (the
    pipeline benchmark's pipeline-bound run), ``true`` brings it back."""
    server = start_in_thread(seed=42, scale="tiny")
    try:
        agent = next(a for a in server.sandbox.demo_agents() if "skyslope" in a["credentials"])
        base = server.sandbox.base_urls()["skyslope_base_url"]
        with httpx.Client(timeout=30) as http:
            session = _skyslope_session(http, base, agent["credentials"]["skyslope"])

            def budget() -> str | None:
                resp = http.get(f"{base}/api/users", headers=session)
                assert resp.status_code == 200, resp.text
                return resp.headers.get("x-ratelimit-remaining")

            first = budget()
            assert first is not None and int(budget()) == int(first) - 1  # counts down
            assert http.post(f"{server.url}/_sandbox/limits", json={"enabled": False}).is_success
            assert budget() is None
            assert http.post(f"{server.url}/_sandbox/limits", json={"enabled": True}).is_success
            assert budget() is not None
    finally:
        server.stop()


def test_seed_scale_updates_near_the_epoch_are_spread_and_new_orders_are_not_in_the_future():
    """Two replica defects the seed-scale bench found: FUB base records whose update would reach
    the epoch were all stamped one second before it (8,714 of agent 101's calls: more than a
    look-back window keeps, so every daily run landed them again), and Qualia orders created by
    the clock were opened an hour apart (72 of them in a day reached 3 days past the epoch)."""
    from sandbox.fub_data import EPOCH_S
    from sandbox.world import EPOCH

    sandbox = Sandbox(seed=42, scale="seed")
    calls = sandbox.modules["fub"].accounts[101].collections["calls"]
    stamps = Counter(calls.base_updated_s(i) for i in range(calls.n_base))
    assert max(stamps.values()) < 100  # no second holds a pile of updates
    assert max(stamps) <= EPOCH_S - 60  # and none reaches the epoch

    sandbox.world.advance(86_400)
    qualia = sandbox.modules["qualia"]
    base = sandbox.world.share("qualia", sandbox.world.profile.qualia_orders, 101)
    opened = [qualia._order(101, base + k)["open_date"] for k in (0, 71, 500)]
    assert all(
        datetime.fromisoformat(o.replace("Z", "+00:00")) <= sandbox.world.now() for o in opened
    )
    assert datetime.fromisoformat(opened[0].replace("Z", "+00:00")) >= EPOCH
