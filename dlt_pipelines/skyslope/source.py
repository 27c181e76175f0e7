"""The SkySlope dlt source: an agent's account users, listings and sales into ``raw_skyslope``.

Raw shape (append-only, every fetched version; dedupe happens in dbt), declared in
:mod:`dlt_pipelines.skyslope.columns`:

- ``raw_skyslope.users``: ``user_id``, ``user_guid``, ``record`` (the user object as served, JSON).
- ``raw_skyslope.listings`` / ``raw_skyslope.sales``: ``user_id``, ``listing_guid`` /
  ``sale_guid``, ``modified_on`` (the vendor's text, untouched), ``file`` (the full file from
  ``GET /api/files/{kind}/{guid}``, JSON) and ``summary`` (the list row, JSON).

The whole vendor object is kept as one JSON column because SkySlope's file shape is wide and
variable, and because its quirks (``docs/vendors/skyslope.md`` §4: dates without a timezone,
``0001-01-01`` null dates, control characters) must survive untouched into raw: staging SQL
cleans them (``dbt_project/macros/skyslope/skyslope_quirks.sql``), never this source. New vendor
fields land in the JSON without breaking the load. A list row, file or user whose fields have the
wrong JSON type (:mod:`dlt_pipelines.skyslope.validate`) goes to ``ops.quarantine`` with a
reason naming the field. Rows land as typed Arrow batches copied by ``COPY``
(:mod:`dlt_pipelines.typed`; the same raw as dlt's row path). How the run is booked:
:mod:`dlt_pipelines.run`; paging and its completeness check:
:func:`dlt_pipelines.skyslope.client.list_page`.

**Users** are read in full every run (the API serves them unpaged; an answer that links to a next
page fails the run, since only its first page would be read). A user exactly as last landed
(:class:`~dlt_pipelines.landed.LandedVersions`) is not landed again, except on an onboarding.

**Listings and sales: a modified-date window.** Incremental loads send ``earliestDate`` (Unix
seconds) = newest ``modifiedOn`` seen minus ``AGENTSYNC_SKYSLOPE_WINDOW_LAG_HOURS``; onboarding
runs read everything (``earliestDate=0``). That ``earliestDate`` filters on the modified date is
unconfirmed (``docs/vendors/skyslope.md`` §3). A window cannot count the account (the API
reports no totals), so a daily run lists the whole account again when the last full listing
(``last_full_at`` in the resource state) is ``AGENTSYNC_SKYSLOPE_FULL_REREAD_DAYS`` old
(default 7): the listed count becomes the run's ``reported_total`` for the count checks. A window
and a recount fetch in full only the files that raw does not hold in the version listed (guid +
``modifiedOn``, :func:`loaded_versions`): a recount costs list pages, not file reads, and a quiet
day's window (which re-lists the lag hours) lands nothing. An onboarding fetches every file. A
guid listed twice in one walk (the list shifted under it) is counted once and logged. The API
pages at most ``MAX_PAGES`` pages of 10 per query, so a window it cannot page to its end (an
account of more than 10,000 files) is split in two at the median modified date of the rows it
listed (:func:`split_window`, adding ``latestDate``) until each part lists whole; a file fetched
before a split is not fetched again.

Not ``dlt.sources.incremental``: the cursor is ``modifiedOn`` parsed with a configured timezone
(the vendor writes it without one) while raw keeps the vendor's text; it must never move back
(a recount lists everything but fetches only some files, maybe only older ones); and onboarding
and recount reads must land files below it. dlt's incremental compares the landed value as it is
and drops rows below its start value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dlt
from sqlalchemy import text

from agentsync import db
from agentsync.errors import IntegrationError
from dlt_pipelines import landed
from dlt_pipelines.http import ApiError
from dlt_pipelines.run import EntityCounts, Quarantine
from dlt_pipelines.skyslope import validate
from dlt_pipelines.skyslope.client import (
    MAX_PAGES,
    SkySlopeClient,
    has_next,
    list_page,
    rows_of,
)
from dlt_pipelines.skyslope.columns import TABLES
from dlt_pipelines.typed import typed_batches

log = logging.getLogger(__name__)

SOURCE = "skyslope"
#: raw table (and entity) -> the kind of file it holds
FILE_KINDS = {"sales": "sale", "listings": "listing"}


@dlt.source(name=SOURCE)
def skyslope_source(
    client: SkySlopeClient,
    user_id: int,
    counts: dict[str, EntityCounts],
    quarantine: Quarantine,
    full: bool,
    naive_tz: ZoneInfo,
    lag_seconds: float,
    reread_after: timedelta,
    typed: bool,
    begun: dict[str, Callable[[], Iterable[dict[str, Any]]]] | None = None,
) -> Any:
    """The agent's ``users``, ``listings`` and ``sales`` (select one with ``with_resources``).

    The source is named after the agent's pipeline when it runs (:func:`named_for`): that is
    where every existing agent's resource state lives.

    Args:
        client: the agent's logged-in client (:func:`dlt_pipelines.skyslope.client.open_client`).
        user_id: the agent; every row carries it.
        counts: per entity, filled with what the read served.
        quarantine: where unusable records go.
        full: an onboarding: read and land everything.
        naive_tz: the timezone of SkySlope's zone-less datetimes (for the cursor only).
        lag_seconds: the window's look-back before the newest ``modifiedOn`` seen.
        reread_after: a daily run lists the whole account when the last full listing is this old.
        typed: land typed Arrow batches (:mod:`dlt_pipelines.typed`).
        begun: per entity, the rest of a read begun before dlt's extract (:func:`read`,
            :meth:`dlt_pipelines.run.EntityLoad.land_read`); the other entities read here.
    """
    begun = begun or {}
    yield users(client, user_id, counts.get("users"), quarantine, full, typed, begun.get("users"))
    for entity in FILE_KINDS:
        yield files(
            client,
            user_id,
            entity,
            counts.get(entity),
            quarantine,
            full,
            naive_tz,
            lag_seconds,
            reread_after,
            typed,
            begun.get(entity),
        )


def read(
    entity: str,
    client: SkySlopeClient,
    user_id: int,
    counts: EntityCounts,
    quarantine: Quarantine,
    full: bool,
    naive_tz: ZoneInfo,
    lag_seconds: float,
    reread_after: timedelta,
    state: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """One entity's rows, read on ``state`` (its resource state, which the read updates)."""
    if entity == "users":
        return _users(client, user_id, counts, quarantine, full, state)
    return _files(
        client,
        user_id,
        entity,
        counts,
        quarantine,
        full,
        naive_tz,
        lag_seconds,
        reread_after,
        state,
    )


