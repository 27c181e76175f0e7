"""Offline replica of Qualia's GraphQL orders API (title / escrow).

Facts followed (``docs/vendors/qualia.md``; C.n below is §n of that file):

- C.1 [OFFICIAL/probe] GraphQL over HTTPS POST with HTTP Basic auth. Exact error bodies: no
  ``Authorization`` header → 401 ``Authorization header is missing`` (``UNAUTHORIZED``); a
  non-Basic header (e.g. Bearer) → 401 ``Authorization header is not properly formatted``; bad
  Basic credentials → 403 ``User is not authenticated`` (``FORBIDDEN``); ``POST /`` → 404 HTML.
- C.2 [LIVE-OBSERVED] ``orders(input: {limit, offset}) { orders { ... } }`` with the order fields
  listed there (``_id`` Mongo-style strings, ``order_number``, ``status``, ``open_date``,
  ``close_date``, ``purchase_price``, ``loan_amount``, ``properties{...}``, ``parties{...}``,
  ``progress{...}``); paging by offset until an empty list; **no cursor, no total**.
  Status values and date formats are [UNCONFIRMED]: this replica uses ``open`` / ``closed`` /
  ``cancelled`` and ISO-8601 UTC timestamps.
- Order of the list is [UNCONFIRMED]; this replica serves orders in creation order, so new
  orders appear at the end (the source's incremental re-read relies on this and says so).

Not a GraphQL engine: the query is parsed just enough to find ``orders(input: {...})`` with
literal or ``$variable`` ``limit``/``offset`` (or ``input: $input``). The whole order object is
returned whatever the selection set asks for (a simplification). Any other operation gets a
GraphQL error body (400).

Record faults (``malformed``, ``malformed_types``, ``drift_added``, ``drift_renamed``,
``lose_page``) apply to one answered ``orders`` page per fault count, like the other replicas'.
``lose_page``: a page serves only its last order although more were asked for and more exist;
the others silently go missing. Offset paging has no cursor to skip past them, but a client
cannot tell which orders a short page lacks: one that moves its offset on by the orders it got
re-reads the page's later orders and never sees its first one; one that moves on by the limit
loses all but one. (An empty page is not served: that would mean the end.)

Orders per agent: ``world.share("qualia", profile.qualia_orders, user_id)`` plus orders created
by ``advance``; about half are on the addresses of the agent's real deals (same street, city,
zip, price), the rest elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import random
import re
import threading
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.core import (
    BadControl,
    FaultPlan,
    FaultRule,
    edge_values,
    error_status,
    iso,
    register_api,
    retry_after,
    wrong_types,
)
from sandbox.limits import WindowLimiter, vendor_limiter
from sandbox.world import CITIES, EPOCH, STREETS, World, stable_int

STATUSES = ("open", "closed", "cancelled")
STAGES = {
    "open": ("Commitment Generated", "commitment_generated"),
    "closed": ("Funds Disbursed", "funds_disbursed"),
    "cancelled": ("Order Accepted", "order_accepted"),
}
_ORDERS_CALL = re.compile(r"\borders\s*\(\s*input\s*:\s*(\{[^}]*\}|\$\w+)\s*\)", re.S)
_ARG = re.compile(r"(\w+)\s*:\s*(\$?\w+)")
MAX_LIMIT = 100  # [UNCONFIRMED] a plausible server-side cap


def _error(
    message: str, code: str, status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A GraphQL error body ``{"errors": [{message, extensions: {code}}]}`` (C.1)."""
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )


class BadInput(ValueError):
    """A query argument or variable of the wrong shape: 400 ``BAD_USER_INPUT``."""


