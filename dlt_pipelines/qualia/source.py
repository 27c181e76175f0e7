"""The Qualia dlt source: an agent's title orders into ``raw_qualia.orders`` (append-only).

Raw shape: ``user_id``, ``order_id`` (``_id``), ``list_offset`` (position when read) and
``order`` (the order as served, JSON: nested properties, parties and progress kept as they are;
JSON numbers stored exactly by jsonb), declared in :mod:`dlt_pipelines.qualia.columns`. An order
without ``_id``, or whose fields staging casts have the wrong JSON type
(:mod:`dlt_pipelines.qualia.validate`), goes to ``ops.quarantine`` with a reason naming the
field. Rows land as typed Arrow batches copied by ``COPY`` (:mod:`dlt_pipelines.typed`;
``AGENTSYNC_TYPED_LOADS=false``: dlt's row path, the same raw). How the run is booked:
:mod:`dlt_pipelines.run`.

**The cursor: the end of the list, with a look-back of orders.** The API has no modified-since
filter, no cursor and no total (``docs/vendors/qualia.md`` §2), so a daily run re-reads the tail
of the list: from ``last_end - AGENTSYNC_QUALIA_LOOKBACK_ORDERS`` to the end (new orders appear
at the end: a replica choice, the real order is unconfirmed). An order the tail re-reads exactly
as landed (content hash, :class:`~dlt_pipelines.landed.LandedVersions`) is not landed again, so a
quiet day adds no row; dbt keeps the newest version per ``(user_id, order_id)``.

A tail read never sees a status change of an older order, so reads are periodically full:
onboarding runs always read every order, and a daily run does too when the agent's last full
read (``last_full_at``, UTC, in the resource state beside ``last_end``) is at least
``AGENTSYNC_QUALIA_FULL_REREAD_DAYS`` old (default 7; 0 = every run; an agent without a recorded
full read gets one). A full read lands every order, which also repairs raw if rows were lost
there. The state is committed with the load, so a failed full read is retried on the next run.
The kind of read is recorded in ``ops.sync_runs.cursor`` as ``<first offset>..<end offset>
full`` or ``... tail``; the offset at which the API answers an empty page is the account's order
count, the ``reported_total`` for reconciliation.

Not ``dlt.sources.incremental``: the cursor is not a value of the orders but the offset at which
the last walk ended (an order's ``list_offset`` is where it stood when read, and moves), and a
full read must land orders below it while still moving it; dlt's incremental would filter those
out and keep the largest ``list_offset``, one short of the end.

Completeness (issue 14): a page shorter than asked for that more orders follow, or an order served
twice in place of another, fails the run by name ("records would be lost"):
:func:`dlt_pipelines.qualia.client.checked_page` and the distinct-id count below.
``AGENTSYNC_QUALIA_PAGE_SIZE`` must therefore not exceed the API's own page cap (100 in the
sandbox, unconfirmed for the real API), or every page reads as short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt

from agentsync.errors import IntegrationError
from dlt_pipelines import landed
from dlt_pipelines.http import ApiClient
from dlt_pipelines.qualia import client as qualia_client
from dlt_pipelines.qualia import validate
from dlt_pipelines.qualia.columns import TABLES
from dlt_pipelines.run import EntityCounts, Quarantine
from dlt_pipelines.typed import typed_batches

SOURCE = "qualia"


@dlt.source(name=SOURCE)
def qualia_source(
    client: ApiClient,
    user_id: int,
    counts: EntityCounts,
    quarantine: Quarantine,
    force_full: bool,
    full_reread_after: timedelta,
    page_size: int,
    lookback: int,
    typed: bool,
    begun: Callable[[], Iterable[dict[str, Any]]] | None = None,
) -> Any:
    """The agent's title orders (one resource, ``orders``).

    The source is named after the agent's pipeline when it runs (``qualia_user_<id>``, see
    :func:`named_for`): that is where the resource state of every existing agent lives.

    Args:
        client: the agent's client (:func:`dlt_pipelines.qualia.client.open_client`).
        user_id: the agent; every row carries it.
        counts: filled with what the read served (rows landed, total, cursor).
        quarantine: where unusable orders go.
        force_full: read every order (an onboarding); otherwise only when one is due.
        full_reread_after: a daily run reads every order when the last full read is this old.
        page_size: orders per page. lookback: orders re-read before the last end.
        typed: land typed Arrow batches (:mod:`dlt_pipelines.typed`).
        begun: the rest of a read begun before dlt's extract (:func:`read_orders`,
            :meth:`dlt_pipelines.run.EntityLoad.land_read`), instead of reading here.
    """
    return orders(
        client,
        user_id,
        counts,
        quarantine,
        force_full,
        full_reread_after,
        page_size,
        lookback,
        typed,
        begun,
    )


def named_for(pipeline_name: str) -> Any:
    """:func:`qualia_source` whose schema (and so resource state) has the pipeline's name.

    Qualia's loads have always run in the pipeline's default schema, named after the pipeline
    (``qualia_user_<id>``); dlt keeps a source's resource state under its schema's name, so the
    source keeps that name and every agent's ``last_end`` and ``last_full_at`` stay where they
    are."""
    return qualia_source.with_args(name=pipeline_name)


@dlt.resource(
    name="orders",
    write_disposition="append",
    columns=TABLES["orders"].hints(),
    primary_key=("user_id", "order_id"),
)
def orders(
    client: ApiClient,
    user_id: int,
    counts: EntityCounts,
    quarantine: Quarantine,
    force_full: bool,
    full_reread_after: timedelta,
    page_size: int,
    lookback: int,
    typed: bool,
    begun: Callable[[], Iterable[dict[str, Any]]] | None = None,
) -> Iterator[Any]:
    """Orders from the start offset to the end of the list (offset 0 when a full read is due);
    ``primary_key``: an order's key (raw keeps every version of it, ``append``)."""
    rows = (
        begun()
        if begun
        else read_orders(
            client,
            user_id,
            counts,
            quarantine,
            force_full,
            full_reread_after,
            page_size,
            lookback,
        )
    )
    if typed:
        yield from typed_batches("orders", TABLES["orders"].hints(), rows, nested=True)
    else:
        yield from rows


