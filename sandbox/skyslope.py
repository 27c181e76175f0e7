"""Offline replica of the SkySlope Transaction Management ("Listings and Sales") API.

Facts followed (``docs/vendors/skyslope.md``; B.n below is §n of that file):

- B.2 [OFFICIAL] ``POST /auth/login``: ``Authorization: SS {access_key}:{hmac}`` (``ss`` accepted
  too), ``Timestamp`` header, ``hmac = base64(HMAC_SHA256(key=access_secret,
  msg="client_id:client_secret:timestamp"))``; body ``{"ClientId", "ClientSecret"}`` bound
  case-insensitively; answer ``{"Session", "Expiration"}``; later calls send ``Session``.
  Allowed clock skew is [UNCONFIRMED]: we reject timestamps more than 5 minutes away from the
  real wall clock (the signer's clock): a replica choice.
- B.2 session lifetime: 2 hours [UNCONFIRMED beyond integrations' assumption], measured on the
  **sandbox clock**, so ``POST /_sandbox/advance`` past it kills sessions; the framework's
  ``expired_credentials`` fault answers one request with 401 so a session can die mid-run.
- B.3 [LIVE-OBSERVED] every response is wrapped in ``{"value": ...}``; ``GET /api/files/sales``
  and ``/api/files/listings`` page by 1-based ``pageNumber`` with a **fixed 10 rows per page**
  (``pageSize`` silently ignored), ``links`` carry ``rel: "next"`` while more pages exist; list
  rows are summaries (``saleGuid, status, propertyAddress, actualClosingDate,
  escrowClosingDate, link``); the full file comes from ``GET /api/files/sales/{guid}`` as
  ``{"value": {"sale": {...}}}`` (listings: ``{"value": {"listing": {...}}}``).
- B.3 date filters ``earliestDate``/``latestDate`` are Unix seconds. Which date they filter on is
  [UNCONFIRMED]; this replica filters on ``modifiedOn`` (the only reading that makes an
  incremental load possible) — inclusive on both ends.
- B.3 rate-limit headers ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` (epoch seconds,
  [UNCONFIRMED]); the documented 100 req/min is [UNCONFIRMED], so the replica reports a
  per-session budget of 1,000 per minute and never enforces it itself (429s come from faults;
  ``POST /_sandbox/limits {"enabled": false}`` stops reporting it, for pipeline-bound benchmarks),
  except in a profile with ``vendor_limits`` (the fleet): there it enforces 100 requests per
  minute per user (each agent's own access key; fixed windows, :mod:`sandbox.limits`) and its
  headers report that budget.
- B.4 quirks [LIVE-OBSERVED]: datetimes without a timezone (this replica writes them in
  America/Los_Angeles local time), ``0001-01-01T00:00:00`` for null dates, prices as plain
  numbers, control characters in text. PostgreSQL cannot store ``\\u0000`` in text or jsonb, so
  the replica injects ``\\u0001``, ``\\u0008`` and ``\\u001a`` (see the report's list) only.
- ``GET /api/users`` → ``{"value": {"users": [...]}}`` [LIVE-OBSERVED]; an agent's key sees its
  own account's users (B.1: visibility follows the key's role). No paging observed; none served.

Records come from :meth:`sandbox.world.World.deals` where ``in_skyslope`` (``is_listing`` →
listing, otherwise sale), plus the SkySlope-only files ``advance`` creates; ``advance`` also
modifies and cancels files (see :meth:`SkySlopeApi.advance`). Deals shared with reZEN carry the
same address, side, close date and price, written SkySlope's way (street suffix spelled out,
city upper-cased on some files, price as a number) so the unified model has real matching work
to do. Ground truth names the reZEN record of each shared file (``shared_with_rezen``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from sandbox.limits import vendor_limiter
from sandbox.rezen_data import rezen_record_id
from sandbox.world import CITIES, EPOCH, STREETS, RealDeal, World, stable_int

LOCAL_TZ = ZoneInfo("America/Los_Angeles")
NULL_DATE = "0001-01-01T00:00:00"
PAGE_SIZE = 10
SESSION_LIFETIME = timedelta(hours=2)
MAX_SKEW_SECONDS = 300
RATE_BUDGET = 1_000  # per session and minute, reported only
TRUTH_ENTITIES = ("users", "sales", "listings", "shared_with_rezen")

# SkySlope spells street suffixes out (reZEN keeps the USPS abbreviation).
SUFFIXES = {
    "Ct": "Court",
    "Dr": "Drive",
    "St": "Street",
    "Ave": "Avenue",
    "Rd": "Road",
    "Ln": "Lane",
    "Way": "Way",
    "Blvd": "Boulevard",
}
CONTROL_CHARS = ("\u0001", "\u0008", "\u001a")
DEAL_TYPES = {"BUYER": "Purchase / Tenant", "SELLER": "Sale / Landlord"}
SALE_STATUS = {"OPEN": "Pending", "CLOSED": "Closed", "TERMINATED": "Canceled"}
LISTING_STATUS = {"OPEN": "Active", "CLOSED": "Closed", "TERMINATED": "Canceled"}


def naive_local(dt: datetime) -> str:
    """A datetime as SkySlope writes it: local wall time, milliseconds, no timezone (B.4)."""
    return dt.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def naive_date(d: date | None) -> str:
    """A date as a naive midnight datetime, or the ``0001-01-01`` null marker (B.4)."""
    return NULL_DATE if d is None else f"{d.isoformat()}T00:00:00"


def guid(*parts: object) -> str:
    """A deterministic GUID from the parts."""
    return str(uuid.UUID(int=(stable_int(*parts, "hi") << 64) | stable_int(*parts, "lo")))


def hmac_signature(access_secret: str, client_id: str, client_secret: str, timestamp: str) -> str:
    """``base64(HMAC_SHA256(access_secret, "client_id:client_secret:timestamp"))`` (B.2)."""
    message = f"{client_id}:{client_secret}:{timestamp}".encode()
    return base64.b64encode(
        hmac.new(access_secret.encode(), message, hashlib.sha256).digest()
    ).decode()


@dataclass
class Session:
    user_id: int
    expires_at: datetime  # sandbox clock
    window_start: float = 0.0
    used: int = 0


class SkySlopeApi:
    """The SkySlope replica: login, users, listings, sales (see the module docstring)."""

    name = "skyslope"
    prefix = "/skyslope"
    record_faults = frozenset(
        {"malformed", "malformed_types", "drift_added", "drift_renamed", "lose_page", "edge_values"}
    )

    def __init__(self, world: World, faults: FaultPlan) -> None:
        self.world = world
        self.faults = faults
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        # guid -> (modified_at, revision) for files changed by advance()
        self._changes: dict[str, tuple[datetime, int]] = {}
        self._new: dict[int, list[RealDeal]] = {}  # files created by advance(), per agent
        self._canceled: dict[str, date] = {}  # guid -> day advance() canceled the file
        self._version = 0  # bumped by advance(): invalidates the per-agent file cache
        self._cache: dict[tuple, tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]] = {}
        self._by_key: dict[str, int] | None = None
        self.limiter = vendor_limiter("skyslope", world)
        # the budget reported (not enforced) outside the fleet profile; ``POST /_sandbox/limits
        # {"enabled": false}`` stops reporting it (a pipeline-bound benchmark: no pause for it)
        self.report_budget = True

    # -- wiring --------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        known = [
            Route("/auth/login", self._login, methods=["POST"]),
            Route("/api/users", self._users, methods=["GET"]),
            Route("/api/files/sales", self._list_sales, methods=["GET"]),
            Route("/api/files/listings", self._list_listings, methods=["GET"]),
            Route("/api/files/sales/{guid}", self._get_sale, methods=["GET"]),
            Route("/api/files/listings/{guid}", self._get_listing, methods=["GET"]),
        ]
        self._known = known
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [*known, Route("/{rest:path}", self._unknown, methods=methods)]

    async def _unknown(self, request: Request) -> Response:
        """A path no endpoint serves (404) or a served path with another method (405).

        Body ``{"message": ...}`` like the replica's other errors: the TM API's error body is not
        in the research (B.5's ``{code, message, errors[], traceId}`` is the Forms API's), so
        the shape is UNCONFIRMED.
        """
        path = "/" + request.path_params["rest"]
        if any(route.path_regex.match(path) for route in self._known):
            return JSONResponse(
                {"message": f"The requested resource does not support {request.method}"},
                status_code=405,
            )
        return JSONResponse({"message": f"No resource at {path}"}, status_code=404)

    def fault_response(self, kind: str, rule: FaultRule) -> Response:
        """SkySlope's answer to an injected fault, ``{"message": ...}`` (shape UNCONFIRMED).

        ``rate_limit``: 429 (B.3: 429 is seen under load) with ``x-ratelimit-remaining: 0`` and
        ``x-ratelimit-reset`` (B.3, epoch seconds UNCONFIRMED) plus the standard ``Retry-After``.
        ``server_error``: the rule's 5xx (B.3: 503 seen). ``expired_credentials``: 401 as for a
        dead session (B.2), the same answer as :meth:`_session` gives.
        """
        if kind == "rate_limit":
            wait = retry_after(rule)
            return JSONResponse(
                {"message": "API rate limit exceeded"},
                status_code=429,
                headers={
                    "Retry-After": str(wait),
                    "x-ratelimit-limit": str(RATE_BUDGET),
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(int(time.time()) + wait),
                },
            )
        if kind == "server_error":
            return JSONResponse(
                {"message": "The service is unavailable"}, status_code=error_status(rule)
            )
        return JSONResponse({"message": "Session is invalid or expired"}, status_code=401)

    def base_urls(self, root: str) -> dict[str, str]:
        return {"skyslope_base_url": f"{root}{self.prefix}"}

    def credentials(self, user_id: int) -> dict[str, str] | None:
        agent = self.world.agent(user_id)
        if agent is None or "skyslope" not in agent.integrations:
            return None
        seed = self.world.seed
        return {
            "access_key": f"AK{stable_int(seed, 'sky-ak', user_id):016x}",
            "access_secret": f"as_{stable_int(seed, 'sky-as', user_id):016x}",
            # Client id/secret are issued per integrating company (B.1): the same for every agent.
            "client_id": f"agentsync-{stable_int(seed, 'sky-ci'):08x}",
            "client_secret": f"cs_{stable_int(seed, 'sky-cs'):016x}",
        }

    # -- records -------------------------------------------------------------------------------
    def _files(self, user_id: int, listings: bool) -> list[dict[str, Any]]:
        """The agent's files of one kind, in list order (cached until the clock or data moves)."""
        return self._catalogue(user_id, listings)[0]

    def _catalogue(
        self, user_id: int, listings: bool
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        key = (user_id, listings, self.world.now(), self._version)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        files = [
            self._file(deal) for deal in self._deals_of(user_id) if deal.is_listing == listings
        ]
        files.sort(key=lambda f: (f["createdOn"], f[f"{f['objectType']}Guid"]))
        index = {f[f"{f['objectType']}Guid"]: f for f in files}
        with self._lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = (files, index)
        return files, index

    def _guid(self, deal: RealDeal) -> str:
        kind = "listing" if deal.is_listing else "sale"
        return guid(self.world.seed, "sky", kind, deal.user_id, deal.key)

    def _deals_of(self, user_id: int) -> list[RealDeal]:
        """The agent's SkySlope deals now: the world's, then those created by ``advance``.

        A file canceled by ``advance`` keeps its deal with the lifecycle ``TERMINATED`` (status
        ``Canceled``): files stay listed with a terminal status, see :meth:`advance`.
        """
        deals = [d for d in self.world.deals(user_id) if d.in_skyslope]
        deals += self._new.get(user_id, [])
        if not self._canceled:
            return deals
        return [
            replace(d, lifecycle="TERMINATED") if self._guid(d) in self._canceled else d
            for d in deals
        ]

    def _file(self, deal: Any) -> dict[str, Any]:
        seed = self.world.seed
        kind = "listing" if deal.is_listing else "sale"
        file_guid = self._guid(deal)
        rng = random.Random(stable_int(seed, "skyfile", deal.user_id, deal.key))
        number, _, rest = f"{deal.street_number} {deal.street_name}".partition(" ")
        name, _, suffix = rest.rpartition(" ")
        street = f"{name} {SUFFIXES.get(suffix, suffix)}"
        city = deal.city.upper() if rng.random() < 0.3 else deal.city
        if rng.random() < 0.15:  # B.4: control characters in text
            street = street.replace(" ", f" {rng.choice(CONTROL_CHARS)}", 1)
        created = deal.created_at
        # Fixed once created (EPOCH caps the seed files, a file created by advance() starts
        # unmodified): only advance() moves modifiedOn, so truth knows every modification.
        modified = min(created + timedelta(days=rng.randint(0, 30)), max(created, EPOCH))
        revision = 0
        if file_guid in self._changes:
            modified, revision = self._changes[file_guid]
        price = deal.price_cents / 100
        price_num: int | float = int(price) if price == int(price) else price
        prop = {
            "streetNumber": number,
            "streetAddress": street,
            "unit": deal.unit or "",
            "direction": "",
            "city": city,
            "county": "",
            "state": deal.state,
            "zip": deal.zip,
        }
        agent_guid = guid(seed, "sky-user", deal.user_id, 0)
        record: dict[str, Any] = {
            "objectType": kind,
            f"{kind}Guid": file_guid,
            "agentGuid": agent_guid,
            "createdByGuid": agent_guid,
            "mlsNumber": f"ML{rng.randint(100000, 999999)}",
            "property": prop,
            "createdOn": naive_local(created),
            "modifiedOn": naive_local(modified),
            "revision": revision,
        }
        if deal.is_listing:
            record.update(
                status=LISTING_STATUS[deal.lifecycle],
                listingDate=naive_date(created.astimezone(LOCAL_TZ).date()),
                expirationDate=naive_date((created + timedelta(days=180)).date()),
                listingPrice=price_num,
                sellers=[{"firstName": "Seller", "lastName": f"{deal.key}"}],
            )
        else:
            closed = deal.close_date if deal.lifecycle == "CLOSED" else None
            record.update(
                status=SALE_STATUS[deal.lifecycle],
                dealType=DEAL_TYPES[deal.side],
                listingPrice=price_num,
                salePrice=price_num,
                escrowNumber=f"E-{rng.randint(10000, 99999)}",
                contractAcceptanceDate=naive_date((created + timedelta(days=3)).date()),
                escrowClosingDate=naive_date(deal.close_date),
                actualClosingDate=naive_date(closed),
                deadDate=naive_date(
                    self._canceled.get(file_guid, (created + timedelta(days=30)).date())
                    if deal.lifecycle == "TERMINATED"
                    else None
                ),
                commission={
                    "saleCommissionPercent": 3,
                    "salesCommissionAmount": round(price * 0.03, 2),
                },
            )
        return record

    def _summary(self, rec: dict[str, Any]) -> dict[str, Any]:
        kind = rec["objectType"]
        key = f"{kind}Guid"
        p = rec["property"]
        return {
            key: rec[key],
            "status": rec["status"],
            "propertyAddress": f"{p['streetNumber']} {p['streetAddress']}, {p['city']}, "
            f"{p['state']} {p['zip']}",
            "actualClosingDate": rec.get("actualClosingDate", NULL_DATE),
            "escrowClosingDate": rec.get("escrowClosingDate", NULL_DATE),
            "modifiedOn": rec["modifiedOn"],
            "link": {"href": f"/api/files/{kind}s/{rec[key]}", "method": "GET", "rel": kind},
        }

    def _users_of(self, user_id: int) -> list[dict[str, Any]]:
        """The account's users: the agent first, then a few colleagues (deterministic)."""
        agent = self.world.agent(user_id)
        if agent is None:
            return []
        rng = random.Random(stable_int(self.world.seed, "sky-users", user_id))
        first, last = agent.name.split(" ", 1)
        people = [(first, last, "Agent")]
        for _ in range(rng.randint(1, 3)):
            people.append((f"Colleague{rng.randint(1, 99)}", last, "Agent"))
        return [
            {
                "userGuid": guid(self.world.seed, "sky-user", user_id, i),
                "firstName": f,
                "lastName": ln,
                "email": f"{f.lower()}.{ln.lower()}.{user_id}.{i}@example.test",
                "phone": f"555-01{i:02d}",
                "publicId": f"P{user_id}{i:02d}",
                "userType": kind,
            }
            for i, (f, ln, kind) in enumerate(people)
        ]

    # -- auth ----------------------------------------------------------------------------------
    def _agent_by_access_key(self, access_key: str) -> tuple[int, dict[str, str]] | None:
        if self._by_key is None:  # access key -> agent, built once
            self._by_key = {
                (self.credentials(a.user_id) or {}).get("access_key", ""): a.user_id
                for a in self.world.agents_with("skyslope")
            }
        uid = self._by_key.get(access_key)
        cred = self.credentials(uid) if uid is not None else None
        if cred and hmac.compare_digest(cred["access_key"], access_key):
            return uid, cred
        return None

    async def _login(self, request: Request) -> Response:
        denied = JSONResponse(
            {"message": "Invalid credentials or timestamp mismatch"}, status_code=401
        )
        auth = request.headers.get("authorization", "")
        stamp = request.headers.get("timestamp", "")
        scheme, _, rest = auth.partition(" ")
        access_key, _, signature = rest.partition(":")
        if scheme.lower() != "ss" or not access_key or not signature or not stamp:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"message": "Body must be JSON"}, status_code=400)
        fields = (
            {str(k).lower(): v for k, v in (body or {}).items()} if isinstance(body, dict) else {}
        )
        try:
            signed_at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return denied
        if signed_at.tzinfo is None or abs(time.time() - signed_at.timestamp()) > MAX_SKEW_SECONDS:
            return denied
        found = self._agent_by_access_key(access_key)
        if found is None:
            return denied
        user_id, cred = found
        client_id, client_secret = (
            str(fields.get("clientid", "")),
            str(fields.get("clientsecret", "")),
        )
        if not (
            hmac.compare_digest(client_id, cred["client_id"])
            and hmac.compare_digest(client_secret, cred["client_secret"])
        ):
            return denied
        expected = hmac_signature(cred["access_secret"], client_id, client_secret, stamp)
        if not hmac.compare_digest(expected, signature):
            return denied
        token = secrets.token_urlsafe(24)
        expires = self.world.now() + SESSION_LIFETIME
        with self._lock:
            self._sessions[token] = Session(user_id, expires, time.time())
        return JSONResponse({"Session": token, "Expiration": naive_local(expires)})

    def _session(self, request: Request) -> tuple[Session | None, Response | None]:
        token = request.headers.get("session", "")
        with self._lock:
            sess = self._sessions.get(token)
            if sess is None or self.world.now() >= sess.expires_at:
                self._sessions.pop(token, None)
                return None, JSONResponse(
                    {"message": "Session is invalid or expired"}, status_code=401
                )
            now = time.time()
            if now - sess.window_start >= 60:
                sess.window_start, sess.used = now, 0
            sess.used += 1
        if self.limiter is not None:  # fleet profile: 100/min per user's key, enforced
            allowed, _, left = self.limiter.hit(sess.user_id)
            if not allowed:
                return None, JSONResponse(
                    {"message": "API rate limit exceeded"},
                    status_code=429,
                    headers={
                        "Retry-After": self.limiter.retry_after(left),
                        "x-ratelimit-limit": str(self.limiter.limit),
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-reset": str(int(time.time() + left)),
                    },
                )
        return sess, None

    def _respond(self, sess: Session, body: dict[str, Any], status: int = 200) -> Response:
        if self.limiter is not None and self.limiter.enabled:
            remaining, left = self.limiter.peek(sess.user_id)
            limit, reset = self.limiter.limit, int(time.time() + left)
        elif self.report_budget:
            limit, reset = RATE_BUDGET, int(sess.window_start + 60)
            remaining = max(0, RATE_BUDGET - sess.used)
        else:  # limits switched off: a vendor that reports no budget
            return JSONResponse(body, status_code=status)
        return JSONResponse(
            body,
            status_code=status,
            headers={
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": str(reset),
            },
        )

    # -- endpoints -----------------------------------------------------------------------------
    async def _users(self, request: Request) -> Response:
        sess, err = self._session(request)
        if err is not None:
            return err
        return self._respond(sess, {"value": {"users": self._users_of(sess.user_id)}})

    async def _list_sales(self, request: Request) -> Response:
        return self._list(request, listings=False)

    async def _list_listings(self, request: Request) -> Response:
        return self._list(request, listings=True)

    def _list(self, request: Request, listings: bool) -> Response:
        sess, err = self._session(request)
        if err is not None:
            return err
        kind = "listings" if listings else "sales"
        q = request.query_params
        try:
            page = int(q.get("pageNumber", "1"))
            earliest = int(q["earliestDate"]) if q.get("earliestDate") else None
            latest = int(q["latestDate"]) if q.get("latestDate") else None
        except ValueError:
            return self._respond(
                sess,
                {"message": "pageNumber, earliestDate and latestDate must be integers"},
                400,
            )
        if not 1 <= page <= 1000:
            return self._respond(sess, {"message": "pageNumber must be between 1 and 1000"}, 400)
        files = self._files(sess.user_id, listings)
        if earliest is not None or latest is not None:
            files = [f for f in files if _in_window(f["modifiedOn"], earliest, latest)]
        chunk = files[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        rows = [self._summary(f) for f in chunk]
        path = f"/api/files/{kind}"
        if rows and self.faults.take(self.name, path, {"malformed"}) is not None:
            rows[0] = {k: v for k, v in rows[0].items() if not k.endswith("Guid")}
        if rows and self.faults.take(self.name, path, {"malformed_types"}) is not None:
            rows[-1] = wrong_types(rows[-1], keep=(f"{kind[:-1]}Guid",))
        if rows and self.faults.take(self.name, path, {"edge_values"}) is not None:
            rows = edge_values(rows, keep=(f"{kind[:-1]}Guid", "modifiedOn"))
        if rows and self.faults.take(self.name, path, {"drift_added"}) is not None:
            for r in rows:
                r["teamName"] = "Drift Team"
        if rows and self.faults.take(self.name, path, {"drift_renamed"}) is not None:
            rows = [{("fileStatus" if k == "status" else k): v for k, v in r.items()} for r in rows]
        if rows and self.faults.take(self.name, path, {"lose_page"}) is not None:
            rows = rows[:1]  # the page's rows silently go missing; links still move on
        base = str(request.url.remove_query_params("pageNumber"))
        links = [
            {
                "href": f"{base}{'&' if '?' in base else '?'}pageNumber={page}",
                "method": "GET",
                "rel": "self",
            }
        ]
        if page * PAGE_SIZE < len(files):
            sep = "&" if "?" in base else "?"
            links.append(
                {"href": f"{base}{sep}pageNumber={page + 1}", "method": "GET", "rel": "next"}
            )
        return self._respond(sess, {"value": {kind: rows}, "links": links})

    async def _get_sale(self, request: Request) -> Response:
        return self._get(request, listings=False)

    async def _get_listing(self, request: Request) -> Response:
        return self._get(request, listings=True)

    def _get(self, request: Request, listings: bool) -> Response:
        sess, err = self._session(request)
        if err is not None:
            return err
        kind = "listing" if listings else "sale"
        found = self._catalogue(sess.user_id, listings)[1].get(request.path_params["guid"])
        if found is None:
            return self._respond(sess, {"message": "Unable to find"}, 422)
        return self._respond(sess, {"value": {kind: found}})

    # -- control -------------------------------------------------------------------------------
    def advance(self, fraction: float, rng: random.Random) -> dict[str, Any]:
        """The clock moved: modify, cancel and create files.

        - About ``fraction`` of every agent's files get a new ``modifiedOn`` and ``revision``.
        - About 30% of the touched files that are still open (sale ``Pending``, listing
          ``Active``) are canceled: status ``Canceled``, a sale's ``deadDate`` = today.
        - New SkySlope-only files, about a third of ``fraction`` of the agent's file count (at
          least one), are created now, a quarter of them listings.

        Removal is shown the way SkySlope shows it: the file stays listed with a terminal status.
        Research (B.3/B.4) documents ``status`` values, ``deadDate`` and no delete endpoint nor
        deleted-file feed. That a canceled file stays listed is [UNCONFIRMED] but the most
        plausible reading, so truth's ``deleted_ids`` stay empty and ``by_status`` /
        ``canceled_ids`` move.
        """
        touched = canceled = 0
        created = {"sale": 0, "listing": 0}
        now = self.world.now()
        for agent in self.world.agents_with("skyslope"):
            n_files = 0
            for listings in (False, True):
                files = self._files(agent.user_id, listings)
                n_files += len(files)
                for f in files:
                    if rng.random() < fraction:
                        key = f[f"{f['objectType']}Guid"]
                        self._changes[key] = (now, self._changes.get(key, (now, 0))[1] + 1)
                        touched += 1
                        if f["status"] in ("Pending", "Active") and rng.random() < 0.3:
                            self._canceled[key] = now.astimezone(LOCAL_TZ).date()
                            canceled += 1
            n_new = max(1, round(n_files * fraction / 3)) if fraction > 0 else 0
            for _ in range(n_new):
                deal = self._new_deal(agent.user_id, rng, now)
                self._new.setdefault(agent.user_id, []).append(deal)
                created["listing" if deal.is_listing else "sale"] += 1
        with self._lock:
            self._version += 1
            self._cache.clear()
        return {
            "files_modified": touched,
            "files_canceled": canceled,
            "sales_created": created["sale"],
            "listings_created": created["listing"],
        }

    def _new_deal(self, user_id: int, rng: random.Random, now: datetime) -> RealDeal:
        """A SkySlope-only OPEN deal created within the last hour (recorded nowhere else)."""
        is_listing = rng.random() < 0.25
        city, state, zip3 = rng.choice(CITIES)
        return RealDeal(
            key=20_000_000 + len(self._new.get(user_id, [])),
            user_id=user_id,
            is_listing=is_listing,
            street_number=rng.randint(10, 9999),
            street_name=rng.choice(STREETS),
            unit=None,
            city=city,
            state=state,
            zip=f"{zip3}{rng.randint(10, 99)}",
            side="SELLER" if is_listing else rng.choice(["BUYER", "SELLER"]),
            price_cents=rng.randint(150_000, 2_500_000) * 100,
            lifecycle="OPEN",
            created_at=now - timedelta(seconds=rng.randint(0, 3_600)),
            close_date=(now + timedelta(days=rng.randint(20, 60))).date(),
            in_rezen=False,
            in_skyslope=True,
        )

    def truth(self, user_id: int | None, entity: str | None) -> dict[str, Any]:
        """Per agent: ``users``, ``sales``, ``listings`` counts/ids, and ``shared_with_rezen``.

        ``sales`` and ``listings`` also give ``by_status`` (the ``status`` served, e.g.
        ``Canceled``) and, when the entity is named, ``canceled_ids``. ``shared_with_rezen``
        lists, per SkySlope file, the world deal key it records, whether the same real deal is
        also in reZEN and, if so, that record's reZEN id (``rezen_id``, a transaction or listing
        transaction; null otherwise) — what the unified model's matching must reproduce.
        """
        if entity is not None and entity not in TRUTH_ENTITIES:
            raise BadControl(f"unknown skyslope entity {entity!r}; one of {list(TRUTH_ENTITIES)}")
        agents = [a for a in self.world.agents_with("skyslope") if user_id in (None, a.user_id)]
        out: dict[str, Any] = {}
        for agent in agents:
            per: dict[str, Any] = {}
            for ent in TRUTH_ENTITIES:
                if entity not in (None, ent):
                    continue
                if ent == "users":
                    ids = [u["userGuid"] for u in self._users_of(agent.user_id)]
                elif ent == "shared_with_rezen":
                    files = [
                        {
                            "guid": self._guid(d),
                            "deal_key": d.key,
                            "kind": "listing" if d.is_listing else "sale",
                            "in_rezen": d.in_rezen,
                            "rezen_id": (
                                rezen_record_id(self.world.seed, d.user_id, d.key, d.is_listing)
                                if d.in_rezen
                                else None
                            ),
                        }
                        for d in self._deals_of(agent.user_id)
                    ]
                    per[ent] = {
                        "count": sum(1 for f in files if f["in_rezen"]),
                        **({"files": files} if entity else {}),
                    }
                    continue
                else:
                    files = self._files(agent.user_id, ent == "listings")
                    ids = [f[f"{f['objectType']}Guid"] for f in files]
                per[ent] = {"count": len(ids), "trashed_ids": [], "deleted_ids": []}
                if ent != "users":
                    statuses = [f["status"] for f in files]
                    per[ent]["by_status"] = {s: statuses.count(s) for s in sorted(set(statuses))}
                    if entity:
                        per[ent]["canceled_ids"] = [
                            i for i, s in zip(ids, statuses, strict=True) if s == "Canceled"
                        ]
                if entity:
                    per[ent]["ids"] = ids
            out[str(agent.user_id)] = per
        return out


def _in_window(modified_on: str, earliest: int | None, latest: int | None) -> bool:
    ts = datetime.fromisoformat(modified_on).replace(tzinfo=LOCAL_TZ).timestamp()
    return (earliest is None or ts >= earliest) and (latest is None or ts <= latest)


@register_api("skyslope")
def make_skyslope(world: World, faults: FaultPlan) -> SkySlopeApi:
    """Factory registered with the sandbox framework."""
    return SkySlopeApi(world, faults)


__all__ = ["SkySlopeApi", "hmac_signature", "make_skyslope"]
