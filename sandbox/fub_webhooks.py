"""Follow Up Boss replica: webhook subscriptions and signed deliveries.

Facts: ``docs/vendors/fub.md`` §5 (every § below is a section of that file):

- ``POST /v1/webhooks`` ``{"event", "url"}`` → ``{"id", "status": "Active", "event", "url"}``;
  ``GET /v1/webhooks`` (filters ``event``, ``status``), ``GET/PUT/DELETE /v1/webhooks/{id}``
  (§5.1, MANIFEST). ``X-System`` is required on every webhooks call and only registered
  systems may use them (§1.3); at most two webhooks per event per system (§5.1).
  FUB accepts HTTPS URLs only; the sandbox also accepts ``http://`` on loopback hosts
  (a deliberate deviation: nothing here has TLS).
- Payload (§5.3): ``{"eventId": uuid, "eventCreated": "...+00:00", "event", "resourceIds": [...],
  "uri": ".../v1/people?id=1,2"}``, a single object. ``uri`` is null for delete events.
- Signature (§5.4, best-supported, not officially confirmed):
  ``FUB-Signature = hex(HMAC_SHA256(key=X-System-Key, msg=base64(raw body)))``.
- Retries (§5.1): FUB retries non-2xx for up to 8 hours (schedule UNCONFIRMED); the sandbox
  retries :data:`MAX_ATTEMPTS` times with a short exponential back-off, in a background thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

EVENTS = {
    "peopleCreated", "peopleUpdated", "peopleDeleted", "peopleTagsCreated",
    "peopleStageUpdated", "peopleRelationshipCreated", "peopleRelationshipUpdated",
    "peopleRelationshipDeleted", "notesCreated", "notesUpdated", "notesDeleted",
    "emEventsOpened", "emEventsClicked", "emEventsUnsubscribed", "tasksCreated", "tasksUpdated",
    "tasksDeleted", "appointmentsCreated", "appointmentsUpdated", "appointmentsDeleted",
    "textMessagesCreated", "textMessagesUpdated", "textMessagesDeleted", "callsCreated",
    "callsUpdated", "callsDeleted", "dealsCreated", "dealsUpdated", "dealsDeleted",
    "emailsCreated", "emailsUpdated", "emailsDeleted", "eventsCreated", "stageCreated",
    "stageUpdated", "stageDeleted", "pipelineCreated", "pipelineUpdated", "pipelineDeleted",
}  # fmt: skip
MAX_PER_EVENT_PER_SYSTEM = 2
MAX_ATTEMPTS = 4
BACKOFF_S = 0.2
RESOURCE_IDS_PER_DELIVERY = 100  # large batches are split (§5.1, OFFICIAL)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def sign(body: bytes, system_key: str) -> str:
    """``FUB-Signature`` for a raw body (fub.md §5.4)."""
    msg = base64.b64encode(body)
    return hmac.new(system_key.encode(), msg, hashlib.sha256).hexdigest()


class WebhookError(ValueError):
    """A subscription request FUB would refuse; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Subscription:
    id: int
    uid: int
    event: str
    url: str
    system: str
    system_key: str
    status: str = "Active"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "event": self.event, "url": self.url}


@dataclass
class Delivery:
    """One notification and what became of it (for tests via ``/_sandbox/fub/deliveries``)."""

    subscription_id: int
    url: str
    payload: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    delivered: bool = False
    error: str | None = None
    statuses: list[int | None] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "url": self.url,
            "payload": self.payload,
            "attempts": self.attempts,
            "status": self.status,
            "delivered": self.delivered,
            "error": self.error,
        }