def _int_arg(args: dict[str, Any], name: str, default: int) -> int:
    """``args[name]`` as a GraphQL ``Int`` (an integer or integer literal; not a bool)."""
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise BadInput(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be an integer, got {value!r}") from None


# drift_renamed: a served field under a new name (a plausible schema change; UNCONFIRMED)
RENAMED = ("order_number", "file_number")


class QualiaApi:
    """The Qualia replica: ``POST /graphql`` serving ``orders`` (see the module docstring)."""

    name = "qualia"
    prefix = "/qualia"
    record_faults = frozenset(
        {"malformed", "malformed_types", "drift_added", "drift_renamed", "lose_page", "edge_values"}
    )

    def __init__(self, world: World, faults: FaultPlan) -> None:
        self.world = world
        self.faults = faults
        self._lock = threading.RLock()
        self._extra: dict[int, int] = {}  # orders created by advance, per agent
        self._status: dict[str, str] = {}  # _id -> status changed by advance
        self._deals_cache: dict[int, list[Any]] = {}
        self._by_user: dict[str, int] | None = None
        self.limiter = vendor_limiter("qualia", world)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/graphql", self._graphql, methods=["POST"]),
            Route("/", self._root, methods=["POST"]),
            Route("/{rest:path}", self._root, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]

    def fault_response(self, kind: str, rule: FaultRule) -> Response:
        """Qualia's answer to an injected fault: a GraphQL ``errors[]`` body (C.1).

        ``rate_limit``: 429 ``RATE_LIMITED`` (C.1: rate limiting is "enforced" with no published
        numbers or headers, so code and body are UNCONFIRMED; only the standard ``Retry-After``
        is sent). ``server_error``: the rule's 5xx, ``INTERNAL_SERVER_ERROR``.
        ``expired_credentials``: an API key that no longer works is a bad Basic credential, 403
        ``User is not authenticated`` / ``FORBIDDEN`` exactly as documented (C.1).
        """
        if kind == "rate_limit":
            return _error(
                "Too many requests",
                "RATE_LIMITED",
                429,
                {"Retry-After": str(retry_after(rule))},
            )
        if kind == "server_error":
            return _error("Internal server error", "INTERNAL_SERVER_ERROR", error_status(rule))
        return _error("User is not authenticated", "FORBIDDEN", 403)

    def base_urls(self, root: str) -> dict[str, str]:
        return {"qualia_base_url": f"{root}{self.prefix}/graphql"}

    def credentials(self, user_id: int) -> dict[str, str] | None:
        agent = self.world.agent(user_id)
        if agent is None or "qualia" not in agent.integrations:
            return None
        seed = self.world.seed
        return {
            "username": f"org-{stable_int(seed, 'qualia-org', user_id):012x}",
            "password": f"qk_{stable_int(seed, 'qualia-key', user_id):016x}",
        }

    # -- records -------------------------------------------------------------------------------
    def _count(self, user_id: int) -> int:
        base = self.world.share("qualia", self.world.profile.qualia_orders, user_id)
        return base + self._extra.get(user_id, 0) if base or user_id in self._extra else 0

    def _sale_deals(self, user_id: int) -> list[Any]:
        """The agent's non-listing deals (orders are placed on sales), cached per agent."""
        with self._lock:
            hit = self._deals_cache.get(user_id)
        if hit is None:
            hit = [d for d in self.world.deals(user_id) if not d.is_listing]
            with self._lock:
                self._deals_cache[user_id] = hit
        return hit

    def _order(self, user_id: int, index: int) -> dict[str, Any]:
        seed = self.world.seed
        rng = random.Random(stable_int(seed, "qualia-order", user_id, index))
        oid = f"{stable_int(seed, 'qid', user_id, index):016x}{index:08x}"
        base = self.world.share("qualia", self.world.profile.qualia_orders, user_id)
        deals = self._sale_deals(user_id)
        if index < base and index % 2 == 0 and deals:
            deal = deals[(index // 2) % len(deals)]
            line1, city, state, zipcode = deal.address, deal.city, deal.state, deal.zip
            price = deal.price_cents / 100
            opened = deal.created_at + timedelta(days=2)
        else:
            city, state, zip3 = rng.choice(CITIES)
            line1 = f"{rng.randint(10, 9999)} {rng.choice(STREETS)}"
            zipcode = f"{zip3}{rng.randint(10, 99)}"
            price = float(rng.randint(150_000, 2_500_000))
            opened = EPOCH - timedelta(days=rng.randint(1, 700), seconds=rng.randint(0, 86_399))
        if index >= base:  # created by advance: opened "now"-ish, in creation order, a minute
            # apart (an hour apart, a seed-scale account's 72 new orders of a day were opened up to
            # 3 days after the epoch: in the future of the advanced clock, and the gate said so)
            opened = EPOCH + timedelta(minutes=index - base)
        status = self._status.get(oid) or rng.choices(STATUSES, weights=[4, 5, 1])[0]
        if index >= base and oid not in self._status:
            status = "open"
        cash = rng.random() < 0.2
        loan = 0.0 if cash else round(price * rng.choice([0.8, 0.9, 0.95]), 2)
        stage, stage_key = STAGES[status]
        person = {
            "_id": f"p{oid[:12]}",
            "first_name": rng.choice(["Ana", "Ben", "Cleo", "Dev"]),
            "last_name": rng.choice(["Ross", "Shaw", "Tran", "Vega"]),
            "cell_phone": f"555-02{index % 100:02d}",
            "email": f"party{index}@example.test",
        }
        return {
            "_id": oid,
            "order_number": f"Q{user_id}-{index + 1:06d}",
            "status": status,
            "open_date": iso(opened),
            "close_date": iso(opened + timedelta(days=35)) if status == "closed" else None,
            "purchase_price": price,
            "loan_amount": loan,
            "loan_type": None if cash else rng.choice(["Conventional", "FHA", "VA"]),
            "cash_only": cash,
            "external_reference_number": f"EXT-{index:05d}",
            "orderer_id": f"u{user_id}",
            "settlement_agency_name": "Sandbox Title Co",
            "settlement_agency_id": "sta-1",
            "properties": [
                {
                    "address_line_1": line1,
                    "address_line_2": None,
                    "city": city,
                    "state": state,
                    "zipcode": zipcode,
                    "county": None,
                }
            ],
            "parties": {
                "borrowers": [person],
                "sellers": [],
                "lender_contacts": [],
                "listing_agents": [],
                "selling_agents": [],
            },
            "progress": {"current_stage": stage, "current_stage_key": stage_key},
        }

    # -- endpoints -----------------------------------------------------------------------------
    async def _root(self, request: Request) -> Response:
        """Any other path or method: Express's 404 HTML ``Cannot POST /`` (C.1, probe)."""
        path = request.url.path[len(self.prefix) :] or "/"
        return HTMLResponse(f"<pre>Cannot {request.method} {path}</pre>", status_code=404)

    def _authenticate(self, request: Request) -> tuple[int | None, Response | None]:
        header = request.headers.get("authorization")
        if not header:
            return None, _error("Authorization header is missing", "UNAUTHORIZED", 401)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token:
            return None, _error(
                "Authorization header is not properly formatted", "UNAUTHORIZED", 401
            )
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, _error(
                "Authorization header is not properly formatted", "UNAUTHORIZED", 401
            )
        if self._by_user is None:  # username -> agent (one lookup, not one hash per agent)
            self._by_user = {
                (self.credentials(a.user_id) or {}).get("username", ""): a.user_id
                for a in self.world.agents_with("qualia")
            }
        uid = self._by_user.get(user)
        cred = (self.credentials(uid) or {}) if uid is not None else {}
        if (
            cred
            and hmac.compare_digest(cred["username"], user)
            and hmac.compare_digest(cred["password"], password)
        ):
            return uid, None
        return None, _error("User is not authenticated", "FORBIDDEN", 403)

    async def _graphql(self, request: Request) -> Response:
        user_id, denied = self._authenticate(request)
        if denied is not None:
            return denied
        if self.limiter is not None:  # fleet profile: a stand-in limit, no headers (C.1)
            allowed, _, left = self.limiter.hit(user_id)
            if not allowed:
                return _error(
                    "Too many requests",
                    "RATE_LIMITED",
                    429,
                    {"Retry-After": WindowLimiter.retry_after(left)},
                )
        try:
            body = await request.json()
        except ValueError:
            return _error("Body must be a JSON object with a query", "BAD_REQUEST", 400)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _error("Body must be a JSON object with a query", "BAD_REQUEST", 400)
        variables = body.get("variables")
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            return _error(
                f'"variables" must be a JSON object, got {type(variables).__name__}',
                "BAD_USER_INPUT",
                400,
            )
        match = _ORDERS_CALL.search(body["query"])
        if match is None:
            return _error(
                "This server only serves the 'orders(input: {limit, offset})' query",
                "GRAPHQL_VALIDATION_FAILED",
                400,
            )
        raw = match.group(1)
        if raw.startswith("$"):
            args = variables.get(raw[1:])
            if args is None:
                args = {}
            if not isinstance(args, dict):
                return _error(
                    f'Variable "{raw}" got invalid value {args!r}: the orders input must be an '
                    "object {limit, offset}",
                    "BAD_USER_INPUT",
                    400,
                )
        else:
            args = {}
            for name, value in _ARG.findall(raw):
                args[name] = variables.get(value[1:]) if value.startswith("$") else value
        try:
            limit = _int_arg(args, "limit", 25)
            offset = _int_arg(args, "offset", 0)
        except BadInput as err:
            return _error(str(err), "BAD_USER_INPUT", 400)
        if limit < 0 or offset < 0:
            return _error("limit and offset must not be negative", "BAD_USER_INPUT", 400)
        limit = min(limit, MAX_LIMIT)
        total = self._count(user_id)
        orders = [self._order(user_id, i) for i in range(offset, min(total, offset + limit))]
        path = "/graphql"
        if orders and self.faults.take(self.name, path, {"malformed"}) is not None:
            orders[0].pop("_id")
        if orders and self.faults.take(self.name, path, {"malformed_types"}) is not None:
            orders[-1] = wrong_types(orders[-1], keep=("_id",))
        if orders and self.faults.take(self.name, path, {"edge_values"}) is not None:
            orders = edge_values(orders, keep=("_id",))
        if orders and self.faults.take(self.name, path, {"drift_added"}) is not None:
            for o in orders:
                o["escrow_officer"] = "Drift Officer"
        if orders and self.faults.take(self.name, path, {"drift_renamed"}) is not None:
            old, new = RENAMED
            orders = [{(new if k == old else k): v for k, v in o.items()} for o in orders]
        if orders and self.faults.take(self.name, path, {"lose_page"}) is not None:
            orders = orders[-1:]  # the rest of the page silently goes missing (module docstring)
        return JSONResponse({"data": {"orders": {"orders": orders}}})

    # -- control -------------------------------------------------------------------------------
    def control_routes(self) -> list[BaseRoute]:
        """Routes mounted under ``/_sandbox/qualia`` (sandbox-only)."""
        return [Route("/status", self._control_status, methods=["POST"])]

    def set_status(self, user_id: int, index: int, status: str) -> str:
        """Give the agent's order number ``index`` (0-based) ``status``; returns its ``_id``.

        The explicit way for a test to make a change it depends on (``advance`` picks orders by a
        seeded draw that depends on the clock, so which orders change differs with the epoch).
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        with self._lock:
            if not 0 <= index < self._count(user_id):
                raise ValueError(f"agent {user_id} has no order number {index}")
            oid = self._order(user_id, index)["_id"]
            self._status[oid] = status
            return oid

    async def _control_status(self, request: Request) -> Response:
        """``POST {"user_id": N, "index": I, "status": S}``: set one order's status."""
        try:
            body = await request.json()
            oid = self.set_status(int(body["user_id"]), int(body["index"]), str(body["status"]))
        except (ValueError, KeyError, TypeError) as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        return JSONResponse({"_id": oid, "status": body["status"]})

    def advance(self, fraction: float, rng: random.Random) -> dict[str, Any]:
        """New orders (``fraction`` of each agent's count, at least one) and status changes.

        About ``fraction`` of the orders are looked at; those still ``open`` close (about 75%)
        or are cancelled (the rest). A cancelled order stays served with ``status:
        "cancelled"``: research shows no delete, only statuses (C.2 ``status`` and the
        ``input: {status}`` filter; C.3 ``status_details{... cancelled ...}`` and the
        ``cancelOrder`` mutation). The status values themselves are [UNCONFIRMED]. Truth's
        ``deleted_ids`` therefore stay empty and ``by_status`` / ``cancelled_ids`` move.
        """
        created = changed = cancelled = 0
        with self._lock:
            for agent in self.world.agents_with("qualia"):
                n = self._count(agent.user_id)
                for i in range(n):
                    if rng.random() < fraction:
                        order = self._order(agent.user_id, i)
                        if order["status"] == "open":
                            if rng.random() < 0.25:
                                self._status[order["_id"]] = "cancelled"
                                cancelled += 1
                            else:
                                self._status[order["_id"]] = "closed"
                            changed += 1
                new = max(1, round(n * fraction)) if fraction > 0 else 0
                self._extra[agent.user_id] = self._extra.get(agent.user_id, 0) + new
                created += new
        return {
            "orders_created": created,
            "orders_changed": changed,
            "orders_cancelled": cancelled,
        }

    def truth(self, user_id: int | None, entity: str | None) -> dict[str, Any]:
        """Per agent: ``orders`` count and ``by_status`` (ids and ``cancelled_ids`` when the
        entity is named)."""
        if entity not in (None, "orders"):
            raise BadControl(f"unknown qualia entity {entity!r}; one of ['orders']")
        out: dict[str, Any] = {}
        for agent in self.world.agents_with("qualia"):
            if user_id not in (None, agent.user_id) or entity not in (None, "orders"):
                continue
            n = self._count(agent.user_id)
            orders = [self._order(agent.user_id, i) for i in range(n)]
            statuses = [o["status"] for o in orders]
            per: dict[str, Any] = {
                "count": n,
                "trashed_ids": [],
                "deleted_ids": [],
                "by_status": {s: statuses.count(s) for s in STATUSES},
            }
            if entity:
                per["ids"] = [o["_id"] for o in orders]
                per["cancelled_ids"] = [o["_id"] for o in orders if o["status"] == "cancelled"]
            out[str(agent.user_id)] = {"orders": per}
        return out


@register_api("qualia")
def make_qualia(world: World, faults: FaultPlan) -> QualiaApi:
    """Factory registered with the sandbox framework."""
    return QualiaApi(world, faults)


__all__ = ["QualiaApi", "make_qualia"]
