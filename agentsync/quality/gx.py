"""The Great Expectations side of the gate: per-entity metrics tables, the file context, the checkpoint.

Layout. The GX file context lives in ``expectations/gx/`` (committed: ``great_expectations.yml``,
one suite per ``<source>.<entity>``, one validation definition each, the ``quality_gate``
checkpoint). Validation results and Data Docs are written under the data dir
(``<data_dir>/gx/``), never into the checkout.

What is validated. GX 1.24.1 cannot compare row counts across schemas (docs/vendors/stack.md
§3), so the gate materialises, per entity, a table ``quality.<source>__<entity>`` with one row
per agent it checks (columns: :mod:`agentsync.quality.metrics`, computed once per run over only
those agents' rows) and the suites hold plain column expectations on it:

- counts: ``unexplained_gap`` = 0 (source-reported total = final + excluded by reason) and
  ``missing_in_mart`` = 0 (every raw id reached the final table);
- freshness (only for agents still present and connected to the source, ``sync_required``):
  every agent has a successful sync (``synced_ok``), no older than
  ``$PARAMETER max_sync_age_hours`` (``AGENTSYNC_SYNC_AGE_WARN_HOURS``), and — for entities
  with a freshness column — the newest record is not in the future (a data error: a failure)
  and not older than ``$PARAMETER max_record_age_hours_<source>_<entity>``
  (``AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY``, else ``AGENTSYNC_MAX_RECORD_AGE_HOURS``, default
  8760 h: a year, since an agent's newest deal or contact can legitimately be months old).

Record age is a *warning* by default (``AGENTSYNC_RECORD_AGE_SEVERITY=warn``): an account whose
newest record is old but whose sync succeeded is reported (observed age and threshold) and the
gate passes; ``error`` makes it fail the gate. Sync age stays a failure.

Thresholds are expectation parameters passed at run time, so the suites never change during
flows. The metrics tables are recomputed at every run (they follow the registry and whether
tables exist); that touches only the database. Their expensive part, the counts over raw, final
and quarantine rows, is kept in ``quality.<source>__<entity>__counts`` and recomputed only for
the agents whose rows changed (:mod:`agentsync.quality.changes`); the sync-run part is computed
at every run.

Build vs run (docs/vendors/stack.md §4: never mutate the file context during parallel runs):
:func:`build_context` (``agentsync quality-build``) writes the context from the registry; a run
(:func:`run_checkpoint`) only reads it. Scoping a run to some agents does not change the context
either: the metrics tables hold only the scoped agents' rows. Runs are serialised per database by
an advisory lock (the tables are the run's own until it ends).

Unix-socket URLs: GX rejects ``postgresql://u:p@/db?host=/sock``; the ``localhost`` +
``?host=/sock`` form (what :func:`agentsync.db.sqlalchemy_url` returns) works
(docs/vendors/stack.md §2).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from agentsync import db
from agentsync.contracts import EntitySpec
from agentsync.entities import all_entities
from agentsync.errors import AgentsyncError, SettingError
from agentsync.quality import changes, data_docs, sql_checks
from agentsync.quality.metrics import (
    analyze_stale,
    count_columns,
    counts_sql,
    entity_key,
    metrics_from,
    presence,
)
from agentsync.settings import Settings, get_settings

log = logging.getLogger(__name__)

CONTEXT_ROOT = Path(__file__).resolve().parents[2] / "expectations"
DATASOURCE = "agentsync"
CHECKPOINT = "quality_gate"
VIEW_SCHEMA = "quality"
MANIFEST = "registry.json"
ENV_DB = "GX_AGENTSYNC_DB"
ENV_OUT = "GX_AGENTSYNC_OUT"
FUTURE_SLACK_HOURS = 1.0
# Bump when the suites' expectations change: a context built before no longer matches the
# manifest, so a run falls back to a private up-to-date context (and CI asks for quality-build).
CHECKS_VERSION = 2
RECORD_AGE = "record_age"  # expectation meta ``agentsync_check``: newest record too old
RECORD_FUTURE = "record_future"  # newest record in the future
_GATE_LOCK_ID = 0x61677332  # "ags2"
#: validation runs kept per suite, with their Data Docs pages (the index reads every kept one)
KEEP_RESULTS = 30
_process_lock = threading.Lock()
#: what GX reports per failing expectation: every unexpected row, with the agent it belongs to
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": ["user_id"],
}


class GxContextError(AgentsyncError):
    """The GX context is missing or does not match the entity registry."""


def view_name(spec: EntitySpec) -> str:
    return f"{spec.source}__{spec.entity}"


def _manifest(entities: Sequence[EntitySpec]) -> list[dict[str, Any]]:
    return [
        {
            "entity": entity_key(e),
            "view": view_name(e),
            "freshness": e.freshness_column is not None,
            "checks": CHECKS_VERSION,
        }
        for e in entities
    ]


def record_age_parameter(spec: EntitySpec) -> str:
    """The expectation parameter holding ``spec``'s record-age threshold."""
    safe = "".join(c if c.isalnum() else "_" for c in f"{spec.source}_{spec.entity}")
    return f"max_record_age_hours_{safe}"


