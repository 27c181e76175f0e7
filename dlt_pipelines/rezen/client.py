"""HTTP access to reZEN's three services for one agent, over :class:`ApiClient`.

- A.2: ``X-API-KEY`` header (Bearer is refused with 403) and a normal ``User-Agent``.
- A.4: money is parsed exactly: JSON numbers with a fraction become :class:`~decimal.Decimal`.
- A.5: 0-based ``pageNumber`` + ``pageSize``, stop when ``hasNext`` is false (falling back to an
  empty or short page when an envelope has no ``hasNext``).
- Retries (429, 5xx, truncated bodies) are :class:`ApiClient`'s: a failed page is retried,
  never skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from agentsync.errors import IntegrationError
from agentsync.settings import Settings
from dlt_pipelines.http import ApiClient, AuthError, gate_for
from dlt_pipelines.rezen import settings as rezen_settings
from dlt_pipelines.rezen.settings import USER_AGENT

SERVICES = ("yenta", "arrakis", "keymaker")


class RezenClient:
    """One agent's view of yenta, arrakis and keymaker (base URLs from settings)."""

    def __init__(self, user_id: int, api_key: str, settings: Settings) -> None:
        self.user_id = user_id
        headers = {"X-API-KEY": api_key, "User-Agent": USER_AGENT, "Accept": "application/json"}
        gate = gate_for(f"rezen:user:{user_id}")
        bases = {
            "yenta": settings.rezen_yenta_url,
            "arrakis": settings.rezen_arrakis_url,
            "keymaker": settings.rezen_keymaker_url,
        }
        self._clients = {
            name: ApiClient(
                url,
                headers=headers,
                gate=gate,
                timeout=settings.http_timeout_seconds,
                max_retries=settings.http_max_retries,
            )
            for name, url in bases.items()
        }

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> RezenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self._clients.values())

    @property
    def retries(self) -> int:
        return sum(c.retries for c in self._clients.values())

    def get(self, service: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and parse JSON with exact decimals; a refused key raises IntegrationError."""
        client = self._clients[service]
        try:
            _, resp = client.get_json(path, params=params)
        except AuthError as err:
            raise IntegrationError(
                self.user_id, "rezen", f"{service} refused the API key ({err.status})"
            ) from None
        return json.loads(resp.content, parse_float=Decimal)

    def pages(
        self,
        service: str,
        path: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
        """Yield ``(records, envelope)`` page by page until ``hasNext`` is false."""
        page_size = page_size or rezen_settings.PAGE_SIZE
        number = 0
        while True:
            body = self.get(
                service, path, {**(params or {}), "pageNumber": number, "pageSize": page_size}
            )
            if isinstance(body, list):  # a bare list: one page
                yield body, {}
                return
            rows = body.get(key) or []
            yield rows, body
            has_next = body.get("hasNext")
            if has_next is False or not rows or (has_next is None and len(rows) < page_size):
                return
            number += 1
