"""What every source shares: pipelines per agent, sync-run records, quarantine, record checks.

Conventions (every source follows them):

- One dlt pipeline per (source, agent): ``pipeline_name = "<source>_user_<user_id>"``, dataset
  ``raw_<source>``. dlt keeps its state (incremental cursors) in the destination, so a fresh
  machine resumes where the last run stopped.
- Raw tables are **append-only** history: every fetched version of a record, with a ``user_id``
  column and dlt's ``_dlt_load_id``. Deduplication happens in dbt staging/marts.
- Every (agent, source, entity) run is a row in ``ops.sync_runs`` with the source-reported total
  (e.g. FUB ``_metadata.total``) for reconciliation.
- A record that cannot be used (no id, wrong types) goes to ``ops.quarantine`` with its reason;
  the run goes on.

The step and entity contracts (``StepSpec``, ``EntityResult``, ``EntitySpec``, ``RunKind``) are
in :mod:`agentsync.contracts` (the quality checks read them too); the entity declarations are
in :mod:`agentsync.entities`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import dlt
from sqlalchemy import text

from agentsync import db, liveness
from agentsync.contracts import RunKind
from agentsync.errors import IntegrationError
from agentsync.settings import Settings, get_settings

log = logging.getLogger(__name__)


def integration_error_behind(err: BaseException) -> BaseException:
    """The :class:`IntegrationError` behind a dlt step failure, if any (else ``err`` itself).

    dlt wraps what a resource raises (``PipelineStepFailed`` → ``ResourceExtractionError`` →
    ours); the job and ``ops.sync_runs`` should record the source's own message, which names
    the endpoint and page, not dlt's envelope around it.
    """
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, IntegrationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return err


def destination(settings: Settings | None = None) -> Any:
    """The destination of every pipeline: :class:`dlt_pipelines.destination.postgres_copy` on
    agentsync's database (a new instance per pipeline: it keeps the capabilities it answered)."""
    from dlt_pipelines.destination import postgres_copy

    return postgres_copy(credentials=db.database_url(settings or get_settings()))


def make_pipeline(
    source: str,
    user_id: int,
    settings: Settings | None = None,
    pipeline_name: str | None = None,
) -> dlt.Pipeline:
    """The dlt pipeline for one agent and one source, writing to ``raw_<source>``.

    ``pipeline_name`` (default ``<source>_user_<user_id>``) names a separate pipeline on the
    same dataset (e.g. FUB webhooks). Its destination is PostgreSQL with a CSV ``COPY`` that
    keeps ``""`` apart from ``NULL`` (:mod:`dlt_pipelines.destination`, for typed loads).
    """
    from dlt_pipelines.destination import configure_pipeline

    settings = settings or get_settings()
    settings.dlt_dir.mkdir(parents=True, exist_ok=True)
    name = pipeline_name or f"{source}_user_{user_id}"
    configure_pipeline(name)
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination(settings),
        dataset_name=f"raw_{source}",
        pipelines_dir=str(settings.dlt_dir),
        progress="log" if log.isEnabledFor(logging.INFO) else None,
    )


def settle_pending(pipeline: dlt.Pipeline) -> str:
    """Finish or discard the load packages an earlier (killed) run left behind.

    Call it with the pipeline's lock held and before any entity's ``record_sync``, so a pending
    package is never loaded by (and booked in ``ops.sync_runs`` as) the next entity's run.
    A complete package is normalized and loaded (its rows reach raw under their own load id and
    dbt picks them up like any other load; no sync-run row claims them). A broken one (a
    half-written package, missing schema, a failing load) is aborted with a warning: dlt's
    ``abort_packages`` restores the local state (cursors) to where the package started, so the
    next extract re-reads from the last committed cursor and nothing is lost. Returns
    ``"none"``, ``"loaded"`` or ``"discarded"``.
    """
    try:
        pending = pipeline.has_pending_data
    except Exception:  # unreadable storage counts as broken
        pending = True
    if not pending:
        return "none"
    name = pipeline.pipeline_name
    try:
        extracted = list(pipeline.list_extracted_load_packages())
        normalized = list(pipeline.list_normalized_load_packages())
        log.warning(
            "pipeline %s: completing pending load packages of an earlier run "
            "(extracted %s, normalized %s)",
            name,
            extracted,
            normalized,
        )
        if extracted:
            pipeline.normalize()
        pipeline.load()
        if pipeline.has_pending_data:
            raise RuntimeError("packages still pending after load")
        return "loaded"
    except Exception as err:
        log.warning(
            "pipeline %s: discarding broken pending load packages (%s: %s); the next extract "
            "re-reads from the last committed cursor, so no record is lost",
            name,
            type(err).__name__,
            str(err)[:300],
        )
    try:
        pipeline.abort_packages()
    except Exception as err:
        log.warning(
            "pipeline %s: abort of pending packages failed (%s); dropping the local working "
            "dir so state is restored from the destination",
            name,
            type(err).__name__,
        )
        _drop_local(pipeline)
    return "discarded"