class Webhooks:
    """Subscriptions per account and a background sender."""

    def __init__(self) -> None:
        self._subs: dict[int, Subscription] = {}
        self._next_id = 1244  # fub.md §5.1 example id
        self._lock = threading.Lock()
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self.deliveries: list[Delivery] = []
        self._thread: threading.Thread | None = None

    # -- subscriptions --------------------------------------------------------------------------
    def create(self, uid: int, body: Any, system: str, system_key: str) -> Subscription:
        if not isinstance(body, dict):
            raise WebhookError(400, "Body must be a JSON object with event and url")
        event, url = body.get("event"), body.get("url")
        if not isinstance(event, str) or event not in EVENTS:
            raise WebhookError(400, f"Invalid event {event!r}")
        if not isinstance(url, str) or not url:
            raise WebhookError(400, "url is required")
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise WebhookError(400, "Webhook url must use https")
        with self._lock:
            same = [
                s
                for s in self._subs.values()
                if s.uid == uid and s.event == event and s.system == system
            ]
            if len(same) >= MAX_PER_EVENT_PER_SYSTEM:
                raise WebhookError(
                    400, f"Only {MAX_PER_EVENT_PER_SYSTEM} webhooks per event per system allowed"
                )
            sub = Subscription(self._next_id, uid, event, url, system, system_key)
            self._next_id += 1
            self._subs[sub.id] = sub
        return sub

    def get(self, uid: int, sid: int) -> Subscription | None:
        sub = self._subs.get(sid)
        return sub if sub is not None and sub.uid == uid else None

    def update(self, uid: int, sid: int, body: Any) -> Subscription | None:
        sub = self.get(uid, sid)
        if sub is None:
            return None
        if not isinstance(body, dict):
            raise WebhookError(400, "Body must be a JSON object")
        if "url" in body:
            if not isinstance(body["url"], str):
                raise WebhookError(400, "url must be a string")
            sub.url = body["url"]
        if "status" in body:
            if body["status"] not in ("Active", "Disabled"):
                raise WebhookError(400, "status must be Active or Disabled")
            sub.status = body["status"]
        return sub

    def delete(self, uid: int, sid: int) -> bool:
        with self._lock:
            sub = self.get(uid, sid)
            if sub is None:
                return False
            del self._subs[sid]
            return True

    def listing(self, uid: int) -> list[dict[str, Any]]:
        with self._lock:
            subs = sorted(self._subs.values(), key=lambda s: s.id)
        return [s.as_json() for s in subs if s.uid == uid]

    # -- deliveries -----------------------------------------------------------------------------
    def notify(
        self, uid: int, event: str, ids: list[int], when: datetime, uri_base: str | None
    ) -> int:
        """Queue signed notifications of ``event`` for ``ids`` to the account's subscribers."""
        with self._lock:  # snapshot: subscriptions may change from request threads
            subs = [
                s
                for s in self._subs.values()
                if s.uid == uid and s.event == event and s.status == "Active"
            ]
        if not subs or not ids:
            return 0
        n = 0
        for k in range(0, len(ids), RESOURCE_IDS_PER_DELIVERY):
            chunk = ids[k : k + RESOURCE_IDS_PER_DELIVERY]
            uri = None
            if uri_base is not None:
                uri = f"{uri_base}?id={','.join(map(str, chunk))}"
            for sub in subs:
                payload = {
                    "eventId": str(uuid.uuid4()),
                    "eventCreated": when.isoformat(timespec="seconds"),
                    "event": event,
                    "resourceIds": chunk,
                    "uri": uri,
                }
                self._queue.put(Delivery(sub.id, sub.url, payload))
                n += 1
        self._ensure_sender()
        return n

    def _ensure_sender(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fub-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """Send queued deliveries; exit after 5 idle seconds (``_ensure_sender`` restarts it)."""
        with httpx.Client(timeout=10.0) as client:
            while True:
                try:
                    delivery = self._queue.get(timeout=5.0)
                except queue.Empty:
                    with self._lock:  # exit only if nothing arrived meanwhile
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                try:
                    self._send(client, delivery)
                finally:
                    self._queue.task_done()

    def _send(self, client: httpx.Client, d: Delivery) -> None:
        sub = self._subs.get(d.subscription_id)
        key = sub.system_key if sub else ""
        body = json.dumps(d.payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "FUB-Signature": sign(body, key)}
        for attempt in range(MAX_ATTEMPTS):
            d.attempts = attempt + 1
            try:
                resp = client.post(d.url, content=body, headers=headers)
                d.status = resp.status_code
                if 200 <= resp.status_code < 300:
                    d.delivered = True
                    d.error = None
                    break
                d.error = f"HTTP {resp.status_code}"
            except httpx.HTTPError as err:
                d.status, d.error = None, f"{type(err).__name__}: {err}"
            time.sleep(BACKOFF_S * 2**attempt)
        with self._lock:
            self.deliveries.append(d)
        if not d.delivered:
            log.warning("FUB webhook to subscription %s failed: %s", d.subscription_id, d.error)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery was attempted (tests and the demo)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False
