"""The FUB dlt source: per-agent loads of every stream into ``raw_fub`` (append-only history).

Shape of raw (``raw_fub.<stream>``): one row per fetched version, FUB's fields in snake_case
columns plus ``user_id`` and ``_dlt_load_id``. Nested objects and arrays (emails, phones,
addresses, tags, collaborators, invitees, property, ...) stay **JSON columns** on the row
(``max_table_nesting=0``): their shapes vary and dbt unpacks what the marts need. Money fields are
exact decimals. The columns staging reads are declared per raw table in
:mod:`dlt_pipelines.fub.columns` (dlt hints, so a field null so far still has its column, and the
type checks of :mod:`dlt_pipelines.fub.validate`). New vendor fields become new columns (schema
drift lands without breaking). Rows land as typed Arrow batches copied by ``COPY``
(:mod:`dlt_pipelines.typed`; ``AGENTSYNC_TYPED_LOADS=false``: dlt's row normaliser and ``INSERT``,
the same raw).

Incremental cursors live in dlt resource state, stored in the destination with each load
(``raw_fub._dlt_pipeline_state``), per agent (one pipeline per agent) and per stream:

=============  ====================  ==========================================================
stream         cursor                notes
=============  ====================  ==========================================================
people         ``updatedAfter``      ``includeTrash=true``, ``fields=allFields``
deals          ``createdAfter``      no ``updated`` on deals [fub.md §2.2]: plus a full re-read
                                     every ``DEALS_FULL_REREAD_DAYS``, and ``dealsUpdated``
                                     webhooks in between
events         ``createdAfter``      own rate-limit context
calls          ``updatedAfter``
appointments   ``updatedAfter``
text_messages  per person            only people whose raw version is newer than the last text
                                     run (all on the first) and whose text counters show new
                                     texts (``texts.py``) [2.6: personId required]
reference      none                  users, stages, pipelines, groups: small, read in full
=============  ====================  ==========================================================

The watermark is the largest cursor value seen; the next run asks from watermark minus
``CURSOR_LOOKBACK_SECONDS``. Records that window re-reads exactly as they were landed (a content
hash kept in stream state) are not landed again; reference streams keep the hash of every record
and land only the ones that changed. A quiet day thus adds no raw row, and no dbt or gate work. Deletions are found by :func:`run_deletions`
(:mod:`dlt_pipelines.fub.deletions`): a count proves "nothing deleted" in the common case; else
the ids are walked and only the changes (gone, back) land in ``raw_fub.id_changes``; marts flag
ids whose newest evidence says gone.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt

from agentsync import progress
from agentsync.contracts import EntityResult, RunKind
from agentsync.errors import IntegrationError
from agentsync.settings import Settings, get_settings
from dlt_pipelines.common import (
    MAX_LANDED_VERSIONS,
    Quarantine,
    full_read_due,
    last_load_id,
    make_pipeline,
    pipeline_guard,
    record_sync,
    row_digest,
    run_pipeline,
)
from dlt_pipelines.fub import deletions, texts
from dlt_pipelines.fub.auth import FubAuth, load_auth, warn_without_system_key
from dlt_pipelines.fub.client import FubClient
from dlt_pipelines.fub.columns import TABLES
from dlt_pipelines.fub.prepare import prepare
from dlt_pipelines.fub.settings import (
    CURSOR_LOOKBACK_SECONDS,
    DEALS_FULL_REREAD_DAYS,
    RECONCILED_STREAMS,
    STREAMS,
    Stream,
)
from dlt_pipelines.fub.validate import InvalidRecord, check
from dlt_pipelines.typed import as_arrow

log = logging.getLogger(__name__)
SOURCE = "fub"
DATASET = "raw_fub"
ID_CHUNK = 100  # ids per `id=` filter when fetching by id (webhooks)


def iso(dt: datetime) -> str:
    """UTC ISO-8601 with ``Z``, as FUB's filters take it."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fub_pipeline_name(user_id: int, purpose: str | None = None) -> str:
    """``fub_user_<id>``, or ``fub_<purpose>_user_<id>`` for a separate one (e.g. webhooks)."""
    return f"{SOURCE}_user_{user_id}" if purpose is None else f"{SOURCE}_{purpose}_user_{user_id}"