def _drop_local(pipeline: dlt.Pipeline) -> None:
    import shutil

    shutil.rmtree(pipeline.working_dir, ignore_errors=True)


@contextlib.contextmanager
def pipeline_guard(
    pipeline_name: str, factory: Callable[[], dlt.Pipeline], wait: float | None = None
) -> Iterator[dlt.Pipeline]:
    """Hold the pipeline's lock (:func:`agentsync.locks.pipeline_lock`), then create it with
    ``factory`` (dlt's working-dir setup is not safe against a concurrent run either) and settle
    what an earlier run left pending (:func:`settle_pending`) before the body runs it.

    Daily syncs, onboardings and webhook processing **wait** for a concurrent run of the same
    pipeline (bounded by ``AGENTSYNC_PIPELINE_LOCK_WAIT_SECONDS``, then a plain ConflictError
    "another run holds pipeline X for agent N"). If the local working dir had to be dropped,
    the pipeline is created afresh (restored from the destination on its next run)."""
    from agentsync.locks import pipeline_lock

    with pipeline_lock(pipeline_name, wait=wait):
        pipeline = factory()
        if settle_pending(pipeline) == "discarded" and not _working_dir_ok(pipeline):
            pipeline = factory()
        yield pipeline


def _working_dir_ok(pipeline: dlt.Pipeline) -> bool:
    import os

    return os.path.isdir(pipeline.working_dir)


# PostgreSQL errors of two runs creating the same relation at once (duplicate schema, table,
# column, or the catalog's unique index on type names behind a concurrent CREATE TABLE).
_DDL_RACE_PGCODES = frozenset({"42P06", "42P07", "42701", "23505"})
DDL_RACE_RETRIES = 4


def _ddl_race(err: BaseException) -> bool:
    """Whether a failed load step lost a race with another pipeline on the same dataset."""
    from dlt.common.destination.exceptions import SchemaUpdateError

    seen: BaseException | None = err
    hops = 0
    while seen is not None and hops < 20:
        if isinstance(seen, SchemaUpdateError):
            return True
        if getattr(seen, "pgcode", None) in _DDL_RACE_PGCODES:
            return True
        seen = seen.__cause__ or seen.__context__
        hops += 1
    return False


def run_pipeline(pipeline: dlt.Pipeline, data: Any, **kwargs: Any) -> Any:
    """``pipeline.run(data, **kwargs)``, retrying only the load when it lost a DDL race.

    Agents sync concurrently, and every agent's pipeline of a source writes the same dataset:
    on a first run (or when a new column appears) two of them may create the same schema, table
    or column at once, and PostgreSQL fails the slower one ("duplicate key value violates unique
    constraint pg_type_typname_nsp_index", "schema already exists"). The package is complete and
    pending, so the load alone is repeated: dlt reads the destination again and applies only
    what is still missing (its documented remedy, ``dlt.pipeline.helpers.retry_schema_update``).
    Any other failure, or a race lost ``DDL_RACE_RETRIES`` times, is raised as it was.
    """
    import random
    import time

    from dlt.pipeline.exceptions import PipelineStepFailed

    try:
        return pipeline.run(data, **kwargs)
    except PipelineStepFailed as err:
        if err.step != "load" or not _ddl_race(err):
            raise
        failure: PipelineStepFailed = err
    for attempt in range(1, DDL_RACE_RETRIES + 1):
        log.warning(
            "pipeline %s: load lost a schema race with a concurrent run (%s); retrying the "
            "load (%s/%s)",
            pipeline.pipeline_name,
            str(failure.exception).splitlines()[0][:200],
            attempt,
            DDL_RACE_RETRIES,
        )
        time.sleep(random.uniform(0.05, 0.3) * attempt)
        try:
            return pipeline.load()
        except PipelineStepFailed as err:
            if not _ddl_race(err) or attempt == DDL_RACE_RETRIES:
                raise
            failure = err
    raise AssertionError("unreachable")