def record_age_threshold(spec: EntitySpec, settings: Settings) -> tuple[float, str]:
    """``spec``'s record-age threshold in hours and the setting it comes from."""
    key = entity_key(spec)
    by_entity = settings.max_record_age_hours_by_entity
    if key in by_entity:
        return float(by_entity[key]), f"AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY {key}"
    return float(settings.max_record_age_hours), "AGENTSYNC_MAX_RECORD_AGE_HOURS"


def check_record_age_settings(entities: Sequence[EntitySpec], settings: Settings) -> None:
    """Every entity named in ``AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY`` exists and has a
    freshness column (a typo would silently leave the default in force)."""
    named = set(settings.max_record_age_hours_by_entity)
    if not named:
        return
    known = {entity_key(e) for e in [*all_entities(), *entities] if e.freshness_column}
    unknown = sorted(named - known)
    if unknown:
        raise SettingError(
            f"AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY names {', '.join(unknown)}, which "
            f"is not an entity with record freshness (one of: {', '.join(sorted(known))})"
        )


def output_dir(settings: Settings | None = None) -> Path:
    """Where validation results and Data Docs go: ``<data_dir>/gx``."""
    s = settings or get_settings()
    return s.data_dir / "gx"


def data_docs_index(settings: Settings | None = None) -> Path:
    return output_dir(settings) / "data_docs" / "index.html"


# --- views ---------------------------------------------------------------------------------------


def counts_table(spec: EntitySpec) -> str:
    """Where the gate keeps an entity's per-agent counts between runs (every agent)."""
    return f'{VIEW_SCHEMA}."{view_name(spec)}__counts"'


@dataclass
class Refresh:
    """What :func:`refresh_views` did: ``errors`` ``{entity key: reason}`` for tables it could
    not build; ``recounted`` ``{entity key: agents}`` whose counts were recomputed from the
    data (``None``: every agent; an entity absent from it: none, nothing had changed)."""

    errors: dict[str, str] = field(default_factory=dict)
    recounted: dict[str, list[int] | None] = field(default_factory=dict)


def refresh_views(
    conn: sa.Connection, entities: Sequence[EntitySpec], user_ids: Sequence[int] | None = None
) -> Refresh:
    """(Re)compute ``quality.<source>__<entity>`` for each entity: a table of the per-agent
    metrics of ``user_ids`` (default every agent), which every expectation of the entity's
    suite then reads.

    The expensive part, the counts over the raw, final and quarantine rows, is kept between runs
    in ``quality.<source>__<entity>__counts`` and recomputed only for the agents whose rows
    changed since (:mod:`agentsync.quality.changes`): a gate after a day without change reads no
    raw or final table. The sync-run part (reported totals, sync and record age) is computed
    at every run. ``conn`` must not be in a transaction: each entity commits on its own, so the
    change triggers it installs do not hold locks on the tables for the whole refresh.

    Returns:
        A :class:`Refresh`. An entity whose table could not be built (e.g. a flag column the spec
        names is missing from the mart) keeps its previous table, if any.
    """
    out = Refresh()
    with conn.begin():
        conn.execute(sa.text(f"create schema if not exists {VIEW_SCHEMA}"))
    for spec in entities:
        try:
            with conn.begin():
                recounted = _refresh_counts(conn, spec)
                _create_view(conn, spec, user_ids)
        except (sa.exc.DBAPIError, ValueError) as err:
            detail = str(getattr(err, "orig", None) or err).strip().splitlines()
            out.errors[entity_key(spec)] = detail[0] if detail else type(err).__name__
        else:
            if recounted is None:
                log.info("quality gate: %s counted for every agent", entity_key(spec))
                out.recounted[entity_key(spec)] = None
            elif recounted:
                log.info(
                    "quality gate: %s recounted for %d agent(s) whose rows changed",
                    entity_key(spec),
                    len(recounted),
                )
                out.recounted[entity_key(spec)] = recounted
    return out


