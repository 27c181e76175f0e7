"""HTTP access to reZEN's three services for one agent, over :class:`ApiClient`.

Facts: ``docs/vendors/rezen.md`` (A.n below is §n of that file).

- A.2: ``X-API-KEY`` header (Bearer is refused with 403) and a normal ``User-Agent``.
- A.4: money is parsed exactly: JSON numbers with a fraction become :class:`~decimal.Decimal`.
- A.5: 0-based ``pageNumber`` + ``pageSize``, stop when ``hasNext`` is false (falling back to an
  empty or short page when an envelope has no ``hasNext``). Each page is checked against the
  paging's invariants (:func:`page_problem`) and read again when it breaks one, so a lost page
  fails the run by name instead of passing with its records missing.
- Retries (429, 5xx, truncated bodies) are :class:`ApiClient`'s: a failed page is retried,
  never skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from agentsync import progress
from agentsync.agents import get_credentials
from agentsync.errors import IntegrationError
from agentsync.settings import Settings
from dlt_pipelines.http import ApiClient, AuthError, gate_for
from dlt_pipelines.rezen import settings as rezen_settings
from dlt_pipelines.rezen.settings import USER_AGENT

SERVICES = ("yenta", "arrakis", "keymaker")

log = logging.getLogger(__name__)


def open_client(user_id: int, settings: Settings) -> RezenClient:
    """The agent's client, with the API key of their stored credential."""
    return RezenClient(user_id, get_credentials(user_id, "rezen")["api_key"], settings)


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
        """Yield ``(records, envelope)`` page by page until ``hasNext`` is false.

        Every page is checked against the paging's own invariants before it is yielded (see
        :func:`page_problem`): the page served is the page asked for, a page that links on is
        full, and the last page holds what ``totalCount`` leaves for it. A page that breaks one
        is read again, at most ``SHORT_PAGE_REREADS`` times; still broken, the walk raises
        :class:`IntegrationError` naming the service, path and page, because the records it
        lost would otherwise pass unseen (reZEN's ``totalCount`` is only compared with what
        arrived at the end, and a lost page can take the count with it).
        """
        page_size = page_size or rezen_settings.PAGE_SIZE
        number = 0
        while True:
            query = {**(params or {}), "pageNumber": number, "pageSize": page_size}
            body = self.get(service, path, query)
            if isinstance(body, list):  # a bare list: one page
                yield body, {}
                return
            reads = 1
            while (why := page_problem(body, key, number, page_size)) is not None:
                if reads > rezen_settings.SHORT_PAGE_REREADS:
                    raise IntegrationError(
                        self.user_id,
                        "rezen",
                        f"{service} {path} page {number}: {why}; records would be lost "
                        f"(read {reads} times; the API is serving inconsistent pages)",
                    )
                log.warning(
                    "rezen %s %s for agent %s: page %s: %s; reading it again",
                    service,
                    path,
                    self.user_id,
                    number,
                    why,
                )
                body = self.get(service, path, query)
                reads += 1
            rows = body.get(key) or []
            total = body.get("totalCount")
            progress.add(len(rows), key, total if isinstance(total, int) else None)
            yield rows, body
            has_next = body.get("hasNext")
            size = served_size(body, page_size)
            if has_next is False or not rows or (has_next is None and len(rows) < size):
                return
            number += 1


def served_size(body: dict[str, Any], asked: int) -> int:
    """The page size the API used: the envelope's ``pageSize`` when it echoes a smaller one
    (an API may cap what it serves), else the size asked for."""
    echoed = body.get("pageSize")
    return echoed if isinstance(echoed, int) and 0 < echoed < asked else asked


def page_problem(body: Any, key: str, number: int, page_size: int) -> str | None:
    """What is wrong with one envelope as page ``number`` of ``page_size``, or ``None``.

    The invariants hold for any honest 0-based paging (A.5) and cost nothing extra to check:

    - ``pageNumber``, when the envelope echoes it, is the page that was asked for;
    - a page with ``hasNext: true`` holds a full page (``pageSize`` as served, when smaller) (a short page that links on
      has lost records: the next page starts after them);
    - a page with ``hasNext: false`` holds what ``totalCount`` leaves for it.
    """
    if not isinstance(body, dict):
        return f"the answer is a {type(body).__name__}, not a page envelope"
    rows = body.get(key) or []
    if not isinstance(rows, list):
        return f"{key!r} is a {type(rows).__name__}, not a list"
    served = body.get("pageNumber")
    if isinstance(served, int) and served != number:
        return f"page {served} was served for page {number}"
    page_size = served_size(body, page_size)
    has_next = body.get("hasNext")
    if has_next is True and len(rows) < page_size:
        return f"{len(rows)} of {page_size} records on a page that links to a next one"
    total = body.get("totalCount")
    if has_next is False and isinstance(total, int):
        left = max(0, total - number * page_size)
        expected = min(page_size, left)
        if len(rows) != expected:
            return (
                f"the last page holds {len(rows)} records where totalCount {total} leaves "
                f"{expected}"
            )
    return None
