"""Qualia dlt loads: title orders per agent over GraphQL into ``raw_qualia.orders``.

Facts (``docs/vendors/qualia.md``; C.n below is §n there): GraphQL POST with HTTP
Basic auth (C.1; 401 for a missing/badly formed header, 403 ``User is not authenticated`` for
wrong credentials); ``orders(input: {limit, offset}) { orders { ... } }`` paged by offset until an
empty list, no cursor, no total (C.2); ids are ``_id`` strings.

Raw shape: ``user_id``, ``order_id`` (``_id``), ``list_offset`` (position when read) and
``order`` (the order object as served, JSON: nested properties/parties/progress kept as is; JSON
numbers are stored exactly by jsonb). An order without ``_id``, or whose fields staging casts have
the wrong JSON type (``validate``), goes to ``ops.quarantine`` with a reason naming the field.
Rows land as typed Arrow batches copied by ``COPY`` (:mod:`dlt_pipelines.typed`; the same raw as
dlt's row path).

Incremental replacement of the legacy "today's orders" daily pull: the API has no modified-since
filter, so a daily run re-reads the tail of the list: from ``last_end - AGENTSYNC_QUALIA_
LOOKBACK_ORDERS`` to the end (new orders appear at the end — list order is [UNCONFIRMED]; the
sandbox serves creation order). Every order read in a new version is appended to raw; dbt keeps
the latest version per ``(user_id, order_id)``. A tail read does not land an order it re-reads
exactly as landed (same content hash, kept in the resource state for the newest orders read:
``LandedVersions``), so a quiet day adds no row; a full read lands every order, which also
repairs raw if rows were lost there.

A tail read never sees a status change of an older order, so reads are periodically full:
onboarding runs always read every order, and a daily run does too when the agent's last full
read (``last_full_at``, UTC, in the dlt resource state beside ``last_end``) is at least
``AGENTSYNC_QUALIA_FULL_REREAD_DAYS`` old (default 7; 0 = every run; an agent without a recorded
full read gets one). The state is committed with the load, so a failed full read is retried on
the next run. Which kind of read it was is recorded in ``ops.sync_runs.cursor`` as
``<first offset>..<end offset> full`` or ``... tail``.
The offset at which the API answers an empty page is the account's order count: that is the
``reported_total`` for reconciliation.

Completeness (issue 14): that total is only the offset the walk ended at, so it cannot show
records a page failed to serve. Two invariants of offset paging are checked instead. A page
shorter than the ``limit`` asked for is the end of the list, unless the next page (read anyway)
has orders: then records went missing from it (the client cannot tell which), so the page is read
again, at most ``SHORT_PAGE_REREADS`` times, and a re-read that is full (or the last page)
replaces it; still short, the run fails with an :class:`IntegrationError` naming the agent, the
offset and "n of <limit> orders on a page that more orders follow: records would be lost". And
every offset of the walk must have served a different order: fewer distinct ids than offsets
walked (an order served twice in place of another) fails the run the same way. Only the final short page of a normal run is
followed by the empty page the walk reads anyway, so the checks cost a normal run nothing.
``AGENTSYNC_QUALIA_PAGE_SIZE`` must therefore not exceed the API's own page cap (100 in the
sandbox, UNCONFIRMED for the real API), or every page reads as short.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import httpx
from dlt.pipeline.exceptions import PipelineStepFailed

from agentsync import progress
from agentsync.agents import get_credentials
from agentsync.contracts import EntityResult, RunKind
from agentsync.errors import IntegrationError
from agentsync.settings import Settings, get_settings
from dlt_pipelines.common import (
    LandedVersions,
    Quarantine,
    full_read_due,
    integration_error_behind,
    last_load_id,
    make_pipeline,
    pipeline_guard,
    record_sync,
    row_digest,
    run_pipeline,
)
from dlt_pipelines.http import ApiClient, ApiError, AuthError, gate_for
from dlt_pipelines.qualia import settings as q_settings
from dlt_pipelines.qualia import validate
from dlt_pipelines.qualia.columns import TABLES
from dlt_pipelines.typed import typed_batches

log = logging.getLogger(__name__)


SOURCE = "qualia"
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


def orders_resource(
    client: ApiClient,
    user_id: int,
    force_full: bool,
    full_reread_after: timedelta,
    page_size: int,
    lookback: int,
    stats: dict[str, Any],
    quarantine: Quarantine,
    typed: bool = True,
) -> Any:
    """Orders from the start offset to the end of the list (offset 0 when a full read is due);
    ``typed``: landed as typed Arrow batches (:mod:`dlt_pipelines.typed`)."""

    def gen() -> Iterator[dict[str, Any]]:
        state = dlt.current.resource_state()
        now = datetime.now(UTC)
        full = force_full or full_read_due(state.get("last_full_at"), now, full_reread_after)
        start = 0 if full else max(0, int(state.get("last_end", 0)) - lookback)
        stats["cursor_from"] = start
        stats["full_read"] = full
        offset = start
        # a tail read re-reads the look-back offsets: an order exactly as landed is not landed
        # again; a full read (onboarding, the periodic re-read) lands every order
        versions = LandedVersions(state, trust=not full)
        seen: set[str] = set()  # distinct _id served in this walk
        unnamed = 0  # orders served without an _id (quarantined)
        orders, after = checked_page(client, user_id, page_size, offset)
        while orders:
            for i, order in enumerate(orders):
                oid = order.get("_id") if isinstance(order, dict) else None
                if not oid:
                    unnamed += 1
                    quarantine.add("orders", order, "order without _id", None)
                    continue
                seen.add(str(oid))
                why = validate.problem(order)
                if why is not None:
                    quarantine.add("orders", order, why, oid)
                    continue
                row = {
                    "user_id": user_id,
                    "order_id": str(oid),
                    "list_offset": offset + i,
                    "order": order,
                }
                digest = row_digest(row)
                if versions.unchanged_since_landed(str(oid), digest):
                    continue
                versions.landed(str(oid), digest)
                stats["rows"] += 1
                yield row
            offset += len(orders)
            if after is not None:  # read to check the page: the end of the list
                break
            orders, after = checked_page(client, user_id, page_size, offset)
        if len(seen) + unnamed < offset - start:
            raise IntegrationError(
                user_id,
                SOURCE,
                f"orders at offsets {start}..{offset}: {len(seen) + unnamed} distinct orders for "
                f"{offset - start} offsets (orders served twice in place of others): records "
                "would be lost",
            )
        state["last_end"] = offset
        versions.commit()
        stats["unchanged"] = versions.unchanged
        if full:
            state["last_full_at"] = now.isoformat()
        stats["reported_total"] = offset
        stats["cursor"] = f"{start}..{offset} {'full' if full else 'tail'}"

    return dlt.resource(
        typed_batches("orders", TABLES["orders"].hints(), gen(), nested=True) if typed else gen(),
        name="orders",
        write_disposition="append",
        columns=TABLES["orders"].hints(),
    )


def run_orders(
    user_id: int, kind: RunKind, flow_run_id: str | None, settings: Settings | None = None
) -> EntityResult:
    """Load one agent's title orders; record the run in ``ops.sync_runs``."""
    settings = settings or get_settings()
    knobs = q_settings.load()
    quarantine = Quarantine(user_id, SOURCE)
    stats: dict[str, Any] = {"rows": 0, "reported_total": None}
    with record_sync(kind, user_id, SOURCE, "orders", flow_run_id) as run:
        cred = get_credentials(user_id, SOURCE)
        if not cred.get("username") or not cred.get("password"):
            raise IntegrationError(user_id, SOURCE, "credential lacks username or password")
        account = cred["username"]
        with ApiClient(
            settings.qualia_base_url,
            auth=httpx.BasicAuth(cred["username"], cred["password"]),
            gate=gate_for(f"qualia:{account}"),
            timeout=settings.http_timeout_seconds,
            max_retries=settings.http_max_retries,
        ) as client:
            resource = orders_resource(
                client,
                user_id,
                kind == "onboarding",
                timedelta(days=knobs.full_reread_days),
                knobs.page_size,
                knobs.lookback_orders,
                stats,
                quarantine,
                settings.typed_loads,
            )
            try:
                with pipeline_guard(
                    f"{SOURCE}_user_{user_id}", lambda: make_pipeline(SOURCE, user_id, settings)
                ) as pipeline:
                    info = run_pipeline(pipeline, resource)
            except PipelineStepFailed as err:
                raise integration_error_behind(err) from None
        run.load_id = last_load_id(info)
        quarantined = quarantine.flush(run.load_id)
        run.rows = stats["rows"]
        run.reported_total = stats["reported_total"]
        run.cursor = stats.get("cursor")
    log.info(
        "qualia orders for agent %s (%s read): %s rows, %s quarantined, %s re-read unchanged",
        user_id,
        "full" if stats.get("full_read") else "tail",
        run.rows,
        quarantined,
        stats.get("unchanged", 0),
    )
    return EntityResult("orders", run.rows, run.reported_total, run.cursor, quarantined)