def _refresh_counts(conn: sa.Connection, spec: EntitySpec) -> list[int] | None:
    """Bring the entity's kept counts up to date (inside the caller's transaction).

    Returns:
        None when every agent was counted (first run, a changed counts query, a table that lost
        or never had its change triggers, a truncate), else the agents recounted (often none).
    """
    present = presence(conn, spec)
    analyze_stale(conn, [t for t in (spec.raw_table, spec.mart) if t])
    full_sql = counts_sql(spec, present)
    digest = hashlib.sha256(full_sql.encode()).hexdigest()
    table = counts_table(spec)
    complete = changes.ensure_triggers(conn, spec)  # before counting: later changes are noted
    stored = conn.execute(
        sa.text("select digest from ops.quality_counts where entity = :e"),
        {"e": entity_key(spec)},
    ).scalar()
    kept = conn.execute(sa.text("select to_regclass(:t) is not null"), {"t": table}).scalar()
    taken = changes.take_changes(conn, spec) if complete and kept and stored == digest else None
    if taken is not None:
        changes.forget_load_counts(conn, spec.raw_table, taken.rewritten)
    changed = taken.users if taken is not None else None
    if changed is not None:
        if changed:
            users = sorted(changed)
            conn.execute(sa.text(f"delete from {table} where user_id = any(:u)"), {"u": users})
            columns = ", ".join(["user_id", *count_columns(spec)])
            conn.execute(
                sa.text(
                    f"insert into {table} ({columns}) "
                    f"select {columns} from ({counts_sql(spec, present, users)}) as c"
                )
            )
        return users if changed else []
    changes.discard_changes(conn, spec)
    changes.forget_load_counts(conn, spec.raw_table, None)  # unwatched: raw may have been rewritten
    conn.execute(sa.text(f"drop table if exists {table}"))
    conn.execute(sa.text(f"create table {table} as {full_sql}"))
    conn.execute(sa.text(f"create unique index on {table} (user_id)"))
    conn.execute(
        sa.text(f"comment on table {table} is :c"),
        {
            "c": f"Per-agent counts of {entity_key(spec)} kept by the agentsync quality gate "
            "(recomputed for the agents whose rows change; see ops.quality_changes)."
        },
    )
    conn.execute(
        sa.text(
            "insert into ops.quality_counts (entity, digest) values (:e, :d) "
            "on conflict (entity) do update set digest = excluded.digest, counted_at = now()"
        ),
        {"e": entity_key(spec), "d": digest},
    )
    return None


def _create_view(
    conn: sa.Connection, spec: EntitySpec, user_ids: Sequence[int] | None = None
) -> None:
    """Replace one entity's metrics table from its kept counts (inside the caller's
    transaction); an earlier install's view of the same name is dropped."""
    body = metrics_from(spec, counts_table(spec), user_ids)
    name = f'{VIEW_SCHEMA}."{view_name(spec)}"'
    kind = conn.execute(
        sa.text("select c.relkind from pg_class as c where c.oid = to_regclass(:n)"), {"n": name}
    ).scalar()
    if kind == "v":
        conn.execute(sa.text(f"drop view {name}"))
    elif kind is not None:
        conn.execute(sa.text(f"drop table {name}"))
    conn.execute(
        sa.text(
            f"""
            create table {name} as
            select t.*,
                   case when t.sync_required
                        then extract(epoch from (now() - t.newest_record_at)) / 3600.0
                   end as record_age_hours
              from ({body}) as t
            """
        )
    )
    conn.execute(
        sa.text(f"comment on table {name} is :c"),
        {
            "c": f"Counts and freshness of {entity_key(spec)} per agent, as of the last "
            "agentsync quality gate (one row per agent it checked)."
        },
    )


# --- the file context ----------------------------------------------------------------------------


def prune_results(out: Path, keep: int = KEEP_RESULTS) -> int:
    """Remove all but the newest ``keep`` validation results of each suite under ``out`` (the
    gate's output dir) and their Data Docs pages, so the Data Docs index, which GX builds by
    reading every stored result, costs the same on the thousandth daily run as on the first.

    Returns:
        How many results were removed.
    """
    base = out / "validations"
    if not base.is_dir():
        return 0
    by_suite: dict[tuple[str, ...], list[tuple[str, Path]]] = {}
    for path in base.rglob("*.json"):
        parts = path.relative_to(base).parts  # <suite...>/<run name>/<run time>/<batch>.json
        if len(parts) >= 4:
            by_suite.setdefault(parts[:-3], []).append((parts[-2], path))
    removed = 0
    for items in by_suite.values():
        items.sort(reverse=True)  # run times (20261204T023818.564625Z) sort as time
        for _, path in items[max(keep, 0) :]:
            rel = path.relative_to(base)
            path.unlink(missing_ok=True)
            (out / "data_docs" / "validations" / rel.with_suffix(".html")).unlink(missing_ok=True)
            removed += 1
            for parent in (path.parent, path.parent.parent):
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only when empty
    return removed


def _set_env(settings: Settings) -> None:
    os.environ[ENV_DB] = db.sqlalchemy_url(settings)
    out = output_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    os.environ[ENV_OUT] = str(out)


