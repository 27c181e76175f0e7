"""FUB HTTP access for one agent: auth, per-context rate gates, `next`-cursor paging.

Paging [docs/vendors/fub.md §3.1]: every list is read with ``limit=100`` and the ``next`` token
from ``_metadata.next``; we re-send our own filters with each ``next`` rather than following
``nextLink`` blindly (docs/vendors/stack.md §1: link paginators can drop query params), and never
use ``offset`` (FUB rejects deep offsets). An empty page ends the list even if a stale ``next``
is echoed [§3.1 LIVE-OBS].

Rate limits [§4]: each FUB rate-limit context (``global``, ``events``) is counted separately by
FUB, so each gets its own :class:`~dlt_pipelines.http.RateGate`, keyed by the account's
fingerprint and shared by every run in this process (agents sharing an account share the gate).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentsync import progress
from agentsync.errors import IntegrationError
from agentsync.settings import Settings, get_settings
from dlt_pipelines.fub.auth import INTEGRATION, FubAuth
from dlt_pipelines.fub.settings import GLOBAL_CONTEXT, PAGE_LIMIT, STREAMS, Stream
from dlt_pipelines.http import ApiClient, ApiError, AuthError, gate_for

#: Places per window each context's pace leaves for calls it cannot count (RateGate.reserve).
#: ``events`` allows only 20 per 10 s [4]: 5 would leave a quarter of it unused, and no
#: ungated call goes there (the ``/identity`` probe is ``global``), so 2 (two processes joining
#: a busy account at once) is enough; ``global`` (250) keeps 5.
CONTEXT_RESERVE = {"events": 2}


@dataclass(frozen=True)
class Page:
    """One page of a list: its records and FUB's ``_metadata.total``."""

    records: list[Any]
    total: int | None


class FubClient:
    """Calls FUB for one agent. Use as a context manager (closes its HTTP pools)."""

    def __init__(self, auth: FubAuth, settings: Settings | None = None) -> None:
        self.auth = auth
        self.settings = settings or get_settings()
        auth.ensure_fresh()
        self._clients: dict[str, ApiClient] = {}
        self.fingerprint = auth.account_fingerprint()
        self.fingerprint = self._account_key()

    def _account_key(self) -> str:
        """The FUB account this credential opens (``/identity`` → ``account.id``, 2.7), cached
        per credential; agents sharing one account then share its rate gates. Falls back to the
        credential's hash when ``/identity`` cannot be read (the call itself is ungated)."""
        cred_key = self.fingerprint
        if cred_key in _ACCOUNT_KEYS:
            return _ACCOUNT_KEYS[cred_key]
        probe = ApiClient(
            self.settings.fub_base_url,
            headers=self.auth.headers(),
            auth=self.auth.httpx_auth(),
            timeout=self.settings.http_timeout_seconds,
            max_retries=self.settings.http_max_retries,
            on_auth_error=self._on_auth_error,
        )
        self._clients["_identity"] = probe
        try:
            body, _ = probe.get_json("identity")
            account_id = (body.get("account") or {}).get("id") if isinstance(body, dict) else None
        except AuthError as err:
            raise IntegrationError(
                self.auth.user_id, INTEGRATION, f"credential refused (HTTP {err.status})"
            ) from None
        except ApiError:
            account_id = None
        key = f"fub:account:{account_id}" if account_id is not None else cred_key
        _ACCOUNT_KEYS[cred_key] = key
        return key

    def _client(self, context: str) -> ApiClient:
        if context not in self._clients:
            self._clients[context] = ApiClient(
                self.settings.fub_base_url,
                headers=self.auth.headers(),
                auth=self.auth.httpx_auth(),
                gate=gate_for(
                    f"{self.fingerprint}:{context}",
                    self.settings.fub_max_concurrent_requests,
                    reserve=CONTEXT_RESERVE.get(context, 5),
                ),
                timeout=self.settings.http_timeout_seconds,
                max_retries=self.settings.http_max_retries,
                on_auth_error=self._on_auth_error,
            )
        return self._clients[context]

    def _on_auth_error(self) -> Mapping[str, str] | None:
        new = self.auth.refresh()
        if new:
            for client in self._clients.values():
                for name, value in new.items():
                    client.set_header(name, value)
        return new

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (all contexts, retries included)."""
        return sum(c.requests for c in self._clients.values())

    @property
    def retries(self) -> int:
        return sum(c.retries for c in self._clients.values())

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> FubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: Mapping[str, Any], context: str = GLOBAL_CONTEXT) -> Any:
        """GET a JSON document; a refused credential becomes :class:`IntegrationError`."""
        try:
            body, _ = self._client(context).get_json(path, params)
        except AuthError as err:
            raise IntegrationError(
                self.auth.user_id, INTEGRATION, f"credential refused (HTTP {err.status})"
            ) from None
        return body

    def post(self, path: str, body: Any) -> Any:
        """POST JSON (e.g. webhook registration); a refused credential is an IntegrationError."""
        try:
            answer, _ = self._client(GLOBAL_CONTEXT).request_json("POST", path, json_body=body)
        except AuthError as err:
            raise IntegrationError(
                self.auth.user_id, INTEGRATION, f"credential refused (HTTP {err.status})"
            ) from None
        return answer

    def pages(self, stream: Stream, params: Mapping[str, Any] | None = None) -> Iterator[Page]:
        """Every page of ``stream`` with the given filters, following the ``next`` cursor."""
        query: dict[str, Any] = {**stream.params, **(params or {}), "limit": PAGE_LIMIT}
        while True:
            body = self.get(stream.path, query, stream.context)
            if not isinstance(body, dict):
                raise ApiError("GET", stream.path, 200, "list response is not a JSON object")
            meta = body.get("_metadata") or {}
            records = _collection(body, stream.key)
            total = meta.get("total")
            page = Page(
                records,
                int(total) if isinstance(total, int | str) and str(total).isdigit() else None,
            )
            progress.add(len(records), stream.name, page.total)
            yield page
            token = meta.get("next")
            if not records or not token:
                return
            query = {**query, "next": token}

    def total(self, stream: Stream, params: Mapping[str, Any] | None = None) -> int | None:
        """``_metadata.total`` for a filter, with one tiny request (``fields=id&limit=1``)."""
        query = {**stream.params, **(params or {}), "fields": "id", "limit": 1}
        body = self.get(stream.path, query, stream.context)
        total = (body.get("_metadata") or {}).get("total") if isinstance(body, dict) else None
        return int(total) if isinstance(total, int) else None


_ACCOUNT_KEYS: dict[str, str] = {}


def _collection(body: dict[str, Any], key: str) -> list[Any]:
    """The records of a list envelope (key per docs/vendors/fub.md; falls back to the one list)."""
    if isinstance(body.get(key), list):
        return body[key]
    lists = [v for k, v in body.items() if k != "_metadata" and isinstance(v, list)]
    if len(lists) == 1:
        return lists[0]
    raise ApiError("GET", key, 200, f"list response has no {key!r} collection")


__all__ = ["STREAMS", "FubClient", "Page"]