def make_fub_pipeline(user_id: int, settings: Settings, purpose: str | None = None) -> dlt.Pipeline:
    """The agent's FUB pipeline; ``purpose`` names a separate one (e.g. webhooks) on the same
    dataset, so a webhook load never races the scheduled sync's pipeline working dir."""
    return make_pipeline(SOURCE, user_id, settings, fub_pipeline_name(user_id, purpose))


def _resource(
    name: str,
    gen: Callable[[], Iterator[Any]],
    columns: dict | None = None,
    typed: bool = False,
) -> Any:
    """The dlt resource writing ``raw_fub.<name>``, its columns as declared
    (:mod:`dlt_pipelines.fub.columns`: a field null in every row so far still has its column);
    ``typed``: written as Arrow batches with those types (:mod:`dlt_pipelines.typed`)."""
    cols = columns if columns is not None else TABLES[name].hints()
    return dlt.resource(
        as_arrow(name, cols, gen) if typed else gen,
        name=name,
        table_name=name,
        write_disposition="append",
        columns=cols,
        max_table_nesting=0,
    )


def content_digest(row: dict[str, Any]) -> str:
    """The content hash of a validated row (the same whichever load path; ``None`` values do
    not count, as they land like missing ones). Until the typed path, the look-back state held
    hashes of rows whose timestamps had been parsed: the first run after that change re-lands
    the few rows of each stream's last second (and the small reference lists) once."""
    return row_digest(prepare(row))


class NearTop:
    """The rows read within ``CURSOR_LOOKBACK_SECONDS`` of the highest cursor seen so far: the
    only ones whose content hash the next run's look-back window needs (hashed at the end, not
    every row as it is read). The highest cursor only grows, so a row below its window now is
    never in it."""

    def __init__(self, id_field: str) -> None:
        self._id = id_field
        self._rows: list[tuple[datetime, dict[str, Any]]] = []

    def add(
        self, rows: list[dict[str, Any]], cursors: list[datetime | None], top: datetime | None
    ) -> None:
        """A page's rows and their cursors, ``top`` the highest cursor so far."""
        if top is None:
            return
        floor = top - timedelta(seconds=CURSOR_LOOKBACK_SECONDS)
        self._rows += [
            (c, r) for c, r in zip(cursors, rows, strict=True) if c is not None and c >= floor
        ]
        if len(self._rows) > 2 * MAX_LANDED_VERSIONS:
            self._rows = [r for r in self._rows if r[0] >= floor]

    def digests(self, top: datetime) -> list[tuple[datetime | None, str, str]]:
        """``(cursor, id, hash)`` of the rows within the window of ``top``."""
        floor = top - timedelta(seconds=CURSOR_LOOKBACK_SECONDS)
        return [
            (c, str(row.get(self._id)), content_digest(row)) for c, row in self._rows if c >= floor
        ]


def boundary(seen: list[tuple[datetime | None, str, str]], top: datetime) -> dict[str, str]:
    """``{id: hash}`` of the records the next run's look-back window re-reads (cursor within
    ``CURSOR_LOOKBACK_SECONDS`` of ``top``) as this run read them; every one of them is in raw
    after this run (landed now or, unchanged, earlier)."""
    floor = top - timedelta(seconds=CURSOR_LOOKBACK_SECONDS)
    out = {rid: digest for cursor, rid, digest in seen if cursor is not None and cursor >= floor}
    if len(out) > MAX_LANDED_VERSIONS:
        return {}  # too many records share the last second: re-land them rather than bloat state
    return out


@dataclass
class StreamStats:
    """What one stream's extraction saw (filled while dlt pulls the generator)."""

    rows: int = 0
    reported_total: int | None = None
    cursor: str | None = None
    full_read: bool = True
    persons_scanned: int = 0
    unchanged: int = 0  # re-read in the look-back window exactly as already landed: not landed