def _patch_project_config(gx_dir: Path) -> None:
    """Results and Data Docs under ``${GX_AGENTSYNC_OUT}``; no progress bars."""
    path = gx_dir / "great_expectations.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg["stores"]["validation_results_store"]["store_backend"]["base_directory"] = (
        "${" + ENV_OUT + "}/validations/"
    )
    cfg["data_docs_sites"] = {
        "local_site": {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": "${" + ENV_OUT + "}/data_docs/",
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    }
    cfg["progress_bars"] = {"globally": False, "metric_calculations": False}
    cfg.setdefault("analytics_enabled", False)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _expectations(spec: EntitySpec) -> list[Any]:
    import great_expectations.expectations as gxe

    key = entity_key(spec)
    exps = [
        gxe.ExpectColumnValuesToBeBetween(
            column="unexplained_gap",
            min_value=0,
            max_value=0,
            description=f"{key} count: source-reported total = final + excluded (no unexplained gap)",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="missing_in_mart",
            min_value=0,
            max_value=0,
            description=f"{key} count: every raw id is in the final table",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="synced_ok",
            value_set=[True],
            description=f"{key} freshness: every agent has a successful sync",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="sync_age_hours",
            max_value={"$PARAMETER": "max_sync_age_hours"},
            description=f"{key} freshness: last successful sync within the sync-age threshold",
        ),
    ]
    if spec.freshness_column:
        exps += [
            gxe.ExpectColumnValuesToBeBetween(
                column="record_age_hours",
                min_value={"$PARAMETER": "min_record_age_hours"},
                description=f"{key} freshness: newest {spec.freshness_column} not in the future",
                meta={"agentsync_check": RECORD_FUTURE},
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="record_age_hours",
                max_value={"$PARAMETER": record_age_parameter(spec)},
                description=(
                    f"{key} freshness: newest {spec.freshness_column} within the "
                    "record-age threshold"
                ),
                meta={"agentsync_check": RECORD_AGE, "entity": key},
            ),
        ]
    return exps


def build_context(
    entities: Sequence[EntitySpec] | None = None,
    root: Path = CONTEXT_ROOT,
    settings: Settings | None = None,
) -> Path:
    """Write the GX file context for ``entities`` (default: the registry) under ``root``.

    The deliberate build step: run it when the registry changes (``agentsync quality-build``),
    never inside parallel flow runs. Creates the views too, so assets can be registered.

    Returns:
        The ``gx`` directory of the context.
    """
    import great_expectations as gx
    from great_expectations.checkpoint import Checkpoint, UpdateDataDocsAction

    s = settings or get_settings()
    if entities is None:
        entities = all_entities()
    db.ensure_ready(s)
    with db.engine(s).connect() as conn:
        refresh_views(conn, entities)
    _set_env(s)
    root.mkdir(parents=True, exist_ok=True)
    gx_dir = root / "gx"
    gx.get_context(mode="file", project_root_dir=str(root))  # creates the skeleton
    _patch_project_config(gx_dir)
    ctx = gx.get_context(mode="file", project_root_dir=str(root))

    for name in list(ctx.checkpoints.all()):
        ctx.checkpoints.delete(name.name)
    for vd in list(ctx.validation_definitions.all()):
        ctx.validation_definitions.delete(vd.name)
    for suite in list(ctx.suites.all()):
        ctx.suites.delete(suite.name)
    if DATASOURCE in [d.name for d in ctx.data_sources.all().values()]:
        ctx.data_sources.delete(DATASOURCE)
    ds = ctx.data_sources.add_postgres(name=DATASOURCE, connection_string="${" + ENV_DB + "}")
    vds = []
    for spec in entities:
        key = entity_key(spec)
        asset = ds.add_table_asset(name=key, table_name=view_name(spec), schema_name=VIEW_SCHEMA)
        batch = asset.add_batch_definition_whole_table(name="all agents")
        suite = ctx.suites.add(gx.ExpectationSuite(name=key, expectations=_expectations(spec)))
        vds.append(
            ctx.validation_definitions.add(
                gx.ValidationDefinition(name=key, data=batch, suite=suite)
            )
        )
    ctx.checkpoints.add(
        Checkpoint(
            name=CHECKPOINT,
            validation_definitions=vds,
            actions=[UpdateDataDocsAction(name="data_docs")],
            result_format=RESULT_FORMAT,
        )
    )
    (gx_dir / MANIFEST).write_text(json.dumps(_manifest(entities), indent=2) + "\n")
    log.info("GX context built for %d entities in %s", len(entities), gx_dir)
    return gx_dir


# --- running -------------------------------------------------------------------------------------


@dataclass
class FailedCheck:
    """One failing check: ``name`` is stable across runs (e.g. ``fub.people count: every raw id
    is in the final table``), ``agents`` the failing agents (empty when the check is not per
    agent), ``line`` the failure as reported (``gx <name> (agents ...) [error: ...]``)."""

    name: str
    agents: list[int]
    line: str


@dataclass
class CheckResult:
    """One check as the gate's JSON lists it, passed or not.

    ``source``/``entity`` say what was checked (``dbt`` and the test node for dbt tests),
    ``kind`` which check (``count``, ``sync``, ``record_age``, ``record_future``, ``drift``,
    ``dbt_test``, ...), ``column`` the checked value, ``threshold`` its allowed range, ``verdict``
    ``pass`` / ``fail`` / ``warn`` / ``error``, and ``agents`` each failing agent with the
    observed value (empty when the check passed or is not per agent).
    """

    source: str
    entity: str
    kind: str
    check: str
    verdict: str
    column: str | None = None
    threshold: dict[str, Any] = field(default_factory=dict)
    agents: list[dict[str, Any]] = field(default_factory=list)
    observed: Any = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "entity": self.entity,
            "kind": self.kind,
            "check": self.check,
            "column": self.column,
            "threshold": self.threshold,
            "verdict": self.verdict,
            "agents": self.agents,
            "observed": self.observed,
            "error": self.error,
        }