def named_for(pipeline_name: str) -> Any:
    """:func:`skyslope_source` whose schema (and so resource state) has the pipeline's name.

    SkySlope's loads have always run in the pipeline's default schema, named after the pipeline
    (``skyslope_user_<id>``); dlt keeps a source's resource state under its schema's name, so the
    source keeps that name and every agent's windows stay where they are."""
    return skyslope_source.with_args(name=pipeline_name)


def parse_vendor_time(value: Any, naive_tz: ZoneInfo) -> datetime | None:
    """A SkySlope datetime as an aware datetime (only for the cursor; raw keeps the text)."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive_tz)


def users(
    client: SkySlopeClient,
    user_id: int,
    counts: EntityCounts | None,
    quarantine: Quarantine,
    full: bool,
    typed: bool,
    begun: Callable[[], Iterable[dict[str, Any]]] | None = None,
) -> Any:
    """``raw_skyslope.users``: every user of the agent's account, those changed since last landed
    (all on an onboarding); ``primary_key``: a user's key (raw keeps every version)."""
    columns = TABLES["users"].hints()
    rows = begun() if begun else _users(client, user_id, counts or EntityCounts(), quarantine, full)
    return dlt.resource(
        typed_batches("users", columns, rows, nested=True) if typed else rows,
        name="users",
        write_disposition="append",
        columns=columns,
        primary_key=("user_id", "user_guid"),
    )


