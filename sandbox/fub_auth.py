"""Follow Up Boss replica: credentials, OAuth tokens, system keys and the rate limiter.

- API keys go in HTTP Basic as the username, password blank/anything (fub.md §1.2, OFFICIAL);
  OAuth access tokens go in ``Authorization: Bearer`` (§1.4). Anything else: 401
  ``{"errorMessage": ...}`` (§7.1: 401 = "Missing or invalid user API key").
- OAuth token endpoint (§1.4): ``POST /fub/oauth/token`` form-encoded with
  ``Authorization: Basic base64(client_id:client_secret)``; ``grant_type=refresh_token`` (or
  ``authorization_code``, not used offline). Success ``{access_token, token_type: "Bearer",
  expires_in: 3600, refresh_token}``; access tokens live 60 minutes of the *sandbox clock*.
  Refresh tokens are kept (not rotated) — rotation is UNCONFIRMED (3P: "new_or_same").
  Errors use the OAuth names ``invalid_client`` / ``invalid_grant`` / ``unsupported_grant_type``
  (3P, UNCONFIRMED).
- ``X-System`` + ``X-System-Key`` (§1.3): a registered key gets the higher limits, otherwise the
  lower ones and a ``_metadata.notice`` (LIVE-OBS).
- Rate limits (§4, OFFICIAL): sliding 10-second window per account and context; ``events``
  (GET /v1/events) 20 (10 without a system key), ``global`` 250 (125 without). Every response
  carries ``X-RateLimit-Limit/Remaining/Window/Context``; overflow answers 429 with
  ``Retry-After`` (seconds) and ``{"errorMessage": ...}`` (body text UNCONFIRMED).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.world import World, stable_int

WINDOW_S = 10
TIMES_KEPT = 20_000  # served requests' times kept per account and context (for benchmarks)
LIMITS = {"global": (250, 125), "events": (20, 10)}  # (registered system key, without)
ACCESS_TOKEN_TTL_S = 3_600
OAUTH_USER = 103  # this demo agent connects FUB through OAuth instead of an API key
SYSTEM_NAME = "agentsync"


class AuthFailure(Exception):
    """The request's credential was refused (401)."""


def _secret(seed: int, *parts: object) -> str:
    return f"{stable_int(seed, 'fub-secret', *parts):016x}{stable_int(seed, *parts, 'x'):016x}"


@dataclass
class Token:
    """An issued OAuth access token."""

    uid: int
    expires_at: float  # sandbox-clock POSIX seconds


class Auth:
    """Which credentials open which account; OAuth token issue/refresh by the sandbox clock."""

    def __init__(self, world: World, fub_uids: list[int]) -> None:
        self.world = world
        self.seed = world.seed
        self._lock = threading.Lock()
        self.system_key = _secret(self.seed, "system-key")
        self.api_keys: dict[str, int] = {}
        self.clients: dict[str, tuple[str, int]] = {}  # client_id -> (client_secret, uid)
        self.refresh_tokens: dict[str, int] = {}
        self.tokens: dict[str, Token] = {}
        self.oauth_uids = {u for u in fub_uids if u == OAUTH_USER}
        for uid in fub_uids:
            if uid in self.oauth_uids:
                client_id = f"fubclient-{uid}"
                self.clients[client_id] = (_secret(self.seed, "client-secret", uid), uid)
                self.refresh_tokens[_secret(self.seed, "refresh", uid)] = uid
                self.tokens[_secret(self.seed, "access", uid, 0)] = Token(
                    uid, self.world.now().timestamp() + ACCESS_TOKEN_TTL_S
                )
            else:
                self.api_keys[_secret(self.seed, "api-key", uid)] = uid

    def credentials(self, uid: int) -> dict[str, str] | None:
        """The demo agent's credential in the shape ``agentsync users add`` takes."""
        common = {"system": SYSTEM_NAME, "system_key": self.system_key}
        if uid in self.oauth_uids:
            client_id = f"fubclient-{uid}"
            return {
                "access_token": _secret(self.seed, "access", uid, 0),
                "refresh_token": _secret(self.seed, "refresh", uid),
                "client_id": client_id,
                "client_secret": self.clients[client_id][0],
                **common,
            }
        for key, owner in self.api_keys.items():
            if owner == uid:
                return {"api_key": key, **common}
        return None

    def account_for(self, authorization: str | None) -> int:
        """The ``user_id`` whose account the ``Authorization`` header opens, or AuthFailure."""
        if not authorization:
            raise AuthFailure("Missing API key or access token")
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                username = base64.b64decode(value.strip(), validate=True).decode().split(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                raise AuthFailure("Malformed Basic authorization header") from None
            uid = self.api_keys.get(username)
            if uid is None:
                raise AuthFailure("Invalid API key")
            return uid
        if scheme == "bearer":
            with self._lock:
                token = self.tokens.get(value.strip())
            if token is None:
                raise AuthFailure("Invalid access token")
            if self.world.now().timestamp() >= token.expires_at:
                raise AuthFailure("Access token expired")
            return token.uid
        raise AuthFailure(f"Unsupported authorization scheme {scheme!r}")

    def is_registered(self, system_key: str | None) -> bool:
        return bool(system_key) and system_key == self.system_key

    # -- OAuth --------------------------------------------------------------------------------
    def token_grant(self, authorization: str | None, form: dict[str, str]) -> tuple[int, dict]:
        """Answer a token request: (status, body)."""
        client = None
        if authorization and authorization.lower().startswith("basic "):
            try:
                raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                cid, _, secret = raw.partition(":")
                known = self.clients.get(cid)
                if known and known[0] == secret:
                    client = cid
            except (binascii.Error, UnicodeDecodeError):
                client = None
        if client is None:
            return 401, {
                "error": "invalid_client",
                "error_description": "Client authentication failed",
            }
        grant = form.get("grant_type", "")
        if grant != "refresh_token":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": f"grant_type {grant!r} is not supported here; use "
                "refresh_token",
            }
        uid = self.refresh_tokens.get(form.get("refresh_token", ""))
        if uid is None or uid != self.clients[client][1]:
            return 400, {"error": "invalid_grant", "error_description": "Unknown refresh token"}
        with self._lock:
            n = len(self.tokens)
            access = _secret(self.seed, "access", uid, n, time.monotonic_ns())
            self.tokens[access] = Token(uid, self.world.now().timestamp() + ACCESS_TOKEN_TTL_S)
        refresh = form["refresh_token"]
        return 200, {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL_S,
            "refresh_token": refresh,
        }