@dataclass
class CheckpointOutcome:
    """``checks`` fail the gate; ``warnings`` (record age, by default) are reported only;
    ``results`` lists every expectation, passed or not."""

    success: bool
    failures: list[str] = field(default_factory=list)
    data_docs_path: str | None = None
    checks: list[FailedCheck] = field(default_factory=list)
    warnings: list[FailedCheck] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)
    #: entity key -> agents whose counts were recomputed from the data (None: every agent)
    recounted: dict[str, list[int] | None] = field(default_factory=dict)
    #: seconds spent: ``counts`` (the metrics tables), ``sql_checks`` (every suite in SQL),
    #: ``checkpoint`` (GX and Data Docs, for the suites it validated)
    seconds: dict[str, float] = field(default_factory=dict)
    #: suite -> why GX validated it this run (the others passed in SQL, unchanged)
    validated_by_gx: dict[str, str] = field(default_factory=dict)


# what each checked column means, for the kind and the human line
_COLUMN_KIND = {
    "unexplained_gap": ("count", "unexplained gap of {v:g} row(s)"),
    "missing_in_mart": ("count", "{v:g} raw id(s) not in the final table"),
    "synced_ok": ("sync", ""),
    "sync_age_hours": ("sync", "last successful sync {v:.0f} h ago"),
}


@contextmanager
def _serialised(settings: Settings) -> Iterator[None]:
    with _process_lock, db.engine(settings).connect() as conn:
        conn.execute(sa.text("select pg_advisory_lock(:id)"), {"id": _GATE_LOCK_ID})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("select pg_advisory_unlock(:id)"), {"id": _GATE_LOCK_ID})
            conn.commit()


def _check_manifest(gx_dir: Path, entities: Sequence[EntitySpec]) -> None:
    path = gx_dir / MANIFEST
    if not path.exists():
        raise GxContextError(
            f"no GX context in {gx_dir.parent}: build it with `agentsync quality-build`"
        )
    built = {m["entity"]: m for m in json.loads(path.read_text())}
    wanted = {m["entity"]: m for m in _manifest(entities)}
    if built != wanted:
        missing = sorted(set(wanted) - set(built))
        extra = sorted(set(built) - set(wanted))
        changed = sorted(k for k in set(wanted) & set(built) if wanted[k] != built[k])
        raise GxContextError(
            "GX context is out of date with the entity registry "
            f"(missing: {', '.join(missing) or '-'}; removed: {', '.join(extra) or '-'}; "
            f"changed: {', '.join(changed) or '-'}): run `agentsync quality-build`"
        )


def _usable_root(
    root: Path, entities: Sequence[EntitySpec], settings: Settings, auto_build: bool
) -> Path:
    """``root`` if its context matches the registry, else a private up-to-date context."""
    try:
        _check_manifest(root / "gx", entities)
        return root
    except GxContextError as err:
        if not auto_build:
            raise
        private = output_dir(settings) / "context"
        try:
            _check_manifest(private / "gx", entities)
        except GxContextError:
            log.warning("%s; using a private context in %s meanwhile", err, private)
            build_context(entities, root=private, settings=settings)
        return private


def _unexpected_values(result: Any) -> list[float]:
    values = []
    for v in result.result.get("unexpected_list") or []:
        try:
            values.append(float(v))
        except (TypeError, ValueError):
            continue
    return values


def _bounds(result: Any, params: dict[str, float]) -> dict[str, Any]:
    """The expectation's allowed range (``min``/``max``, parameters resolved) or value set."""
    kwargs = dict(result.expectation_config.kwargs or {})
    out: dict[str, Any] = {}
    for key, name in (("min_value", "min"), ("max_value", "max")):
        value = kwargs.get(key)
        if isinstance(value, dict) and "$PARAMETER" in value:
            value = params.get(value["$PARAMETER"])
        if value is not None:
            out[name] = value
    if kwargs.get("value_set") is not None:
        out["in"] = list(kwargs["value_set"])
    return out