def last_load_id(info: Any) -> str | None:
    """The load id of a dlt ``LoadInfo`` (None when nothing was loaded)."""
    ids = getattr(info, "loads_ids", None) or []
    return ids[-1] if ids else None


@dataclass
class SyncRun:
    """The row being written to ``ops.sync_runs`` for one (agent, source, entity) run."""

    run_id: int
    user_id: int
    source: str
    entity: str
    rows: int = 0
    reported_total: int | None = None
    cursor: str | None = None
    load_id: str | None = None
    status: str = "running"


def _clean_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:2000]


@contextlib.contextmanager
def record_sync(
    kind: RunKind,
    user_id: int,
    source: str,
    entity: str,
    flow_run_id: str | None = None,
) -> Iterator[SyncRun]:
    """Record one entity's run in ``ops.sync_runs``; failures are recorded and re-raised."""
    with db.begin() as conn:
        run_id = conn.execute(
            text(
                """
                insert into ops.sync_runs (kind, flow_run_id, user_id, source, entity, owner)
                values (:k, :f, :u, :s, :e, :o) returning run_id
                """
            ),
            {
                "k": kind,
                "f": flow_run_id,
                "u": user_id,
                "s": source,
                "e": entity,
                "o": liveness.owner_token(),
            },
        ).scalar_one()
    run = SyncRun(run_id, user_id, source, entity)
    try:
        yield run
    except BaseException as err:
        _finish(run, "failed", _clean_error(err))
        raise
    else:
        _finish(run, "skipped" if run.status == "skipped" else "done", None)


def _finish(run: SyncRun, status: str, error: str | None) -> None:
    run.status = status
    with db.begin() as conn:
        conn.execute(
            text(
                """
                update ops.sync_runs
                   set ended_at = now(), status = :st, rows = :r, reported_total = :t,
                       cursor = :c, load_id = :l, error = :e
                 where run_id = :id
                """
            ),
            {
                "st": status,
                "r": run.rows,
                "t": run.reported_total,
                "c": run.cursor,
                "l": run.load_id,
                "e": error,
                "id": run.run_id,
            },
        )


@dataclass
class Quarantine:
    """Collects unusable records during a run and writes them to ``ops.quarantine``."""

    user_id: int
    source: str
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, entity: str, record: Any, reason: str, record_id: Any = None) -> None:
        self.items.append(
            {
                "u": self.user_id,
                "s": self.source,
                "e": entity,
                "rid": None if record_id is None else str(record_id),
                "reason": reason,
                "rec": json.dumps(record, default=str),
            }
        )

    def count(self, entity: str | None = None) -> int:
        return sum(1 for i in self.items if entity is None or i["e"] == entity)

    def flush(self, load_id: str | None = None) -> int:
        """Write what was collected; returns how many rows were written."""
        if not self.items:
            return 0
        rows = [dict(i, load=load_id) for i in self.items]
        with db.begin() as conn:
            conn.execute(
                text(
                    """
                    insert into ops.quarantine
                        (user_id, source, entity, record_id, reason, record, load_id)
                    values (:u, :s, :e, :rid, :reason, cast(:rec as jsonb), :load)
                    """
                ),
                rows,
            )
        n = len(rows)
        self.items.clear()
        return n


# -- record type checks (shared by the sources' validate modules) ------------------------------

FieldKind = Literal[
    "text", "number", "integer", "boolean", "time", "iso_time", "money", "object", "list"
]
"""What a field must hold (``None`` is always allowed: a missing value is not a wrong type).

- ``text``: a JSON string.
- ``number``: a JSON number, or a string that parses as a finite decimal.
- ``integer``: a JSON integer, or a string of digits.
- ``boolean``: ``true``/``false``.
- ``time``: an ISO-8601 date/datetime string, or an epoch integer (seconds or milliseconds)
  of at least ``10**8`` (1973): smaller integers are not a real time.
- ``iso_time``: an ISO-8601 date/datetime string only (naive and ``0001-01-01`` included).
- ``money``: an object whose ``amount`` is a ``number`` and ``currency`` is ``text``.
- ``object`` / ``list``: a JSON object / array.

A blank string counts as null for the ``number``, ``integer`` and time kinds (staging turns it
into null).
"""
_KIND_NAMES: dict[str, str] = {
    "text": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "time": "an ISO-8601 time or epoch",
    "iso_time": "an ISO-8601 time",
    "money": "an {amount, currency} object",
    "object": "an object",
    "list": "a list",
}
_MIN_EPOCH = 10**8
_VALUE_CHARS = 60