@dataclass
class FubRun:
    """One agent's FUB session: auth, client, pipeline, quarantine."""

    user_id: int
    kind: RunKind
    flow_run_id: str | None = None
    settings: Settings = field(default_factory=get_settings)
    purpose: str | None = None

    def __post_init__(self) -> None:
        self.auth: FubAuth = load_auth(self.user_id, self.settings)
        warn_without_system_key(self.auth, self.flow_run_id)
        self.client = FubClient(self.auth, self.settings)
        self.quarantine = Quarantine(self.user_id, SOURCE)
        # One writer per pipeline: the lock is held for the session (waits, bounded, for a
        # concurrent run of the same pipeline) and pending packages of a killed run are settled
        # before the first entity's record_sync, so they are never booked as that entity.
        self._guard = contextlib.ExitStack()
        self.typed = self.settings.typed_loads
        try:
            name = fub_pipeline_name(self.user_id, self.purpose)
            self.pipeline = self._guard.enter_context(
                pipeline_guard(
                    name, lambda: make_fub_pipeline(self.user_id, self.settings, self.purpose)
                )
            )
        except BaseException:
            self._guard.close()
            self.client.close()
            raise

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self._guard.close()

    def __enter__(self) -> FubRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- record handling -----------------------------------------------------------------------
    def clean(
        self,
        stream: Stream,
        records: Iterable[Any],
        stats: StreamStats,
        cursors: list[datetime | None] | None = None,
    ) -> tuple[list[dict[str, Any]], datetime | None]:
        """Validated rows tagged with ``user_id``; bad ones quarantined. Returns max cursor
        (and appends each row's cursor to ``cursors`` when given). Rows for dlt's dict path are
        shaped for its fast path (:func:`~dlt_pipelines.fub.prepare.prepare`); typed rows are
        typed column by column later."""
        rows: list[dict[str, Any]] = []
        top: datetime | None = None
        for record in records:
            try:
                row, cursor = check(stream, record)
            except InvalidRecord as err:
                rid = record.get(stream.id_field) if isinstance(record, dict) else None
                self.quarantine.add(stream.name, record, str(err), rid)
                continue
            if "userId" in row:  # FUB's user (calls, texts) would collide with our user_id
                row["fubUserId"] = row.pop("userId")
            row["user_id"] = self.user_id
            rows.append(row if self.typed else prepare(row))
            if cursors is not None:
                cursors.append(cursor)
            if cursor is not None and (top is None or cursor > top):
                top = cursor
        stats.rows += len(rows)
        return rows, top

    # -- one stream ----------------------------------------------------------------------------
    def _cursor_rows(self, stream: Stream, stats: StreamStats, full: bool) -> Iterator[Any]:
        state = dlt.current.resource_state()
        watermark = state.get("watermark")
        params: dict[str, Any] = {}
        now = time.time()
        if stream.name == "deals":
            last_full = state.get("last_full_read")
            if last_full is None or now - float(last_full) > DEALS_FULL_REREAD_DAYS * 86_400:
                full = True
        if watermark and stream.cursor_param and not full:
            since = datetime.fromisoformat(watermark) - timedelta(seconds=CURSOR_LOOKBACK_SECONDS)
            params[stream.cursor_param] = iso(since)
            stats.full_read = False
        top = datetime.fromisoformat(watermark) if watermark else None
        if not stats.full_read:
            # On an incremental run the page total counts changes only; reconciliation and the
            # deletion check want what the API serves in all, taken before the extract (so every
            # record it counts is read): one tiny request.
            stats.reported_total = self.client.total(stream)
        # The look-back window re-reads the records of the last second we saw; those that are
        # exactly as we landed them (same content hash) are not landed again, so a quiet day
        # adds no row (and no dbt or gate work). A record changed within that second differs
        # and lands. A full read of a cursor stream lands everything.
        if stream.cursor_param is None:
            yield from self._reference_rows(stream, stats, params, full)
            return
        landed = {} if stats.full_read else dict(state.get("boundary") or {})
        near = NearTop(stream.id_field)  # the rows the next run's look-back window may re-read
        for i, page in enumerate(self.client.pages(stream, params)):
            if i == 0 and stats.full_read:
                stats.reported_total = page.total
            cursors: list[datetime | None] = []
            rows, page_top = self.clean(stream, page.records, stats, cursors)
            if page_top is not None and (top is None or page_top > top):
                top = page_top
            near.add(rows, cursors, top)
            fresh = rows
            if landed:  # the last run's boundary: a row exactly as landed then is not landed again
                fresh = []
                for row in rows:
                    rid = str(row.get(stream.id_field))
                    if rid in landed and landed[rid] == content_digest(row):
                        stats.rows -= 1
                        stats.unchanged += 1
                    else:
                        fresh.append(row)
            if fresh:
                yield fresh
        if top is not None:
            state["watermark"] = top.isoformat()
            stats.cursor = state["watermark"]
            state["boundary"] = boundary(near.digests(top), top)
        if stats.full_read and stream.name == "deals":
            state["last_full_read"] = now

    def _reference_rows(
        self, stream: Stream, stats: StreamStats, params: dict[str, Any], full: bool
    ) -> Iterator[Any]:
        """A reference stream (users, stages, pipelines, groups: small, no cursor) read in full.

        Its marts flag as deleted the rows missing from the agent's newest load of the stream
        (``flag_fub_rows_not_served``), so a load must hold the whole read or nothing: when every record
        read is exactly as last landed (same ids, same content hashes, kept in stream state) it
        lands nothing; otherwise, or when a full read was asked for (a repair), all of it.
        """
        state = dlt.current.resource_state()
        rows: list[dict[str, Any]] = []
        for i, page in enumerate(self.client.pages(stream, params)):
            if i == 0:
                stats.reported_total = page.total
            rows += self.clean(stream, page.records, stats)[0]
        read = {str(row.get(stream.id_field)): content_digest(row) for row in rows}
        if not full and rows and read == state.get("landed"):
            stats.rows -= len(rows)
            stats.unchanged += len(rows)
            return
        state["landed"] = read if len(read) <= MAX_LANDED_VERSIONS else {}
        if rows:
            yield rows

    def _text_rows(self, stream: Stream, stats: StreamStats, full: bool) -> Iterator[Any]:
        """Texts of the people changed since the last text read whose counters say they have
        new texts (:mod:`dlt_pipelines.fub.texts`); every person on the periodic walk."""
        state = dlt.current.resource_state()
        since = None if full else state.get("people_load_id")
        now = datetime.now(UTC)
        max_age = timedelta(days=self.settings.fub_texts_full_walk_days)
        # the periodic walk asks every person the agent has, changed or not: what a wrong
        # counter hid (an edited text, a text that did not change its person) is found then
        everyone = full or (
            since is not None and full_read_due(state.get("walked_at"), now, max_age)
        )
        people, newest = texts.candidates(self.user_id, None if everyone else since)
        trusted = state.get("counters_trusted", True) is not False
        walk_all = everyone or not trusted
        asked: list[texts.Candidate] = []
        skipped: list[texts.Candidate] = []
        for person in people:
            ask = walk_all or texts.needs_texts(person, first_read=since is None)
            (asked if ask else skipped).append(person)
        stats.full_read = since is None
        workers = max(1, self.settings.fub_max_concurrent_requests)
        wrong: list[int] = []  # people whose texts served differ from their counters

        def fetch(person: texts.Candidate) -> list[Any]:
            out: list[Any] = []
            for page in self.client.pages(stream, {"personId": person.person_id}):
                out.extend(page.records)
            if person.now.known and len(out) != person.now.total:
                wrong.append(person.person_id)
            return out

        def read(group: list[texts.Candidate]) -> Iterator[Any]:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for records in pool.map(fetch, group):
                    progress.add(1, "people asked for texts", len(asked), unit="people")
                    rows, _ = self.clean(stream, records, stats)
                    if rows:
                        yield rows

        yield from read(asked)
        if wrong and skipped:
            log.warning(
                "agent %s fub.text_messages: %s people were served a different number of texts "
                "than their textsSent + textsReceived; asking the %s people those counters "
                "skipped, and reading texts per person until a full walk finds them right",
                self.user_id,
                len(wrong),
                len(skipped),
            )
            yield from read(skipped)
            asked += skipped
            skipped = []
        stats.persons_scanned = len(asked)
        if everyone:
            # a walk of every person re-establishes (or withdraws) trust in the counters
            state["counters_trusted"] = not wrong
        elif wrong:
            state["counters_trusted"] = False
        if everyone or since is None:
            state["walked_at"] = now.isoformat()
        if newest is not None:
            state["people_load_id"] = newest
            stats.cursor = newest
        log.info(
            "agent %s fub.text_messages: asked %s of %s people (%s skipped by their "
            "text counters%s)",
            self.user_id,
            len(asked),
            len(people),
            len(skipped),
            "; every person, a periodic walk" if everyone else "",
        )

    def load_stream(self, name: str, *, full: bool = False) -> EntityResult:
        """Load one stream for this agent, recorded in ``ops.sync_runs``."""
        stream = STREAMS[name]
        stats = StreamStats()
        with record_sync(self.kind, self.user_id, SOURCE, name, self.flow_run_id) as run:
            if name == "text_messages":

                def gen() -> Iterator[Any]:
                    yield from self._text_rows(stream, stats, full)
            else:

                def gen() -> Iterator[Any]:
                    yield from self._cursor_rows(stream, stats, full)

            info = run_pipeline(
                self.pipeline, _resource(name, gen, typed=self.typed), schema=dlt.Schema(SOURCE)
            )
            load_id = last_load_id(info)
            quarantined = self.quarantine.count(name)
            self.quarantine.flush(load_id)
            run.rows, run.reported_total = stats.rows, stats.reported_total
            run.cursor, run.load_id = stats.cursor, load_id
        log.info(
            "agent %s fub.%s: %s rows (%s quarantined, %s re-read unchanged, total %s)",
            self.user_id,
            name,
            stats.rows,
            quarantined,
            stats.unchanged,
            stats.reported_total,
        )
        return EntityResult(name, stats.rows, stats.reported_total, stats.cursor, quarantined)

    # -- deletions -----------------------------------------------------------------------------
    def check_deletions(self, name: str) -> EntityResult:
        """Deletion check of one stream (:mod:`dlt_pipelines.fub.deletions`): a count proof in
        the common case, else a walk of ids whose changes (gone, back) land in
        ``raw_fub.id_changes``. Recorded as ``<name>_ids`` in ``ops.sync_runs`` (rows: ids
        held, or walked; total: what FUB served)."""
        stream = STREAMS[name]
        with record_sync(self.kind, self.user_id, SOURCE, f"{name}_ids", self.flow_run_id) as run:
            held = deletions.held_ids(self.user_id, name)
            total = deletions.latest_count(self.user_id, name)
            reason = deletions.why_walk(held, total)
            if reason is None:
                check = deletions.IdCheck("count", len(held.live), total)
            else:
                served, total = deletions.walk_ids(self.client, stream)
                gone, back, unknown = deletions.compare(held, served)
                check = deletions.IdCheck(
                    "walk", len(held.live), total, tuple(gone), tuple(back), unknown, reason
                )
                rows = deletions.change_rows(self.user_id, name, gone, back)
                if rows:
                    info = run_pipeline(
                        self.pipeline,
                        _resource(deletions.CHANGES_TABLE, lambda: iter([rows])),
                        schema=dlt.Schema(SOURCE),
                    )
                    run.load_id = last_load_id(info)
                if held.legacy_snapshots:
                    deletions.drop_legacy(self.user_id, name)
            run.rows = check.held if check.method == "count" else check.total or 0
            run.reported_total = check.total
        log.info("agent %s fub.%s ids: %s", self.user_id, name, check.describe())
        return EntityResult(f"{name}_ids", run.rows, check.total)

    # -- by id (webhooks) ----------------------------------------------------------------------
    def load_ids(self, name: str, ids: list[int]) -> EntityResult:
        """Fetch specific records by id (``id=1,2,...``) into raw; used by webhooks."""
        stream = STREAMS[name]
        stats = StreamStats(full_read=False)

        def gen() -> Iterator[Any]:
            for start in range(0, len(ids), ID_CHUNK):
                chunk = ids[start : start + ID_CHUNK]
                for page in self.client.pages(stream, {"id": ",".join(map(str, chunk))}):
                    rows, _ = self.clean(stream, page.records, stats)
                    if rows:
                        yield rows

        with record_sync(self.kind, self.user_id, SOURCE, name, self.flow_run_id) as run:
            info = run_pipeline(
                self.pipeline, _resource(name, gen, typed=self.typed), schema=dlt.Schema(SOURCE)
            )
            load_id = last_load_id(info)
            quarantined = self.quarantine.count(name)
            self.quarantine.flush(load_id)
            run.rows, run.load_id = stats.rows, load_id
        return EntityResult(name, stats.rows, None, None, quarantined)

    def record_deleted(self, name: str, ids: list[int], deleted_at: datetime) -> EntityResult:
        """Land ids a ``*Deleted`` webhook reported in ``raw_fub.deleted_ids``."""
        rows = [
            {"user_id": self.user_id, "entity": name, "id": i, "deleted_at": deleted_at}
            for i in ids
        ]
        with record_sync(
            self.kind, self.user_id, SOURCE, f"{name}_deleted", self.flow_run_id
        ) as run:
            info = run_pipeline(
                self.pipeline,
                _resource("deleted_ids", lambda: iter([rows])),
                schema=dlt.Schema(SOURCE),
            )
            run.rows, run.load_id = len(rows), last_load_id(info)
        return EntityResult(f"{name}_deleted", len(rows))