def _users(
    client: SkySlopeClient,
    user_id: int,
    counts: EntityCounts,
    quarantine: Quarantine,
    full: bool,
    state: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    # the mart keeps the newest version per user, and a user the API stops serving is not
    # flagged from the list, so skipping an unchanged one loses nothing
    state = dlt.current.resource_state() if state is None else state
    versions = landed.LandedVersions(state, trust=not full)
    body = client.get("/api/users")
    served = rows_of(body, "users", "/api/users")
    if isinstance(body.get("links"), list) and has_next(body, served):
        raise IntegrationError(
            user_id,
            SOURCE,
            f"users: the answer ({len(served)} users) links to a next page, which this source "
            "does not read: records would be lost",
        )
    counts.reported_total = len(served)
    for user in served:
        guid = user.get("userGuid") if isinstance(user, dict) else None
        if not guid:
            quarantine.add("users", user, "user without userGuid")
            continue
        why = validate.problem(user, validate.USER_FIELDS)
        if why is not None:
            quarantine.add("users", user, why, guid)
            continue
        row = {"user_id": user_id, "user_guid": str(guid), "record": user}
        digest = landed.row_digest(row)
        if versions.unchanged_since_landed(str(guid), digest):
            counts.unchanged += 1
            continue
        versions.landed(str(guid), digest)
        counts.rows += 1
        yield row
    versions.commit()


def loaded_versions(user_id: int, entity: str) -> set[tuple[str, str | None]]:
    """``(guid, modifiedOn)`` of every file version raw already holds for the agent."""
    kind = FILE_KINDS[entity]
    with db.begin() as conn:
        if conn.execute(text("select to_regclass(:t)"), {"t": f"raw_skyslope.{entity}"}).scalar():
            found = conn.execute(
                text(
                    f"select distinct {kind}_guid, modified_on from raw_skyslope.{entity} "
                    "where user_id = :u"
                ),
                {"u": user_id},
            )
            return {(str(guid), modified) for guid, modified in found}
    return set()


def files(
    client: SkySlopeClient,
    user_id: int,
    entity: str,
    counts: EntityCounts | None,
    quarantine: Quarantine,
    full: bool,
    naive_tz: ZoneInfo,
    lag_seconds: float,
    reread_after: timedelta,
    typed: bool,
    begun: Callable[[], Iterable[dict[str, Any]]] | None = None,
) -> Any:
    """``raw_skyslope.<entity>`` (``listings`` or ``sales``): the files changed in the window, or
    all of them (see the module doc), each fetched in full; ``primary_key``: a file's key (raw
    keeps every version)."""
    columns = TABLES[entity].hints()
    rows = (
        begun()
        if begun
        else _files(
            client,
            user_id,
            entity,
            counts or EntityCounts(),
            quarantine,
            full,
            naive_tz,
            lag_seconds,
            reread_after,
        )
    )
    return dlt.resource(
        typed_batches(entity, columns, rows, nested=True) if typed else rows,
        name=entity,
        write_disposition="append",
        columns=columns,
        primary_key=("user_id", f"{FILE_KINDS[entity]}_guid"),
    )


#: how many times one run may split a window the API cannot page to its end (each split halves
#: the files per window, so 64 is far beyond any account; it bounds a window that never shrinks)
MAX_WINDOW_SPLITS = 64


def split_window(
    lo: int, hi: int | None, times: list[int], now: datetime
) -> tuple[tuple[int, int], tuple[int, int | None]] | None:
    """Two windows that together cover ``lo..hi`` (inclusive Unix seconds; ``hi`` None: open),
    split at the median modified date of the rows a cut-off walk listed (about half of the
    window's files on each side), else at the middle of ``lo..hi`` (or ``lo..now``). None when
    the window is one second wide: more than ``MAX_PAGES`` pages of files modified in one
    second cannot be listed."""
    top = hi if hi is not None else max(int(now.timestamp()), lo + 1)
    inside = sorted(t for t in times if lo <= t < top)
    cut = inside[len(inside) // 2] if inside else (lo + top) // 2
    if not lo <= cut < top:
        return None
    return (lo, cut), (cut + 1, hi)


def _refuse(
    quarantine: Quarantine,
    refused: set[str],
    entity: str,
    record: Any,
    reason: str,
    guid: Any = None,
) -> None:
    """Quarantine a record once per run (a split window lists the rows of its halves again)."""
    key = f"{guid}|{reason}" if guid is not None else repr(record)
    if key in refused:
        return
    refused.add(key)
    quarantine.add(entity, record, reason, guid)


def _files(
    client: SkySlopeClient,
    user_id: int,
    entity: str,
    counts: EntityCounts,
    quarantine: Quarantine,
    full: bool,
    naive_tz: ZoneInfo,
    lag_seconds: float,
    reread_after: timedelta,
    state: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    kind = FILE_KINDS[entity]
    guid_key = f"{kind}Guid"
    path = f"/api/files/{entity}"
    state = dlt.current.resource_state() if state is None else state
    now = datetime.now(UTC)
    recount = not full and landed.full_read_due(state.get("last_full_at"), now, reread_after)
    since = 0 if full or recount else int(state.get("earliest_date", 0))
    # a window or recount fetches and lands only file versions raw does not hold (the window
    # re-reads the lag hours, so a quiet day would re-land them); a full read (an onboarding, a
    # repair) fetches every file
    known = set() if full else loaded_versions(user_id, entity)
    counts.read = "full" if full else "recount" if recount else "window"
    newest: datetime | None = None
    listed: set[str] = set()  # guids listed in the windows walked to their end
    unnamed = 0  # rows without a guid in those windows
    # a window the API cannot page to its end (MAX_PAGES) is split in two by modified date and
    # each half walked again; what the cut-off walk already fetched or quarantined is not again
    taken: set[tuple[str, Any]] = set()  # file versions fetched in this run
    refused: set[str] = set()  # rows quarantined in this run
    windows: list[tuple[int, int | None]] = [(since, None)]
    splits = 0
    while windows:
        lo, hi = windows.pop()
        walk_listed: set[str] = set()
        walk_unnamed = repeated = 0  # guids listed again in one walk: the list shifted
        times: list[int] = []  # modifiedOn of the rows listed (Unix seconds): where to split
        page, cut_off = 1, False
        while True:
            params: dict[str, Any] = {"pageNumber": page, "earliestDate": lo}
            if hi is not None:
                params["latestDate"] = hi
            body, rows = list_page(client, user_id, entity, path, params)
            for row in rows:
                guid = row.get(guid_key) if isinstance(row, dict) else None
                if not guid:
                    walk_unnamed += 1
                    _refuse(quarantine, refused, entity, row, f"list row without {guid_key}")
                    continue
                if str(guid) in walk_listed:
                    repeated += 1
                walk_listed.add(str(guid))
                why = validate.problem(row, validate.LIST_ROW_FIELDS)
                if why is not None:
                    _refuse(quarantine, refused, entity, row, f"list row: {why}", guid)
                    continue
                version = row.get("modifiedOn")
                listed_at = parse_vendor_time(version, naive_tz)
                if listed_at is not None:
                    times.append(int(listed_at.timestamp()))
                if (str(guid), version) in taken:
                    continue  # fetched by this run's walk of a window since split
                if isinstance(version, str) and version and (str(guid), version) in known:
                    counts.unchanged += 1
                    continue  # raw already holds this version of the file
                try:
                    detail = client.get(f"{path}/{guid}")
                except ApiError as err:
                    if err.status in (404, 422):
                        why = f"file not found: {err.detail}"
                        _refuse(quarantine, refused, entity, row, why, guid)
                        continue
                    raise
                taken.add((str(guid), version))
                file = (detail.get("value") or {}).get(kind)
                if not isinstance(file, dict):
                    why = f"detail without value.{kind}"
                    _refuse(quarantine, refused, entity, detail, why, guid)
                    continue
                why = validate.problem(file, validate.FILE_FIELDS[entity])
                if why is not None:
                    _refuse(quarantine, refused, entity, file, f"file: {why}", guid)
                    continue
                seen = parse_vendor_time(file.get("modifiedOn"), naive_tz)
                if seen and (newest is None or seen > newest):
                    newest = seen
                counts.rows += 1
                yield {
                    "user_id": user_id,
                    f"{kind}_guid": str(guid),
                    "modified_on": file.get("modifiedOn"),
                    "file": file,
                    "summary": row,
                }
            if not has_next(body, rows):
                break
            if page >= MAX_PAGES:
                cut_off = True
                break
            page += 1
        if cut_off:
            halves = split_window(lo, hi, times, now)
            splits += 1
            if halves is None or splits > MAX_WINDOW_SPLITS:
                raise IntegrationError(
                    user_id,
                    SOURCE,
                    f"{entity}: more than {MAX_PAGES} pages in the window earliestDate={lo}, "
                    f"latestDate={hi} and it cannot be split further; the API cannot page on",
                )
            log.info(
                "skyslope %s for agent %s: the window %s..%s has more than %s pages; walking "
                "%s..%s and %s..%s",
                entity,
                user_id,
                lo,
                hi,
                MAX_PAGES,
                *halves[0],
                *halves[1],
            )
            windows.extend(reversed(halves))  # the earlier half first, the open end last
            continue
        listed |= walk_listed
        unnamed += walk_unnamed
        if repeated:
            log.warning(
                "skyslope %s for agent %s: %s guids were listed twice (the list shifted during "
                "the walk); counted once",
                entity,
                user_id,
                repeated,
            )
    counts.reported_total = len(listed) + unnamed if since == 0 else None
    if full or recount:
        # only a full read or a due recount resets the recount's age: a window that starts at 0
        # because no modified date was ever seen (an account without files) lists everything
        # too, but recording it would move the state, a load of its own, every day
        state["last_full_at"] = now.isoformat()
    if newest is not None:
        # never moves back: a recount fetches only some files, maybe only older ones
        state["earliest_date"] = max(
            int(state.get("earliest_date", 0)), since, int(newest.timestamp() - lag_seconds)
        )
    counts.cursor = str(state.get("earliest_date", since))