def _observed(
    kind: str,
    result: Any,
    threshold: tuple[float, str] | None,
    params: dict[str, float] | None = None,
) -> str:
    """The observed value and the threshold of a failing expectation, for its line."""
    values = _unexpected_values(result)
    column = str((result.expectation_config.kwargs or {}).get("column") or "")
    if column in _COLUMN_KIND and not kind:
        _, text = _COLUMN_KIND[column]
        bounds = _bounds(result, params or {})
        if column == "synced_ok" or not values:  # the check's own name says what failed
            return ""
        shown = text.format(v=max(values))
        if column == "sync_age_hours":
            return (
                f": {shown} (threshold {bounds.get('max', 0):g} h, AGENTSYNC_SYNC_AGE_WARN_HOURS)"
            )
        return f": {shown} (allowed {bounds.get('max', 0):g})"
    if kind == RECORD_AGE and values and threshold:
        hours, setting = threshold
        return f": newest record {max(values):.0f} h old (threshold {hours:g} h, {setting})"
    if kind == RECORD_FUTURE and values:
        return (
            f": newest record {-min(values):.1f} h in the future "
            f"(allowed {FUTURE_SLACK_HOURS:g} h; a time-zone or parsing error)"
        )
    return ""


def _agent_values(result: Any) -> list[dict[str, Any]]:
    """Each failing agent with the value observed for it."""
    column = (result.expectation_config.kwargs or {}).get("column")
    by_agent: dict[int, Any] = {}
    for item in result.result.get("unexpected_index_list") or []:
        if isinstance(item, dict) and "user_id" in item:
            by_agent[int(item["user_id"])] = item.get(column)
    return [{"user_id": u, "observed": v} for u, v in sorted(by_agent.items())]


def check_result(result: Any, verdict: str, params: dict[str, float]) -> CheckResult:
    """A GX expectation result as a :class:`CheckResult`."""
    cfg = result.expectation_config
    name = cfg.description or cfg.type
    key, _, check = name.partition(" ")
    source, _, entity = key.partition(".")
    column = (cfg.kwargs or {}).get("column")
    kind = str((cfg.meta or {}).get("agentsync_check") or _COLUMN_KIND.get(column, ("",))[0])
    raised = bool(result.exception_info and result.exception_info.get("raised_exception"))
    return CheckResult(
        source=source,
        entity=entity,
        kind=kind or cfg.type,
        check=check or name,
        verdict="error" if raised else verdict,
        column=column,
        threshold=_bounds(result, params),
        agents=[] if verdict == "pass" else _agent_values(result),
        error=str(result.exception_info.get("exception_message"))[:300] if raised else None,
    )


def _failing_agents(result: Any) -> list[int]:
    ids = []
    for item in result.result.get("unexpected_index_list") or []:
        if isinstance(item, dict) and "user_id" in item:
            ids.append(int(item["user_id"]))
    return sorted(set(ids))


