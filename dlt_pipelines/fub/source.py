"""The FUB dlt source: an agent's Follow Up Boss streams into ``raw_fub`` (append-only history).

Shape of raw (``raw_fub.<stream>``): one row per fetched version, FUB's fields in snake_case
columns plus ``user_id`` and ``_dlt_load_id``; FUB's ``userId`` (calls, texts) lands as
``fub_user_id`` so it cannot collide with our ``user_id``. Nested objects and arrays (emails,
phones, addresses, tags, collaborators, invitees, property, ...) stay **JSON columns** on the row
(``max_table_nesting=0``): their shapes vary and dbt unpacks what the marts need. Money fields are
exact decimals. The columns staging reads are declared per raw table in
:mod:`dlt_pipelines.fub.columns` (dlt hints, so a field null so far still has its column, and the
type checks of :mod:`dlt_pipelines.fub.validate`: a record that fails them goes to
``ops.quarantine`` with the reason and the run goes on). New vendor fields become new columns
(schema drift lands without breaking). Rows land as typed Arrow batches copied by ``COPY``
(:mod:`dlt_pipelines.typed`; ``AGENTSYNC_TYPED_LOADS=false``: dlt's row normaliser and
``INSERT``, the same raw). Which step loads which streams, and the FUB session
(auth, client, pipeline): :mod:`dlt_pipelines.fub`; how a load runs and is booked:
:mod:`dlt_pipelines.run`.

Incremental cursors live in dlt resource state, stored in the destination with each load
(``raw_fub._dlt_pipeline_state``), per agent (one pipeline per agent) and per stream:

=============  ====================  ==========================================================
stream         cursor                notes
=============  ====================  ==========================================================
people         ``updatedAfter``      ``includeTrash=true``, ``fields=allFields``
deals          ``createdAfter``      no ``updated`` on deals (``docs/vendors/fub.md`` §2.2):
                                     plus a full re-read every ``DEALS_FULL_REREAD_DAYS``, and
                                     ``dealsUpdated`` webhooks in between
events         ``createdAfter``      own rate-limit context
calls          ``updatedAfter``
appointments   ``updatedAfter``
text_messages  per person            only people whose raw version is newer than the last text
                                     run (all on the first) and whose text counters show new
                                     texts (:mod:`dlt_pipelines.fub.texts`; ``personId`` is
                                     required, ``docs/vendors/fub.md`` §2.6)
reference      none                  users, stages, pipelines, groups: small, read in full
=============  ====================  ==========================================================

The watermark is the largest cursor value seen; the next run asks from watermark minus
``CURSOR_LOOKBACK_SECONDS``. Records that window re-reads exactly as they were landed (a content
hash kept in stream state: :func:`boundary`) are not landed again; reference streams keep the
hash of every record and land the whole list only when it changed. A quiet day thus adds no raw
row, and no dbt or gate work. Each stream run also takes FUB's ``_metadata.total`` for everything
the API serves (on incremental runs one extra ``fields=id&limit=1`` request, before the extract),
the ``reported_total`` reconciliation and the deletion check compare with. Deletions are found
by the ``fub.deletions`` step (:mod:`dlt_pipelines.fub.deletions`); webhooks
(:mod:`webhooks.fub`) land records by id (:func:`records_by_id`) and reported deletions
(:func:`deleted_ids`).

Not ``dlt.sources.incremental``: the cursor streams have full reads that must land every record,
below the cursor too, and still move the cursor (deals every ``DEALS_FULL_REREAD_DAYS``, a
repair, a webhook's re-read), where dlt's incremental drops rows below its start value; and the
look-back window's records are skipped by their content (a record changed within the cursor's
last second lands), where dlt's boundary deduplication skips every row at the last value it saw
by key or by the row's hash. ``text_messages`` has no cursor of its own (its cursor is the newest
raw load of people), and the reference streams have none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt

from agentsync import progress
from dlt_pipelines.fub import texts
from dlt_pipelines.fub.client import FubClient
from dlt_pipelines.fub.columns import TABLES
from dlt_pipelines.fub.prepare import prepare
from dlt_pipelines.fub.settings import (
    CURSOR_LOOKBACK_SECONDS,
    DEALS_FULL_REREAD_DAYS,
    READ_AHEAD_PAGES,
    STREAMS,
    Stream,
)
from dlt_pipelines.fub.validate import InvalidRecord, check
from dlt_pipelines.landed import MAX_LANDED_VERSIONS, full_read_due, row_digest
from dlt_pipelines.readahead import read_ahead
from dlt_pipelines.run import EntityCounts, Quarantine
from dlt_pipelines.typed import as_arrow

log = logging.getLogger(__name__)
SOURCE = "fub"
ID_CHUNK = 100  # ids per `id=` filter when fetching by id (webhooks)
#: a record's key in every stream table (raw keeps every version of it: ``append``)
PRIMARY_KEY = ("user_id", "id")


@dlt.source(name=SOURCE)
def fub_source(
    account: FubAccount,
    counts: dict[str, EntityCounts],
    full: bool = False,
    begun: dict[str, Callable[[], Iterable[Any]]] | None = None,
) -> Iterator[Any]:
    """Every FUB stream of one agent, one resource each (a step selects the ones it loads with
    ``with_resources``; each stream is its own load).

    Args:
        account: the agent's FUB account as this load reads it.
        counts: per stream, filled with what the read served (rows landed, total, cursor).
        full: read every record of the cursor streams (and land every reference list), as on a
            repair; otherwise from the cursor's look-back window.
        begun: per stream, the rest of a read begun before dlt's extract, on a copy of the
            stream's state, which it writes into the resource state when it ends
            (:meth:`dlt_pipelines.fub.FubRun.load_stream`); the other streams read here.
    """
    for name, stream in STREAMS.items():
        stream_counts = counts.setdefault(name, EntityCounts())
        rows = (begun or {}).get(name) or _reader(account, stream, stream_counts, full)
        yield raw_resource(name, rows, typed=account.typed, primary_key=PRIMARY_KEY)


def _reader(
    account: FubAccount, stream: Stream, counts: EntityCounts, full: bool
) -> Callable[[], Iterator[Any]]:
    """A stream's read inside dlt's extract, on the resource's own state."""
    return lambda: account.stream_rows(
        stream, counts, full, dlt.current.resource_state(stream.name)
    )


