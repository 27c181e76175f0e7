"""How every source's load runs and is booked: one place, used by FUB, reZEN, SkySlope and Qualia.

A source package says *what* is read (``<source>/source.py``: the ``@dlt.source`` and its
resources, with their hints and cursors); this module says how a load of it runs for one agent
and what it leaves behind. The sources' step functions (``<source>/__init__.py``) compose it::

    with SourceRun("qualia", user_id, kind, flow_run_id) as run, run.entities("orders") as load:
        client = ...  # inside: a refused credential is recorded on the entity's row
        load.land(qualia_source(client, ..., counts=load.counts, quarantine=run.quarantine))
    [result] = load.results

What a run does, in order:

1. **One writer per pipeline.** The agent's pipeline (``<source>_user_<user_id>``, dataset
   ``raw_<source>``; :func:`make_pipeline`) is taken under its lock
   (:func:`agentsync.locks.pipeline_lock`: a concurrent run of the same pipeline is waited for,
   bounded by ``AGENTSYNC_PIPELINE_LOCK_WAIT_SECONDS``), created (or handed the object the
   process's last run of it released, while its working dir is unchanged: :func:`kept_pipeline`),
   and what a killed run left pending is settled (:func:`settle_pending`) before anything is
   extracted. The lock is held until the :class:`SourceRun` closes; a FUB session takes it before
   its first entity's row, the one-load sources on their load.
2. **A row per entity** in ``ops.sync_runs`` (:func:`record_sync`), opened before the client
   calls the API, so a refused credential or a failed page is recorded on it, with the source's
   own error (:func:`integration_error_behind`), and re-raised.
3. **The dlt run** (:func:`run_pipeline`): extract, normalize, load; a load that lost a
   schema race with another agent's pipeline on the same dataset is retried.
4. **Quarantine** (:class:`Quarantine`): records a resource could not use, collected during the
   extract, written to ``ops.quarantine`` with the load id of the load they were read in.
5. **The booked result**: each entity's rows landed, the source-reported total (for
   reconciliation), the cursor reached (:class:`EntityCounts`, filled by the resources) and the
   load id go to its ``ops.sync_runs`` row and to the step's :class:`EntityResult`.

Raw tables are append-only history: every fetched version of a record, with ``user_id`` and
dlt's ``_dlt_load_id``; deduplication happens in dbt. dlt keeps each resource's state (cursors,
what was landed: :mod:`dlt_pipelines.landed`) in the destination with each load, so a fresh
machine resumes where the last run stopped.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import random
import shutil
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.destination.exceptions import SchemaUpdateError
from dlt.common.runtime.run_context import active as dlt_run_context
from dlt.pipeline.exceptions import PipelineStepFailed
from sqlalchemy import text

from agentsync import db, liveness
from agentsync.contracts import EntityResult, RunKind
from agentsync.errors import IntegrationError
from agentsync.locks import pipeline_lock
from agentsync.settings import Settings, get_settings
from dlt_pipelines.destination import configure_pipeline, postgres_copy

log = logging.getLogger(__name__)


# -- the agent's pipeline --------------------------------------------------------------------


def pipeline_name(source: str, user_id: int, purpose: str | None = None) -> str:
    """``<source>_user_<id>``, or ``<source>_<purpose>_user_<id>`` for a separate pipeline on the
    same dataset (FUB's webhooks: a webhook load never races the scheduled sync's working dir)."""
    return f"{source}_user_{user_id}" if purpose is None else f"{source}_{purpose}_user_{user_id}"


def destination(settings: Settings | None = None) -> Any:
    """The destination of every pipeline: :class:`dlt_pipelines.destination.postgres_copy` on
    agentsync's database (a new instance per pipeline: it keeps the capabilities it answered)."""
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
        shutil.rmtree(pipeline.working_dir, ignore_errors=True)
    return "discarded"


# -- pipeline objects kept between a process's runs ---------------------------------------------

#: most pipeline objects kept (one per pipeline name: an agent has one per source, plus FUB's
#: webhooks). Only objects whose runs ran no dlt step are kept: one fresh from its working dir
#: measured about 0.3 MB, while keeping every object after its loads cost about 1.4 MB each
#: (medium bench: peak RSS 668 MB against 613 MB keeping none; seed: 1,078 against 959 MB)
KEPT_PIPELINES = 512

