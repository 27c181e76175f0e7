"""The sandbox framework: one ASGI app serving every vendor replica, a clock, faults, ground truth.

Layout of the one server (one process, one port, per-API path prefixes):

=================  =========================================  ==================================
prefix             replica                                    setting it stands in for
=================  =========================================  ==================================
``/fub/v1``        Follow Up Boss REST                        ``AGENTSYNC_FUB_BASE_URL``
``/fub/oauth``     FUB OAuth token endpoint                   ``AGENTSYNC_FUB_OAUTH_TOKEN_URL``
``/rezen/yenta``   reZEN yenta (agents, teams, network)       ``AGENTSYNC_REZEN_YENTA_URL``
``/rezen/arrakis`` reZEN arrakis (transactions, revshare)     ``AGENTSYNC_REZEN_ARRAKIS_URL``
``/rezen/keymaker`` reZEN keymaker                            ``AGENTSYNC_REZEN_KEYMAKER_URL``
``/skyslope``      SkySlope TM API                            ``AGENTSYNC_SKYSLOPE_BASE_URL``
``/qualia``        Qualia GraphQL                             ``AGENTSYNC_QUALIA_BASE_URL``
``/_sandbox``      control: clock, faults, ground truth       (no real API has this prefix)
=================  =========================================  ==================================

Each replica is an :class:`ApiModule` registered in :data:`API_MODULES`; the framework gives it
the shared :class:`World` (seed, scale, clock, demo agents) and the :class:`FaultPlan`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from sandbox.world import World

# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------

GENERIC_FAULTS = frozenset(
    {"rate_limit", "server_error", "slow", "truncated", "expired_credentials"}
)
# Record faults are applied by each replica to the records it serves, so a replica declares the
# ones it implements in its ``record_faults`` attribute (see :class:`ApiModule`):
# ``malformed`` = a record without its id, ``malformed_types`` = a record whose fields have the
# wrong JSON types (id intact), ``drift_added`` / ``drift_renamed`` = schema drift,
# ``lose_page`` = a page whose records silently go missing, ``edge_values`` = values a loader
# must keep exactly (empty strings, offsets, long decimals, CSV-hostile text: :func:`edge_values`).
RECORD_FAULTS = frozenset(
    {"malformed", "malformed_types", "drift_added", "drift_renamed", "lose_page", "edge_values"}
)
FAULT_KINDS = GENERIC_FAULTS | RECORD_FAULTS


class BadControl(ValueError):
    """A control call or fault spec that cannot be used; answered with 400 naming the problem."""


@dataclass
class FaultRule:
    """One fault: on ``api`` requests whose path matches ``route`` (a glob), do ``kind``.

    ``count`` is how many matching requests it affects (``None`` = every one); ``param`` is the
    kind's knob (seconds for ``slow``, status for ``server_error``, burst length is ``count``).
    """

    api: str
    route: str
    kind: str
    count: int | None = 1
    param: float | None = None
    hits: int = 0

    def matches(self, api: str, path: str) -> bool:
        return (self.api in ("*", api)) and fnmatch.fnmatch(path, self.route)

    def as_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "route": self.route,
            "kind": self.kind,
            "count": self.count,
            "param": self.param,
            "hits": self.hits,
        }


def parse_fault_spec(spec: str) -> list[FaultRule]:
    """Parse ``api:route:kind[:count[:param]]`` rules separated by commas.

    Examples: ``fub:/v1/people*:rate_limit:3`` (three 429s), ``rezen:*:server_error:2:503``,
    ``skyslope:*:slow:1:40`` (one response delayed 40 s), ``qualia:*:expired_credentials:*``
    (``*`` as count = every matching request).
    """
    rules: list[FaultRule] = []
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        bits = part.split(":")
        if len(bits) < 3:
            raise BadControl(f"fault {part!r}: expected api:route:kind[:count[:param]]")
        api, route, kind = bits[0], bits[1], bits[2]
        if kind not in FAULT_KINDS:
            raise BadControl(f"fault {part!r}: unknown kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        count: int | None = 1
        if len(bits) > 3:
            if bits[3] == "*":
                count = None
            elif bits[3].isdigit() and int(bits[3]) > 0:
                count = int(bits[3])
            else:
                raise BadControl(f"fault {part!r}: count must be a positive integer or *")
        param = None
        if len(bits) > 4:
            try:
                param = float(bits[4])
            except ValueError:
                raise BadControl(f"fault {part!r}: param must be a number") from None
            if kind == "server_error" and not (param.is_integer() and 500 <= param <= 599):
                raise BadControl(f"fault {part!r}: server_error param must be a 5xx status")
            if not math.isfinite(param) or param < 0:
                raise BadControl(f"fault {part!r}: param must be a finite, non-negative number")
        rules.append(FaultRule(api, route, kind, count, param))
    return rules


def check_fault_rules(rules: list[FaultRule], supported: dict[str, frozenset[str]]) -> None:
    """Refuse rules that could never fire: an unknown API, or a kind the API does not implement.

    Args:
        rules: parsed rules (:func:`parse_fault_spec`).
        supported: API name → the fault kinds it implements (generic kinds + its record kinds).

    Raises:
        BadControl: naming the rule and the problem. ``*`` as the API is accepted when at least
            one served API implements the kind (the rule then fires on those only).
    """
    for rule in rules:
        label = f"{rule.api}:{rule.route}:{rule.kind}"
        if rule.api == "*":
            if not any(rule.kind in kinds for kinds in supported.values()):
                raise BadControl(f"fault {label!r}: no served API implements {rule.kind!r}")
            continue
        if rule.api not in supported:
            raise BadControl(
                f"fault {label!r}: unknown api {rule.api!r}; one of {sorted(supported)} or *"
            )
        if rule.kind not in supported[rule.api]:
            raise BadControl(
                f"fault {label!r}: {rule.api} does not implement {rule.kind!r}; "
                f"it supports {sorted(supported[rule.api])}"
            )


class FaultPlan:
    """Faults armed at start-up or at run time; thread-safe."""

    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self._rules = list(rules or [])
        self._lock = threading.Lock()

    def add(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, api: str, path: str, kinds: set[str]) -> FaultRule | None:
        """Consume one hit of the first armed rule of one of ``kinds`` matching the request."""
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.matches(api, path):
                    if rule.count is not None and rule.hits >= rule.count:
                        continue
                    rule.hits += 1
                    return rule
        return None

    def as_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_dict() for r in self._rules]


# ---------------------------------------------------------------------------------------------
# API modules
# ---------------------------------------------------------------------------------------------


class ApiModule(Protocol):
    """What a vendor replica provides to the framework."""

    name: str  # "fub", "rezen", "skyslope", "qualia"
    prefix: str  # mount point, e.g. "/fub"

    def routes(self) -> list[BaseRoute]:
        """Starlette routes, relative to ``prefix``."""

    def base_urls(self, root: str) -> dict[str, str]:
        """Settings field name → URL on this server (``root`` is ``http://127.0.0.1:PORT``)."""

    def advance(self, fraction: float, rng: random.Random) -> dict[str, Any]:
        """The clock moved: create/update/delete ``fraction`` of records; return a summary."""

    def truth(self, user_id: int | None, entity: str | None) -> dict[str, Any]:
        """Exactly what the API would serve now, per agent and entity (counts, ids, ...)."""

    def credentials(self, user_id: int) -> dict[str, str] | None:
        """The demo agent's credential for this integration (as ``users add`` takes it), or None."""

    # Optional members (read with ``getattr``):
    #   record_faults: frozenset[str] — the RECORD_FAULTS kinds the replica applies (default none)
    #   fault_response(kind, rule) -> Response — the vendor's own answer for an injected
    #       ``rate_limit`` / ``server_error`` / ``expired_credentials`` (default: a generic body)
    #   control_routes() -> list[BaseRoute] — sandbox-only routes under ``/_sandbox/<name>``


ModuleFactory = Callable[[World, FaultPlan], ApiModule]
API_MODULES: dict[str, ModuleFactory] = {}


def register_api(name: str) -> Callable[[ModuleFactory], ModuleFactory]:
    """Decorator: register a replica factory under ``name``."""

    def deco(factory: ModuleFactory) -> ModuleFactory:
        API_MODULES[name] = factory
        return factory

    return deco


def _load_builtin_modules() -> None:
    # Importing registers them (here, not at the top: each replica module imports this one).
    from sandbox import fub, qualia, rezen, skyslope  # noqa: F401


def default_fault_response(kind: str, rule: FaultRule) -> Response:
    """The answer to an injected fault for a replica without its own ``fault_response``.

    ``rate_limit`` → 429 with ``Retry-After`` (``param`` seconds, default 1); ``server_error`` →
    ``param`` status (default 500); ``expired_credentials`` → 401.
    """
    if kind == "rate_limit":
        return JSONResponse(
            {"error": "too many requests (injected)"},
            status_code=429,
            headers={"Retry-After": str(retry_after(rule))},
        )
    if kind == "server_error":
        return JSONResponse({"error": "injected server error"}, status_code=error_status(rule))
    return JSONResponse({"error": "credentials expired (injected)"}, status_code=401)


def retry_after(rule: FaultRule) -> int:
    """Seconds a ``rate_limit`` rule asks the client to wait (its ``param``, default 1)."""
    return max(0, int(rule.param or 1))


def error_status(rule: FaultRule) -> int:
    """The status a ``server_error`` rule answers with (its ``param``, default 500)."""
    return int(rule.param or 500)


def wrong_types(record: dict[str, Any], keep: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """A copy of ``record`` whose top-level fields (except ``keep``) have the wrong JSON type.

    The ``malformed_types`` record fault (issue 3 §9, "malformed records: wrong types"): strings
    become numbers, numbers strings, booleans strings, objects and lists strings; nulls stay
    null. The id fields in ``keep`` are left intact, so a client can still tell which record it
    is and must decide (quarantine, coerce) on the types alone.
    """
    return {k: (v if k in keep else _wrong_type(v)) for k, v in record.items()}


def edge_values(records: list[Any], keep: tuple[str, ...] = ("id",)) -> list[Any]:
    """The page with values a loader must land exactly as served (the ``edge_values`` fault).

    The vendors' replicas never serve these on their own, yet real accounts do, and a loader
    that writes CSV or casts types can silently change them. On the last five records of the
    page (so the records before them have typed the columns as usual; fields in ``keep`` — ids,
    cursors — left as they are; nested objects and lists included):

    1. every string is ``""`` (an empty string is not ``null``);
    2. every ``null`` is ``""`` (an empty string where a number, time or object belongs);
    3. every ``...Z`` timestamp is the same instant with a ``+05:30`` offset and milliseconds
       (``-08:00`` inside objects);
    4. every number gets ten more decimal places (``250000`` → ``250000.1234567891``), more
       than a ``numeric(38,9)`` keeps: rounding must be exact;
    5. every other string ends in CSV-hostile text: ``, "quoted"``, a newline, ``\\N``, a tab,
       ``NULL``.
    """
    out = list(records)
    steps = (_blank, _null_blank, _offset_time, _long_decimal, _hostile)
    first = max(0, len(out) - len(steps))
    for i, step in zip(range(first, len(out)), steps, strict=False):
        if isinstance(out[i], dict):
            out[i] = {k: (v if k in keep else _deep(step, v, True)) for k, v in out[i].items()}
    return out


_ZULU = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _deep(step: Callable[[Any, bool], Any], value: Any, top: bool) -> Any:
    if isinstance(value, dict):
        return {k: _deep(step, v, False) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(step, v, False) for v in value]
    return step(value, top)


def _blank(value: Any, top: bool) -> Any:
    return "" if isinstance(value, str) else value


def _null_blank(value: Any, top: bool) -> Any:
    return "" if value is None else value


def _offset_time(value: Any, top: bool) -> Any:
    if isinstance(value, str) and _ZULU.fullmatch(value):
        zone = timezone(timedelta(hours=5, minutes=30) if top else timedelta(hours=-8))
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return instant.astimezone(zone).isoformat(timespec="milliseconds")
    return value


def _long_decimal(value: Any, top: bool) -> Any:
    if _is_number(value):
        return float(value) + 0.1234567891
    return value


def _hostile(value: Any, top: bool) -> Any:
    if isinstance(value, str) and not _ZULU.fullmatch(value):
        return value + ', "quoted"\nline \\N\tNULL'
    return value


def _wrong_type(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "not a boolean"
    if isinstance(value, int | float):
        return "not a number"
    if isinstance(value, str):
        return 12345
    if isinstance(value, dict):
        return "not an object"
    return "not a list"


def _is_number(value: object) -> bool:
    """A JSON number (``true``/``false`` are not numbers, although Python bools are ints)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------


class Sandbox:
    """The whole sandbox: world + faults + replicas, as one Starlette app."""

    def __init__(self, seed: int = 42, scale: str | int = "tiny", faults: str = "") -> None:
        _load_builtin_modules()
        self.world = World(seed=seed, scale=scale)
        self.faults = FaultPlan()
        # in name order, not registration (import) order: an advance's replicas draw from one
        # generator in this order, so the same seed and advances change the same records
        self.modules: dict[str, ApiModule] = {
            name: API_MODULES[name](self.world, self.faults) for name in sorted(API_MODULES)
        }
        self.faults.add(self.parse_faults(faults))
        self.root_url = ""
        self.app = self._build_app()

    def fault_kinds(self) -> dict[str, frozenset[str]]:
        """API name → the fault kinds it implements (generic ones + its declared record ones)."""
        return {
            name: GENERIC_FAULTS | frozenset(getattr(mod, "record_faults", frozenset()))
            for name, mod in self.modules.items()
        }

    def parse_faults(self, spec: str) -> list[FaultRule]:
        """Parse ``spec`` and check every rule against the served APIs (raises BadControl)."""
        rules = parse_fault_spec(spec)
        check_fault_rules(rules, self.fault_kinds())
        return rules

    # -- generic faults as middleware ------------------------------------------------------
    def _build_app(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/_sandbox/state", self._state, methods=["GET"]),
            Route("/_sandbox/advance", self._advance, methods=["POST"]),
            Route("/_sandbox/faults", self._faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/truth", self._truth, methods=["GET"]),
            Route("/_sandbox/truth/{api}", self._truth, methods=["GET"]),
            Route("/_sandbox/limits", self._limits, methods=["GET", "POST"]),
        ]
        for mod in self.modules.values():
            # optional: a replica's own sandbox-only control routes, under /_sandbox/<name>
            control = getattr(mod, "control_routes", None)
            if control is not None:
                routes.append(Mount(f"/_sandbox/{mod.name}", routes=control()))
            routes.append(Mount(mod.prefix, routes=mod.routes()))
        app = Starlette(routes=routes)
        api_by_prefix = sorted(
            ((m.prefix, m.name) for m in self.modules.values()), key=lambda p: -len(p[0])
        )
        faults = self.faults

        async def _fault_middleware(request: Request, call_next):
            path = request.url.path
            api = next((name for pre, name in api_by_prefix if path.startswith(pre)), None)
            if api is None:
                return await call_next(request)
            sub = path[len(self.modules[api].prefix) :] or "/"
            rule = faults.take(api, sub, GENERIC_FAULTS - {"truncated"})
            if rule is not None:
                if rule.kind == "slow":
                    await asyncio.sleep(rule.param or 30.0)
                else:
                    hook = getattr(self.modules[api], "fault_response", None)
                    if hook is not None:
                        return hook(rule.kind, rule)
                    return default_fault_response(rule.kind, rule)
            try:
                response = await call_next(request)
            except Exception as err:  # never crash on a request: answer 500 with the reason
                return JSONResponse({"error": f"sandbox error: {err}"}, status_code=500)
            if faults.take(api, sub, {"truncated"}) is not None:
                body = b"".join([chunk async for chunk in response.body_iterator])
                cut = body[: max(1, len(body) // 2)]
                headers = {
                    k: v for k, v in response.headers.items() if k.lower() != "content-length"
                }
                return Response(cut, status_code=response.status_code, headers=headers)
            return response

        app.add_middleware(BaseHTTPMiddleware, dispatch=_fault_middleware)
        return app

    # -- control endpoints -----------------------------------------------------------------
    async def _json_body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            raise BadControl("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadControl("body must be a JSON object")
        return body

    async def _state(self, request: Request) -> Response:
        return JSONResponse(
            {
                "seed": self.world.seed,
                "scale": self.world.scale_name,
                "now": self.world.now().isoformat(),
                "apis": sorted(self.modules),
                "base_urls": self.base_urls(),
                "faults": self.faults.as_list(),
            }
        )

    async def _advance(self, request: Request) -> Response:
        try:
            body = await self._json_body(request)
            unknown = sorted(set(body) - {"seconds", "fraction"})
            if unknown:
                raise BadControl(
                    f"unknown key(s) {unknown}; /_sandbox/advance takes seconds and fraction"
                )
            seconds = body.get("seconds", 86_400)
            fraction = body.get("fraction", 0.01)
            if not _is_number(seconds) or seconds < 0:
                raise BadControl(f"seconds must be a non-negative number, got {seconds!r}")
            if not _is_number(fraction) or not 0 <= fraction <= 1:
                raise BadControl(f"fraction must be a number between 0 and 1, got {fraction!r}")
        except BadControl as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        summary = await asyncio.to_thread(self.advance, float(seconds), float(fraction))
        return JSONResponse(summary)

    def advance(self, seconds: float, fraction: float) -> dict[str, Any]:
        """Move the clock and let every replica change ``fraction`` of its records."""
        since_start = self.world.advance(seconds) - self.world.start
        # Seeded by the seed and the time since the clock's start, not by the calendar date: the
        # same seed and the same advances change the same records whatever the epoch (today or
        # a pinned AGENTSYNC_SANDBOX_EPOCH), so tests that advance are independent of the day.
        rng = random.Random(f"{self.world.seed}:{since_start.total_seconds()}")
        changes = {name: mod.advance(fraction, rng) for name, mod in self.modules.items()}
        return {"now": self.world.now().isoformat(), "changes": changes}

    async def _faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            try:
                body = await self._json_body(request)
                spec = body.get("spec")
                if not isinstance(spec, str) or not spec.strip():
                    raise BadControl("spec must be a non-empty string, e.g. fub:*:rate_limit:3")
                self.faults.add(self.parse_faults(spec))
            except BadControl as err:
                return JSONResponse({"error": str(err)}, status_code=400)
        return JSONResponse({"faults": self.faults.as_list()})

    def limiters(self) -> dict[str, Any]:
        """Every replica's request limiter: FUB's own (always there) and the ones SkySlope,
        reZEN and Qualia enforce in a profile with ``vendor_limits`` (:mod:`sandbox.limits`)."""
        out: dict[str, Any] = {}
        for name, mod in self.modules.items():
            limiter = getattr(mod, "ratelimit", None) or getattr(mod, "limiter", None)
            if limiter is not None:
                out[name] = limiter
        return out

    async def _limits(self, request: Request) -> Response:
        """GET: served / refused requests per API and account since the last reset, with each
        account's span (first to last served request, seconds) and the limits (``?times=1``:
        and when each served request came). POST
        ``{"enabled": bool}`` (optional) switches the SkySlope / reZEN / Qualia limiters (FUB's
        has ``/_sandbox/fub/ratelimit``) and, outside the fleet profile, whether SkySlope reports
        its per-session budget (a client paces itself by it: a pipeline-bound benchmark switches
        it off); every POST resets all the counts (a benchmark's run starts from zero)."""
        limiters = self.limiters()
        if request.method == "POST":
            try:
                body = await self._json_body(request)
                enabled = body.get("enabled")
                if set(body) - {"enabled"} or not isinstance(enabled, bool | None):
                    raise BadControl('body must be {} or {"enabled": true|false}')
            except BadControl as err:
                return JSONResponse({"error": str(err)}, status_code=400)
            for name, limiter in limiters.items():
                if enabled is not None and name != "fub":
                    limiter.enabled = enabled
                limiter.reset()
            for mod in self.modules.values():
                if enabled is not None and hasattr(mod, "report_budget"):
                    mod.report_budget = enabled
        times = request.query_params.get("times") not in (None, "", "0", "false")
        return JSONResponse({name: lim.report(times) for name, lim in limiters.items()})

    async def _truth(self, request: Request) -> Response:
        api = request.path_params.get("api")
        user = request.query_params.get("user_id")
        entity = request.query_params.get("entity")
        if api is not None and api not in self.modules:
            return JSONResponse(
                {"error": f"unknown api {api!r}; one of {sorted(self.modules)}"}, status_code=400
            )
        try:
            user_id = int(user) if user is not None else None
        except ValueError:
            return JSONResponse({"error": "user_id must be an integer"}, status_code=400)
        names = [api] if api else sorted(self.modules)
        try:
            out = {
                name: await asyncio.to_thread(self.modules[name].truth, user_id, entity)
                for name in names
            }
        except BadControl as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        return JSONResponse(out[api] if api else out)

    # -- wiring ------------------------------------------------------------------------------
    def base_urls(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        for mod in self.modules.values():
            urls.update(mod.base_urls(self.root_url))
        return urls

    def env(self) -> dict[str, str]:
        """``AGENTSYNC_*`` variables that point agentsync's sources at this sandbox."""
        return {f"AGENTSYNC_{k.upper()}": v for k, v in self.base_urls().items()}

    def demo_agents(self) -> list[dict[str, Any]]:
        """The demo agents with their per-integration credentials (sandbox-only secrets)."""
        out = []
        for agent in self.world.agents:
            creds = {}
            for name, mod in self.modules.items():
                cred = mod.credentials(agent.user_id)
                if cred:
                    creds[name] = cred
            out.append({"user_id": agent.user_id, "name": agent.name, "credentials": creds})
        return out


# ---------------------------------------------------------------------------------------------
# Running it
# ---------------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class RunningSandbox:
    """A sandbox served by uvicorn in a background thread (for tests and the demo)."""

    sandbox: Sandbox
    host: str
    port: int
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    seed: int = 42,
    scale: str | int = "tiny",
    faults: str = "",
    host: str = "127.0.0.1",
    port: int | None = None,
) -> RunningSandbox:
    """Serve a new sandbox on ``host:port`` (a free port by default) in a daemon thread."""
    sandbox = Sandbox(seed=seed, scale=scale, faults=faults)
    port = port or free_port(host)
    sandbox.root_url = f"http://{host}:{port}"
    config = uvicorn.Config(
        sandbox.app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="agentsync-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox did not start on {host}:{port}")
        time.sleep(0.02)
    return RunningSandbox(sandbox, host, port, server, thread)


def iso(dt: datetime) -> str:
    """ISO-8601 UTC with a trailing Z, as the vendors write timestamps."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "API_MODULES",
    "RECORD_FAULTS",
    "ApiModule",
    "BadControl",
    "FaultPlan",
    "FaultRule",
    "RunningSandbox",
    "Sandbox",
    "World",
    "check_fault_rules",
    "default_fault_response",
    "error_status",
    "iso",
    "parse_fault_spec",
    "register_api",
    "retry_after",
    "start_in_thread",
    "timedelta",
    "wrong_types",
]
