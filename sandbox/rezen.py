"""reZEN replica: yenta, arrakis and keymaker under ``/rezen/<service>/api/v1``.

Facts followed (``docs/vendors/rezen.md``; A.n below is §n of that file, E is its §8):

- A.1 three services, each with the ``/api/v1`` prefix; base URL settings ``rezen_yenta_url``,
  ``rezen_arrakis_url``, ``rezen_keymaker_url``.
- A.2/E ``X-API-KEY`` header; anything else (Bearer, a bad key) answers 403 with
  ``{"com.real.commons.apierror.ApiError": {"message": "Not authorized."}}``. A key sees only
  its own agent (asking for another agent's id is 403 too).
- A.3 errors as JSON under the Java class-name key; 400 for validation (bad page parameters,
  unknown lifecycle group, tier, status; contributors without the required dates).
- A.4 UUID ids, money ``{amount, currency}`` in dollars, timestamps ``createdAt``/``updatedAt``/
  ``closedAt`` as epoch milliseconds, business dates as ISO ``YYYY-MM-DD``.
- A.5 0-based ``pageNumber`` + ``pageSize`` (default 20, at most 1000 here), envelopes
  ``{<plural>: [...], pageNumber, pageSize, hasNext}`` plus ``totalCount`` where it is cheap.
- A.6 endpoints (see :meth:`RezenApi.routes`). Down-line ``statusIn`` defaults to ACTIVE only
  (the trap, A.6.3) and accepts ``updatedAtFrom``/``updatedAtTo``. Transactions/listings accept
  ``sortBy=UPDATED_AT|CREATED_AT`` and ``sortDirection=ASC|DESC`` (A.4). Equity has no known
  endpoint (A.6.8 [NOT FOUND]): ``GET yenta /agents/{id}/equity-purchases`` is this replica's
  choice.

Record-level faults (``malformed``, ``drift_added``, ``drift_renamed``, ``lose_page``) are
applied when a page is served; generic ones by the framework.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from sandbox.core import (
    FaultPlan,
    FaultRule,
    edge_values,
    error_status,
    register_api,
    retry_after,
    wrong_types,
)
from sandbox.limits import WindowLimiter, vendor_limiter
from sandbox.rezen_data import AGENT_STATUSES, LIFECYCLE_GROUPS, Book, RezenData, epoch_ms
from sandbox.world import World

ERROR_KEY = "com.real.commons.apierror.ApiError"
MAX_PAGE_SIZE = 1000
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
TRUTH_ENTITIES = (
    "agent",
    "teams",
    "team_members",
    "transactions",
    "participants",
    "listings",
    "network",
    "cap_info",
    "front_line",
    "sponsors",
    "equity",
    "revshare_payments",
    "contributions",
    "pending_contributions",
    "contributors",
)
CONTRIBUTORS_WINDOW = (date(2000, 1, 1), date(2100, 1, 1))


class ApiProblem(Exception):
    """An error answer (status + message) in reZEN's error format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return float(obj)  # shortest repr: exact for cents-precision dollar amounts
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class RezenJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_default, separators=(",", ":")).encode()


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """reZEN's error body ``{"com.real.commons.apierror.ApiError": {"message": ...}}`` (A.3, E).

    Exactly the documented body: the status is in the HTTP status line only.
    """
    return RezenJSON({ERROR_KEY: {"message": message}}, status_code=status, headers=headers)


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiProblem(400, f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ApiProblem(400, f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _date_param(request: Request, name: str, required: bool = False) -> date | None:
    raw = request.query_params.get(name)
    if raw is None:
        if required:
            raise ApiProblem(400, f"{name} is required (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiProblem(400, f"{name} must be a date YYYY-MM-DD, got {raw!r}") from None


class RezenApi:
    """The replica as an :class:`sandbox.core.ApiModule`."""

    name = "rezen"
    prefix = "/rezen"
    record_faults = frozenset(
        {"malformed", "malformed_types", "drift_added", "drift_renamed", "lose_page", "edge_values"}
    )

    def __init__(self, world: World, faults: FaultPlan) -> None:
        self.world = world
        self.faults = faults
        self.data = RezenData(world)
        self.limiter = vendor_limiter("rezen", world)
        self._sorted: dict[tuple[Any, ...], list[Any]] = {}

    # -- framework protocol ----------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        y = [
            Route("/agents/me", self._h(self.agents_me)),
            Route("/agents/{agent_id}/down-line/{tier}", self._h(self.down_line)),
            Route("/agents/{agent_id}/sponsor-tree", self._h(self.sponsor_tree)),
            Route("/agents/{agent_id}/front-line-agents-info", self._h(self.front_line)),
            Route("/agents/{agent_id}/cap-info", self._h(self.cap_info)),
            Route("/agents/{agent_id}/equity-purchases", self._h(self.equity)),
            Route("/teams/{team_id}", self._h(self.team)),
        ]
        a = [
            Route(
                "/transactions/participant/{agent_id}/transactions/lifecycle-group-counts",
                self._h(self.tx_counts),
            ),
            Route(
                "/transactions/participant/{agent_id}/transactions/{group}",
                self._h(self.tx_list),
            ),
            Route(
                "/transactions/participant/{agent_id}/listing-transactions/lifecycle-group-counts",
                self._h(self.ls_counts),
            ),
            Route(
                "/transactions/participant/{agent_id}/listing-transactions/{group}",
                self._h(self.ls_list),
            ),
            Route("/transactions/{transaction_id}", self._h(self.tx_detail)),
            Route("/revshares/{agent_id}/payments", self._h(self.payments)),
            Route("/revshares/{agent_id}/payments/pending", self._h(self.pending)),
            Route("/revshares/{agent_id}/contributions/{tier}", self._h(self.contributions)),
            Route("/revshares/{agent_id}/contributors/{tier}", self._h(self.contributors)),
        ]
        k = [Route("/api-keys", self._h(self.api_keys))]
        for route in (*y, *a, *k):  # any method reaches the handler: 405 in reZEN's body shape
            route.methods = {*METHODS, "HEAD"}
        anything = Route("/{rest:path}", self._unknown, methods=METHODS)
        return [
            Mount("/yenta/api/v1", routes=[*y, anything]),
            Mount("/arrakis/api/v1", routes=[*a, anything]),
            Mount("/keymaker/api/v1", routes=[*k, anything]),
            anything,
        ]

    def fault_response(self, kind: str, rule: FaultRule) -> Response:
        """reZEN's answer to an injected fault, in its ApiError body (A.3).

        ``rate_limit``: 429 (A.2: clients map 429 to a rate-limit error; no limits or rate-limit
        headers are documented, so only the standard ``Retry-After`` is sent — UNCONFIRMED).
        ``server_error``: the rule's 5xx (A.3 lists 5xx). ``expired_credentials``: a revoked or
        expired key is a bad key, which answers 403 "Not authorized." (A.2, E).
        """
        if kind == "rate_limit":
            return error(429, "Too many requests", {"Retry-After": str(retry_after(rule))})
        if kind == "server_error":
            return error(error_status(rule), "Internal server error")
        return error(403, "Not authorized.")

    async def _unknown(self, request: Request) -> Response:
        """Any path no reZEN endpoint serves: 403 without a valid key, else 404 (A.3).

        The key is checked first, as an authentication filter in front of the services would
        (UNCONFIRMED: the research has no sample of reZEN's 404 body; the ApiError shape of A.3
        is used).
        """
        key = request.headers.get("x-api-key")
        if not key or self.data.book_by_key(key) is None:
            return error(403, "Not authorized.")
        return error(404, f"No endpoint {request.method} {request.url.path}")

    def base_urls(self, root: str) -> dict[str, str]:
        return {
            "rezen_yenta_url": f"{root}/rezen/yenta/api/v1",
            "rezen_arrakis_url": f"{root}/rezen/arrakis/api/v1",
            "rezen_keymaker_url": f"{root}/rezen/keymaker/api/v1",
        }

    def advance(self, fraction: float, rng: random.Random) -> dict[str, Any]:
        summary = self.data.advance(fraction, rng)
        self._sorted.clear()
        return summary

    def credentials(self, user_id: int) -> dict[str, str] | None:
        spec = self.world.agent(user_id)
        if spec is None or "rezen" not in spec.integrations:
            return None
        return {"api_key": self.data.api_key(user_id)}

    def truth(self, user_id: int | None, entity: str | None) -> dict[str, Any]:
        """Per agent and entity: what the API serves now (``ids`` only when ``entity`` is named).

        Entities are the source's entity names (``ops.sync_runs.entity``). ``transactions``
        and ``listings`` also give ``by_lifecycle``; ``network`` gives ``by_tier`` and
        ``by_status``; ``participants`` counts participant rows over all transactions.
        """
        from sandbox.core import BadControl

        if entity is not None and entity not in TRUTH_ENTITIES:
            raise BadControl(f"unknown rezen entity {entity!r}; one of {list(TRUTH_ENTITIES)}")
        uids = self.data.agents() if user_id is None else [user_id]
        out: dict[str, Any] = {}
        for uid in uids:
            book = self.data.book(uid)
            if book is None:
                continue
            names = [entity] if entity else list(TRUTH_ENTITIES)
            out[str(uid)] = {
                name: self._truth_entity(book, name, with_ids=entity is not None) for name in names
            }
        return out

    def _truth_entity(self, book: Book, entity: str, with_ids: bool) -> dict[str, Any]:
        d = self.data
        extra: dict[str, Any] = {}
        if entity == "agent":
            ids = [book.yenta_id]
        elif entity == "teams":
            ids = [book.team_id]
        elif entity == "team_members":
            ids = [m["agent"]["id"] for m in book.roster]
        elif entity in ("transactions", "listings"):
            listings = entity == "listings"
            deals = d.deals(book, listings)
            ids = [d.tx_id(book, x) for x in deals]
            extra["by_lifecycle"] = d.group_counts(book, listings)
        elif entity == "participants":
            ids = []
            for deal in d.deals(book, False):
                ids.extend(p["id"] for p in d.transaction(book, deal, detail=True)["participants"])
        elif entity == "network":
            ids = [a.id for a in book.network]
            extra["by_tier"] = {
                str(t): sum(1 for a in book.network if a.tier == t) for t in range(1, 6)
            }
            extra["by_status"] = {
                s: sum(1 for a in book.network if a.status == s) for s in AGENT_STATUSES
            }
        elif entity == "cap_info":
            ids = [book.yenta_id]
        elif entity == "front_line":
            ids = [a.id for a in book.network if a.tier == 1]
        elif entity == "sponsors":
            ids = [s["id"] for s in d.sponsor_path(book, book.yenta_id) or []]
        elif entity == "equity":
            ids = [e["id"] for e in d.equity(book)]
        elif entity == "revshare_payments":
            ids = [p["id"] for p in d.payments(book)]
        elif entity == "contributions":
            ids = [c["id"] for c in d.contributions(book)]
        elif entity == "pending_contributions":
            ids = [c["id"] for c in d.pending_contributions(book)]
        else:  # contributors
            ids = [c["agentYentaId"] for c in d.contributors(book, *CONTRIBUTORS_WINDOW)]
        res: dict[str, Any] = {"count": len(ids), "trashed_ids": [], "deleted_ids": [], **extra}
        if with_ids:
            res["ids"] = ids
        return res

    # -- plumbing ---------------------------------------------------------------------------------
    def _h(self, fn: Callable[[Request, Book], Any]) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            if request.method not in ("GET", "HEAD"):  # the replica is read-only
                return error(405, f"Method {request.method} not allowed")
            key = request.headers.get("x-api-key")
            book = self.data.book_by_key(key) if key else None
            if book is None:
                return error(403, "Not authorized.")
            if self.limiter is not None:  # fleet profile: a stand-in limit, no headers (A.2)
                allowed, _, left = self.limiter.hit(book.user_id)
                if not allowed:
                    return error(
                        429, "Too many requests", {"Retry-After": WindowLimiter.retry_after(left)}
                    )
            agent_id = request.path_params.get("agent_id")
            # A key sees what its user can see (A.2): other agents are not authorised, except
            # the sponsor tree of an agent in its own down-line.
            foreign = agent_id is not None and agent_id != book.yenta_id
            if foreign and not (fn == self.sponsor_tree and agent_id in book.by_id):
                return error(403, "Not authorized.")
            try:
                body = fn(request, book)
            except ApiProblem as err:
                return error(err.status, err.message)
            return RezenJSON(body)

        return handler

    def _sub(self, request: Request) -> str:
        return request.url.path[len(self.prefix) :] or "/"

    def _page(
        self, request: Request, key: str, items: list[Any], render: Callable[[Any], dict]
    ) -> dict[str, Any]:
        """One page of ``items`` under ``key`` (A.5), with record-level faults applied."""
        number = _int_param(request, "pageNumber", 0, 0, 10_000_000)
        size = _int_param(request, "pageSize", 20, 1, MAX_PAGE_SIZE)
        sub = self._sub(request)
        if self.faults.take("rezen", sub, {"lose_page"}) is not None:
            number += 1  # the page asked for is never served: its records are lost
        chunk = items[number * size : (number + 1) * size]
        rows = [render(x) for x in chunk]
        if rows and self.faults.take("rezen", sub, {"malformed"}) is not None:
            rows[0] = dict(rows[0], id=None)
        if rows and self.faults.take("rezen", sub, {"malformed_types"}) is not None:
            rows[-1] = wrong_types(rows[-1], keep=("id",))
        if rows and self.faults.take("rezen", sub, {"edge_values"}) is not None:
            rows = edge_values(rows, keep=("id",))
        if rows and self.faults.take("rezen", sub, {"drift_added"}) is not None:
            rows = [dict(r, sandboxAddedField="new in this API version") for r in rows]
        if rows and self.faults.take("rezen", sub, {"drift_renamed"}) is not None:
            rows = [_rename_second_key(r) for r in rows]
        return {
            key: rows,
            "pageNumber": number,
            "pageSize": size,
            "hasNext": (number + 1) * size < len(items),
            "totalCount": len(items),
        }

    # -- yenta ------------------------------------------------------------------------------------
    def agents_me(self, request: Request, book: Book) -> dict[str, Any]:
        """A.6.1 ``agents/me`` with the ``teams`` block."""
        return {
            "id": book.yenta_id,
            "firstName": book.first_name,
            "lastName": book.last_name,
            "emailAddress": f"{book.first_name}.{book.last_name}@example.com".lower(),
            "phoneNumber": f"+1555{book.user_id:07d}",
            "status": "ACTIVE",
            "agentStatus": "ACTIVE",
            "joinDate": book.join_date.isoformat(),
            "anniversaryDate": book.join_date.isoformat(),
            "createdAt": epoch_ms(datetime.combine(book.join_date, datetime.min.time(), UTC)),
            "sizeOfNetwork": len(book.network),
            "teams": [
                {
                    "teamId": book.team_id,
                    "teamName": book.team_name,
                    "teamType": "NORMAL",
                    "teamRoles": ["LEADER"],
                    "isLeader": True,
                    "isAdmin": True,
                }
            ],
        }

    def team(self, request: Request, book: Book) -> dict[str, Any]:
        """A.6.2 ``teams/{id}``: the team with its roster under ``agents``."""
        if request.path_params["team_id"] != book.team_id:
            raise ApiProblem(403, "Not authorized.")
        return {
            "id": book.team_id,
            "name": book.team_name,
            "teamType": "NORMAL",
            "status": "ACTIVE",
            "createdAt": epoch_ms(datetime.combine(book.join_date, datetime.min.time(), UTC)),
            "agents": book.roster,
        }

    def down_line(self, request: Request, book: Book) -> dict[str, Any]:
        """A.6.3 down-line per tier; ``statusIn`` defaults to ACTIVE only."""
        try:
            tier = int(request.path_params["tier"])
        except ValueError:
            raise ApiProblem(400, "tier must be an integer") from None
        if not 1 <= tier <= 7:
            raise ApiProblem(400, f"tier must be between 1 and 7, got {tier}")
        statuses = set(request.query_params.getlist("statusIn")) or {"ACTIVE"}
        unknown = statuses - set(AGENT_STATUSES)
        if unknown:
            raise ApiProblem(400, f"statusIn has unknown value(s) {sorted(unknown)}")
        start = _date_param(request, "updatedAtFrom")
        end = _date_param(request, "updatedAtTo")
        agents = [
            a
            for a in self.data.downline(book, tier, statuses)
            if (start is None or a.updated_at.date() >= start)
            and (end is None or a.updated_at.date() <= end)
        ]
        return self._page(
            request,
            "downLineAgents",
            agents,
            lambda a: {
                "id": a.id,
                "firstName": a.first_name,
                "lastName": a.last_name,
                "status": a.status,
                "joinDate": a.join_date.isoformat(),
                "sizeOfNetwork": a.size_of_network,
                # [UNCONFIRMED] sponsorId/updatedAt on down-line rows: the API filters on
                # updatedAt (A.6.3) so it has one; the sponsor edge lets marts build paths.
                "sponsorId": a.sponsor_id,
                "updatedAt": epoch_ms(a.updated_at),
                **(
                    {"terminatedAsOf": a.updated_at.date().isoformat()}
                    if a.status == "INACTIVE"
                    else {}
                ),
            },
        )

    def sponsor_tree(self, request: Request, book: Book) -> dict[str, Any]:
        """A.6.3 ``sponsor-tree``: ``flattenedSponsors`` (level 1 = direct) and ``teams``."""
        path = self.data.sponsor_path(book, request.path_params["agent_id"])
        if path is None:
            raise ApiProblem(404, "Agent not found")
        teams = []
        if request.path_params["agent_id"] == book.yenta_id:
            teams = [
                {
                    "id": book.team_id,
                    "name": book.team_name,
                    "type": "NORMAL",
                    "status": "ACTIVE",
                    "agents": book.roster,
                }
            ]
        return {"flattenedSponsors": path, "teams": teams}

    def front_line(self, request: Request, book: Book) -> dict[str, Any]:
        """A.6.3 tier-1 recruits under ``frontLineAgentInfos`` (all statuses, not paged)."""
        return {
            "frontLineAgentInfos": [
                {
                    "id": a.id,
                    "firstName": a.first_name,
                    "lastName": a.last_name,
                    "status": a.status,
                    "joinDate": a.join_date.isoformat(),
                    "sizeOfNetwork": a.size_of_network,
                }
                for a in book.network
                if a.tier == 1
            ]
        }

    def cap_info(self, request: Request, book: Book) -> dict[str, Any]:
        return self.data.cap_info(book)

    def equity(self, request: Request, book: Book) -> dict[str, Any]:
        return self._page(request, "equityPurchases", self.data.equity(book), lambda e: e)

    # -- arrakis ----------------------------------------------------------------------------------
    def _group(self, request: Request) -> str:
        group = request.path_params["group"].upper()
        if group not in LIFECYCLE_GROUPS:
            raise ApiProblem(
                400, f"lifecycleGroup must be one of {list(LIFECYCLE_GROUPS)}, got {group!r}"
            )
        return group

    def _deal_list(self, request: Request, book: Book, listings: bool) -> list[Any]:
        group = self._group(request)
        sort_by = request.query_params.get("sortBy", "CREATED_AT").upper()
        direction = request.query_params.get("sortDirection", "DESC").upper()
        if sort_by not in ("CREATED_AT", "UPDATED_AT"):
            raise ApiProblem(400, f"sortBy must be CREATED_AT or UPDATED_AT, got {sort_by!r}")
        if direction not in ("ASC", "DESC"):
            raise ApiProblem(400, f"sortDirection must be ASC or DESC, got {direction!r}")
        key = (book.user_id, listings, group, sort_by, direction, self.data.version)
        if key not in self._sorted:
            rows = []
            for deal in self.data.deals(book, listings):
                st = self.data.state(book, deal)
                if st["lifecycle"] != group:
                    continue
                when = st["updated"] if sort_by == "UPDATED_AT" else deal.created_at
                rows.append((when, deal.key, deal))
            rows.sort(key=lambda r: (r[0], r[1]), reverse=direction == "DESC")
            self._sorted[key] = [r[2] for r in rows]
        return self._sorted[key]

    def tx_list(self, request: Request, book: Book) -> dict[str, Any]:
        deals = self._deal_list(request, book, listings=False)
        return self._page(request, "transactions", deals, lambda d: self.data.transaction(book, d))

    def ls_list(self, request: Request, book: Book) -> dict[str, Any]:
        deals = self._deal_list(request, book, listings=True)
        return self._page(request, "transactions", deals, lambda d: self.data.listing(book, d))

    def tx_counts(self, request: Request, book: Book) -> dict[str, Any]:
        return self.data.group_counts(book, listings=False)

    def ls_counts(self, request: Request, book: Book) -> dict[str, Any]:
        return self.data.group_counts(book, listings=True)

    def tx_detail(self, request: Request, book: Book) -> dict[str, Any]:
        """A.6.4 full detail with ``participants`` (only the key's own transactions)."""
        wanted = request.path_params["transaction_id"]
        index = self._tx_index(book)
        deal = index.get(wanted)
        if deal is None:
            raise ApiProblem(404, f"Transaction {wanted} not found")
        rec = self.data.transaction(book, deal, detail=True)
        sub = self._sub(request)
        if self.faults.take("rezen", sub, {"drift_added"}) is not None:
            rec["sandboxAddedField"] = "new in this API version"
        return rec

    def _tx_index(self, book: Book) -> dict[str, Any]:
        key = ("index", book.user_id, self.data.version)
        if key not in self._sorted:
            self._sorted[key] = [
                {self.data.tx_id(book, d): d for d in self.data.deals(book, listings=False)}
            ]
        return self._sorted[key][0]

    def payments(self, request: Request, book: Book) -> dict[str, Any]:
        return self._page(request, "payments", self.data.payments(book), lambda p: p)

    def pending(self, request: Request, book: Book) -> dict[str, Any]:
        rows = self.data.pending_contributions(book)
        return self._page(request, "contributions", rows, lambda c: c)

    def _tier(self, request: Request) -> int:
        try:
            tier = int(request.path_params["tier"])
        except ValueError:
            raise ApiProblem(400, "tier must be an integer") from None
        if not 1 <= tier <= 7:
            raise ApiProblem(400, f"tier must be between 1 and 7, got {tier}")
        return tier

    def contributions(self, request: Request, book: Book) -> dict[str, Any]:
        """A.6.6 contributions by tier; optional ``startDate``/``endDate`` on the closing date."""
        tier = self._tier(request)
        start = _date_param(request, "startDate")
        end = _date_param(request, "endDate")
        rows = []
        for c in self.data.contributions(book):
            closed = datetime.fromtimestamp(c["transactionClosedAt"] / 1000, UTC).date()
            if c["tier"] != tier:
                continue
            if (start and closed < start) or (end and closed > end):
                continue
            rows.append(c)
        return self._page(request, "contributions", rows, lambda c: c)

    def contributors(self, request: Request, book: Book) -> dict[str, Any]:
        """A.6.6 contributors by tier; ``startDate`` and ``endDate`` are required."""
        tier = self._tier(request)
        start = _date_param(request, "startDate", required=True)
        end = _date_param(request, "endDate", required=True)
        assert start is not None and end is not None
        rows = [c for c in self.data.contributors(book, start, end) if c["tier"] == tier]
        return self._page(request, "contributors", rows, lambda c: c)

    # -- keymaker ---------------------------------------------------------------------------------
    def api_keys(self, request: Request, book: Book) -> list[dict[str, Any]]:
        """Keymaker ``/api-keys`` (A.2, SDK): the key's metadata, never the secret."""
        return [
            {
                "id": f"key-{book.user_id}",
                "name": "agentsync",
                "status": "ACTIVE",
                "expiresAt": None,
            }
        ]


def _rename_second_key(row: dict[str, Any]) -> dict[str, Any]:
    keys = [k for k in row if k != "id"]
    if not keys:
        return row
    old = keys[0]
    return {(f"{old}Renamed" if k == old else k): v for k, v in row.items()}


@register_api("rezen")
def make_rezen(world: World, faults: FaultPlan) -> RezenApi:
    """Factory registered with the sandbox framework."""
    return RezenApi(world, faults)