def run_streams(
    user_id: int,
    kind: RunKind,
    flow_run_id: str | None,
    names: Iterable[str],
    *,
    full: bool = False,
    settings: Settings | None = None,
) -> list[EntityResult]:
    """Load several streams for one agent; every stream is attempted, then failures raise.

    Raises:
        IntegrationError: the credential was refused (raised at once: nothing else can work).
        RuntimeError: one or more streams failed (named, with their reasons).
    """
    settings = settings or get_settings()
    results: list[EntityResult] = []
    errors: list[str] = []
    with FubRun(user_id, kind, flow_run_id, settings) as run:
        for name in names:
            try:
                results.append(run.load_stream(name, full=full))
            except IntegrationError:
                raise
            except Exception as err:  # keep going: independent streams still load
                log.exception("agent %s fub.%s failed", user_id, name)
                errors.append(f"{name}: {type(err).__name__}: {err}")
    if errors:
        raise RuntimeError(f"agent {user_id} fub: " + "; ".join(errors))
    return results


def run_deletions(
    user_id: int, kind: RunKind, flow_run_id: str | None, settings: Settings | None = None
) -> list[EntityResult]:
    """Id reconciliation for every reconciled stream (see module docstring)."""
    settings = settings or get_settings()
    results: list[EntityResult] = []
    errors: list[str] = []
    with FubRun(user_id, kind, flow_run_id, settings) as run:
        for name in RECONCILED_STREAMS:
            try:
                results.append(run.check_deletions(name))
            except IntegrationError:
                raise
            except Exception as err:
                log.exception("agent %s fub.%s ids failed", user_id, name)
                errors.append(f"{name}: {type(err).__name__}: {err}")
    if errors:
        raise RuntimeError(f"agent {user_id} fub deletions: " + "; ".join(errors))
    return results
