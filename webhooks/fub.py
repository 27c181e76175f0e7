"""FUB webhooks receiver: verify, store durably, then fetch the changed records into raw.

Flow for one delivery to ``POST /fub/webhooks/{user_id}`` (the callback URL registered for that
agent, see :func:`register_webhooks`):

1. ``FUB-Signature`` is checked: ``hex(HMAC_SHA256(key=X-System-Key, msg=base64(raw body)))``
   (docs/vendors/fub.md §5.4, best supported, not officially confirmed; ``sha256=<hex>`` is also
   accepted). The key is the agent's ``system_key`` or ``AGENTSYNC_FUB_SYSTEM_KEY``. A bad or
   missing signature answers 401 and stores nothing, for a known and an unknown agent alike (an
   unknown agent's delivery is checked against the system key; only a valid one gets 404).
2. The event (one object or a list of them, 5.3) is inserted into ``ops.webhook_events`` with
   status ``received`` and committed **before** the 2xx answer, so an accepted event is never lost.
3. A worker thread processes received events: ``*Created``/``*Updated`` re-fetch the records by id
   (``resourceIds``, or the ``id=`` of ``uri`` when it points at our base URL; the URI host is
   never trusted with credentials) into ``raw_fub`` through a separate per-agent dlt pipeline;
   ``*Deleted`` events land the ids in ``raw_fub.deleted_ids`` (the marts flag them); stage and
   pipeline definition events re-read that small stream. Events are marked ``processed``
   (or ``failed`` with the error). A failed event is retried by later passes with back-off
   (``next_attempt_at`` = now + 30 s * 2^(attempts-1), capped at an hour: settings
   ``AGENTSYNC_WEBHOOK_RETRY_BASE_SECONDS`` / ``AGENTSYNC_WEBHOOK_RETRY_CAP_SECONDS``), never
   several times in one pass; after ``AGENTSYNC_WEBHOOK_MAX_ATTEMPTS`` (5) attempts it stays
   ``failed`` until ``agentsync webhooks replay``.
   Processing goes through :class:`~dlt_pipelines.fub.FubRun`, which holds the pipeline
   lock of ``fub_webhooks_user_<id>``: the receiver's worker and ``agentsync webhooks process``
   never write one agent's webhook pipeline at once (the second waits).

A crash after step 2 loses nothing: events still ``received`` are processed when the receiver
starts and by ``agentsync webhooks process``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentsync import agents, db
from agentsync.errors import NotFoundError
from agentsync.settings import Settings, get_settings
from dlt_pipelines.fub.settings import STREAMS, WEBHOOK_PREFIXES

log = logging.getLogger(__name__)
BATCH = 200
# Retries (attempts, back-off base and cap) are settings: AGENTSYNC_WEBHOOK_MAX_ATTEMPTS,
# AGENTSYNC_WEBHOOK_RETRY_BASE_SECONDS, AGENTSYNC_WEBHOOK_RETRY_CAP_SECONDS.


def retry_delay_seconds(attempts: int, settings: Settings | None = None) -> float:
    """Back-off before the next attempt of an event that has failed ``attempts`` times."""
    s = settings or get_settings()
    return min(
        s.webhook_retry_cap_seconds, s.webhook_retry_base_seconds * 2 ** max(0, attempts - 1)
    )


FULL_READ_STREAMS = {"stages", "pipelines"}


def compute_signature(body: bytes, key: str) -> str:
    """``FUB-Signature`` of a raw body (docs/vendors/fub.md §5.4)."""
    return hmac.new(key.encode(), base64.b64encode(body), hashlib.sha256).hexdigest()


def signature_ok(body: bytes, header: str | None, key: str | None) -> bool:
    """Constant-time check of a ``FUB-Signature`` header (hex, optionally ``sha256=``)."""
    if not header or not key:
        return False
    given = header.strip().removeprefix("sha256=").lower()
    return hmac.compare_digest(given, compute_signature(body, key))


def system_key_for(user_id: int, settings: Settings | None = None) -> str | None:
    """The key webhooks of this agent are signed with (None: agent unknown or no key)."""
    settings = settings or get_settings()
    try:
        cred = agents.get_credentials(user_id, "fub")
    except NotFoundError:
        return None
    if cred.get("system_key"):
        return cred["system_key"]
    return settings.fub_system_key.get_secret_value() if settings.fub_system_key else None


def _system_key(settings: Settings | None) -> str | None:
    settings = settings or get_settings()
    return settings.fub_system_key.get_secret_value() if settings.fub_system_key else None


def stream_of(event: str) -> tuple[str | None, str]:
    """``(stream, action)`` of a FUB event name, e.g. ``peopleUpdated`` → ``(people, Updated)``."""
    for prefix in sorted(WEBHOOK_PREFIXES, key=len, reverse=True):
        if event.startswith(prefix):
            action = event[len(prefix) :]
            if prefix == "people" and action not in ("Created", "Updated", "Deleted"):
                return "people", "Updated"  # peopleStageUpdated, peopleTagsCreated, ...
            if action in ("Created", "Updated", "Deleted"):
                return WEBHOOK_PREFIXES[prefix], action
    return None, ""


def event_ids(payload: dict[str, Any], settings: Settings) -> list[int]:
    """Resource ids of an event: ``resourceIds``, else ``id=`` of a ``uri`` on our base URL."""
    ids = payload.get("resourceIds")
    if isinstance(ids, list):
        return sorted({int(i) for i in ids if isinstance(i, int) and not isinstance(i, bool)})
    uri = payload.get("uri")
    if isinstance(uri, str) and uri.startswith(settings.fub_base_url.rstrip("/") + "/"):
        raw = parse_qs(urlsplit(uri).query).get("id", [""])[0]
        return sorted({int(x) for x in raw.split(",") if x.strip().isdigit()})
    return []


def store_events(user_id: int, events: list[dict[str, Any]]) -> list[int]:
    """Insert accepted events (committed on return). Returns their ``event_id``s."""
    ids: list[int] = []
    with db.begin() as conn:
        for ev in events:
            rid = ev.get("resourceIds")
            ids.append(
                conn.execute(
                    text(
                        """
                        insert into ops.webhook_events (user_id, event, resource_ids, uri, payload)
                        values (:u, :e, cast(:r as jsonb), :uri, cast(:p as jsonb))
                        returning event_id
                        """
                    ),
                    {
                        "u": user_id,
                        "e": str(ev.get("event") or "unknown")[:200],
                        "r": json.dumps(rid) if rid is not None else None,
                        "uri": ev.get("uri") if isinstance(ev.get("uri"), str) else None,
                        "p": json.dumps(ev),
                    },
                ).scalar_one()
            )
    return ids


def _claim(user_id: int | None) -> list[Any]:
    """Claim a batch of unprocessed events (skip those another worker holds)."""
    with db.begin() as conn:
        return conn.execute(
            text(
                """
                update ops.webhook_events as w
                   set attempts = w.attempts + 1
                 where w.event_id in (
                        select event_id
                          from ops.webhook_events
                         where (status = 'received'
                                or (status = 'failed' and attempts < :max
                                    and next_attempt_at <= now()))
                           and (cast(:u as bigint) is null or user_id = :u)
                         order by event_id
                         limit :n
                           for update skip locked
                 )
                returning w.event_id, w.user_id, w.event, w.payload
                """
            ),
            {"u": user_id, "n": BATCH, "max": get_settings().webhook_max_attempts},
        ).all()


def _finish(event_ids_: list[int], status: str, error: str | None) -> None:
    """Mark events; a ``failed`` one gets its back-off (``next_attempt_at``), or none (failed
    permanently) once it has used ``AGENTSYNC_WEBHOOK_MAX_ATTEMPTS``."""
    if not event_ids_:
        return
    s = get_settings()
    with db.begin() as conn:
        conn.execute(
            text(
                """
                update ops.webhook_events
                   set status = :s, error = :e,
                       processed_at = case when :s = 'processed' then now() end,
                       next_attempt_at = case
                           when :s = 'failed' and attempts < :max then now()
                                + make_interval(secs => least(
                                    :cap, :base * power(2, greatest(attempts - 1, 0))))
                       end
                 where event_id = any(:ids)
                """
            ),
            {
                "s": status,
                "e": error,
                "ids": event_ids_,
                "max": s.webhook_max_attempts,
                "cap": s.webhook_retry_cap_seconds,
                "base": s.webhook_retry_base_seconds,
            },
        )


def replay(user_id: int | None = None, status: str = "failed") -> int:
    """Re-queue events (default: the ``failed`` ones) as ``received`` with a fresh attempt
    budget; returns how many. ``agentsync webhooks replay`` calls it."""
    if status not in ("failed", "processed"):
        raise ValueError("status must be 'failed' or 'processed'")
    with db.begin() as conn:
        return int(
            conn.execute(
                text(
                    """
                    update ops.webhook_events
                       set status = 'received', attempts = 0, next_attempt_at = null,
                           error = null, processed_at = null
                     where status = :st and (cast(:u as bigint) is null or user_id = :u)
                    """
                ),
                {"st": status, "u": user_id},
            ).rowcount
        )


def webhook_health() -> dict[str, Any]:
    """Counts and oldest ages (seconds) of webhook events needing attention.

    Returns ``{"failed": n, "failed_oldest_seconds": s | None, "failed_permanently": n,
    "pending": n, "pending_oldest_seconds": s | None}``: ``failed`` counts every failed event
    (``failed_permanently`` those out of attempts, waiting for ``agentsync webhooks replay``);
    ``pending`` counts received-but-unprocessed ones. Ages are from ``received_at``.
    """
    with db.begin() as conn:
        row = conn.execute(
            text(
                """
                select
                  count(*) filter (where status = 'failed') as failed,
                  extract(epoch from now() - min(received_at) filter (where status = 'failed'))
                      as failed_age,
                  count(*) filter (where status = 'failed' and attempts >= :max) as dead,
                  count(*) filter (where status = 'received') as pending,
                  extract(epoch from now() - min(received_at) filter (where status = 'received'))
                      as pending_age
                from ops.webhook_events
                where status in ('failed', 'received')
                """
            ),
            {"max": get_settings().webhook_max_attempts},
        ).one()
    return {
        "failed": int(row.failed),
        "failed_oldest_seconds": None if row.failed_age is None else float(row.failed_age),
        "failed_permanently": int(row.dead),
        "pending": int(row.pending),
        "pending_oldest_seconds": None if row.pending_age is None else float(row.pending_age),
    }


def _when(payload: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(payload.get("eventCreated")).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def process_pending(user_id: int | None = None, settings: Settings | None = None) -> dict[str, int]:
    """Process every received (or retryable failed) event; returns counts by outcome."""
    from dlt_pipelines.fub import FubRun

    settings = settings or get_settings()
    counts = {"processed": 0, "failed": 0, "ignored": 0}
    while True:
        batch = _claim(user_id)
        if not batch:
            return counts
        # group: (user, stream, action) -> ids, event ids
        groups: dict[tuple[int, str, str], tuple[set[int], list[int], datetime]] = {}
        ignored: list[int] = []
        for row in batch:
            payload = row.payload if isinstance(row.payload, dict) else {}
            stream, action = stream_of(row.event)
            if row.user_id is None or stream is None:
                ignored.append(row.event_id)
                continue
            key = (int(row.user_id), stream, "Deleted" if action == "Deleted" else "Upsert")
            ids, evs, when = groups.get(key, (set(), [], _when(payload)))
            ids.update(event_ids(payload, settings))
            evs.append(row.event_id)
            groups[key] = (ids, evs, max(when, _when(payload)))
        _finish(ignored, "processed", "ignored: event type not loaded by the FUB source")
        counts["ignored"] += len(ignored)
        by_user: dict[int, list[tuple[str, str, set[int], list[int], datetime]]] = defaultdict(list)
        for (uid, stream, action), (ids, evs, when) in groups.items():
            by_user[uid].append((stream, action, ids, evs, when))
        for uid, items in by_user.items():
            try:
                run = FubRun(uid, "webhook", None, settings, purpose="webhooks")
            except Exception as err:  # agent without credential etc.: fail its events
                for _, _, _, evs, _ in items:
                    _finish(evs, "failed", f"{type(err).__name__}: {err}"[:2000])
                    counts["failed"] += len(evs)
                continue
            with run:
                for stream, action, ids, evs, when in items:
                    try:
                        if stream in FULL_READ_STREAMS:
                            run.load_stream(stream, full=True)
                        elif action == "Deleted":
                            if ids:
                                run.record_deleted(stream, sorted(ids), when)
                        elif ids and stream in STREAMS:
                            run.load_ids(stream, sorted(ids))
                        _finish(evs, "processed", None)
                        counts["processed"] += len(evs)
                    except Exception as err:
                        log.exception("webhook events %s failed", evs)
                        _finish(evs, "failed", f"{type(err).__name__}: {err}"[:2000])
                        counts["failed"] += len(evs)


def transform_fub() -> None:
    """Rebuild the FUB staging views and marts from raw (only unprocessed loads are merged)."""
    from agentsync.transform import run_dbt

    run_dbt(["build", "--select", "path:models/staging/fub", "path:models/marts/crm"])


class Worker:
    """Background processor: wakes on new events (and every ``interval`` s for retries)."""

    def __init__(self, transform: bool = True, interval: float = 30.0) -> None:
        self.transform = transform
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fub-webhooks", daemon=True)
        self.idle = threading.Event()

    def start(self) -> None:
        self._wake.set()  # pending events from before a crash/restart first
        self._thread.start()

    def notify(self) -> None:
        self.idle.clear()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                counts = process_pending()
                if self.transform and counts["processed"]:
                    transform_fub()
            except Exception:
                log.exception("webhook processing failed; will retry")
            if not self._wake.is_set():
                self.idle.set()


def make_app(worker: Worker | None = None, settings: Settings | None = None) -> Starlette:
    """The receiver as an ASGI app (``POST /fub/webhooks/{user_id}``, ``GET /health``)."""

    async def receive(request: Request) -> JSONResponse:
        import asyncio

        try:
            user_id = int(request.path_params["user_id"])
        except ValueError:
            return JSONResponse({"error": "user_id must be an integer"}, status_code=404)
        body = await request.body()
        key = await asyncio.to_thread(system_key_for, user_id, settings)
        # The signature is checked before anything reveals whether the agent exists: for an
        # unknown agent it is checked against the system key FUB signs with, so a bad signature
        # gets the same 401 either way, and only a validly signed call learns "no such agent".
        check_key = key if key is not None else _system_key(settings)
        if not signature_ok(body, request.headers.get("fub-signature"), check_key):
            return JSONResponse({"error": "invalid FUB-Signature"}, status_code=401)
        if key is None:
            return JSONResponse({"error": f"no FUB agent {user_id} here"}, status_code=404)
        try:
            parsed = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
        events = parsed if isinstance(parsed, list) else [parsed]
        if not events or not all(isinstance(e, dict) and e.get("event") for e in events):
            return JSONResponse(
                {"error": "expected an event object (or a list) with an 'event' name"},
                status_code=400,
            )
        ids = await asyncio.to_thread(store_events, user_id, events)
        if worker is not None:
            worker.notify()
        return JSONResponse({"accepted": len(ids)})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/fub/webhooks/{user_id}", receive, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def register_webhooks(
    user_id: int, callback_root: str, events: list[str], settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Subscribe the agent's FUB account to ``events`` at ``<callback_root>/fub/webhooks/<id>``."""
    from dlt_pipelines.fub.auth import load_auth
    from dlt_pipelines.fub.client import FubClient

    settings = settings or get_settings()
    url = f"{callback_root.rstrip('/')}/fub/webhooks/{user_id}"
    out = []
    with FubClient(load_auth(user_id, settings), settings) as client:
        for event in events:
            out.append(client.post("webhooks", {"event": event, "url": url}))
    return out


DEFAULT_EVENTS = [
    "peopleCreated", "peopleUpdated", "peopleDeleted", "peopleStageUpdated",
    "dealsCreated", "dealsUpdated", "dealsDeleted", "eventsCreated",
    "callsCreated", "callsUpdated", "callsDeleted",
    "appointmentsCreated", "appointmentsUpdated", "appointmentsDeleted",
    "textMessagesCreated", "textMessagesUpdated", "textMessagesDeleted",
]  # fmt: skip
