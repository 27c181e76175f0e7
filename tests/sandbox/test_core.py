"""Tests of the sandbox framework (``sandbox/core.py``): fault specs, control endpoints, generic
faults applied to a real replica over HTTP, bad control calls answered 400, and a server that
never crashes on a request."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import core
from sandbox.core import (
    API_MODULES,
    BadControl,
    FaultPlan,
    FaultRule,
    RunningSandbox,
    Sandbox,
    parse_fault_spec,
    start_in_thread,
)
from sandbox.qualia import QualiaApi
from sandbox.world import World


@pytest.fixture
def qualia_without_lose_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every replica implements every record fault now: make one that does not, for the checks."""
    monkeypatch.setattr(QualiaApi, "record_faults", QualiaApi.record_faults - {"lose_page"})


@pytest.fixture
def running() -> Iterator[RunningSandbox]:
    server = start_in_thread(seed=7, scale="tiny")
    yield server
    server.stop()


def people(server: RunningSandbox) -> httpx.Response:
    cred = server.sandbox.modules["fub"].credentials(101)
    return httpx.get(
        f"{server.url}/fub/v1/people",
        auth=(cred["api_key"], ""),
        headers={"X-System": cred["system"], "X-System-Key": cred["system_key"]},
        timeout=30,
    )


# --------------------------------------------------------------------------------------------
# fault specs
# --------------------------------------------------------------------------------------------


def test_fault_spec_parses_count_and_param() -> None:
    rules = parse_fault_spec("fub:/v1/people*:rate_limit:3, rezen:*:server_error:2:503,a:*:slow")
    assert [(r.api, r.route, r.kind, r.count, r.param) for r in rules] == [
        ("fub", "/v1/people*", "rate_limit", 3, None),
        ("rezen", "*", "server_error", 2, 503.0),
        ("a", "*", "slow", 1, None),
    ]
    assert parse_fault_spec("qualia:*:expired_credentials:*")[0].count is None
    assert parse_fault_spec("") == [] and parse_fault_spec(" , ") == []


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("fub:*", "expected api:route:kind"),
        ("fub:*:explode", "unknown kind 'explode'"),
        ("fub:*:slow:0", "count must be a positive integer"),
        ("fub:*:slow:two", "count must be a positive integer"),
        ("fub:*:slow:1:soon", "param must be a number"),
    ],
)
def test_bad_fault_specs_name_the_problem(spec: str, names: str) -> None:
    with pytest.raises(BadControl, match=names) as info:
        parse_fault_spec(spec)
    assert spec in str(info.value)


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("fbu:*:server_error", "unknown api 'fbu'"),
        ("qualia:*:lose_page", "qualia does not implement 'lose_page'"),
        ("fub:*:server_error:1:42", "server_error param must be a 5xx status"),
        ("fub:*:slow:1:-3", "param must be a finite, non-negative number"),
    ],
)
@pytest.mark.usefixtures("qualia_without_lose_page")
def test_start_up_refuses_faults_that_could_never_fire(spec: str, names: str) -> None:
    with pytest.raises(BadControl, match=names) as info:
        Sandbox(seed=7, scale="tiny", faults=f"fub:*:slow:1:0,{spec}")
    assert spec.rsplit(":", 2)[0] in str(info.value)


@pytest.mark.usefixtures("qualia_without_lose_page")
def test_start_up_accepts_a_wildcard_api_when_some_api_implements_the_kind() -> None:
    sandbox = Sandbox(seed=7, scale="tiny", faults="*:*:lose_page:*,*:*:drift_renamed")
    assert [r["kind"] for r in sandbox.faults.as_list()] == ["lose_page", "drift_renamed"]
    supported = sandbox.fault_kinds()
    assert "lose_page" in supported["fub"] and "lose_page" not in supported["qualia"]
    assert all({"malformed", "malformed_types", "drift_renamed"} <= k for k in supported.values())