class RateLimiter:
    """Sliding 10-second windows per (account, context); switchable off for benchmarks."""

    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` gives seconds (monotonic); the windows are real time, not the sandbox clock
        (clients wait in real time)."""
        self.enabled = enabled
        self.clock = clock
        self._hits: dict[tuple[int, str], deque[float]] = {}
        self._lock = threading.Lock()
        self.limits: dict[str, int] = {}  # a test's lower limit per context (both key kinds)
        self.refused: dict[tuple[int, str], int] = {}  # 429s answered, per (account, context)
        self.allowed: dict[tuple[int, str], int] = {}  # requests served, per (account, context)
        self.first: dict[tuple[int, str], float] = {}  # first and last served request (clock)
        self.last: dict[tuple[int, str], float] = {}
        self.times: dict[tuple[int, str], deque[float]] = {}  # served, the latest TIMES_KEPT

    def hit(self, uid: int, context: str, registered: bool) -> tuple[bool, dict[str, str]]:
        """Count one request; returns (allowed, headers).

        Switched off (benchmarks), nothing is counted and no ``X-RateLimit-*`` headers are sent:
        an unlimited API has no budget to report, and a client that paces itself from those
        headers (as agentsync's does) must not be slowed by a limit that is not enforced.
        """
        if not self.enabled:
            return True, {}
        limit = self.limits.get(context) or LIMITS[context][0 if registered else 1]
        now = self.clock()
        with self._lock:
            q = self._hits.setdefault((uid, context), deque())
            while q and q[0] <= now - WINDOW_S:
                q.popleft()
            allowed = not self.enabled or len(q) < limit
            if allowed:
                q.append(now)
            tally = self.allowed if allowed else self.refused
            tally[(uid, context)] = tally.get((uid, context), 0) + 1
            if allowed:
                self.first.setdefault((uid, context), now)
                self.last[(uid, context)] = now
                self.times.setdefault((uid, context), deque(maxlen=TIMES_KEPT)).append(now)
            remaining = max(0, limit - len(q))
            retry = max(1, int(q[0] + WINDOW_S - now) + 1) if q and not allowed else 0
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Window": str(WINDOW_S),
            "X-RateLimit-Context": context,
        }
        if not allowed:
            headers["Retry-After"] = str(retry)
        return allowed, headers

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self.refused.clear()
            self.allowed.clear()
            self.first.clear()
            self.last.clear()
            self.times.clear()

    def report(self, times: bool = False) -> dict[str, object]:
        """What the limiter did since its last reset: served and refused (429) requests per
        ``"<account uid>:<context>"``, the seconds from each one's first to its last served
        request (``span``), the limits a test set and the window; with ``times``, when each
        served request came (the latest ``TIMES_KEPT`` per account and context)."""
        with self._lock:
            out: dict[str, object] = {
                "enabled": self.enabled,
                "limits": dict(self.limits),
                "window": WINDOW_S,
                "allowed": {f"{u}:{c}": n for (u, c), n in self.allowed.items()},
                "refused": {f"{u}:{c}": n for (u, c), n in self.refused.items()},
                "span": {f"{u}:{c}": self.last[(u, c)] - t for (u, c), t in self.first.items()},
            }
            if times:
                out["times"] = {f"{u}:{c}": list(t) for (u, c), t in self.times.items()}
            return out
