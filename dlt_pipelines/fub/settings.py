"""Constants of the Follow Up Boss source (streams, paging, cursors); URLs are agentsync settings.

Facts cited from ``docs/vendors/fub.md`` (its section numbers in brackets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# [3.1] max limit is 100; we always page with the `next` cursor, never with offsets.
PAGE_LIMIT = 100
# Pages a cursor stream's walk fetches ahead of the rows being checked and converted
# (dlt_pipelines.readahead): more than the 50 pages of one typed batch (5,000 rows), so the walk
# goes on while a batch converts. At most this many pages (~1-2 MB of rows) wait in memory.
READ_AHEAD_PAGES = 60
# Incremental windows re-read this many seconds before the stored watermark: FUB timestamps have
# second resolution and whether `updatedAfter` is strict is UNCONFIRMED [3.3], so a record updated
# in the same second as the last one we saw is asked for again. Kept at one second so a quiet
# day re-reads almost nothing; what it re-reads exactly as landed is not landed again (the
# source keeps those records' content hashes in stream state, ``source.boundary``).
CURSOR_LOOKBACK_SECONDS = 1
# Deals have only `createdAt` [2.2]: incremental runs use createdAfter, and a full re-read of
# deals happens when the last one is older than this (updates to old deals arrive then, or by
# webhook `dealsUpdated`).
DEALS_FULL_REREAD_DAYS = 7
# [4] the `events` GET context has its own, much smaller limit than `global`.
EVENTS_CONTEXT = "events"
GLOBAL_CONTEXT = "global"


@dataclass(frozen=True)
class Stream:
    """One FUB collection as this source reads it.

    Attributes:
        name: entity / raw table name (``people``, ``text_messages``...).
        path: URL path below the base URL.
        key: the collection key in the list envelope.
        id_field: vendor id field.
        cursor_field: field used as the incremental watermark (None: full read every run).
        cursor_param: the query parameter taking the watermark.
        params: fixed query parameters.
        context: FUB rate-limit context [4].
    """

    name: str
    path: str
    key: str
    id_field: str = "id"
    cursor_field: str | None = None
    cursor_param: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    context: str = GLOBAL_CONTEXT


STREAMS: dict[str, Stream] = {
    # [2.1] trash is hidden by default; custom fields need fields=allFields.
    "people": Stream(
        "people",
        "people",
        "people",
        cursor_field="updated",
        cursor_param="updatedAfter",
        params={"includeTrash": "true", "fields": "allFields"},
    ),
    # [2.2] no `updated` on deals: createdAfter + periodic full re-read (DEALS_FULL_REREAD_DAYS).
    "deals": Stream(
        "deals", "deals", "deals", cursor_field="createdAt", cursor_param="createdAfter"
    ),
    # [2.3] events are append-mostly; own rate-limit context.
    "events": Stream(
        "events",
        "events",
        "events",
        cursor_field="created",
        cursor_param="createdAfter",
        context=EVENTS_CONTEXT,
    ),
    "calls": Stream("calls", "calls", "calls", cursor_field="updated", cursor_param="updatedAfter"),
    "appointments": Stream(
        "appointments",
        "appointments",
        "appointments",
        cursor_field="updated",
        cursor_param="updatedAfter",
    ),
    # [2.6] listed per person only (personId is mandatory); key is lower-case in the docs.
    "text_messages": Stream("text_messages", "textMessages", "textmessages"),
    "users": Stream("users", "users", "users"),
    "stages": Stream("stages", "stages", "stages"),
    "pipelines": Stream("pipelines", "pipelines", "pipelines"),
    "groups": Stream("groups", "groups", "groups"),
}

REFERENCE_STREAMS = ("users", "stages", "pipelines", "groups")
ACTIVITY_STREAMS = ("deals", "events", "calls", "appointments", "text_messages")
# Entities whose id set is reconciled by the deletions step (text messages are per person and
# too expensive to enumerate: their deletions arrive by webhook only).
RECONCILED_STREAMS = ("people", "deals", "events", "calls", "appointments")

# Webhook event name prefix -> stream [5.2].
WEBHOOK_PREFIXES: dict[str, str] = {
    "people": "people",
    "deals": "deals",
    "events": "events",
    "calls": "calls",
    "appointments": "appointments",
    "textMessages": "text_messages",
    "stage": "stages",
    "pipeline": "pipelines",
}