class InvalidRecord(ValueError):
    """Why a record cannot be loaded (the quarantine reason)."""


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, Decimal):  # clients that parse JSON numbers exactly
        return value.is_finite()
    if isinstance(value, str):
        with contextlib.suppress(ValueError, ArithmeticError):
            return Decimal(value.strip()).is_finite()
    return False


def _is_iso_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _fits(kind: FieldKind, value: Any) -> bool:
    """Whether a non-null ``value`` has the JSON type ``kind`` asks for."""
    if kind == "text":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "money":
        return (
            isinstance(value, dict)
            and (value.get("amount") is None or _is_number(value["amount"]))
            and (value.get("currency") is None or isinstance(value["currency"], str))
        )
    if _blank(value):
        return True
    if kind == "number":
        return _is_number(value)
    if kind == "integer":
        if isinstance(value, str):
            return value.strip().lstrip("-").isdigit()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "time" and isinstance(value, int) and not isinstance(value, bool):
        return value >= _MIN_EPOCH
    if kind in ("time", "iso_time"):
        return _is_iso_time(value)
    raise ValueError(f"unknown field kind {kind!r}")


def _values(record: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(concrete path, value)`` for a dotted ``path``; ``*`` walks every list item.

    Parents that are null, missing or of another type yield nothing (their own check reports
    a wrong type).
    """
    nodes: list[tuple[str, Any]] = [("", record)]
    for part in path.split("."):
        nxt: list[tuple[str, Any]] = []
        for where, node in nodes:
            if part == "*":
                if isinstance(node, list):
                    nxt.extend((f"{where}[{i}]", item) for i, item in enumerate(node))
            elif isinstance(node, dict) and part in node:
                nxt.append((f"{where}.{part}" if where else part, node[part]))
        nodes = nxt
    return iter(nodes)


def check_types(record: Any, fields: dict[str, FieldKind]) -> None:
    """Check the JSON types of the fields a record's staging model relies on.

    Args:
        record: the record as the API served it.
        fields: dotted path (``*`` for every list item, e.g. ``properties.*.city``) → the kind
            the value must have. Nulls and missing fields pass; fields not named here (new
            vendor fields: schema drift) are not checked.

    Raises:
        InvalidRecord: the record is not an object, or a field has the wrong type; the message
            names the field and the bad value (truncated) and is the quarantine reason.
    """
    if not isinstance(record, dict):
        raise InvalidRecord(f"record is a {type(record).__name__}, not an object")
    top, nested = _plan(fields)
    for path, kind in top:  # a field of the record itself: one lookup (most checks)
        value = record.get(path)
        if value is not None and not _fits(kind, value):
            _wrong(path, kind, value)
    for path, kind in nested:
        for where, value in _values(record, path):
            if value is not None and not _fits(kind, value):
                _wrong(where, kind, value)


_PLANS: dict[int, tuple[dict[str, FieldKind], Any]] = {}


def _plan(
    fields: dict[str, FieldKind],
) -> tuple[list[tuple[str, FieldKind]], list[tuple[str, FieldKind]]]:
    """``fields`` split into top-level fields and dotted paths (once per checks dict: the
    sources' are module constants, checked for every record)."""
    hit = _PLANS.get(id(fields))
    if hit is not None and hit[0] is fields:
        return hit[1]  # type: ignore[no-any-return]
    top = [(p, k) for p, k in fields.items() if "." not in p and p != "*"]
    nested = [(p, k) for p, k in fields.items() if "." in p or p == "*"]
    if len(_PLANS) > 1000:
        _PLANS.clear()
    _PLANS[id(fields)] = (fields, (top, nested))
    return top, nested


def _wrong(where: str, kind: FieldKind, value: Any) -> None:
    shown = repr(value)
    if len(shown) > _VALUE_CHARS:
        shown = shown[: _VALUE_CHARS - 3] + "..."
    raise InvalidRecord(f"{where} is not {_KIND_NAMES[kind]}: {shown}")


def full_read_due(last_full_at: object, now: datetime, max_age: timedelta) -> bool:
    """Whether a daily run must read the whole account: no full read recorded, or it is too old.

    Args:
        last_full_at: the ``last_full_at`` value of the resource state (ISO-8601 UTC), if any.
        now: the current time (timezone-aware).
        max_age: the source's ``..._FULL_REREAD_DAYS`` setting as a duration.

    Returns:
        True when ``last_full_at`` is missing or unreadable, or at least ``max_age`` old.
    """
    if not isinstance(last_full_at, str):
        return True
    try:
        then = datetime.fromisoformat(last_full_at)
    except ValueError:
        return True
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return now - then >= max_age


#: most records whose landed version a resource keeps in its state (the state stays small)
MAX_LANDED_VERSIONS = 5_000


def row_digest(row: dict[str, Any]) -> str:
    """A short hash of a prepared row's content (what would land in raw); key order is not
    content."""
    payload = json.dumps(row, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class LandedSnapshot:
    """All or nothing for a list read whole as the current snapshot (the marts take the newest
    load as the whole list: absent = gone), so a quiet day lands none of it.

    The list's digest (its rows' content hashes, in any order) is kept in the resource state
    under ``key``; a list that is the same as the one last landed is not landed again, and
    one that differs in any row, or in which rows it has, is landed whole. The state is
    committed with the load, so what it says was landed is in raw; the first read lands.
    """

    def __init__(self, state: dict[str, Any], key: str) -> None:
        self._state = state
        self._key = key

    def changed(self, rows: list[dict[str, Any]]) -> bool:
        """True when ``rows`` must land (and from now on they are what was landed)."""
        digest = hashlib.sha256(
            "\n".join(sorted(row_digest(r) for r in rows)).encode()
        ).hexdigest()[:32]
        if self._state.get(self._key) == digest:
            return False
        self._state[self._key] = digest
        return True


class LandedVersions:
    """Which records a re-read window must land: those not already in raw as read now.

    Daily runs re-read a window that overlaps the last run's (a look-back of offsets, days or
    hours) so that nothing near the cursor is missed. A record re-read exactly as it was landed
    adds nothing to raw but a duplicate version: no mart changes, yet dbt and the gate would
    process the load. This keeps ``{id: version}`` (a content hash, or the vendor's own version
    stamp) of the records the last run read in the resource state under ``key``; a record whose
    version is unchanged is skipped. The state is committed with the load, so what it says was
    landed is in raw. ``trust=False`` (a full read, a repair) lands everything and starts again.

    Only records that are read whole and kept latest-version-wins by their marts may be skipped;
    a stream whose marts read the newest load as the whole list (absent = deleted) must land
    all or nothing (:class:`LandedSnapshot`).
    """

    def __init__(self, state: dict[str, Any], key: str = "landed", trust: bool = True) -> None:
        self._state = state
        self._key = key
        self._before: dict[str, str] = dict(state.get(key) or {}) if trust else {}
        self._now: dict[str, str] = {}
        self.unchanged = 0

    def unchanged_since_landed(self, rid: str, version: str) -> bool:
        """True (and counted) when raw already holds this version of the record: skip it."""
        if self._before.get(rid) == version:
            self._now[rid] = version
            self.unchanged += 1
            return True
        return False

    def landed(self, rid: str, version: str) -> None:
        """The record is landed in this version by this run."""
        self._now[rid] = version

    def fresh(self, rows: list[dict[str, Any]], id_of: Callable[[dict[str, Any]], Any]) -> list:
        """The rows to land: each row's content hash is its version."""
        out = []
        for row in rows:
            rid, version = str(id_of(row)), row_digest(row)
            if not self.unchanged_since_landed(rid, version):
                self.landed(rid, version)
                out.append(row)
        return out

    def commit(self) -> None:
        """Keep the versions read now (the newest ``MAX_LANDED_VERSIONS`` in read order)."""
        kept = list(self._now.items())[-MAX_LANDED_VERSIONS:]
        self._state[self._key] = dict(kept)