def raw_resource(
    table: str,
    rows: Iterable[Any] | Callable[[], Iterable[Any]],
    *,
    typed: bool = False,
    primary_key: Sequence[str] | None = None,
    columns: dict[str, Any] | None = None,
) -> Any:
    """The dlt resource appending ``rows`` (rows or lists of rows) to ``raw_fub.<table>``, its
    columns as declared (:mod:`dlt_pipelines.fub.columns`: a field null in every row so far still
    has its column), nested values as JSON (``max_table_nesting=0``); ``typed``: written as Arrow
    batches with those types (:mod:`dlt_pipelines.typed`)."""
    cols = columns if columns is not None else TABLES[table].hints()

    def gen() -> Iterator[Any]:
        yield from rows() if callable(rows) else rows

    return dlt.resource(
        as_arrow(table, cols, gen) if typed else gen,
        name=table,
        table_name=table,
        write_disposition="append",
        columns=cols,
        primary_key=primary_key,
        max_table_nesting=0,
    )


def records_by_id(account: FubAccount, name: str, ids: list[int], counts: EntityCounts) -> Any:
    """Specific records of a stream, fetched by id (``id=1,2,...``, ``ID_CHUNK`` at a time) into
    ``raw_fub.<name>``: what a webhook announced changed."""
    stream = STREAMS[name]

    def rows() -> Iterator[Any]:
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            for page in account.client.pages(stream, {"id": ",".join(map(str, chunk))}):
                found, _ = account.clean(stream, page.records, counts)
                if found:
                    yield found

    return raw_resource(name, rows, typed=account.typed, primary_key=PRIMARY_KEY)


def id_changes(rows: list[dict[str, Any]]) -> Any:
    """``raw_fub.id_changes``: the deletion check's findings (``gone``, ``back``), one row each
    (:mod:`dlt_pipelines.fub.deletions`); a log of observations, so no key."""
    return raw_resource("id_changes", [rows])


