"""SkySlope TM API access for one agent: HMAC login and session renewal, and list paging.

``docs/vendors/skyslope.md`` §2 [OFFICIAL sample] (B.n below is §n of that file):
``timestamp`` = UTC ISO-8601 without millis, ``hmac = base64(HMAC_SHA256(access_secret,
"client_id:client_secret:timestamp"))``, ``POST /auth/login`` with ``Authorization: SS
access_key:hmac`` and ``Timestamp``, body ``{"ClientId", "ClientSecret"}`` → ``{"Session",
"Expiration"}``; later calls send ``Session``.

Renewal: ``Expiration`` is written without a timezone (B.4) and the server's clock may differ
from ours, so the client does not trust it for scheduling; it renews **reactively**: a 401 on any
call logs in again and retries that same request once (``ApiClient(on_auth_error=...)``), so a
session that dies mid-run costs no page.

Paging (B.3): lists are 10 rows per page, 1-based ``pageNumber``; another page follows when
``links`` has ``rel: "next"`` (a response without ``links`` ends at a short page); at most
``MAX_PAGES`` pages per window. The API reports no total, so a page that silently lost rows
would pass as complete; the paging's own invariant is checked instead (:func:`list_page`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agentsync import progress
from agentsync.agents import get_credentials
from agentsync.errors import IntegrationError
from agentsync.settings import Settings
from dlt_pipelines.http import ApiClient, ApiError, AuthError, gate_for

log = logging.getLogger(__name__)

SOURCE = "skyslope"
PAGE_SIZE = 10
#: how many times a short page that links to a next one is read again before the run fails
SHORT_PAGE_REREADS = 2
MAX_PAGES = 1000

REQUIRED = ("access_key", "access_secret", "client_id", "client_secret")

# Live sessions of this process, reused across steps while the server accepts them: key = base URL
# + a hash of the whole credential (a rotated credential never reuses an old session).
_sessions: dict[str, str] = {}
_sessions_lock = threading.Lock()


def sign(access_secret: str, client_id: str, client_secret: str, timestamp: str) -> str:
    """The login signature (B.2)."""
    msg = f"{client_id}:{client_secret}:{timestamp}".encode()
    return base64.b64encode(hmac.new(access_secret.encode(), msg, hashlib.sha256).digest()).decode()


class SkySlopeClient:
    """One agent's SkySlope connection: an :class:`ApiClient` carrying a live ``Session``.

    Args:
        user_id: the platform agent (named in errors).
        credential: ``access_key``, ``access_secret``, ``client_id``, ``client_secret``.
        settings: agentsync settings (base URL, timeouts, retries).
    """

    def __init__(self, user_id: int, credential: Mapping[str, str], settings: Settings) -> None:
        missing = [k for k in REQUIRED if not credential.get(k)]
        if missing:
            raise IntegrationError(user_id, "skyslope", f"credential lacks {', '.join(missing)}")
        self.user_id = user_id
        self._cred = dict(credential)
        self.logins = 0
        account = hashlib.sha256(self._cred["access_key"].encode()).hexdigest()[:16]
        common = {
            "timeout": settings.http_timeout_seconds,
            "max_retries": settings.http_max_retries,
            "gate": gate_for(f"skyslope:{account}"),
        }
        fingerprint = json.dumps([settings.skyslope_base_url, *(self._cred[k] for k in REQUIRED)])
        self._session_key = hashlib.sha256(fingerprint.encode()).hexdigest()
        self._auth_api = ApiClient(settings.skyslope_base_url, **common)
        self.api = ApiClient(settings.skyslope_base_url, on_auth_error=self._renew, **common)

    def login(self) -> str:
        """Log in; raise :class:`IntegrationError` (no secret in it) when refused."""
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        c = self._cred
        signature = sign(c["access_secret"], c["client_id"], c["client_secret"], ts)
        try:
            body, _ = self._auth_api.request_json(
                "POST",
                "/auth/login",
                json_body={"ClientId": c["client_id"], "ClientSecret": c["client_secret"]},
                headers={"Authorization": f"SS {c['access_key']}:{signature}", "Timestamp": ts},
            )
        except AuthError as err:
            raise IntegrationError(
                self.user_id,
                "skyslope",
                f"login refused ({err.status}): check the access key/secret and client id/secret",
            ) from None
        except ApiError as err:
            raise IntegrationError(self.user_id, "skyslope", f"login failed: {err}") from None
        session = body.get("Session") if isinstance(body, dict) else None
        if not session:
            raise IntegrationError(self.user_id, "skyslope", "login answered without a Session")
        self.logins += 1
        self.api.set_header("Session", session)
        with _sessions_lock:
            _sessions[self._session_key] = session
        return session

    def ensure_session(self) -> None:
        """Reuse this process's live session for the credential, else log in.

        A reused session that has expired meanwhile costs one 401, answered by a new login
        (``on_auth_error``) and a retry of the same request.
        """
        with _sessions_lock:
            session = _sessions.get(self._session_key)
        if session:
            self.api.set_header("Session", session)
        else:
            self.login()

    def _renew(self) -> dict[str, str]:
        return {"Session": self.login()}

    def get(self, path: str, params: Mapping[str, object] | None = None) -> dict:
        """GET a JSON object; auth failures after one renewal become :class:`IntegrationError`."""
        try:
            body, _ = self.api.get_json(path, params=params)
        except AuthError as err:
            raise IntegrationError(
                self.user_id, "skyslope", f"refused after renewing the session: {err}"
            ) from None
        if not isinstance(body, dict):
            raise ApiError("GET", path, 200, "expected a JSON object")
        return body

    def close(self) -> None:
        self._auth_api.close()
        self.api.close()

    def __enter__(self) -> SkySlopeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_client(user_id: int, settings: Settings) -> SkySlopeClient:
    """The agent's client, logged in (a refused credential raises :class:`IntegrationError`)."""
    client = SkySlopeClient(user_id, get_credentials(user_id, SOURCE), settings)
    try:
        client.ensure_session()
    except BaseException:
        client.close()
        raise
    return client


