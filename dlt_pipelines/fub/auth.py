"""Per-agent FUB authentication: API key (HTTP Basic) or OAuth bearer with refresh.

- API key: sent as the Basic-auth username with a blank password [docs/vendors/fub.md §1.2].
- OAuth: ``Authorization: Bearer <access_token>``; on a 401 (or a stored ``expires_at`` in the
  past) the token is refreshed at ``AGENTSYNC_FUB_OAUTH_TOKEN_URL`` with
  ``grant_type=refresh_token`` and Basic client credentials [§1.4, body fields UNCONFIRMED]. The
  new tokens are stored back encrypted via :func:`agentsync.agents.update_credential_fields`.
- ``X-System`` / ``X-System-Key`` identify this software on every request [§1.3].

Secrets live only in headers and the encrypted store; no message here ever contains one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from agentsync import agents
from agentsync.errors import IntegrationError, NotFoundError
from agentsync.settings import Settings, get_settings

log = logging.getLogger(__name__)
INTEGRATION = "fub"
EXPIRY_MARGIN_SECONDS = 60


@dataclass
class FubAuth:
    """What an agent's run needs to call FUB: static headers, auth and a refresh hook."""

    user_id: int
    settings: Settings
    credential: dict[str, str] = field(repr=False)
    refreshes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mode(self) -> str:
        return "api_key" if self.credential.get("api_key") else "oauth"

    @property
    def system_key(self) -> str | None:
        """The registered system key (per-agent override, else the setting)."""
        if self.credential.get("system_key"):
            return self.credential["system_key"]
        key = self.settings.fub_system_key
        return key.get_secret_value() if key else None

    def headers(self) -> dict[str, str]:
        out = {"X-System": self.credential.get("system") or self.settings.fub_system}
        if self.system_key:
            out["X-System-Key"] = self.system_key
        if self.mode == "oauth":
            out["Authorization"] = f"Bearer {self.credential['access_token']}"
        return out

    def httpx_auth(self) -> httpx.Auth | None:
        if self.mode == "api_key":
            return httpx.BasicAuth(self.credential["api_key"], "")
        return None

    def account_fingerprint(self) -> str:
        """A non-secret key for the account's rate gate (a hash; never the secret itself)."""
        basis = self.credential.get("api_key") or self.credential.get("client_id") or ""
        basis = basis or self.credential.get("refresh_token", "")
        return "fub:" + hashlib.sha256(basis.encode()).hexdigest()[:16]

    def ensure_fresh(self) -> None:
        """Refresh an OAuth token that is known to be expired before using it."""
        if self.mode != "oauth":
            return
        expires = self.credential.get("expires_at")
        try:
            expired = expires is not None and float(expires) - EXPIRY_MARGIN_SECONDS < time.time()
        except ValueError:
            expired = False
        if expired:
            self.refresh()

    def refresh(self) -> dict[str, str] | None:
        """Exchange the refresh token for a new access token; store it; return new headers.

        Returns None for API-key credentials (nothing to refresh: the key was refused).

        Raises:
            IntegrationError: the token endpoint refused, or no client id/secret is stored.
        """
        if self.mode != "oauth":
            return None
        with self._lock:
            cid, secret = self.credential.get("client_id"), self.credential.get("client_secret")
            if not cid or not secret:
                raise IntegrationError(
                    self.user_id,
                    INTEGRATION,
                    "OAuth access token refused and no client_id/client_secret stored to refresh it",
                )
            try:
                resp = httpx.post(
                    self.settings.fub_oauth_token_url,
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": self.credential["refresh_token"],
                    },
                    auth=(cid, secret),
                    timeout=self.settings.http_timeout_seconds,
                )
            except httpx.HTTPError as err:
                raise IntegrationError(
                    self.user_id, INTEGRATION, f"OAuth refresh failed: {type(err).__name__}"
                ) from None
            if resp.status_code != 200:
                raise IntegrationError(
                    self.user_id,
                    INTEGRATION,
                    f"OAuth refresh refused by the token endpoint (HTTP {resp.status_code})",
                )
            try:
                body = resp.json()
                access = str(body["access_token"])
            except (ValueError, KeyError, TypeError):
                raise IntegrationError(
                    self.user_id, INTEGRATION, "OAuth refresh answered without an access_token"
                ) from None
            changes = {
                "access_token": access,
                "refresh_token": str(body.get("refresh_token") or self.credential["refresh_token"]),
            }
            if body.get("expires_in"):
                changes["expires_at"] = str(int(time.time() + float(body["expires_in"])))
            agents.update_credential_fields(self.user_id, INTEGRATION, changes)
            self.credential.update(changes)
            self.refreshes += 1
            log.info("agent %s: FUB OAuth token refreshed", self.user_id)
            return {"Authorization": f"Bearer {access}"}


_WARNED_NO_SYSTEM_KEY: set[tuple[int, str | None]] = set()
_WARNED_LOCK = threading.Lock()


def warn_without_system_key(auth: FubAuth, flow_run_id: str | None) -> bool:
    """Log once per (agent, flow run) that FUB is called without ``X-System-Key``; warned?

    FUB allows an unregistered system fewer requests [docs/vendors/fub.md §1.3], so a long run
    that is slow for that reason says so once, rather than on every step or never. A run outside
    a flow (``flow_run_id`` None) warns once per process and agent.
    """
    if auth.system_key:
        return False
    key = (auth.user_id, flow_run_id)
    with _WARNED_LOCK:
        if key in _WARNED_NO_SYSTEM_KEY:
            return False
        _WARNED_NO_SYSTEM_KEY.add(key)
    log.warning(
        "agent %s: FUB is called without X-System-Key (set AGENTSYNC_FUB_SYSTEM_KEY or the "
        "credential's system_key): FUB gives an unregistered system lower rate limits",
        auth.user_id,
    )
    return True


def load_auth(user_id: int, settings: Settings | None = None) -> FubAuth:
    """The agent's FUB auth from its stored (encrypted) credential.

    Raises:
        IntegrationError: the agent has no FUB credential.
    """
    settings = settings or get_settings()
    try:
        cred = agents.get_credentials(user_id, INTEGRATION)
    except NotFoundError:
        raise IntegrationError(user_id, INTEGRATION, "no FUB credential stored") from None
    return FubAuth(user_id=user_id, settings=settings, credential=dict(cred))


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to show (auth and system key replaced)."""
    hidden = {"authorization", "x-system-key"}
    return {k: ("***" if k.lower() in hidden else v) for k, v in headers.items()}