def deleted_ids(rows: list[dict[str, Any]]) -> Any:
    """``raw_fub.deleted_ids``: the ids a ``*Deleted`` webhook reported, with when."""
    return raw_resource("deleted_ids", [rows])


def iso(dt: datetime) -> str:
    """UTC ISO-8601 with ``Z``, as FUB's filters take it."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
class FubAccount:
    """The agent's FUB account as one load reads it: the client, where unusable records go,
    and how rows land; its methods are the streams' row generators.

    Attributes:
        user_id: the agent; every row carries it.
        client: the agent's client (auth, rate gates, paging: :mod:`dlt_pipelines.fub.client`).
        quarantine: where records that fail the checks go.
        typed: rows land as typed Arrow batches (typed column by column later); otherwise they
            are shaped for dlt's row path (:func:`~dlt_pipelines.fub.prepare.prepare`).
        texts_full_walk_days: every person is asked for texts when the last such walk is this
            old (``AGENTSYNC_FUB_TEXTS_FULL_WALK_DAYS``).
        workers: concurrent text requests (``AGENTSYNC_FUB_MAX_CONCURRENT_REQUESTS``).
    """

    user_id: int
    client: FubClient
    quarantine: Quarantine
    typed: bool
    texts_full_walk_days: float
    workers: int

    def clean(
        self,
        stream: Stream,
        records: Iterable[Any],
        counts: EntityCounts,
        cursors: list[datetime | None] | None = None,
    ) -> tuple[list[dict[str, Any]], datetime | None]:
        """Validated rows tagged with ``user_id``; bad ones quarantined. Returns the rows and
        their max cursor (and appends each row's cursor to ``cursors`` when given)."""
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
        counts.rows += len(rows)
        return rows, top

    def stream_rows(
        self, stream: Stream, counts: EntityCounts, full: bool, state: dict[str, Any]
    ) -> Iterator[Any]:
        """A stream's rows (lists of rows), read on ``state``, its resource state (which the
        read reads and updates: cursors, what was landed)."""
        if stream.name == "text_messages":
            return self.text_rows(stream, counts, full, state)
        if stream.cursor_param is None:
            return self.reference_rows(stream, counts, full, state)
        return self.cursor_rows(stream, counts, full, state)

    def cursor_rows(
        self, stream: Stream, counts: EntityCounts, full: bool, state: dict[str, Any]
    ) -> Iterator[Any]:
        """A cursor stream: from the watermark's look-back window, or everything when ``full``
        (or, for deals, when their periodic full re-read is due)."""
        watermark = state.get("watermark")
        params: dict[str, Any] = {}
        now = time.time()
        if stream.name == "deals":
            last_full = state.get("last_full_read")
            if last_full is None or now - float(last_full) > DEALS_FULL_REREAD_DAYS * 86_400:
                full = True
        full_read = True
        if watermark and stream.cursor_param and not full:
            since = datetime.fromisoformat(watermark) - timedelta(seconds=CURSOR_LOOKBACK_SECONDS)
            params[stream.cursor_param] = iso(since)
            full_read = False
        counts.read = "full" if full_read else "window"
        top = datetime.fromisoformat(watermark) if watermark else None
        if not full_read:
            # On an incremental run the page total counts changes only; reconciliation and the
            # deletion check want what the API serves in all, taken before the extract (so every
            # record it counts is read): one tiny request.
            counts.reported_total = self.client.total(stream)
        # The look-back window re-reads the records of the last second we saw; those that are
        # exactly as we landed them (same content hash) are not landed again, so a quiet day
        # adds no row (and no dbt or gate work). A record changed within that second differs
        # and lands. A full read of a cursor stream lands everything.
        landed = {} if full_read else dict(state.get("boundary") or {})
        near = NearTop(stream.id_field)  # the rows the next run's look-back window may re-read
        yielded = False
        for i, page in enumerate(read_ahead(self.client.pages(stream, params), READ_AHEAD_PAGES)):
            if i == 0 and full_read:
                counts.reported_total = page.total
            cursors: list[datetime | None] = []
            rows, page_top = self.clean(stream, page.records, counts, cursors)
            if page_top is not None and (top is None or page_top > top):
                top = page_top
            near.add(rows, cursors, top)
            fresh = rows
            if landed:  # the last run's boundary: a row exactly as landed then is not landed again
                fresh = []
                for row in rows:
                    rid = str(row.get(stream.id_field))
                    if rid in landed and landed[rid] == content_digest(row):
                        counts.rows -= 1
                        counts.unchanged += 1
                    else:
                        fresh.append(row)
            if fresh:
                yielded = True
                yield fresh
        if top is not None:
            kept = not yielded and landed and state.get("watermark") == top.isoformat()
            state["watermark"] = top.isoformat()
            counts.cursor = state["watermark"]
            # A window that landed nothing under the same top keeps its boundary: every row it
            # re-read was in it with the same hash, and what it holds is in raw. Rewriting it
            # with the rows re-read now (fewer, when one left the window) would change the
            # state alone: a load with no row in it, every day after a change.
            if not kept:
                state["boundary"] = boundary(near.digests(top), top)
        if full_read and stream.name == "deals":
            state["last_full_read"] = now

    def reference_rows(
        self, stream: Stream, counts: EntityCounts, full: bool, state: dict[str, Any]
    ) -> Iterator[Any]:
        """A reference stream (users, stages, pipelines, groups: small, no cursor) read in full.

        Its marts flag as deleted the rows missing from the agent's newest load of the stream
        (``flag_fub_rows_not_served``), so a load must hold the whole read or nothing: when every
        record read is exactly as last landed (same ids, same content hashes, kept in stream
        state) it lands nothing; otherwise, or when a full read was asked for (a repair), all of
        it.
        """
        rows: list[dict[str, Any]] = []
        for i, page in enumerate(self.client.pages(stream, {})):
            if i == 0:
                counts.reported_total = page.total
            rows += self.clean(stream, page.records, counts)[0]
        read = {str(row.get(stream.id_field)): content_digest(row) for row in rows}
        if not full and rows and read == state.get("landed"):
            counts.rows -= len(rows)
            counts.unchanged += len(rows)
            return
        state["landed"] = read if len(read) <= MAX_LANDED_VERSIONS else {}
        if rows:
            yield rows

    def text_rows(
        self, stream: Stream, counts: EntityCounts, full: bool, state: dict[str, Any]
    ) -> Iterator[Any]:
        """Texts of the people changed since the last text read whose counters say they have
        new texts (:mod:`dlt_pipelines.fub.texts`); every person on the periodic walk."""
        since = None if full else state.get("people_load_id")
        now = datetime.now(UTC)
        max_age = timedelta(days=self.texts_full_walk_days)
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
        counts.read = "full" if since is None else "changed people"
        wrong: list[int] = []  # people whose texts served differ from their counters

        def fetch(person: texts.Candidate) -> list[Any]:
            out: list[Any] = []
            for page in self.client.pages(stream, {"personId": person.person_id}):
                out.extend(page.records)
            if person.now.known and len(out) != person.now.total:
                wrong.append(person.person_id)
            return out

        def read(group: list[texts.Candidate]) -> Iterator[Any]:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                for records in pool.map(fetch, group):
                    progress.add(1, "people asked for texts", len(asked), unit="people")
                    rows, _ = self.clean(stream, records, counts)
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
        if everyone:
            # a walk of every person re-establishes (or withdraws) trust in the counters
            state["counters_trusted"] = not wrong
        elif wrong:
            state["counters_trusted"] = False
        if everyone or since is None:
            state["walked_at"] = now.isoformat()
        if newest is not None:
            state["people_load_id"] = newest
            counts.cursor = newest
        log.info(
            "agent %s fub.text_messages: asked %s of %s people (%s skipped by their "
            "text counters%s)",
            self.user_id,
            len(asked),
            len(people),
            len(skipped),
            "; every person, a periodic walk" if everyone else "",
        )