#: pipeline objects released by a run, with the stamp of the working dir they left
_kept: dict[tuple[str, str], tuple[dlt.Pipeline, tuple[Any, ...]]] = {}
_kept_lock = threading.Lock()


def _stamp(working_dir: str) -> tuple[Any, ...]:
    """What a run of the pipeline by anyone else would change in its working dir: the dir
    itself, its state file and its schema files (identity, size, modification time)."""
    stamp: list[Any] = []
    for path in (working_dir, os.path.join(working_dir, "state.json")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            stamp.append((path, None))
            continue
        stamp.append((path, st.st_ino, st.st_size, st.st_mtime_ns))
    schemas = os.path.join(working_dir, "schemas")
    try:
        with os.scandir(schemas) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                st = entry.stat()
                stamp.append((entry.name, st.st_ino, st.st_size, st.st_mtime_ns))
    except FileNotFoundError:
        stamp.append((schemas, None))
    return tuple(stamp)


def kept_pipeline(key: tuple[str, str], factory: Callable[[], dlt.Pipeline]) -> dlt.Pipeline:
    """The pipeline object this process's last run of ``key`` released (:func:`release_pipeline`)
    if its working dir is still exactly as that run left it, else a new one from ``factory``.

    Call with the pipeline's lock held. Creating a dlt pipeline object costs a few ms of dlt's
    configuration resolution and schema loading, paid by every step of every agent of every day
    (about 100 at medium scale on a quiet day, most of which end without an extract). A kept
    object is taken out of the keep (never shared); one whose working dir another process (or
    a test, or a person) changed since is dropped: dlt would write its in-memory schemas over
    the newer files. Whether the destination's state is the working dir's own is checked again
    on every use (:func:`restore_state`)."""
    with _kept_lock:
        kept = _kept.pop(key, None)
    if kept is not None:
        pipeline, stamp = kept
        # dlt's run context (where it looks for configuration) must be the one it was made in
        same_context = pipeline.run_context.uri == dlt_run_context().uri
        if same_context and _stamp(pipeline.working_dir) == stamp:
            _synced.discard(pipeline)
            return pipeline
    return factory()


def release_pipeline(key: tuple[str, str], pipeline: dlt.Pipeline) -> None:
    """Keep ``pipeline`` for the process's next run of ``key`` (:func:`kept_pipeline`); call
    before its lock is released, after a run that ended without an error and ran no dlt step
    (a quiet one: what is kept is what most steps of a quiet day create, at its smallest). One
    that leaves packages pending (a step stopped between extract and load) is not kept: the
    next run settles them on a new object, as after a killed process."""
    stamp = _stamp(pipeline.working_dir)
    with _kept_lock:
        _kept.pop(key, None)
    try:
        pending = pipeline.has_pending_data
    except Exception:  # unreadable storage: settled by the next run, on a new object
        pending = True
    if pending or KEPT_PIPELINES <= 0:
        return
    with _kept_lock:
        while _kept and len(_kept) >= KEPT_PIPELINES:
            _kept.pop(next(iter(_kept)))
        _kept[key] = (pipeline, stamp)


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
    with pipeline_lock(pipeline_name, wait=wait):
        pipeline = factory()
        if settle_pending(pipeline) == "discarded" and not os.path.isdir(pipeline.working_dir):
            pipeline = factory()
        yield pipeline


# -- the dlt run -----------------------------------------------------------------------------

# PostgreSQL errors of two runs creating the same relation at once (duplicate schema, table,
# column, or the catalog's unique index on type names behind a concurrent CREATE TABLE).
_DDL_RACE_PGCODES = frozenset({"42P06", "42P07", "42701", "23505"})
DDL_RACE_RETRIES = 4


def _ddl_race(err: BaseException) -> bool:
    """Whether a failed load step lost a race with another pipeline on the same dataset."""
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


def _extracted_nothing(info: Any) -> bool:
    """Whether an extract wrote no file at all: no rows and no change of state (a changed state
    is a ``_dlt_pipeline_state`` row in the package, so it counts as written)."""
    for load_id in getattr(info, "loads_ids", None) or []:
        for metrics in info.metrics.get(load_id, []):
            if metrics.get("job_metrics"):
                return False
    return True


#: what a read yields when it yields nothing (:meth:`EntityLoad.land_read`)
_NOTHING = object()

#: pipelines (objects) whose state was checked against the destination's in this process
_synced: weakref.WeakSet[dlt.Pipeline] = weakref.WeakSet()


def _state_is_current(pipeline: dlt.Pipeline) -> bool:
    """Whether the destination's state of ``pipeline`` is the one its working dir holds (same
    version and hash; every schema it names present locally), so dlt's sync with the destination
    would change nothing. One query on agentsync's pool, where dlt's sync opens a connection of
    its own and reads state and schemas (~40 ms a step, for every agent and step of a day).

    The same row dlt restores from: the newest committed load's state of this pipeline name."""
    local = pipeline.state
    if not local.get("_version_hash") or any(
        name not in pipeline.schemas for name in local.get("schema_names", [])
    ):
        return False
    table = f'"{pipeline.dataset_name}"._dlt_pipeline_state'
    loads = f'"{pipeline.dataset_name}"._dlt_loads'
    with db.begin() as conn:
        if conn.execute(text("select to_regclass(:t)"), {"t": table}).scalar() is None:
            return False
        remote = conn.execute(
            text(
                f"select s.version, s.version_hash from {table} as s "
                f"join {loads} as l on l.load_id = s._dlt_load_id "
                "where s.pipeline_name = :p and l.status = 0 order by l.load_id desc limit 1"
            ),
            {"p": pipeline.pipeline_name},
        ).first()
    return remote is not None and (remote[0], remote[1]) == (
        local.get("_state_version"),
        local.get("_version_hash"),
    )


def restore_state(pipeline: dlt.Pipeline) -> None:
    """What ``pipeline.run()`` does before it extracts: restore state and schemas from the
    destination when they are not the ones this working dir holds (a run on another machine, a
    lost working dir); checked once per pipeline object.

    Raises:
        RuntimeError: the pipeline has pending packages (:func:`settle_pending` ran under the
            same lock, so this is never expected; dlt's ``run()`` would load them instead of the
            new data).
    """
    if pipeline.has_pending_data:
        raise RuntimeError(f"pipeline {pipeline.pipeline_name} had pending packages")
    if pipeline not in _synced:
        if not _state_is_current(pipeline):
            pipeline.sync_destination()
        _synced.add(pipeline)


def resource_state(pipeline: dlt.Pipeline, source: str, resource: str) -> dict[str, Any]:
    """A copy of a resource's state as the pipeline's next extract starts from it (restored
    first: :func:`restore_state`); ``source`` is the state's source key (the ``@dlt.source``
    name). Lets a step begin a read before dlt's extract, and skip the extract when the read
    finds nothing and moves nothing."""
    restore_state(pipeline)
    sources = pipeline.state.get("sources") or {}
    resources = (sources.get(source) or {}).get("resources") or {}
    return copy.deepcopy(resources.get(resource) or {})


def _run(pipeline: dlt.Pipeline, data: Any, **kwargs: Any) -> Any:
    """``pipeline.run(data, **kwargs)`` in its steps, but an extract that wrote nothing (the
    quiet day of most streams) is neither normalized nor loaded (an empty package, if one was
    made, is dropped: the state it would restore is the state it started from), so a quiet step
    costs its requests and dlt's extract, not dlt's normalize and load steps (about 50 ms a step
    here, most of it configuration and schema handling). The state is restored from the
    destination only when it is not the working dir's own (:func:`_state_is_current`). Returns
    the load's ``LoadInfo``, or None when nothing was loaded.
    """
    restore_state(pipeline)
    extracted = pipeline.extract(data, **kwargs)
    if _extracted_nothing(extracted):
        if pipeline.has_pending_data:
            pipeline.abort_packages()
        return None
    pipeline.normalize()
    return pipeline.load()


def run_pipeline(pipeline: dlt.Pipeline, data: Any, **kwargs: Any) -> Any:
    """``pipeline.run(data, **kwargs)`` (an extract that wrote nothing loads nothing: :func:`_run`),
    retrying only the load when it lost a DDL race.

    Agents sync concurrently, and every agent's pipeline of a source writes the same dataset:
    on a first run (or when a new column appears) two of them may create the same schema, table
    or column at once, and PostgreSQL fails the slower one ("duplicate key value violates unique
    constraint pg_type_typname_nsp_index", "schema already exists"). The package is complete and
    pending, so the load alone is repeated: dlt reads the destination again and applies only
    what is still missing (its documented remedy, ``dlt.pipeline.helpers.retry_schema_update``).
    Any other failure, or a race lost ``DDL_RACE_RETRIES`` times, is raised as it was.
    """
    try:
        return _run(pipeline, data, **kwargs)
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


# -- ops.sync_runs ---------------------------------------------------------------------------


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


# -- ops.quarantine --------------------------------------------------------------------------


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


# -- a source's run for one agent ------------------------------------------------------------


@dataclass
class EntityCounts:
    """What one entity served in a run, filled by its resource while dlt extracts it; booked in
    the entity's ``ops.sync_runs`` row and its :class:`EntityResult`.

    Attributes:
        rows: rows landed in raw by this run.
        reported_total: what the vendor says exists in all (for reconciliation), if it says.
        cursor: where the entity's cursor stands after the run, as the source writes it.
        unchanged: records read again exactly as raw already holds them, so not landed
            (:mod:`dlt_pipelines.landed`); logged, not booked.
        read: how the entity was read (``full``, ``window``, ``tail``, ``recount``...); logged.
    """

    rows: int = 0
    reported_total: int | None = None
    cursor: str | None = None
    unchanged: int = 0
    read: str = "full"


class SourceRun:
    """One agent's run of one source: the pipeline (under its lock, from first use until
    :meth:`close`), the quarantine of the records its resources could not use, and
    :meth:`entities` to book a load.

    Args:
        source: ``fub``, ``rezen``, ``skyslope`` or ``qualia`` (the dataset is ``raw_<source>``).
        user_id: the agent.
        kind: what started the run (``ops.sync_runs.kind``).
        flow_run_id: the Prefect flow run, if any.
        settings: agentsync settings (default: the process's).
        purpose: names a separate pipeline on the same dataset (:func:`pipeline_name`).
    """

    def __init__(
        self,
        source: str,
        user_id: int,
        kind: RunKind,
        flow_run_id: str | None = None,
        *,
        settings: Settings | None = None,
        purpose: str | None = None,
    ) -> None:
        self.source = source
        self.user_id = user_id
        self.kind = kind
        self.flow_run_id = flow_run_id
        self.settings = settings or get_settings()
        self.pipeline_name = pipeline_name(source, user_id, purpose)
        self.quarantine = Quarantine(user_id, source)
        self._held = contextlib.ExitStack()
        self._pipeline: dlt.Pipeline | None = None
        self.ran_dlt = False  # a dlt step ran on the pipeline (EntityLoad.land)
        url = self.settings.database_url
        where = hashlib.sha256(url.get_secret_value().encode()).hexdigest() if url else "embedded"
        self._key = (self.pipeline_name, f"{self.settings.dlt_dir}|{where}")

    def pipeline(self) -> dlt.Pipeline:
        """The agent's pipeline: on first call its lock is taken (waiting for a concurrent run,
        bounded), it is created and what an earlier run left pending is settled
        (:func:`pipeline_guard`); held until :meth:`close`."""
        if self._pipeline is None:
            self._pipeline = self._held.enter_context(
                pipeline_guard(
                    self.pipeline_name,
                    lambda: kept_pipeline(
                        self._key,
                        lambda: make_pipeline(
                            self.source, self.user_id, self.settings, self.pipeline_name
                        ),
                    ),
                )
            )
        return self._pipeline

    def close(self, failed: bool = False) -> None:
        """Release the pipeline's lock (if it was taken); after a run without an error in which
        no dlt step ran, the pipeline object is kept for the process's next run
        (:func:`kept_pipeline`)."""
        pipeline, self._pipeline = self._pipeline, None
        try:
            if pipeline is not None and not failed and not self.ran_dlt:
                release_pipeline(self._key, pipeline)
        finally:
            self._held.close()

    def __enter__(self) -> SourceRun:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None)

    @contextlib.contextmanager
    def entities(self, *names: str) -> Iterator[EntityLoad]:
        """Book the load of these entities: each gets its ``ops.sync_runs`` row now (a failure
        inside the block is recorded on every one of them, with the source's own error, and
        re-raised); on success each row gets its :class:`EntityCounts` and the load id."""
        with contextlib.ExitStack() as rows:
            runs = {
                name: rows.enter_context(
                    record_sync(self.kind, self.user_id, self.source, name, self.flow_run_id)
                )
                for name in names
            }
            load = EntityLoad(self, runs)
            yield load
            load.book()


