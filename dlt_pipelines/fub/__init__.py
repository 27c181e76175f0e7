"""Follow Up Boss (FUB) source: its steps, as the flows run them per agent (:func:`steps`), and
the FUB session they run in (:class:`FubRun`).

What each stream reads, with which cursor, and the raw shape: :mod:`dlt_pipelines.fub.source`
(the cursor table is there and only there); how a load runs and is booked:
:mod:`dlt_pipelines.run`. The near-real-time path: :mod:`webhooks.fub`. The entities it loads:
:data:`agentsync.entities.FUB`.

Each stream is one dlt load and one ``ops.sync_runs`` row (rows, FUB's total, cursor, load id).
A refused credential raises :class:`~agentsync.errors.IntegrationError` at once; any other stream
failure is recorded and the remaining streams of the step still run, then the step raises
naming the failed streams.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import dlt

from agentsync.contracts import EntityResult, RunKind, StepSpec
from agentsync.errors import IntegrationError
from agentsync.settings import Settings, get_settings
from dlt_pipelines.fub import deletions
from dlt_pipelines.fub.auth import load_auth, warn_without_system_key
from dlt_pipelines.fub.client import FubClient
from dlt_pipelines.fub.settings import (
    ACTIVITY_STREAMS,
    RECONCILED_STREAMS,
    REFERENCE_STREAMS,
    STREAMS,
)
from dlt_pipelines.fub.source import (
    FubAccount,
    deleted_ids,
    fub_source,
    id_changes,
    records_by_id,
)
from dlt_pipelines.run import EntityCounts, SourceRun

log = logging.getLogger(__name__)
SOURCE = "fub"


class FubRun:
    """One agent's FUB session: auth, client and pipeline, held for several loads.

    The pipeline's lock is taken when the session opens (waiting, bounded, for a concurrent run
    of the same pipeline) and what a killed run left pending is settled before the first
    entity's ``ops.sync_runs`` row, so it is never booked as that entity
    (:mod:`dlt_pipelines.run`). ``purpose`` names a separate pipeline on the same dataset
    (``fub_<purpose>_user_<id>``: the webhooks' loads never race the scheduled sync's).
    """

    def __init__(
        self,
        user_id: int,
        kind: RunKind,
        flow_run_id: str | None = None,
        settings: Settings | None = None,
        purpose: str | None = None,
    ) -> None:
        self.user_id = user_id
        self.settings = settings or get_settings()
        self.auth = load_auth(user_id, self.settings)
        warn_without_system_key(self.auth, flow_run_id)
        self.client = FubClient(self.auth, self.settings)
        self.source_run = SourceRun(
            SOURCE, user_id, kind, flow_run_id, settings=self.settings, purpose=purpose
        )
        self.account = FubAccount(
            user_id,
            self.client,
            self.source_run.quarantine,
            self.settings.typed_loads,
            self.settings.fub_texts_full_walk_days,
            max(1, self.settings.fub_max_concurrent_requests),
        )
        try:
            self.pipeline = self.source_run.pipeline()
        except BaseException:
            self.close(failed=True)
            raise

    def close(self, failed: bool = False) -> None:
        """Close the client and release the pipeline (kept for the next run unless ``failed``:
        :meth:`SourceRun.close`)."""
        try:
            self.client.close()
        finally:
            self.source_run.close(failed=failed)

    def __enter__(self) -> FubRun:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None)

    def load_stream(self, name: str, *, full: bool = False) -> EntityResult:
        """Load one stream (:func:`~dlt_pipelines.fub.source.fub_source`), booked as ``name``.

        The read begins before dlt's extract, on a copy of the stream's state: a read that
        yields nothing and leaves the state as it was (most streams, most days) ends there,
        without dlt; otherwise dlt extracts what it yields and the rest of it, and the state it
        ends with (the same requests, no read twice).
        """
        source = fub_source  # its name is the state's key
        with self.source_run.entities(name) as load:
            counts = load.counts.setdefault(name, EntityCounts())
            load.land_read(
                source.name,
                name,
                lambda state: self.account.stream_rows(STREAMS[name], counts, full, state),
                lambda rows: source(self.account, load.counts, full, {name: rows}).with_resources(
                    name
                ),
            )
        [result] = load.results
        log.info(
            "agent %s fub.%s: %s rows (%s quarantined, %s re-read unchanged, total %s)",
            self.user_id,
            name,
            result.rows,
            result.quarantined,
            load.counts[name].unchanged,
            result.reported_total,
        )
        return result

    def check_deletions(self, name: str) -> EntityResult:
        """Deletion check of one stream (:mod:`dlt_pipelines.fub.deletions`): a count proof in
        the common case, else a walk of ids whose changes (gone, back) land in
        ``raw_fub.id_changes``. Booked as ``<name>_ids`` (rows: ids held, or walked; total: what
        FUB served)."""
        entity = f"{name}_ids"
        with self.source_run.entities(entity) as load:
            count, legacy = deletions.held_count(self.user_id, name)
            total = deletions.latest_count(self.user_id, name)
            reason = deletions.why_walk(count, legacy, total)
            if reason is None:
                check = deletions.IdCheck("count", count, total)
            else:
                held, mark = deletions.marked_held_ids(self.user_id, name)
                served, total = deletions.walk_ids(self.client, STREAMS[name])
                gone, back, unknown = deletions.compare(held, served)
                check = deletions.IdCheck(
                    "walk", len(held.live), total, tuple(gone), tuple(back), unknown, reason
                )
                rows = deletions.change_rows(self.user_id, name, gone, back)
                after = len(held.live) - len(gone) + len(back)
                deletions.keep_walked_count(self.user_id, name, mark, after, rows)
                if rows:
                    load.land(id_changes(rows), schema=_schema())
                if held.legacy_snapshots:
                    deletions.drop_legacy(self.user_id, name)
            counts = load.counts[entity]
            counts.rows = check.held if check.method == "count" else check.total or 0
            counts.reported_total = check.total
        log.info("agent %s fub.%s ids: %s", self.user_id, name, check.describe())
        [result] = load.results
        return result

    def load_ids(self, name: str, ids: list[int]) -> EntityResult:
        """Fetch specific records by id into raw (webhooks); booked as ``name``."""
        with self.source_run.entities(name) as load:
            load.land(records_by_id(self.account, name, ids, load.counts[name]), schema=_schema())
        [result] = load.results
        return result

    def record_deleted(self, name: str, ids: list[int], deleted_at: datetime) -> EntityResult:
        """Land ids a ``*Deleted`` webhook reported in ``raw_fub.deleted_ids``; booked as
        ``<name>_deleted``."""
        entity = f"{name}_deleted"
        rows = [
            {"user_id": self.user_id, "entity": name, "id": i, "deleted_at": deleted_at}
            for i in ids
        ]
        with self.source_run.entities(entity) as load:
            load.land(deleted_ids(rows), schema=_schema())
            load.counts[entity].rows = len(rows)
        [result] = load.results
        return result


def _schema() -> dlt.Schema:
    """The ``fub`` schema, for loads of a single resource (the streams' come with
    :func:`~dlt_pipelines.fub.source.fub_source`, whose schema it is)."""
    return dlt.Schema(SOURCE)


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
    """Id reconciliation for every reconciled stream (:mod:`dlt_pipelines.fub.deletions`)."""
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


def _reference(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return run_streams(user_id, kind, flow_run_id, REFERENCE_STREAMS)


def _people(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return run_streams(user_id, kind, flow_run_id, ("people",))


def _activity(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return run_streams(user_id, kind, flow_run_id, ACTIVITY_STREAMS)


def _deletions(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return run_deletions(user_id, kind, flow_run_id)


def steps() -> list[StepSpec]:
    """FUB's onboarding/sync steps in dependency order."""
    return [
        StepSpec(SOURCE, "reference", _reference, (), "FUB users, stages, pipelines, groups"),
        StepSpec(SOURCE, "people", _people, (), "FUB people (trash included, custom fields)"),
        StepSpec(
            SOURCE,
            "activity",
            _activity,
            ("fub.people",),
            "FUB deals, events, calls, appointments, text messages",
        ),
        StepSpec(
            SOURCE,
            "deletions",
            _deletions,
            ("fub.people", "fub.activity"),
            "FUB id reconciliation: flags deleted records in the marts",
        ),
    ]


__all__ = ["SOURCE", "FubRun", "run_deletions", "run_streams", "steps"]