def rows_of(body: dict[str, Any], key: str, path: str) -> list[Any]:
    """The ``value.<key>`` list of a response (an :class:`ApiError` when it is not a list)."""
    value = body.get("value")
    rows = value.get(key) if isinstance(value, dict) else None
    if not isinstance(rows, list):
        raise ApiError("GET", path, 200, f"expected value.{key} to be a list")
    return rows


def has_next(body: dict[str, Any], rows: list[Any]) -> bool:
    """Another page follows: ``links`` has ``rel: "next"``; without links, a full page (B.3)."""
    links = body.get("links")
    if isinstance(links, list):
        return any(isinstance(link, dict) and link.get("rel") == "next" for link in links)
    return len(rows) >= PAGE_SIZE


def list_page(
    client: SkySlopeClient,
    user_id: int,
    entity: str,
    path: str,
    params: dict[str, Any],
) -> tuple[dict[str, Any], list[Any]]:
    """One list page whose paging holds: a page that links to a next one has ``PAGE_SIZE`` rows.

    A short page that links on is read again, at most ``SHORT_PAGE_REREADS`` times (only then:
    a normal run costs nothing extra); still short, it raises :class:`IntegrationError` naming
    the agent, entity and page (its rows would be lost: the next page starts after them). The
    last page of a listing is short by nature and cannot be checked.
    """
    body = client.get(path, params)
    rows = rows_of(body, entity, path)
    reads = 1
    while len(rows) < PAGE_SIZE and has_next(body, rows):
        if reads > SHORT_PAGE_REREADS:
            raise IntegrationError(
                user_id,
                SOURCE,
                f"{entity} page {params['pageNumber']} (earliestDate={params['earliestDate']}): "
                f"{len(rows)} of {PAGE_SIZE} rows on a page that links to a next one: records "
                f"would be lost (read {reads} times; the API is serving inconsistent pages)",
            )
        log.warning(
            "skyslope %s for agent %s: page %s has %s of %s rows but links to a next one; "
            "reading it again",
            entity,
            user_id,
            params["pageNumber"],
            len(rows),
            PAGE_SIZE,
        )
        body = client.get(path, params)
        rows = rows_of(body, entity, path)
        reads += 1
    progress.add(len(rows), entity)
    return body, rows
