"""SkySlope dlt loads: account users, listings and sales per agent into ``raw_skyslope``.

Raw shape (append-only, every fetched version; dedupe happens in dbt):

- ``raw_skyslope.users``: ``user_id``, ``user_guid``, ``record`` (the user object as served, JSON).
- ``raw_skyslope.listings`` / ``raw_skyslope.sales``: ``user_id``, ``listing_guid`` /
  ``sale_guid``, ``modified_on`` (the vendor's text, untouched), ``file`` (the full file from
  ``GET /api/files/{kind}/{guid}``, JSON) and ``summary`` (the list row, JSON).

The whole vendor object is kept as one JSON column because SkySlope's file shape is wide and
variable (skyslope.md §4) and because the quirks must survive untouched into raw: dates without a
timezone, ``0001-01-01T00:00:00`` null dates and control characters are cleaned in staging SQL
(``dbt_project/macros/skyslope/skyslope_quirks.sql``), never here. New vendor fields land in the JSON
without breaking the load. JSON numbers (prices) are stored by jsonb as exact numerics. A list row,
file or user whose fields have the wrong JSON type (``validate``) goes to ``ops.quarantine`` with
a reason naming the field; the quirks above are not wrong types. Rows land as typed Arrow
batches copied by ``COPY`` (:mod:`dlt_pipelines.typed`; the same raw as dlt's row path).

Paging and windows (skyslope.md §3): lists are 10 rows per page, 1-based ``pageNumber``; stop when
``links`` has no ``rel: "next"`` (a response without ``links`` ends at a short page); at most
1,000 pages per window.

Completeness (issue 14): the API reports no total, so the listed count is all the count checks
can compare, and a page that silently lost rows would pass as complete. The paging's own
invariant is checked instead: a page that links to a next one must be full (10 rows). A short
non-final page is read again (at most ``SHORT_PAGE_REREADS`` times, only then: a normal run costs
nothing extra); a full re-read is used, and a page still short fails the entity's run with an
:class:`IntegrationError` naming the agent, entity and page ("n of 10 rows on a page that links to
a next one: records would be lost"), so the step fails and nothing claims success. The check
covers every read (onboarding, daily window, recount); the last page of a listing is short by
nature and cannot be checked. ``/api/users`` is served unpaged; an answer that links to a next
page fails too (this source would read only its first page). A guid listed twice in one walk (the
list shifted under the walk) is counted once in ``reported_total`` and logged.
Incremental loads send ``earliestDate`` (Unix seconds) = newest ``modifiedOn`` seen minus
``AGENTSYNC_SKYSLOPE_WINDOW_LAG_HOURS``; onboarding runs read everything (``earliestDate=0``).
A window cannot count the account (the API reports no totals), so a daily run lists the whole
account again when the last full listing (``last_full_at`` in the resource state) is
``AGENTSYNC_SKYSLOPE_FULL_REREAD_DAYS`` old (default 7): the listed count becomes the run's
``reported_total`` for the count checks. A window and a recount fetch in full only the files
that raw does not hold in the version listed (guid + ``modifiedOn``): a recount costs list pages,
not file reads, and a quiet day's window (which re-lists the lag hours) lands nothing. An
onboarding fetches every file.
That ``earliestDate`` filters on the modified date is [UNCONFIRMED] (skyslope.md §3); the cursor
lives in dlt resource state (in the destination, so a fresh machine resumes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed
from sqlalchemy import text

from agentsync import db, progress
from agentsync.agents import get_credentials
from agentsync.contracts import EntityResult, RunKind
from agentsync.errors import IntegrationError, SettingError
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
from dlt_pipelines.http import ApiError
from dlt_pipelines.skyslope import settings as sky_settings
from dlt_pipelines.skyslope import validate
from dlt_pipelines.skyslope.client import SkySlopeClient
from dlt_pipelines.skyslope.columns import TABLES
from dlt_pipelines.typed import typed_batches

log = logging.getLogger(__name__)


SOURCE = "skyslope"
PAGE_SIZE = 10
SHORT_PAGE_REREADS = 2
MAX_PAGES = 1000
FILE_KINDS = {"sales": "sale", "listings": "listing"}


def parse_vendor_time(value: Any, naive_tz: ZoneInfo) -> datetime | None:
    """A SkySlope datetime as an aware datetime (only for the cursor; raw keeps the text)."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive_tz)


def _rows(body: dict[str, Any], key: str, path: str) -> list[Any]:
    value = body.get("value")
    rows = value.get(key) if isinstance(value, dict) else None
    if not isinstance(rows, list):
        raise ApiError("GET", path, 200, f"expected value.{key} to be a list")
    return rows