def run_checkpoint(
    user_ids: Sequence[int] | None = None,
    entities: Sequence[EntitySpec] | None = None,
    root: Path = CONTEXT_ROOT,
    settings: Settings | None = None,
    max_record_age_hours: float | None = None,
    auto_build: bool = True,
) -> CheckpointOutcome:
    """Run the gate's suites (read-only on the context): every suite in one SQL pass, GX for
    the suites that need it, whose results and Data Docs pages are added.

    Every suite's expectations are evaluated over the fresh metrics tables in one statement
    (:mod:`agentsync.quality.sql_checks`). GX validates, and adds to the Data Docs, only the
    suites whose checks do not all pass, that have new loads, or whose last GX validation no
    longer describes them (see :func:`_why_gx`); the others are reported as passed and keep
    their last Data Docs page. A failure is therefore always reported by GX, with its failing
    agents and observed values, as before; a day without change runs no GX at all.

    When the context at ``root`` does not match the registry (a source added entities since the
    last ``agentsync quality-build``) and ``auto_build`` is set, the run uses a private context
    built under ``<data_dir>/gx/context`` instead (under the gate's lock; the committed context
    is never touched at run time) and logs a warning; without ``auto_build`` that is a failure.

    Args:
        max_record_age_hours: the newest-record age limit for every entity (default per entity
            ``AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY``, else ``AGENTSYNC_MAX_RECORD_AGE_HOURS``).

    Returns:
        Success, one failure line per failing expectation (naming the check and the agents),
        the same failures as :class:`FailedCheck` items, the warnings (a record older than its
        threshold while ``AGENTSYNC_RECORD_AGE_SEVERITY`` is ``warn``: observed age and
        threshold in the line) and the Data Docs index path.

    Raises:
        SettingError: ``AGENTSYNC_MAX_RECORD_AGE_HOURS_BY_ENTITY`` names an unknown entity.
    """
    s = settings or get_settings()
    if entities is None:
        entities = all_entities()
    if not entities:
        return CheckpointOutcome(True, [], None)
    check_record_age_settings(entities, s)
    db.ensure_ready(s)
    thresholds = {
        entity_key(e): (
            record_age_threshold(e, s)
            if max_record_age_hours is None
            else (float(max_record_age_hours), "max_record_age_hours argument")
        )
        for e in entities
        if e.freshness_column
    }
    params: dict[str, float] = {
        "max_sync_age_hours": float(s.sync_age_warn_hours),
        "min_record_age_hours": -FUTURE_SLACK_HOURS,
    }
    for e in entities:
        if e.freshness_column:
            params[record_age_parameter(e)] = thresholds[entity_key(e)][0]
    warn_on_age = s.record_age_severity == "warn"
    checks: list[FailedCheck] = []
    warnings: list[FailedCheck] = []
    results: list[CheckResult] = []
    with _serialised(s):
        root = _usable_root(root, entities, s, auto_build)
        started = time.monotonic()
        with db.engine(s).connect() as conn:
            refresh = refresh_views(conn, entities, user_ids)
            seconds = {"counts": time.monotonic() - started}
            started = time.monotonic()
            suites = sql_checks.read_suites(root / "gx")
            tables = {entity_key(e): f'{VIEW_SCHEMA}."{view_name(e)}"' for e in entities}
            verdicts = sql_checks.evaluate(conn, suites, tables, params)
        seconds["sql_checks"] = time.monotonic() - started
        for k, why in refresh.errors.items():
            line = f"gx {k}: check view not built: {why}"
            checks.append(FailedCheck(f"{k}: check view not built", [], line))
            source, _, entity = k.partition(".")
            results.append(CheckResult(source, entity, "error", "check view", "error", error=line))
        out = output_dir(s)
        rendered = _read_rendered(out)
        stamps = {k: _stamp(suites[k], params) for k in tables if k in suites}
        scope = sorted({int(u) for u in user_ids}) if user_ids is not None else None
        reasons = {
            k: why
            for k in tables
            if (why := _why_gx(k, verdicts[k], refresh, rendered, stamps.get(k), out, scope))
        }
        for k, why in reasons.items():
            log.info("quality gate: %s validated with GX: %s", k, why)
        validated: dict[str, Any] = {}
        if reasons:
            _set_env(s)
            prune_results(out, KEEP_RESULTS - 1)  # this run adds one per suite it validates
            started = time.monotonic()
            try:
                validated = _validate(root, list(reasons), params, user_ids)
                seconds["checkpoint"] = time.monotonic() - started
            except Exception as err:  # GX raises many types; the gate reports, never crashes
                first = (str(err).strip().splitlines() or [""])[0][:300]
                line = f"gx checkpoint error: {type(err).__name__}: {first}"
                checks.append(FailedCheck("checkpoint error", [], line))
                results.append(CheckResult("gx", "*", "error", "checkpoint", "error", error=line))
                return CheckpointOutcome(
                    False,
                    [c.line for c in checks],
                    None,
                    checks,
                    [],
                    results,
                    refresh.recounted,
                    seconds,
                    reasons,
                )
            finally:
                _set_env(s)
            rendered.update(
                {
                    k: {"stamp": stamps.get(k), "success": bool(vr.success), "agents": scope}
                    for k, vr in validated.items()
                }
            )
            _write_rendered(out, rendered)
        else:
            seconds["checkpoint"] = 0.0
    for e in entities:
        k = entity_key(e)
        if k in validated:
            ers = list(validated[k].results)
        elif verdicts[k].passed:  # passed in SQL, unchanged since GX last validated it
            ers = [_passed(exp) for exp in suites[k].expectations]
        else:
            continue
        for er in ers:
            if er.success:
                results.append(check_result(er, "pass", params))
                continue
            cfg = er.expectation_config
            meta = cfg.meta or {}
            kind = str(meta.get("agentsync_check") or "")
            agents = _failing_agents(er)
            detail = f" (agents {', '.join(map(str, agents))})" if agents else ""
            raised = bool(er.exception_info and er.exception_info.get("raised_exception"))
            if raised:
                detail += f" [error: {str(er.exception_info.get('exception_message'))[:200]}]"
            else:
                detail += _observed(kind, er, thresholds.get(str(meta.get("entity"))), params)
            name = cfg.description or cfg.type
            check = FailedCheck(name, agents, f"gx {name}{detail}")
            if kind == RECORD_AGE and warn_on_age and not raised:
                warnings.append(check)
                results.append(check_result(er, "warn", params))
            else:
                checks.append(check)
                results.append(check_result(er, "fail", params))
    for w in warnings:
        log.warning("quality gate warning: %s", w.line)
    index = data_docs_index(s)
    if validated:
        try:
            data_docs.localize(index.parent)
        except OSError:  # the verdict stands; the pages then need the network
            log.exception("could not point the Data Docs at their local assets")
    # GX's own verdict counts the warnings as failed expectations
    gx_success = all(bool(vr.success) for vr in validated.values())
    return CheckpointOutcome(
        success=(gx_success or bool(warnings)) and not checks,
        failures=[c.line for c in checks],
        data_docs_path=str(index) if index.exists() else None,
        checks=checks,
        warnings=warnings,
        results=results,
        recounted=refresh.recounted,
        seconds=seconds,
        validated_by_gx=reasons,
    )