class EntityLoad:
    """The load of some entities of one :class:`SourceRun` (see :meth:`SourceRun.entities`).

    Attributes:
        counts: per entity, what its resource served (resources fill them; an entity a
            resource writes beside the booked ones may be added).
        load_id: the dlt load id of :meth:`land` (None before it, or when nothing landed).
        quarantined: per booked entity, the records it sent to ``ops.quarantine``.
    """

    def __init__(self, run: SourceRun, runs: dict[str, SyncRun]) -> None:
        self._run = run
        self._rows = runs
        self.counts: dict[str, EntityCounts] = {name: EntityCounts() for name in runs}
        self.load_id: str | None = None
        self.quarantined: dict[str, int] = {name: 0 for name in runs}

    def land(self, data: Any, **kwargs: Any) -> str | None:
        """Run ``data`` (a dlt source or resource) through the agent's pipeline; write the
        quarantine collected meanwhile under its load id. Returns the load id.

        Raises:
            IntegrationError: the vendor refused the agent's credential (unwrapped from dlt's
                step failure); any other failure as dlt raised it.
        """
        self._run.ran_dlt = True
        try:
            info = run_pipeline(self._run.pipeline(), data, **kwargs)
        except PipelineStepFailed as err:
            raise integration_error_behind(err) from None
        self.load_id = last_load_id(info)
        self.flush_quarantine()
        return self.load_id

    def land_read(
        self,
        source: str,
        resource: str,
        read: Callable[[dict[str, Any]], Iterable[Any]],
        make: Callable[[Callable[[], Iterator[Any]]], Any],
    ) -> str | None:
        """Land what ``read`` yields into ``resource``, beginning the read before dlt's extract
        (:meth:`land_reads` with one resource)."""
        return self.land_reads(source, {resource: read}, lambda rows: make(rows[resource]))

    def land_reads(
        self,
        source: str,
        reads: dict[str, Callable[[dict[str, Any]], Iterable[Any]]],
        make: Callable[[dict[str, Callable[[], Iterator[Any]]]], Any],
    ) -> str | None:
        """Land what each read yields into its resource, beginning the reads before dlt's extract.

        ``reads[resource](state)`` reads the vendor on a copy of the resource's state
        (:func:`resource_state`, under the ``source`` key) and updates it as the resource would.
        The reads begin in order; while each yields nothing and leaves its state as it was (most
        streams on most days) the next one begins, and when all are quiet it ends there: their
        requests, no dlt extract, no load. At the first read that yields a row or moves its
        state, ``make(rows)`` builds the dlt source (named as the state's key) with, for each
        resource begun, ``rows[resource]()``: what its read yielded and the rest of it, then the
        state it ended with written into the resource state, so no request is made twice. The
        resources not begun read inside dlt's extract. Returns the load id (None: nothing
        landed)."""
        pipeline = self._run.pipeline()
        begun: dict[str, tuple[Any, Iterator[Any], dict[str, Any]]] = {}
        for resource, read in reads.items():
            kept = resource_state(pipeline, source, resource)
            state = copy.deepcopy(kept)
            rows = iter(read(state))
            first = next(rows, _NOTHING)
            begun[resource] = (first, rows, state)
            if first is not _NOTHING or state != kept:
                break
        else:
            self.flush_quarantine()
            return None

        def replay(resource: str) -> Callable[[], Iterator[Any]]:
            first, rows, state = begun[resource]

            def rest() -> Iterator[Any]:
                if first is not _NOTHING:
                    yield first
                    yield from rows
                live = dlt.current.resource_state(resource)
                live.clear()
                live.update(state)

            return rest

        return self.land(make({resource: replay(resource) for resource in begun}))

    def flush_quarantine(self) -> None:
        """Write the records quarantined so far (under :attr:`load_id`) and count them."""
        quarantine = self._run.quarantine
        for name in self.quarantined:
            self.quarantined[name] += quarantine.count(name)
        quarantine.flush(self.load_id)

    def book(self) -> None:
        """Put each entity's counts and the load id on its ``ops.sync_runs`` row."""
        for name, row in self._rows.items():
            counts = self.counts[name]
            row.rows, row.reported_total, row.cursor = (
                counts.rows,
                counts.reported_total,
                counts.cursor,
            )
            row.load_id = self.load_id

    @property
    def results(self) -> list[EntityResult]:
        """What the step returns: one :class:`EntityResult` per booked entity, in order."""
        return [
            EntityResult(
                name,
                self.counts[name].rows,
                self.counts[name].reported_total,
                self.counts[name].cursor,
                self.quarantined[name],
            )
            for name in self._rows
        ]
