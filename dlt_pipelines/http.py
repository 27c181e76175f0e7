"""One HTTP client for every vendor source: retries, back-off, ``Retry-After`` and pacing.

- 429: wait ``Retry-After`` seconds (or back off) and retry; the request was not processed.
  Rate limiting is waited out, not failed: 429s are retried for up to a time budget per request
  (``AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS``, default 15 minutes) and do not use up the retry count.
- 5xx, timeouts, connection resets and truncated JSON bodies: retry with exponential back-off,
  at most ``max_retries`` times (``AGENTSYNC_HTTP_MAX_RETRIES``).
- 4xx other than 429: raise :class:`ApiError` at once (a bad credential does not get better).
- Pacing: each response's ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Window`` feed a per-account
  :class:`RateGate` shared by every run in this process; its request slots come from the
  database (:mod:`agentsync.pacing`), shared by every process, so concurrent runs on one account
  stay within its rate together and a normal run never sees a 429.
- Concurrency: the same gate bounds concurrent calls per vendor account (e.g. FUB's rate limits
  apply per account, and several agent runs may share one account).

Secrets are sent only in headers/auth and never appear in errors: messages carry the method, the
path (query parameters stripped of anything secret-looking) and the status.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from agentsync import pacing

log = logging.getLogger(__name__)

IN_FLIGHT_EXPIRY_S = 300.0  # a call in flight longer than this gives its place back (as in the db)
RETRY_STATUSES = {500, 502, 503, 504, 520, 522, 524}
RATE_LIMIT_BUDGET_SETTING = "AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS"
_SECRETISH = ("key", "token", "secret", "password", "session", "auth")


class ApiError(Exception):
    """A vendor API answered with an error we do not retry (or ran out of retries)."""

    def __init__(self, method: str, url: str, status: int | None, detail: str) -> None:
        self.method, self.url, self.status, self.detail = method, url, status, detail
        where = f"{method} {url}"
        super().__init__(f"{where} -> {status if status is not None else 'no response'}: {detail}")


class AuthError(ApiError):
    """401/403: the credential was refused."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context every client shares: httpx's default (certifi's CAs, or ``SSL_CERT_FILE``
    / ``SSL_CERT_DIR``), built once per process. Loading the CA bundle costs ~40 ms, which a
    client per (agent, step) paid on every quiet-day step; an ``SSLContext`` is safe to share
    between clients and threads."""
    return httpx.create_ssl_context()


def safe_url(url: httpx.URL | str) -> str:
    """The URL without secret-looking query parameters (for errors and logs)."""
    u = httpx.URL(str(url))
    params = [
        (k, "***" if any(s in k.lower() for s in _SECRETISH) else v)
        for k, v in u.params.multi_items()
    ]
    return str(u.copy_with(params=params))


@dataclass
class RateGate:
    """Pacing and a concurrency bound for one vendor account.

    - Concurrency: at most ``max_concurrent`` calls in flight from this process.
    - Pace: once a response says what the account may send (``X-RateLimit-Limit`` requests per
      ``X-RateLimit-Window`` seconds), no window of that length holds more than
      ``limit - reserve`` of them (a sliding window, as FUB counts). With an ``account`` key and
      ``AGENTSYNC_SHARED_REQUEST_PACING`` on, the slots come from :mod:`agentsync.pacing`,
      shared by every process on the database: the vendor counts the account's requests
      together, so they are paced together. Otherwise (or when the database is out of reach)
      this process keeps its own window, by the same rule.
    - ``reserve``: places of each window the pace leaves unused, for calls it cannot count: a
      process's first call on the account goes before the pace is known (and FUB's
      ``/identity`` probe goes ungated), so a process joining an account another one keeps
      busy may add one or two requests to its window.
    - When ``X-RateLimit-Remaining`` falls below ``reserve`` (requests the pace did not count
      are in the vendor's window) or, with no pace known, reaches it, and after a 429, callers
      pause (:meth:`block_for`); a 429's pause is shared too.
    """

    max_concurrent: int = 4
    reserve: int = 5
    account: str | None = None
    _sem: threading.BoundedSemaphore = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _blocked_until: float = 0.0
    _cap: int = 0
    _window: float = 0.0
    _done: list[float] = field(default_factory=list)  # answers, this process's own window
    _flight: list[float] = field(default_factory=list)  # slots of calls in flight
    _first: threading.Lock = field(default_factory=threading.Lock)
    _first_done: bool = False
    _local: threading.local = field(default_factory=threading.local)
    throttled_seconds: float = 0.0
    responses_429: int = 0

    def __post_init__(self) -> None:
        self._sem = threading.BoundedSemaphore(self.max_concurrent)

    def __enter__(self) -> RateGate:
        self._sem.acquire()
        try:
            self._go_first_alone()
            self.wait()
            self._take_slot()
        except BaseException:
            self._slot_done()
            self._end_first()
            self._sem.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._slot_done()
        self._end_first()
        self._sem.release()

    def _go_first_alone(self) -> None:
        """The account's first call from this process goes alone: its response tells the pace
        (until then, the others wait rather than burst unpaced)."""
        if self._first_done:
            return
        self._first.acquire()
        if self._first_done:  # taught while this thread waited
            self._first.release()
        else:
            self._local.first = True

    def _end_first(self) -> None:
        if not getattr(self._local, "first", False):
            return
        self._local.first = False
        self._first_done = True  # headers or not: a vendor without a pace is not serialised
        cap, window = self._cap, self._window
        if cap > 0 and window > 0:  # the first call counts too (booked as done, now)
            self._take_slot_now(cap, window)
        self._first.release()

    def _take_slot_now(self, cap: int, window: float) -> None:
        """A call sent before the pace was known has its answer: it counts from now."""
        if self._shared():
            assert self.account is not None
            if pacing.record(self.account):
                return
        with self._lock:
            self._done.append(time.monotonic())

    @property
    def pace(self) -> tuple[int, float]:
        """``(cap, window)``: at most ``cap`` requests in any ``window`` seconds (``(0, 0.0)``
        until a response reported the account's limit)."""
        return self._cap, self._window

    def _shared(self) -> bool:
        if self.account is None:
            return False
        from agentsync.settings import get_settings

        return get_settings().shared_request_pacing

    def _take_slot(self) -> None:
        """Wait for this call's slot in the account's sliding window (shared, or this
        process's own); on exit the call counts from its answer (:meth:`_slot_done`)."""
        self._local.slot = None
        cap, window = self._cap, self._window
        if cap <= 0 or window <= 0:
            return
        while True:
            booked = None
            if self._shared():
                assert self.account is not None
                booked = pacing.reserve(self.account, cap, window)
            kind = "local" if booked is None else "shared"
            delay, slot = self._local_slot(cap, window) if booked is None else booked
            if delay > 0:
                self.throttled_seconds += delay
                time.sleep(delay)
            if slot is not None:
                self._local.slot = (kind, slot)
                return

    def _local_slot(self, cap: int, window: float) -> tuple[float, float | None]:
        """This process's own sliding window: ``ops.api_slot``'s algorithm in its clock."""
        with self._lock:
            now = time.monotonic()
            self._done = sorted(d for d in self._done if d > now - window)[-cap:]
            self._flight = [f for f in self._flight if f > now - IN_FLIGHT_EXPIRY_S]
            free = cap - len(self._flight)
            if free <= 0:
                return min(1.0, window / cap), None
            slot = now
            if len(self._done) >= free:
                slot = max(slot, self._done[-free] + window)
            self._flight.append(slot)
        return slot - now, slot

    def _slot_done(self) -> None:
        booked = getattr(self._local, "slot", None)
        if booked is None:
            return
        self._local.slot = None
        kind, slot = booked
        if kind == "shared":
            assert self.account is not None
            pacing.done(self.account, slot)
            return
        with self._lock:
            if slot in self._flight:
                self._flight.remove(slot)
            self._done.append(time.monotonic())

    def wait(self) -> None:
        while True:
            with self._lock:
                delay = self._blocked_until - time.monotonic()
            if delay <= 0:
                return
            self.throttled_seconds += delay
            time.sleep(min(delay, 1.0))

    def block_for(self, seconds: float, shared: bool = False) -> None:
        """Pause this process's callers for ``seconds``; ``shared``: every process's too."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)
        if shared and self._shared():
            assert self.account is not None
            pacing.hold(self.account, seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read ``X-RateLimit-*`` headers: learn the pace (``Limit`` and ``Window``, both
        needed); when the window is nearly spent (``Remaining``), pause callers."""
        window = _number(headers.get("x-ratelimit-window"))
        limit = _number(headers.get("x-ratelimit-limit"))
        if limit is not None and window is not None and limit > 0 and window > 0:
            self._cap, self._window = max(1, int(limit) - self.reserve), window
        remaining = _number(headers.get("x-ratelimit-remaining"))
        # Paced by slots, the vendor's window holds at most ``cap`` of our requests: ``reserve``
        # remaining is the pace working, not a reason to stop (pausing there cost a third of the
        # budget, bench/results.md "Pacing"). Fewer means requests the pace did not count (another
        # client of the account, or calls sent before the pace was known): then, and whenever
        # no pace is known, spread what is left over the window rather than burst into a 429.
        floor = self.reserve if self._cap > 0 else self.reserve + 1
        if remaining is not None and remaining < floor:
            self.block_for((window or 10.0) / max(1, int(remaining) + 1))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_gates: dict[str, RateGate] = {}
_gates_lock = threading.Lock()


def gate_for(account_key: str, max_concurrent: int = 4, reserve: int = 5) -> RateGate:
    """The process-wide gate for one vendor account (key: a non-secret account fingerprint,
    also its key in the shared pace, :mod:`agentsync.pacing`); ``reserve``: places per window
    left for calls the pace cannot count (see :class:`RateGate`)."""
    with _gates_lock:
        if account_key not in _gates:
            _gates[account_key] = RateGate(
                max_concurrent=max_concurrent, reserve=reserve, account=account_key
            )
        return _gates[account_key]


class ApiClient:
    """A small, retrying JSON client over httpx.

    Args:
        base_url: the API's base URL (a setting; the sandbox or the real host).
        headers: static headers (auth headers included; never logged).
        auth: an httpx auth object (e.g. ``httpx.BasicAuth``), optional.
        gate: the account's :class:`RateGate`, optional.
        timeout: seconds per request.
        max_retries: attempts after the first for 5xx, timeouts and bad bodies (not 429s).
        rate_limit_budget_seconds: how long one request may keep being rate limited (429)
            before it fails; default: the ``AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS`` setting.
        on_auth_error: called once on a 401 to refresh credentials (returns new headers or None);
            the request is retried once with them.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        gate: RateGate | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        on_auth_error: Callable[[], Mapping[str, str] | None] | None = None,
        rate_limit_budget_seconds: float | None = None,
    ) -> None:
        if rate_limit_budget_seconds is None:
            from agentsync.settings import get_settings

            rate_limit_budget_seconds = get_settings().rate_limit_budget_seconds
        self.rate_limit_budget_seconds = float(rate_limit_budget_seconds)
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            follow_redirects=False,
            verify=tls_context(),
        )
        self.gate = gate
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.on_auth_error = on_auth_error
        self.requests = 0
        self.retries = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_header(self, name: str, value: str) -> None:
        self._client.headers[name] = value

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _sleep_backoff(self, attempt: int) -> None:
        delay = min(30.0, self.backoff_base * (2**attempt)) * (0.5 + random.random() / 2)
        time.sleep(delay)

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, httpx.Response]:
        """Send a request; return ``(parsed JSON, response)`` or raise :class:`ApiError`."""
        url = self.url(path)
        refreshed = False
        attempt = 0  # retries of 5xx, timeouts and bad bodies (bounded by max_retries)
        limited = 0  # consecutive 429s (bounded by time: rate_limit_budget_seconds)
        limited_since: float | None = None
        while True:
            try:
                if self.gate is not None:
                    with self.gate:
                        resp = self._client.request(
                            method, url, params=params, json=json_body, headers=headers
                        )
                        self.gate.observe(resp.headers)
                else:
                    resp = self._client.request(
                        method, url, params=params, json=json_body, headers=headers
                    )
                self.requests += 1
            except (httpx.TimeoutException, httpx.TransportError) as err:
                if attempt >= self.max_retries:
                    raise ApiError(method, safe_url(url), None, f"{type(err).__name__}") from None
                attempt += 1
                self.retries += 1
                self._sleep_backoff(attempt)
                continue

            status = resp.status_code
            if status == 429:
                if self.gate is not None:
                    self.gate.responses_429 += 1
                now = time.monotonic()
                limited_since = now if limited_since is None else limited_since
                spent = now - limited_since
                budget = self.rate_limit_budget_seconds
                if spent >= budget:
                    raise ApiError(
                        method,
                        safe_url(resp.url),
                        status,
                        f"rate limited for {spent:.1f} s "
                        f"(budget {RATE_LIMIT_BUDGET_SETTING}={budget:g})",
                    )
                limited += 1
                self.retries += 1
                wait = _retry_after(resp.headers.get("retry-after"))
                if wait is None:
                    wait = min(30.0, self.backoff_base * (2 ** (limited - 1)))
                elif wait <= 0 and limited > 1:
                    wait = self.backoff_base  # "retry now" again and again: don't spin
                wait = min(wait, budget - spent)  # the last try comes when the budget ends
                if self.gate is not None:
                    self.gate.block_for(wait, shared=True)
                    self.gate.wait()
                else:
                    time.sleep(wait)
                continue
            limited, limited_since = 0, None  # not rate limited (any more)
            if status in RETRY_STATUSES:
                if attempt >= self.max_retries:
                    raise ApiError(
                        method, safe_url(resp.url), status, "server error, retries exhausted"
                    )
                attempt += 1
                self.retries += 1
                self._sleep_backoff(attempt)
                continue
            if status in (401, 403):
                if status == 401 and self.on_auth_error is not None and not refreshed:
                    new_headers = self.on_auth_error()
                    refreshed = True
                    if new_headers:
                        self._client.headers.update(new_headers)
                        continue
                raise AuthError(method, safe_url(resp.url), status, _short_body(resp))
            if status >= 400:
                raise ApiError(method, safe_url(resp.url), status, _short_body(resp))
            try:
                return resp.json(), resp
            except (json.JSONDecodeError, UnicodeDecodeError):
                # A truncated or garbled body: the request may be retried safely (GET/POST queries).
                if attempt >= self.max_retries:
                    raise ApiError(
                        method, safe_url(resp.url), status, "response body is not valid JSON"
                    ) from None
                attempt += 1
                self.retries += 1
                self._sleep_backoff(attempt)

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> tuple[Any, httpx.Response]:
        return self.request_json("GET", path, params=params)


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delay-seconds or HTTP-date), None if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _short_body(resp: httpx.Response) -> str:
    text = resp.text[:300].replace("\n", " ")
    return text or resp.reason_phrase