def read_orders(
    client: ApiClient,
    user_id: int,
    counts: EntityCounts,
    quarantine: Quarantine,
    force_full: bool,
    full_reread_after: timedelta,
    page_size: int,
    lookback: int,
    state: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """The orders to land, read on ``state`` (the resource state, which the read updates;
    default: dlt's, inside an extract)."""
    state = dlt.current.resource_state() if state is None else state
    now = datetime.now(UTC)
    full = force_full or landed.full_read_due(state.get("last_full_at"), now, full_reread_after)
    start = 0 if full else max(0, int(state.get("last_end", 0)) - lookback)
    offset = start
    # a tail read re-reads the look-back offsets: an order exactly as landed is not landed
    # again; a full read (onboarding, the periodic re-read) lands every order
    versions = landed.LandedVersions(state, trust=not full)
    seen: set[str] = set()  # distinct _id served in this walk
    unnamed = 0  # orders served without an _id (quarantined)
    page, after = qualia_client.checked_page(client, user_id, page_size, offset)
    while page:
        for i, order in enumerate(page):
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
            digest = landed.row_digest(row)
            if versions.unchanged_since_landed(str(oid), digest):
                continue
            versions.landed(str(oid), digest)
            counts.rows += 1
            yield row
        offset += len(page)
        if after is not None:  # read to check the page: the end of the list
            break
        page, after = qualia_client.checked_page(client, user_id, page_size, offset)
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
    counts.unchanged = versions.unchanged
    counts.read = "full" if full else "tail"
    if full:
        state["last_full_at"] = now.isoformat()
    counts.reported_total = offset
    counts.cursor = f"{start}..{offset} {'full' if full else 'tail'}"
