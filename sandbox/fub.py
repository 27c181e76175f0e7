"""Follow Up Boss (FUB) replica: REST ``/fub/v1/...`` and OAuth ``/fub/oauth/token``.

Every behaviour follows ``docs/vendors/fub.md`` (its section cited where it is used; the
UNCONFIRMED points are called out where a guess was made). The pieces:

- :mod:`sandbox.fub_data` — each agent's account, records derived on demand from the seed;
- :mod:`sandbox.fub_query` — filters, ordering, ``offset``/``next`` paging, ``_metadata``;
- :mod:`sandbox.fub_auth` — API keys, OAuth tokens, system keys, the rate limiter;
- :mod:`sandbox.fub_webhooks` — subscriptions and signed deliveries.

Served collections: ``people deals events calls appointments textMessages users stages
pipelines groups`` (+ ``webhooks``, ``identity``, ``me``). The replica is read-only apart from
webhooks: FUB's write endpoints answer 405.

Sandbox-only control (not under ``/fub``, which mirrors the real API):

- ``GET/POST /_sandbox/fub/ratelimit`` ``{"enabled": false}`` switches the rate limiter off
  (pipeline-bound benchmarks) and back on; ``"limits": {"global": 40}`` lowers a context's limit
  (until the next POST); GET reports requests served and refused (429) per account and context.
- ``GET /_sandbox/fub/deliveries?wait=1`` lists webhook deliveries (after draining the queue).
- ``POST /_sandbox/fub/restore`` ``{"user_id": 101, "ids": [...]}`` serves deleted people again
  under their old ids, unchanged (only an id walk can see it).
- ``GET/POST /_sandbox/fub/text_fields`` ``{"enabled": false}``: people stop carrying
  ``textsSent``/``textsReceived``/``lastText`` (an account whose responses lack them).
- ``GET/DELETE /_sandbox/fub/requests``: API requests served per agent and collection (``DELETE``
  answers them and starts again).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.core import (
    BadControl,
    FaultPlan,
    FaultRule,
    edge_values,
    error_status,
    register_api,
    retry_after,
    wrong_types,
)
from sandbox.fub_auth import LIMITS, Auth, AuthFailure, RateLimiter
from sandbox.fub_data import BIG, SMALL, Account, Collection
from sandbox.fub_query import (
    BadRequest,
    BigLister,
    ListQuery,
    encode_token,
    parse_query,
    project,
    small_page,
    wants_custom,
)
from sandbox.fub_webhooks import WebhookError, Webhooks
from sandbox.world import World

READ_ONLY = "This sandbox replica of Follow Up Boss is read-only: {method} {path} is not served"
ENTITIES = (*BIG, *SMALL)
# edge_values leaves ids and the fields the sources order and key records by as they are
EDGE_KEEP = ("id", "created", "updated", "createdAt", "personId")
RENAMES = (("name", "fullName"), ("type", "eventType"), ("title", "subject"))


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """FUB's error body ``{"errorMessage": ...}`` (fub.md §1.1, OFFICIAL)."""
    return JSONResponse({"errorMessage": message}, status_code=status, headers=headers)


def unknown_collection(collection: str, headers: dict[str, str]) -> JSONResponse:
    """404 with the live text for an unknown collection (fub.md §1.1, LIVE-OBS)."""
    return error(
        404,
        f"Collection name '{collection[:1].upper()}{collection[1:]}' in the URL is not valid. "
        "Please use a correct collection name, for example 'people'.",
        headers,
    )


async def _enabled_body(request: Request) -> bool | Response:
    """The ``enabled`` flag of a control body ``{"enabled": true|false}``, or a 400 response."""
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
        return JSONResponse({"error": 'body must be {"enabled": true|false}'}, status_code=400)
    return body["enabled"]


