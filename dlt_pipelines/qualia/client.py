"""Qualia API access for one agent: the orders query, one page of it, and offset paging's check.

What the API is and how it pages: ``docs/vendors/qualia.md`` §1 (GraphQL over ``POST``, HTTP
Basic auth; a bad password answers 403) and §2 (``orders(input: {limit, offset})`` paged by
offset until an empty list; no cursor, no total).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from agentsync import progress
from agentsync.agents import get_credentials
from agentsync.errors import IntegrationError
from agentsync.settings import Settings
from dlt_pipelines.http import ApiClient, ApiError, AuthError, gate_for

log = logging.getLogger(__name__)

SOURCE = "qualia"
#: how many times a short page that more orders follow is read again before the run fails
SHORT_PAGE_REREADS = 2
ORDERS_QUERY = """
query GetOrders($limit: Int, $offset: Int) {
  orders(input: {limit: $limit, offset: $offset}) {
    orders {
      _id order_number status open_date close_date purchase_price loan_amount loan_type cash_only
      external_reference_number orderer_id settlement_agency_name settlement_agency_id
      properties { address_line_1 address_line_2 city state zipcode county }
      parties {
        borrowers { _id first_name last_name cell_phone email }
        sellers { _id first_name last_name cell_phone email }
      }
      progress { current_stage current_stage_key }
    }
  }
}
"""


def open_client(user_id: int, settings: Settings) -> ApiClient:
    """The agent's client (HTTP Basic with their credential, paced per Qualia account).

    Raises:
        IntegrationError: the credential lacks a username or password.
    """
    cred = get_credentials(user_id, SOURCE)
    if not cred.get("username") or not cred.get("password"):
        raise IntegrationError(user_id, SOURCE, "credential lacks username or password")
    return ApiClient(
        settings.qualia_base_url,
        auth=httpx.BasicAuth(cred["username"], cred["password"]),
        gate=gate_for(f"qualia:{cred['username']}"),
        timeout=settings.http_timeout_seconds,
        max_retries=settings.http_max_retries,
    )


def fetch_page(client: ApiClient, user_id: int, limit: int, offset: int) -> list[Any]:
    """One page of orders; refused credentials become :class:`IntegrationError`."""
    try:
        body, _ = client.request_json(
            "POST",
            client.base_url,
            json_body={"query": ORDERS_QUERY, "variables": {"limit": limit, "offset": offset}},
        )
    except AuthError as err:
        reason = "refused the credentials" if err.status == 403 else "rejected the authorization"
        raise IntegrationError(
            user_id, SOURCE, f"Qualia {reason} ({err.status}): check the username and password"
        ) from None
    if not isinstance(body, dict):
        raise ApiError("POST", client.base_url, 200, "expected a JSON object")
    if body.get("errors"):
        messages = "; ".join(str(e.get("message")) for e in body["errors"] if isinstance(e, dict))
        raise ApiError("POST", client.base_url, 200, f"GraphQL errors: {messages[:300]}")
    orders = ((body.get("data") or {}).get("orders") or {}).get("orders")
    if not isinstance(orders, list):
        raise ApiError("POST", client.base_url, 200, "expected data.orders.orders to be a list")
    return orders


def checked_page(
    client: ApiClient, user_id: int, page_size: int, offset: int
) -> tuple[list[Any], list[Any] | None]:
    """The page at ``offset``, checked against offset paging's invariant, and the page after it
    when that was read for the check (``None`` otherwise).

    A page shorter than ``page_size`` must be the last one: the page after it is read (the walk
    reads it anyway) and must be empty. If it has orders, the short page lost some; it is read
    again, at most ``SHORT_PAGE_REREADS`` times, until it is full or the last one; still short,
    :class:`IntegrationError` (its missing orders would be lost).
    """
    orders = fetch_page(client, user_id, page_size, offset)
    reads = 1
    while 0 < len(orders) < page_size:
        after = fetch_page(client, user_id, page_size, offset + len(orders))
        if not after:
            progress.add(len(orders), "orders")
            return orders, after  # the end of the list
        if reads > SHORT_PAGE_REREADS:
            raise IntegrationError(
                user_id,
                SOURCE,
                f"orders page at offset {offset}: {len(orders)} of {page_size} orders on a page "
                f"that more orders follow: records would be lost (read {reads} times; the API "
                "is serving inconsistent pages)",
            )
        log.warning(
            "qualia orders for agent %s: offset %s served %s of %s orders but more follow; "
            "reading it again",
            user_id,
            offset,
            len(orders),
            page_size,
        )
        orders = fetch_page(client, user_id, page_size, offset)
        reads += 1
    progress.add(len(orders), "orders")
    return orders, None