def _has_next(body: dict[str, Any], rows: list[Any]) -> bool:
    """Another page follows: ``links`` has ``rel: "next"``; without links, a full page (B.3)."""
    links = body.get("links")
    if isinstance(links, list):
        return any(isinstance(link, dict) and link.get("rel") == "next" for link in links)
    return len(rows) >= PAGE_SIZE


def _page(
    client: SkySlopeClient,
    user_id: int,
    entity: str,
    path: str,
    params: dict[str, Any],
) -> tuple[dict[str, Any], list[Any]]:
    """One list page whose paging holds: a page that links to a next one has ``PAGE_SIZE`` rows.

    A short page that links on is read again, at most ``SHORT_PAGE_REREADS`` times; still short,
    it raises :class:`IntegrationError` (its rows would be lost: the next page starts after them).
    """
    body = client.get(path, params)
    rows = _rows(body, entity, path)
    reads = 1
    while len(rows) < PAGE_SIZE and _has_next(body, rows):
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
        rows = _rows(body, entity, path)
        reads += 1
    progress.add(len(rows), entity)
    return body, rows


def users_resource(
    client: SkySlopeClient,
    user_id: int,
    stats: dict[str, Any],
    full: bool = True,
    typed: bool = True,
) -> Any:
    """All users of the agent's account (read in full each run; no paging observed).

    A user exactly as last landed (content hash in the resource state) is not landed again
    unless ``full`` (an onboarding): the mart keeps the newest version per user, and a user the
    API stops serving is not flagged from the list, so skipping an unchanged one loses nothing.
    """

    def gen() -> Iterator[dict[str, Any]]:
        versions = LandedVersions(dlt.current.resource_state(), trust=not full)
        body = client.get("/api/users")
        users = _rows(body, "users", "/api/users")
        if isinstance(body.get("links"), list) and _has_next(body, users):
            raise IntegrationError(
                user_id,
                SOURCE,
                f"users: the answer ({len(users)} users) links to a next page, which this source "
                "does not read: records would be lost",
            )
        stats["reported_total"] = len(users)
        for user in users:
            guid = user.get("userGuid") if isinstance(user, dict) else None
            if not guid:
                stats["quarantine"].add("users", user, "user without userGuid")
                continue
            why = validate.problem(user, validate.USER_FIELDS)
            if why is not None:
                stats["quarantine"].add("users", user, why, guid)
                continue
            row = {"user_id": user_id, "user_guid": str(guid), "record": user}
            digest = row_digest(row)
            if versions.unchanged_since_landed(str(guid), digest):
                stats["unchanged"] = stats.get("unchanged", 0) + 1
                continue
            versions.landed(str(guid), digest)
            stats["rows"] += 1
            yield row
        versions.commit()

    return dlt.resource(
        typed_batches("users", TABLES["users"].hints(), gen(), nested=True) if typed else gen(),
        name="users",
        write_disposition="append",
        columns=TABLES["users"].hints(),
    )


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