class FubApi:
    """The FUB replica (an :class:`sandbox.core.ApiModule`)."""

    name = "fub"
    prefix = "/fub"
    record_faults = frozenset(
        {"malformed", "malformed_types", "drift_added", "drift_renamed", "lose_page", "edge_values"}
    )

    def __init__(self, world: World, faults: FaultPlan, rate_limit: bool = True) -> None:
        self.world = world
        self.faults = faults
        self._lock = threading.RLock()
        self.requests: dict[int, Counter[str]] = {}  # served per agent and collection
        self.accounts: dict[int, Account] = {
            a.user_id: Account(world, a.user_id, a.index) for a in world.agents_with("fub")
        }
        self.auth = Auth(world, list(self.accounts))
        self.ratelimit = RateLimiter(enabled=rate_limit)
        self.webhooks = Webhooks()
        self.root = "http://127.0.0.1"
        self._cache: dict[tuple, Any] = {}  # totals / sort keys per query; cleared on advance

    # -- ApiModule protocol ------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        return [
            Route("/oauth/token", self._oauth_token, methods=["POST", "GET"]),
            Route("/v1/webhooks", self._webhooks, methods=methods),
            Route("/v1/webhooks/{wid}", self._webhook, methods=methods),
            Route("/v1/{collection}", self._collection, methods=methods),
            Route("/v1/{collection}/{rid}", self._item, methods=methods),
            Route("/{rest:path}", self._not_found, methods=methods),
        ]

    def control_routes(self) -> list[BaseRoute]:
        """Routes mounted under ``/_sandbox/fub`` (sandbox-only; see module docstring)."""
        return [
            Route("/ratelimit", self._control_ratelimit, methods=["GET", "POST"]),
            Route("/deliveries", self._control_deliveries, methods=["GET"]),
            Route("/restore", self._control_restore, methods=["POST"]),
            Route("/text_fields", self._control_text_fields, methods=["GET", "POST"]),
            Route("/requests", self._control_requests, methods=["GET", "DELETE"]),
        ]

    def base_urls(self, root: str) -> dict[str, str]:
        if root:
            self.root = root
        return {"fub_base_url": f"{root}/fub/v1", "fub_oauth_token_url": f"{root}/fub/oauth/token"}

    def credentials(self, user_id: int) -> dict[str, str] | None:
        agent = self.world.agent(user_id)
        if agent is None or "fub" not in agent.integrations:
            return None
        return self.auth.credentials(user_id)

    def fault_response(self, kind: str, rule: FaultRule) -> Response:
        """FUB's own answer to an injected fault, always ``{"errorMessage": ...}`` (fub.md §1.1).

        ``rate_limit``: 429 with ``Retry-After`` and ``X-RateLimit-Remaining: 0`` (§4, OFFICIAL;
        the exact 429 text is UNCONFIRMED, §7). ``server_error``: the rule's 5xx. ``expired_credentials``:
        401 as for an expired OAuth access token (§1.4 tokens last 60 min; §7.1 401 = "Missing
        or invalid user API key"), so clients refresh the token and retry.
        """
        if kind == "rate_limit":
            wait = retry_after(rule)
            return error(
                429,
                f"Too many requests: the rate limit was exceeded; retry after {wait} seconds",
                {
                    "Retry-After": str(wait),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Window": "10",
                },
            )
        if kind == "server_error":
            return error(error_status(rule), "Internal server error, please try again later")
        return error(401, "Missing or invalid user API key: Access token expired")

    # -- request plumbing --------------------------------------------------------------------------
    def _authorize(
        self, request: Request, context: str = "global"
    ) -> tuple[int, bool, dict[str, str]] | Response:
        """(user_id, registered system, rate-limit headers) or the error response."""
        self.root = str(request.base_url).rstrip("/")
        try:
            uid = self.auth.account_for(request.headers.get("authorization"))
        except AuthFailure as err:
            return error(401, f"Missing or invalid user API key: {err}")
        registered = self.auth.is_registered(request.headers.get("x-system-key"))
        allowed, headers = self.ratelimit.hit(uid, context, registered)
        if not allowed:
            return error(
                429,
                "Too many requests: the rate limit for context "
                f"'{headers['X-RateLimit-Context']}' was exceeded; retry after "
                f"{headers['Retry-After']} seconds",
                headers,
            )
        return uid, registered, headers

    @staticmethod
    def _params(request: Request) -> dict[str, str]:
        return {k: v for k, v in request.query_params.items()}

    def _next_link(self, request: Request, token: str | None) -> str | None:
        if token is None:
            return None
        keep = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ("next", "offset")
        ]
        keep.append(("next", token))
        return f"{self.root}{request.url.path}?{urlencode(keep)}"

    # -- handlers --------------------------------------------------------------------------------
    async def _not_found(self, request: Request) -> Response:
        return error(404, f"Not found: {request.url.path}")

    async def _collection(self, request: Request) -> Response:
        collection = request.path_params["collection"]
        if collection in ("identity", "me"):
            return await self._identity(request, collection)
        context = "events" if collection == "events" and request.method == "GET" else "global"
        auth = self._authorize(request, context)
        if isinstance(auth, Response):
            return auth
        uid, registered, headers = auth
        if collection not in ENTITIES:
            return unknown_collection(collection, headers)
        if request.method != "GET":
            return error(
                405, READ_ONLY.format(method=request.method, path=request.url.path), headers
            )
        params = self._params(request)
        with self._lock:
            self.requests.setdefault(uid, Counter())[collection] += 1
        try:
            q = parse_query(collection, params)
            with self._lock:
                account = self.accounts[uid]
                if collection in BIG:
                    records, cursor, total = self._big_page(account.collections[collection], q)
                else:
                    rows = account.small(collection)
                    records, cursor, total = small_page(collection, rows, params, q)
                records = [project(collection, r, q) for r in records]
        except BadRequest as err:
            return error(400, str(err), headers)
        records = self._record_faults(request, records)
        token = encode_token(cursor) if cursor is not None else None
        key = BIG[collection][0] if collection in BIG else SMALL[collection]
        meta: dict[str, Any] = {
            "collection": key,
            "offset": q.offset,
            "limit": q.limit,
            "total": total,
            "next": token,
            "nextLink": self._next_link(request, token),
        }
        if not registered:  # fub.md §1.3 LIVE-OBS (UNCONFIRMED officially)
            meta["notice"] = (
                "This request did not include a registered X-System-Key; lower rate limits apply."
            )
        return JSONResponse({"_metadata": meta, key: records}, headers=headers)

    def _big_page(
        self, col: Collection, q: ListQuery
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int]:
        lister = BigLister(col, q, col.name, self._cache)
        records, cursor = lister.page()
        return records, cursor, lister.total()

    def _record_faults(self, request: Request, records: list[dict[str, Any]]) -> list[dict]:
        """Armed record-level faults (``malformed``, ``drift_*``, ``lose_page``) on this page."""
        sub = request.url.path[len(self.prefix) :]
        if not records:
            return records
        if self.faults.take(self.name, sub, {"lose_page"}):
            # the page's records silently go missing; ``next`` still moves past them. One record
            # is kept so the page is not empty (an empty page means "the end", fub.md §3.1).
            records = records[:1]
        if self.faults.take(self.name, sub, {"malformed"}):
            bad = dict(records[len(records) // 2])
            bad.pop("id", None)
            for k in ("created", "createdAt"):
                if k in bad:
                    bad[k] = 12345  # wrong type: a number where a timestamp belongs
            records = [*records]
            records[len(records) // 2] = bad
        if self.faults.take(self.name, sub, {"malformed_types"}):
            records = [*records]
            records[-1] = wrong_types(records[-1], keep=("id",))
        if self.faults.take(self.name, sub, {"edge_values"}):
            records = edge_values(records, keep=EDGE_KEEP)
        if self.faults.take(self.name, sub, {"drift_added"}):
            records = [{**r, "sandboxDriftField": "added by drift_added"} for r in records]
        if self.faults.take(self.name, sub, {"drift_renamed"}):
            renamed = []
            for r in records:
                old, new = next(((o, n) for o, n in RENAMES if o in r), (None, None))
                renamed.append({(new if k == old else k): v for k, v in r.items()})
            records = renamed
        return records

    async def _item(self, request: Request) -> Response:
        collection = request.path_params["collection"]
        context = "events" if collection == "events" and request.method == "GET" else "global"
        auth = self._authorize(request, context)
        if isinstance(auth, Response):
            return auth
        uid, _, headers = auth
        if collection not in ENTITIES:
            return unknown_collection(collection, headers)
        if request.method != "GET":
            return error(
                405, READ_ONLY.format(method=request.method, path=request.url.path), headers
            )
        raw = request.path_params["rid"]
        if not raw.isdigit():
            return error(400, f"Invalid id {raw!r}: ids are integers", headers)
        rid = int(raw)
        try:
            q = parse_query(collection, self._params(request), single=True)
            with self._lock:
                account = self.accounts[uid]
                rec = None
                if collection in BIG:
                    col = account.collections[collection]
                    idx = col.idx_of(rid)
                    if idx is not None and not col.is_deleted(idx):
                        rec = col.record(idx, wants_custom(collection, q))
                else:
                    rec = next((r for r in account.small(collection) if r["id"] == rid), None)
                if rec is not None:
                    rec = project(collection, rec, q)
        except BadRequest as err:
            return error(400, str(err), headers)
        if rec is None:
            return error(404, f"{collection} {rid} not found", headers)
        return JSONResponse(rec, headers=headers)

    async def _identity(self, request: Request, which: str) -> Response:
        auth = self._authorize(request)
        if isinstance(auth, Response):
            return auth
        uid, _, headers = auth
        account = self.accounts[uid]
        owner = account.users[0]
        user = account.user_json(owner)
        if which == "me":
            return JSONResponse(user, headers=headers)
        body = {
            "account": {
                "id": account.account_id,
                "domain": f"agent{uid}",
                "name": f"{owner.name} Real Estate",
                "owner": {"name": owner.name, "email": user["email"]},
            },
            "user": {
                "id": owner.id,
                "name": owner.name,
                "email": user["email"],
                "fuid": user["fuid"],
                "role": owner.role,
                "isOwner": True,
                "isAdmin": True,
                "isLender": False,
            },
        }
        return JSONResponse(body, headers=headers)

    async def _oauth_token(self, request: Request) -> Response:
        if request.method != "POST":  # fub.md §1.4: GET /oauth/token is deprecated
            return JSONResponse(
                {"error": "invalid_request", "error_description": "use POST /oauth/token"},
                status_code=405,
            )
        # form-encoded per fub.md §1.4 (parsed here: no multipart dependency); JSON accepted too
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                loaded = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                loaded = None
            if not isinstance(loaded, dict):
                return JSONResponse(
                    {"error": "invalid_request", "error_description": "body is not a JSON object"},
                    status_code=400,
                )
            form = {k: str(v) for k, v in loaded.items()}
        else:
            form = dict(parse_qsl(raw.decode("utf-8", "replace")))
        status, body = self.auth.token_grant(request.headers.get("authorization"), form)
        return JSONResponse(body, status_code=status)

    # -- webhooks ----------------------------------------------------------------------------------
    def _webhook_auth(self, request: Request) -> tuple[int, dict[str, str]] | Response:
        auth = self._authorize(request)
        if isinstance(auth, Response):
            return auth
        uid, registered, headers = auth
        if not request.headers.get("x-system"):  # fub.md §1.3: X-System required
            return error(400, "The X-System header is required for /v1/webhooks", headers)
        if not registered:
            return error(403, "Webhooks are restricted to registered systems", headers)
        return uid, headers

    async def _webhooks(self, request: Request) -> Response:
        auth = self._webhook_auth(request)
        if isinstance(auth, Response):
            return auth
        uid, headers = auth
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"null")
            except json.JSONDecodeError:
                return error(400, "Body is not valid JSON", headers)
            try:
                sub = self.webhooks.create(
                    uid,
                    body,
                    request.headers.get("x-system", ""),
                    request.headers.get("x-system-key", ""),
                )
            except WebhookError as err:
                return error(err.status, str(err), headers)
            return JSONResponse(sub.as_json(), status_code=201, headers=headers)
        if request.method != "GET":
            return error(405, f"{request.method} /v1/webhooks is not allowed", headers)
        params = self._params(request)
        try:
            q = parse_query("webhooks", params)
        except BadRequest as err:
            return error(400, str(err), headers)
        page, cursor, total = small_page("webhooks", self.webhooks.listing(uid), params, q)
        token = encode_token(cursor) if cursor else None
        meta = {
            "collection": "webhooks",
            "offset": q.offset,
            "limit": q.limit,
            "total": total,
            "next": token,
            "nextLink": self._next_link(request, token),
        }
        return JSONResponse({"_metadata": meta, "webhooks": page}, headers=headers)

    async def _webhook(self, request: Request) -> Response:
        auth = self._webhook_auth(request)
        if isinstance(auth, Response):
            return auth
        uid, headers = auth
        raw = request.path_params["wid"]
        if not raw.isdigit():
            return error(400, f"Invalid id {raw!r}: ids are integers", headers)
        sid = int(raw)
        if request.method == "GET":
            sub = self.webhooks.get(uid, sid)
        elif request.method == "DELETE":
            if self.webhooks.delete(uid, sid):
                return JSONResponse({}, headers=headers)
            sub = None
        elif request.method == "PUT":
            try:
                body = json.loads(await request.body() or b"null")
                sub = self.webhooks.update(uid, sid, body)
            except json.JSONDecodeError:
                return error(400, "Body is not valid JSON", headers)
            except WebhookError as err:
                return error(err.status, str(err), headers)
        else:
            return error(405, f"{request.method} /v1/webhooks/{sid} is not allowed", headers)
        if sub is None:
            return error(404, f"webhook {sid} not found", headers)
        return JSONResponse(sub.as_json(), headers=headers)

    # -- control (sandbox only) ----------------------------------------------------------------
    async def _control_ratelimit(self, request: Request) -> Response:
        """POST ``{"enabled": bool, "limits": {"global": 40}}`` switches the limiter, sets (or,
        without ``limits``, restores) each context's limit and resets its counts; GET reports
        what it served and refused since."""
        if request.method == "POST":
            enabled = await _enabled_body(request)
            if isinstance(enabled, Response):
                return enabled
            limits = json.loads(await request.body() or b"{}").get("limits") or {}
            if not isinstance(limits, dict) or not all(
                c in LIMITS and isinstance(n, int) and n > 0 for c, n in limits.items()
            ):
                return JSONResponse(
                    {"error": f"limits must map contexts {sorted(LIMITS)} to positive integers"},
                    status_code=400,
                )
            self.ratelimit.enabled = enabled
            self.ratelimit.limits = dict(limits)
            self.ratelimit.reset()
        return JSONResponse(self.ratelimit.report())

    async def _control_text_fields(self, request: Request) -> Response:
        """``{"enabled": false}``: people stop carrying their text counters (every account)."""
        if request.method == "POST":
            enabled = await _enabled_body(request)
            if isinstance(enabled, Response):
                return enabled
            with self._lock:
                for account in self.accounts.values():
                    account.serve_text_fields = enabled
                self._cache.clear()
        served = all(a.serve_text_fields for a in self.accounts.values())
        return JSONResponse({"enabled": served})

    async def _control_requests(self, request: Request) -> Response:
        """Requests served per agent and collection since the last ``DELETE`` (what a run cost)."""
        with self._lock:
            counts = {str(uid): dict(c) for uid, c in self.requests.items()}
            if request.method == "DELETE":
                self.requests.clear()
        return JSONResponse(counts)

    async def _control_restore(self, request: Request) -> Response:
        """Serve deleted people again under their old ids, unchanged (no new version, no
        webhook): a record restored behind the API's back, which only an id walk can see.
        Body ``{"user_id": 101, "ids": [...]}``; answers the ids restored."""
        try:
            body = json.loads(await request.body() or b"{}")
            uid, rids = int(body["user_id"]), [int(i) for i in body["ids"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return JSONResponse(
                {"error": 'body must be {"user_id": <int>, "ids": [<int>, ...]}'}, status_code=400
            )
        account = self.accounts.get(uid)
        if account is None:
            return JSONResponse({"error": f"no FUB account for user {uid}"}, status_code=404)
        restored = []
        with self._lock:
            self._cache.clear()
            people = account.people
            for rid in rids:
                idx = people.idx_of(rid)
                if idx is not None and people.ov.deleted.pop(idx, None) is not None:
                    restored.append(rid)
        return JSONResponse({"restored": restored})

    async def _control_deliveries(self, request: Request) -> Response:
        if request.query_params.get("wait"):
            await asyncio.to_thread(self.webhooks.drain)
        return JSONResponse({"deliveries": [d.as_json() for d in self.webhooks.deliveries]})

    # -- time moves --------------------------------------------------------------------------------
    def advance(self, fraction: float, rng: random.Random) -> dict[str, Any]:
        """Create, update, trash and delete ``fraction`` of each agent's people; add events/deals.

        Deleted people just disappear (404, absent from lists — fub.md §3.4: deletions are
        invisible to polling) together with their child records; trashed people move to the
        Trash stage (hidden unless ``includeTrash``). Webhooks fire for every change (§5.2).
        """
        now = self.world.now()
        now_s = int(now.timestamp())
        out: dict[str, Any] = {}
        with self._lock:
            self._cache.clear()
            for uid, account in self.accounts.items():
                out[str(uid)] = self._advance_account(account, fraction, rng, now_s, now)
        return out

    def _advance_account(
        self, account: Account, fraction: float, rng: random.Random, now_s: int, now: datetime
    ) -> dict[str, Any]:
        """One account's share of :meth:`advance`: change people, add activity, queue webhooks."""
        people = account.people
        ov = people.ov
        live = people.n_total - len(ov.deleted)
        if fraction <= 0 or live <= 0:
            return {"people": {"created": 0, "updated": 0, "trashed": 0, "deleted": 0}}

        def amount(share: float) -> int:
            return max(1, round(live * fraction * share))

        def pick(k: int, ok) -> list[int]:
            chosen: set[int] = set()
            tries = 0
            while len(chosen) < k and tries < k * 20:
                tries += 1
                idx = rng.randrange(people.n_total)
                if idx not in ov.deleted and idx not in chosen and ok(idx):
                    chosen.add(idx)
            return sorted(chosen)

        updated = pick(amount(1.0), lambda i: True)
        for idx in updated:  # `updated` never goes backwards, even when the clock stood still
            stamp = max(now_s - rng.randint(0, 60), min(now_s, people.updated_s(idx) + 1))
            ov.updated[idx] = (stamp, people.version(idx) + 1)
        trashed = pick(amount(0.1), lambda i: not people.is_trashed(i))
        for idx in trashed:
            ov.trashed[idx] = now_s
            ov.updated[idx] = (now_s, people.version(idx) + 1)
        deleted = pick(amount(0.05), lambda i: True)
        for idx in deleted:
            ov.deleted[idx] = now_s
        created = self._create(people, amount(0.5), now_s, None, rng)
        live_people = pick(amount(0.5), lambda i: True)
        events = self._create(
            account.collections["events"], len(live_people), now_s, live_people, rng
        )
        deal_people = live_people[: max(1, len(live_people) // 10)]
        deals = self._create(
            account.collections["deals"], len(deal_people), now_s, deal_people, rng
        )

        uri = f"{self.root}/fub/v1/people"
        notify = self.webhooks.notify
        queued = 0
        ids = people.id_of
        queued += notify(account.uid, "peopleCreated", [ids(i) for i in created], now, uri)
        queued += notify(
            account.uid,
            "peopleUpdated",
            [ids(i) for i in sorted({*updated, *trashed}) if i not in ov.deleted],
            now,
            uri,
        )
        queued += notify(
            account.uid,
            "peopleStageUpdated",
            [ids(i) for i in trashed if i not in ov.deleted],
            now,
            uri,
        )
        queued += notify(account.uid, "peopleDeleted", [ids(i) for i in deleted], now, None)
        ev = account.collections["events"]
        queued += notify(
            account.uid,
            "eventsCreated",
            [ev.id_of(i) for i in events],
            now,
            f"{self.root}/fub/v1/events",
        )
        dc = account.collections["deals"]
        queued += notify(
            account.uid,
            "dealsCreated",
            [dc.id_of(i) for i in deals],
            now,
            f"{self.root}/fub/v1/deals",
        )
        return {
            "people": {
                "created": len(created),
                "updated": len(updated),
                "trashed": len(trashed),
                "deleted": len(deleted),
            },
            "events": {"created": len(events)},
            "deals": {"created": len(deals)},
            "webhooks_queued": queued,
        }

    @staticmethod
    def _create(
        col: Collection, k: int, now_s: int, persons: list[int] | None, rng: random.Random
    ) -> list[int]:
        """Append ``k`` new records created just before ``now_s`` (created stays monotonic)."""
        last = col.created_s(col.n_total - 1) if col.n_total else 0
        out = []
        for j in range(k):
            created = max(last + 1, now_s - (k - j))
            last = created
            col.ov.new_created.append(created)
            col.ov.new_person.append(persons[j] if persons else -1)
            out.append(col.n_total - 1)
        return out

    # -- ground truth -----------------------------------------------------------------------------
    def truth(self, user_id: int | None, entity: str | None) -> dict[str, Any]:
        """What the API would serve now: ``{uid: {entity: {count, ids?, trashed_ids?, ...}}}``.

        ``count`` is every record the API would list with ``includeTrash=true`` (people); for
        people ``default_count`` is what a plain list shows (Trash hidden). With an entity named,
        ``ids`` (all listed ids incl. trashed), ``trashed_ids`` and ``deleted_ids`` are given.
        """
        if entity is not None and entity not in ENTITIES:
            raise BadControl(f"unknown fub entity {entity!r}; one of {', '.join(ENTITIES)}")
        uids = [user_id] if user_id is not None else sorted(self.accounts)
        out: dict[str, Any] = {}
        with self._lock:
            for uid in uids:
                account = self.accounts.get(uid)
                if account is None:
                    out[str(uid)] = {}
                    continue
                names = [entity] if entity else list(ENTITIES)
                out[str(uid)] = {
                    n: self._truth_entity(account, n, entity is not None) for n in names
                }
        return out

    def _truth_entity(self, account: Account, name: str, with_ids: bool) -> dict[str, Any]:
        if name in SMALL:
            rows = account.small(name)
            res: dict[str, Any] = {"count": len(rows)}
            if with_ids:
                res["ids"] = sorted(r["id"] for r in rows)
            return res
        col = account.collections[name]
        everything = ListQuery(include_trash=True)
        res = {"count": BigLister(col, everything, name).total()}
        if name == "people":
            res["default_count"] = BigLister(col, ListQuery(), name).total()
        if with_ids:
            ids, trashed, deleted = [], [], []
            for idx in range(col.n_total):
                if col.is_deleted(idx):
                    deleted.append(col.id_of(idx))
                    continue
                ids.append(col.id_of(idx))
                if col.is_trashed(idx):
                    trashed.append(col.id_of(idx))
            res.update(ids=ids, trashed_ids=trashed, deleted_ids=deleted)
        return res


@register_api("fub")
def make_fub(world: World, faults: FaultPlan) -> FubApi:
    """Factory registered with the sandbox framework."""
    return FubApi(world, faults)