def test_cli_serve_exits_2_naming_a_bad_fault() -> None:
    cli = [sys.executable, "-m", "agentsync.cli", "sandbox", "serve", "--port", "0"]
    done = subprocess.run(
        [*cli, "--faults", "fbu:*:server_error"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2, done.stderr
    assert "unknown api 'fbu'" in done.stderr and "fbu:*:server_error" in done.stderr


def test_fault_plan_consumes_hits_per_matching_rule() -> None:
    plan = FaultPlan(parse_fault_spec("fub:/v1/people*:server_error:2,*:*:malformed:*"))
    assert plan.take("rezen", "/v1/people", {"server_error"}) is None  # other api
    assert plan.take("fub", "/v1/deals", {"server_error"}) is None  # route glob
    assert plan.take("fub", "/v1/people", {"server_error"}) is not None
    assert plan.take("fub", "/v1/people/5", {"server_error"}) is not None
    assert plan.take("fub", "/v1/people", {"server_error"}) is None  # used up
    assert all(plan.take("any", "/x", {"malformed"}) for _ in range(5))  # * = unlimited
    assert plan.as_list()[0]["hits"] == 2
    plan.add([FaultRule("fub", "*", "slow")])
    plan.clear()
    assert plan.as_list() == []


# --------------------------------------------------------------------------------------------
# control endpoints
# --------------------------------------------------------------------------------------------


def test_state_reports_world_and_wiring(running: RunningSandbox) -> None:
    state = httpx.get(f"{running.url}/_sandbox/state").json()
    assert state["seed"] == 7 and state["scale"] == "tiny"
    assert "fub" in state["apis"]
    assert state["base_urls"]["fub_base_url"] == f"{running.url}/fub/v1"
    assert state["now"] == running.sandbox.world.now().isoformat()


@pytest.mark.usefixtures("qualia_without_lose_page")
def test_faults_endpoint_arms_lists_clears_and_refuses_bad_calls(running: RunningSandbox) -> None:
    url = f"{running.url}/_sandbox/faults"
    for bad in (b"{", b"[1]", b'{"spec": 3}', b'{"spec": ""}', b'{"spec": "fub:*:nope"}'):
        resp = httpx.post(url, content=bad)
        assert resp.status_code == 400 and resp.json()["error"], bad
    for spec, names in (
        ("fbu:*:server_error", "unknown api 'fbu'"),
        ("qualia:/graphql:lose_page", "qualia does not implement 'lose_page'"),
        ("fub:*:server_error,rezen:*:explode", "unknown kind 'explode'"),
    ):
        resp = httpx.post(url, json={"spec": spec})
        assert resp.status_code == 400 and names in resp.json()["error"], spec
    assert httpx.get(url).json() == {"faults": []}
    armed = httpx.post(url, json={"spec": "fub:*:server_error:2:502"}).json()["faults"]
    assert armed[0]["kind"] == "server_error" and armed[0]["count"] == 2
    assert httpx.delete(url).json() == {"faults": []}


def test_advance_moves_the_clock_and_refuses_bad_calls(running: RunningSandbox) -> None:
    url = f"{running.url}/_sandbox/advance"
    before = running.sandbox.world.now()
    for bad, names in (
        ({"seconds": -1}, "seconds"),
        ({"seconds": "soon"}, "seconds"),
        ({"fraction": 2}, "fraction"),
        ({"fraction": "x"}, "fraction"),
        ({"secs": 5}, "'secs'"),  # a typo must not silently advance a default day
        ({"seconds": 5, "fracton": 0.1}, "'fracton'"),
        ({"seconds": True}, "seconds"),  # JSON booleans are not numbers
        ({"fraction": False}, "fraction"),
    ):
        resp = httpx.post(url, json=bad)
        assert resp.status_code == 400 and names in resp.json()["error"], bad
    assert httpx.post(url, content=b"not json").status_code == 400
    assert running.sandbox.world.now() == before  # nothing moved on a refused call
    done = httpx.post(url, json={"seconds": 3600, "fraction": 0.01}, timeout=60).json()
    assert (running.sandbox.world.now() - before).total_seconds() == 3600
    assert done["now"] == running.sandbox.world.now().isoformat()
    assert "fub" in done["changes"]


def test_truth_endpoint_and_its_bad_calls(running: RunningSandbox) -> None:
    url = f"{running.url}/_sandbox/truth"
    everything = httpx.get(url).json()
    assert "fub" in everything and "101" in everything["fub"]
    assert httpx.get(f"{url}/nope").status_code == 400
    assert httpx.get(f"{url}/fub", params={"user_id": "abc"}).status_code == 400
    bad_entity = httpx.get(f"{url}/fub", params={"entity": "unicorns"})
    assert bad_entity.status_code == 400 and "unicorns" in bad_entity.json()["error"]
    one = httpx.get(f"{url}/fub", params={"user_id": 101, "entity": "people"}).json()
    assert set(one) == {"101"} and one["101"]["people"]["count"] == len(one["101"]["people"]["ids"])


@pytest.mark.parametrize("api", ["fub", "rezen", "skyslope", "qualia"])
def test_truth_refuses_an_unknown_entity_for_every_api(running: RunningSandbox, api: str) -> None:
    resp = httpx.get(f"{running.url}/_sandbox/truth/{api}", params={"entity": "unicorns"})
    assert resp.status_code == 400 and "unicorns" in resp.json()["error"]
    assert api in resp.json()["error"]


def test_unknown_top_level_path_is_404(running: RunningSandbox) -> None:
    assert httpx.get(f"{running.url}/nothing/here").status_code == 404


# --------------------------------------------------------------------------------------------
# generic faults, applied by the framework to a real replica
# --------------------------------------------------------------------------------------------


def arm(server: RunningSandbox, spec: str) -> None:
    assert httpx.post(f"{server.url}/_sandbox/faults", json={"spec": spec}).status_code == 200


def test_rate_limit_fault_is_a_429_burst_with_retry_after(running: RunningSandbox) -> None:
    arm(running, "fub:/v1/people*:rate_limit:2:7")
    for _ in range(2):
        resp = people(running)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert people(running).status_code == 200


def test_server_error_and_expired_credentials_faults(running: RunningSandbox) -> None:
    arm(running, "fub:*:server_error:1:503,fub:*:expired_credentials:1")
    assert people(running).status_code == 503
    assert people(running).status_code == 401
    assert people(running).status_code == 200


def test_a_fault_for_another_api_or_route_leaves_fub_alone(running: RunningSandbox) -> None:
    arm(running, "rezen:*:server_error:*,fub:/v1/deals:server_error:*")
    assert people(running).status_code == 200


def test_truncated_fault_cuts_the_body(running: RunningSandbox) -> None:
    full = people(running).content
    arm(running, "fub:/v1/people:truncated:1")
    cut = people(running)
    assert cut.status_code == 200 and 0 < len(cut.content) < len(full)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert people(running).content == full


def test_slow_fault_delays_one_response(running: RunningSandbox) -> None:
    arm(running, "fub:/v1/people:slow:1:0.5")
    start = time.monotonic()
    assert people(running).status_code == 200
    assert time.monotonic() - start >= 0.5
    assert people(running).status_code == 200
    faults = httpx.get(f"{running.url}/_sandbox/faults").json()["faults"]
    assert faults[0]["hits"] == 1  # one response only was delayed


def test_faults_armed_at_start_up() -> None:
    with start_in_thread(seed=7, scale="tiny", faults="fub:*:server_error:1:500") as server:
        assert people(server).status_code == 500
        assert people(server).status_code == 200


# --------------------------------------------------------------------------------------------
# never crashing
# --------------------------------------------------------------------------------------------


class _Exploding:
    """A replica whose one route raises: proves the framework answers 500 and keeps serving."""

    name = "boom"
    prefix = "/boom"

    def __init__(self, world: World, faults: FaultPlan) -> None:
        self.world = world

    def routes(self) -> list:
        async def explode(request: Request) -> JSONResponse:
            raise RuntimeError("replica bug: division by zero in page 3")

        return [Route("/explode", explode)]

    def base_urls(self, root: str) -> dict[str, str]:
        return {}

    def advance(self, fraction: float, rng: random.Random) -> dict:
        return {}

    def truth(self, user_id: int | None, entity: str | None) -> dict:
        return {}

    def credentials(self, user_id: int) -> dict[str, str] | None:
        return None


def test_an_advance_changes_the_same_records_whatever_order_the_replicas_registered_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the replicas draw from one generator: in registration order, which is import order (a
    # test importing sandbox.skyslope first changed which records a day's advance touched)
    def advanced() -> dict:
        sandbox = Sandbox(seed=42, scale="tiny")
        sandbox.advance(86_400, 0.2)
        return {name: mod.truth(None, None) for name, mod in sandbox.modules.items()}

    first = advanced()
    monkeypatch.setattr(core, "API_MODULES", dict(reversed(API_MODULES.items())))
    assert advanced() == first


def test_a_failing_request_answers_500_and_the_server_keeps_serving() -> None:
    API_MODULES["boom"] = _Exploding
    try:
        server = start_in_thread(seed=7, scale="tiny")
    finally:
        del API_MODULES["boom"]
    with server:
        resp = httpx.get(f"{server.url}/boom/explode")
        assert resp.status_code == 500
        assert "division by zero" in resp.json()["error"]
        assert people(server).status_code == 200
        assert httpx.get(f"{server.url}/_sandbox/state").status_code == 200


# --------------------------------------------------------------------------------------------
# injected faults answer in each vendor's own error shape
# --------------------------------------------------------------------------------------------

REZEN_ERROR = "com.real.commons.apierror.ApiError"


def _call(server: RunningSandbox, api: str, **headers: str) -> httpx.Response:
    """One request to ``api`` (faults fire before authentication, so no credential is needed)."""
    if api == "qualia":
        return httpx.post(
            f"{server.url}/qualia/graphql",
            json={"query": "{ orders(input: {limit: 1, offset: 0}) { orders { _id } } }"},
            headers=headers,
            timeout=30,
        )
    path = {"fub": "/fub/v1/people", "rezen": "/rezen/yenta/api/v1/agents/me"}
    url = server.url + path.get(api, "/skyslope/api/users")
    return httpx.get(url, headers=headers, timeout=30)


def _shape(api: str, body: object) -> str:
    """The error message, asserting the body has exactly the vendor's documented shape."""
    assert isinstance(body, dict)
    if api == "fub":  # docs/vendors/fub.md §1.1
        assert set(body) == {"errorMessage"}
        return body["errorMessage"]
    if api == "rezen":  # A.3 / E: ApiError under the class-name key, nothing else
        assert set(body) == {REZEN_ERROR} and set(body[REZEN_ERROR]) == {"message"}
        return body[REZEN_ERROR]["message"]
    if api == "skyslope":  # the replica's {"message"} shape (TM API body UNCONFIRMED)
        assert set(body) == {"message"}
        return body["message"]
    (error,) = body["errors"]  # qualia C.1: GraphQL errors[] with extensions.code
    assert set(body) == {"errors"} and error["message"] and error["extensions"]["code"]
    return error["message"]


@pytest.mark.parametrize("api", ["fub", "rezen", "skyslope", "qualia"])
def test_rate_limit_fault_answers_in_the_vendors_shape(running: RunningSandbox, api: str) -> None:
    arm(running, f"{api}:*:rate_limit:1:7")
    resp = _call(running, api)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert _shape(api, resp.json())
    if api == "fub":  # §4: Retry-After with X-RateLimit-Remaining: 0
        assert resp.headers["X-RateLimit-Remaining"] == "0"
    if api == "skyslope":  # B.3: x-ratelimit-remaining / x-ratelimit-reset (epoch seconds)
        assert resp.headers["x-ratelimit-remaining"] == "0"
        assert int(resp.headers["x-ratelimit-reset"]) >= int(time.time()) + 6
    if api == "qualia":
        assert resp.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert _call(running, api).status_code != 429  # one hit only


@pytest.mark.parametrize("api", ["fub", "rezen", "skyslope", "qualia"])
def test_server_error_fault_answers_in_the_vendors_shape(running: RunningSandbox, api: str) -> None:
    arm(running, f"{api}:*:server_error:1:503")
    resp = _call(running, api)
    assert resp.status_code == 503 and _shape(api, resp.json())
    if api == "qualia":
        assert resp.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


@pytest.mark.parametrize(
    ("api", "status", "refused"),
    [
        ("fub", 401, {"Authorization": "Basic bm9wZTo="}),  # a key FUB does not know
        ("rezen", 403, {"X-API-KEY": "real_wrong"}),
        ("skyslope", 401, {"Session": "nope"}),
        ("qualia", 403, {"Authorization": "Basic c29tZW9uZTp3cm9uZw=="}),
    ],
)
def test_expired_credentials_fault_answers_like_the_vendors_own_refusal(
    running: RunningSandbox, api: str, status: int, refused: dict[str, str]
) -> None:
    own = _call(running, api, **refused)  # the replica refusing a bad credential by itself
    assert own.status_code == status
    arm(running, f"{api}:*:expired_credentials:1")
    resp = _call(running, api)
    assert resp.status_code == status
    if api == "fub":  # same shape; the message says why (§1.4: access tokens expire)
        assert "expired" in _shape(api, resp.json()) and _shape(api, own.json())
    else:  # exactly the documented refusal (reZEN A.2/E, Qualia C.1, SkySlope B.2)
        assert resp.json() == own.json() and _shape(api, resp.json())