def files_resource(
    client: SkySlopeClient,
    user_id: int,
    entity: str,
    full: bool,
    naive_tz: ZoneInfo,
    lag_seconds: float,
    stats: dict[str, Any],
    reread_after: timedelta = timedelta(days=7),
    typed: bool = True,
) -> Any:
    """Listings or sales changed in the window (or all, see the module doc), with full files;
    ``typed``: landed as typed Arrow batches (:mod:`dlt_pipelines.typed`)."""
    kind = FILE_KINDS[entity]
    guid_key = f"{kind}Guid"
    path = f"/api/files/{entity}"

    def gen() -> Iterator[dict[str, Any]]:
        state = dlt.current.resource_state()
        now = datetime.now(UTC)
        recount = not full and full_read_due(state.get("last_full_at"), now, reread_after)
        since = 0 if full or recount else int(state.get("earliest_date", 0))
        # a window or recount fetches and lands only file versions raw does not hold (the
        # window re-reads the lag hours, so a quiet day would re-land them); a full read (an
        # onboarding, a repair) fetches every file
        known = set() if full else loaded_versions(user_id, entity)
        stats["cursor_from"] = since
        stats["read"] = "full" if full else "recount" if recount else "window"
        newest: datetime | None = None
        listed: set[str] = set()  # guids listed in this walk
        unnamed = repeated = 0  # rows without a guid; guids listed again (the list shifted)
        page = 1
        while True:
            params = {"pageNumber": page, "earliestDate": since}
            body, rows = _page(client, user_id, entity, path, params)
            for row in rows:
                guid = row.get(guid_key) if isinstance(row, dict) else None
                if not guid:
                    unnamed += 1
                    stats["quarantine"].add(entity, row, f"list row without {guid_key}")
                    continue
                if str(guid) in listed:
                    repeated += 1
                listed.add(str(guid))
                why = validate.problem(row, validate.LIST_ROW_FIELDS)
                if why is not None:
                    stats["quarantine"].add(entity, row, f"list row: {why}", guid)
                    continue
                version = row.get("modifiedOn")
                if isinstance(version, str) and version and (str(guid), version) in known:
                    stats["unchanged"] = stats.get("unchanged", 0) + 1
                    continue  # raw already holds this version of the file
                try:
                    detail = client.get(f"{path}/{guid}")
                except ApiError as err:
                    if err.status in (404, 422):
                        stats["quarantine"].add(entity, row, f"file not found: {err.detail}", guid)
                        continue
                    raise
                file = (detail.get("value") or {}).get(kind)
                if not isinstance(file, dict):
                    stats["quarantine"].add(entity, detail, f"detail without value.{kind}", guid)
                    continue
                why = validate.problem(file, validate.FILE_FIELDS[entity])
                if why is not None:
                    stats["quarantine"].add(entity, file, f"file: {why}", guid)
                    continue
                seen = parse_vendor_time(file.get("modifiedOn"), naive_tz)
                if seen and (newest is None or seen > newest):
                    newest = seen
                stats["rows"] += 1
                yield {
                    "user_id": user_id,
                    f"{kind}_guid": str(guid),
                    "modified_on": file.get("modifiedOn"),
                    "file": file,
                    "summary": row,
                }
            if not _has_next(body, rows):
                break
            if page >= MAX_PAGES:
                raise IntegrationError(
                    user_id,
                    SOURCE,
                    f"{entity}: more than {MAX_PAGES} pages in one window (earliestDate={since});"
                    " the API cannot page further",
                )
            page += 1
        if repeated:
            log.warning(
                "skyslope %s for agent %s: %s guids were listed twice (the list shifted during "
                "the walk); counted once",
                entity,
                user_id,
                repeated,
            )
        stats["reported_total"] = len(listed) + unnamed if since == 0 else None
        if since == 0:
            state["last_full_at"] = now.isoformat()
        if newest is not None:
            # never moves back: a recount fetches only some files, maybe only older ones
            state["earliest_date"] = max(
                int(state.get("earliest_date", 0)), since, int(newest.timestamp() - lag_seconds)
            )
        stats["cursor"] = str(state.get("earliest_date", since))

    columns = TABLES[entity].hints()
    return dlt.resource(
        typed_batches(entity, columns, gen(), nested=True) if typed else gen(),
        name=entity,
        write_disposition="append",
        columns=columns,
    )


def run_entity(
    user_id: int,
    kind: RunKind,
    flow_run_id: str | None,
    entity: str,
    settings: Settings | None = None,
) -> EntityResult:
    """Load one entity (``users``, ``listings`` or ``sales``) for one agent; record the run."""
    settings = settings or get_settings()
    knobs = sky_settings.load()
    try:
        naive_tz = ZoneInfo(settings.skyslope_naive_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            "AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE is not a known IANA timezone "
            "(e.g. America/Los_Angeles)"
        ) from None
    quarantine = Quarantine(user_id, SOURCE)
    stats: dict[str, Any] = {"rows": 0, "reported_total": None, "quarantine": quarantine}
    with record_sync(kind, user_id, SOURCE, entity, flow_run_id) as run:
        credential = get_credentials(user_id, SOURCE)
        with SkySlopeClient(user_id, credential, settings) as client:
            client.ensure_session()
            if entity == "users":
                resource = users_resource(
                    client, user_id, stats, kind == "onboarding", settings.typed_loads
                )
            else:
                resource = files_resource(
                    client,
                    user_id,
                    entity,
                    kind == "onboarding",
                    naive_tz,
                    knobs.window_lag_hours * 3600,
                    stats,
                    timedelta(days=knobs.full_reread_days),
                    settings.typed_loads,
                )
            try:
                with pipeline_guard(
                    f"{SOURCE}_user_{user_id}", lambda: make_pipeline(SOURCE, user_id, settings)
                ) as pipeline:
                    info = run_pipeline(pipeline, resource)
            except PipelineStepFailed as err:
                raise integration_error_behind(err) from None
            stats["logins"] = client.logins
        run.load_id = last_load_id(info)
        quarantined = quarantine.flush(run.load_id)
        run.rows = stats["rows"]
        run.reported_total = stats["reported_total"]
        run.cursor = stats.get("cursor")
    log.info(
        "skyslope %s for agent %s (%s read): %s rows, %s quarantined, %s already in raw, %s logins",
        entity,
        user_id,
        stats.get("read", "full"),
        run.rows,
        quarantined,
        stats.get("unchanged", 0),
        stats.get("logins"),
    )
    return EntityResult(entity, run.rows, run.reported_total, run.cursor, quarantined)