RENDERED = "validated.json"


def _read_rendered(out: Path) -> dict[str, dict[str, Any]]:
    """What GX last validated per suite (``{suite: {stamp, success, agents}}``), kept in the output
    dir beside the results and Data Docs it describes."""
    try:
        data = json.loads((out / RENDERED).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_rendered(out: Path, rendered: dict[str, dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{RENDERED}.tmp"
    tmp.write_text(json.dumps(rendered, indent=1, sort_keys=True) + "\n")
    tmp.replace(out / RENDERED)


def _stamp(suite: sql_checks.Suite, params: dict[str, float]) -> str:
    """The suite as stored plus the thresholds it ran with: a validation of another stamp
    does not describe today's checks."""
    used = {
        value["$PARAMETER"]
        for exp in suite.expectations
        for value in (exp.get("kwargs") or {}).values()
        if isinstance(value, dict) and "$PARAMETER" in value
    }
    mine = {k: v for k, v in params.items() if k in used}
    text = json.dumps({"suite": suite.digest, "params": mine}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _has_results(out: Path, suite: str) -> bool:
    base = out / "validations" / Path(*suite.split("."))
    return base.is_dir() and next(base.rglob("*.json"), None) is not None


def _why_gx(
    key: str,
    verdict: sql_checks.Verdict,
    refresh: Refresh,
    rendered: dict[str, dict[str, Any]],
    stamp: str | None,
    out: Path,
    scope: list[int] | None = None,
) -> str:
    """Why the suite ``key`` needs GX this run (empty: its SQL verdict stands).

    GX validates a suite (a result, a Data Docs page) when its checks do not all pass, when it
    cannot be evaluated in SQL, when its metrics table has new counts for the agents in
    ``scope`` (new loads; ``None``: every agent), and when the last GX validation no longer
    describes it (none kept, failed then, other checks or thresholds, other agents: an
    onboarding's gate validates its agent even when another gate already took its new counts);
    a suite that passes in SQL with none of these is reported as passed, and its Data Docs page
    from the last validation stays.
    """
    if key in refresh.errors:
        return "its check table was not rebuilt"
    if verdict.passed is None:
        return verdict.why
    if not verdict.passed:
        return "a check does not pass"
    if key in refresh.recounted:
        recounted = refresh.recounted[key]
        if recounted is None or scope is None or set(recounted) & set(scope):
            return "new loads since the last gate"
    last = rendered.get(key)
    if not last or not _has_results(out, key):
        return "no earlier validation kept"
    if last.get("stamp") != stamp:
        return "its checks or thresholds changed since the last validation"
    if last.get("agents") != scope:
        return "its last validation covered other agents"
    if not last.get("success"):
        return "its last validation failed"
    return ""


@dataclass
class _Config:
    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any]
    description: str | None


@dataclass
class _Passed:
    """A passed expectation from the SQL pass, shaped as GX reports one."""

    expectation_config: _Config
    success: bool = True
    result: dict[str, Any] = field(default_factory=dict)
    exception_info: dict[str, Any] | None = None


def _passed(expectation: dict[str, Any]) -> _Passed:
    return _Passed(
        _Config(
            type=str(expectation.get("type")),
            kwargs=dict(expectation.get("kwargs") or {}),
            meta=dict(expectation.get("meta") or {}),
            description=expectation.get("description"),
        )
    )


def _validate(
    root: Path, suites: Sequence[str], params: dict[str, float], user_ids: Sequence[int] | None
) -> dict[str, Any]:
    """Validate ``suites`` with GX (their stored validation definitions; read-only on the
    context) and add their results to the Data Docs in one site build.

    What the ``quality_gate`` checkpoint with its Data Docs action does for every suite, for
    only these: that action rebuilds the index once per suite, this builds it once.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    now = datetime.now(UTC)
    run_id = RunIdentifier(run_name=data_docs.run_name(user_ids, now), run_time=now)
    out: dict[str, Any] = {}
    identifiers: list[Any] = []
    for name in suites:
        vd = ctx.validation_definitions.get(name)
        result = vd.run(expectation_parameters=params, result_format=RESULT_FORMAT, run_id=run_id)
        out[name] = result
        suite_id = ExpectationSuiteIdentifier(name=vd.suite.name)
        identifiers += [
            ValidationResultIdentifier(
                expectation_suite_identifier=suite_id,
                run_id=run_id,
                batch_identifier=result.batch_id,
            ),
            suite_id,
        ]
    ctx.build_data_docs(resource_identifiers=identifiers)
    return out
