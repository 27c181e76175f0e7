"""``check_health()``: staging backlog, sync age, errors in the last 24 h, stuck onboarding jobs.

Thresholds are the legacy operations manual's (``docs/vendors/legacy.md`` §2, "Alert
Thresholds"), read from settings so an operator can change them:

=====================  ===================================  =====================================
check                  warning                              critical
=====================  ===================================  =====================================
``backlog``            > ``AGENTSYNC_BACKLOG_WARN_ROWS``    > ``AGENTSYNC_BACKLOG_CRITICAL_ROWS``
``sync_age``           > ``AGENTSYNC_SYNC_AGE_WARN_HOURS``  > ``AGENTSYNC_SYNC_AGE_CRITICAL_HOURS``
                       (agents that exist and are still connected to the source only)
``stuck_job``          > ``AGENTSYNC_JOB_STUCK_WARN_HOURS`` > ``AGENTSYNC_JOB_STUCK_CRITICAL_HOURS``
``sync_errors``        a run failed in the last 24 h and has not succeeded since (warning)
``interrupted_run``    a job re-queued after its process     a Started job or running sync run whose
                       died (until it ends)                 process is gone (at once, not after
                                                            the stuck-job threshold); a job ended
                                                            Error after
                                                            ``AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS``
``webhook_events``     failed events waiting for a retry;   events that failed every attempt
                       received events unprocessed for      (``agentsync webhooks replay``);
                       > ``AGENTSYNC_JOB_STUCK_WARN_HOURS`` unprocessed > the critical hours
``new_raw_column``     information only (level ok): a raw column dlt added after creating the
                       table that no model reads (:mod:`agentsync.quality.drift`)
``dbt_source_``        the last ``dbt source freshness``     past the source's ``error_after``
``freshness``          warned (its ``warn_after``); only a
                       run newer than the sync-age hours
=====================  ===================================  =====================================

The backlog of an entity is the number of raw rows from committed dlt loads (``_dlt_loads.status =
0``) whose ``_dlt_load_id`` its mart has not processed (``ops.dbt_processed_loads``, key = the
mart, e.g. ``marts.people``). The legacy manual's trap ("staging retains all history, so the
staging → final gap is not a backlog") does not apply: processed history is not counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentsync import db
from agentsync.agents import INTEGRATIONS
from agentsync.contracts import EntitySpec
from agentsync.entities import all_entities
from agentsync.quality.metrics import entity_key, qtable, split_table, table_exists
from agentsync.recovery import INTERRUPTED, dead_runs
from agentsync.settings import Settings, get_settings

OK, WARNING, CRITICAL = 0, 1, 2
NEW_COLUMN_CHECK = "new_raw_column"
INTERRUPTED_CHECK = "interrupted_run"
WEBHOOK_CHECK = "webhook_events"
FRESHNESS_CHECK = "dbt_source_freshness"
LEVEL_NAMES = {OK: "ok", WARNING: "warning", CRITICAL: "critical"}


@dataclass
class HealthItem:
    """One measured thing: ``check`` (backlog, sync_age, sync_errors, stuck_job) and ``key``
    (what it is about, e.g. ``fub.people`` or ``user 7 fub.people``) name it; ``alert_key`` is
    unique per problem."""

    check: str
    key: str
    level: int
    value: float | int | None
    message: str
    details: dict[str, object] = field(default_factory=dict)

    @property
    def alert_key(self) -> str:
        return f"{self.check}:{self.key}"

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]


@dataclass
class HealthReport:
    """All health items; ``level`` is the worst of them (0 ok, 1 warning, 2 critical)."""

    items: list[HealthItem]
    checked_at: datetime

    @property
    def level(self) -> int:
        return max((i.level for i in self.items), default=OK)

    @property
    def problems(self) -> list[HealthItem]:
        return [i for i in self.items if i.level > OK]

    def as_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "status": LEVEL_NAMES[self.level],
            "checked_at": self.checked_at.isoformat(),
            "items": [
                dict(asdict(i), level_name=i.level_name, alert_key=i.alert_key) for i in self.items
            ],
        }


def _level(value: float, warn: float, critical: float) -> int:
    if value > critical:
        return CRITICAL
    if value > warn:
        return WARNING
    return OK


def backlog_rows(conn: Connection, spec: EntitySpec) -> int:
    """Raw rows of committed loads that the entity's mart has not processed yet."""
    if spec.mart is None or not table_exists(conn, spec.raw_table):
        return 0
    schema, _ = split_table(spec.raw_table, f"{entity_key(spec)} raw_table")
    split_table(spec.mart, f"{entity_key(spec)} mart")
    raw = qtable(spec.raw_table, "raw_table")
    if table_exists(conn, f"{schema}._dlt_loads"):
        # Committed loads the mart has not processed, then only their rows: with the
        # ``_dlt_load_id`` index dbt keeps on every raw table this reads the pending rows, not
        # the whole history (the dispatcher runs this every interval).
        sql = f"""
            with pending_loads as (
                select l.load_id from "{schema}"._dlt_loads as l where l.status = 0
                except
                select p.load_id from ops.dbt_processed_loads as p where p.model = :model
            )
            select count(*) from {raw} as r
             where r._dlt_load_id in (select load_id from pending_loads)
        """
    else:
        sql = f"""
            select count(*) from {raw} as r
             where not exists (select 1 from ops.dbt_processed_loads as p
                                where p.model = :model and p.load_id = r._dlt_load_id)
        """
    return int(conn.execute(sa.text(sql), {"model": spec.mart}).scalar_one())


def _backlog_items(
    conn: Connection, entities: Sequence[EntitySpec], s: Settings
) -> list[HealthItem]:
    items = []
    for spec in entities:
        if spec.mart is None:
            continue
        rows = backlog_rows(conn, spec)
        level = _level(rows, s.backlog_warn_rows, s.backlog_critical_rows)
        items.append(
            HealthItem(
                "backlog",
                entity_key(spec),
                level,
                rows,
                f"{entity_key(spec)}: {rows} raw rows not yet processed into {spec.mart}"
                + (
                    f" (warn > {s.backlog_warn_rows}, critical > {s.backlog_critical_rows})"
                    if level
                    else ""
                ),
                {"mart": spec.mart, "raw_table": spec.raw_table},
            )
        )
    return items


def _sync_age_items(conn: Connection, s: Settings) -> list[HealthItem]:
    rows = conn.execute(
        sa.text(
            """
            select user_id, source, entity,
                   max(ended_at) filter (where status = 'done') as last_success_at,
                   min(started_at) as first_attempt_at,
                   extract(epoch from now() - coalesce(max(ended_at) filter (where status = 'done'),
                                                       min(started_at))) / 3600.0 as age_hours
              from ops.sync_runs as s
             where exists (select 1 from ops.agents as g where g.user_id = s.user_id)
               and (s.source <> all(:integrations) or exists (
                    select 1 from ops.credentials as c
                     where c.user_id = s.user_id and c.integration = s.source))
             group by user_id, source, entity
             order by user_id, source, entity
            """
        ),
        {"integrations": list(INTEGRATIONS)},
    ).mappings()
    items = []
    for r in rows:
        age = float(r["age_hours"])
        level = _level(age, s.sync_age_warn_hours, s.sync_age_critical_hours)
        what = f"user {r['user_id']} {r['source']}.{r['entity']}"
        if r["last_success_at"] is None:
            msg = f"{what}: never synced successfully (first attempt {age:.1f} h ago)"
        else:
            msg = f"{what}: last successful sync {age:.1f} h ago"
        if level:
            msg += (
                f" (warn > {s.sync_age_warn_hours:g} h, critical > {s.sync_age_critical_hours:g} h)"
            )
        items.append(
            HealthItem(
                "sync_age",
                what,
                level,
                round(age, 2),
                msg,
                {
                    "user_id": r["user_id"],
                    "source": r["source"],
                    "entity": r["entity"],
                    "last_success_at": r["last_success_at"],
                },
            )
        )
    return items


def _error_items(conn: Connection) -> list[HealthItem]:
    rows = conn.execute(
        sa.text(
            """
            with failed as (
                select user_id, source, entity, count(*) as failures, max(started_at) as last_failed,
                       (array_agg(error order by started_at desc))[1] as last_error
                  from ops.sync_runs
                 where status = 'failed' and started_at > now() - interval '24 hours'
                 group by user_id, source, entity
            )
            select f.*, exists (
                       select 1 from ops.sync_runs as s
                        where s.user_id = f.user_id and s.source = f.source
                          and s.entity = f.entity and s.status = 'done'
                          and s.started_at > f.last_failed) as recovered
              from failed as f
             order by f.user_id, f.source, f.entity
            """
        )
    ).mappings()
    items = []
    for r in rows:
        what = f"user {r['user_id']} {r['source']}.{r['entity']}"
        recovered = bool(r["recovered"])
        first_line = (r["last_error"] or "").splitlines()[0][:300] if r["last_error"] else ""
        items.append(
            HealthItem(
                "sync_errors",
                what,
                OK if recovered else WARNING,
                int(r["failures"]),
                f"{what}: {r['failures']} failed run(s) in the last 24 h"
                + ("; succeeded since" if recovered else f"; still failing: {first_line}"),
                {"user_id": r["user_id"], "source": r["source"], "entity": r["entity"]},
            )
        )
    quarantined = conn.execute(
        sa.text(
            "select count(*) from ops.quarantine where quarantined_at > now() - interval '24 hours'"
        )
    ).scalar_one()
    items.append(
        HealthItem(
            "quarantine",
            "last 24 h",
            OK,
            int(quarantined),
            f"{quarantined} record(s) quarantined in the last 24 h (see ops.quarantine)",
        )
    )
    return items


def _stuck_job_items(conn: Connection, s: Settings) -> list[HealthItem]:
    rows = conn.execute(
        sa.text(
            """
            select job_id, user_id, status,
                   extract(epoch from now() - coalesce(started_at, created_at)) / 3600.0 as age_hours
              from ops.onboarding_jobs
             where status in ('New', 'Started')
             order by job_id
            """
        )
    ).mappings()
    items = []
    for r in rows:
        age = float(r["age_hours"])
        level = _level(age, s.job_stuck_warn_hours, s.job_stuck_critical_hours)
        what = f"job {r['job_id']} (user {r['user_id']})"
        msg = f"onboarding {what} has been {r['status']} for {age:.1f} h"
        if level:
            msg += (
                f" (warn > {s.job_stuck_warn_hours:g} h, "
                f"critical > {s.job_stuck_critical_hours:g} h)"
            )
        items.append(
            HealthItem(
                "stuck_job",
                what,
                level,
                round(age, 2),
                msg,
                {"job_id": r["job_id"], "user_id": r["user_id"], "status": r["status"]},
            )
        )
    return items


def _interrupted_items(conn: Connection, s: Settings) -> list[HealthItem]:
    """Runs whose process died (critical at once), and jobs re-queued or ended by that."""
    items: list[HealthItem] = []
    found = dead_runs(s)
    for j in found.jobs:
        what = f"job {j.job_id} (user {j.user_id})"
        items.append(
            HealthItem(
                INTERRUPTED_CHECK,
                what,
                CRITICAL,
                j.interruptions + 1,
                f"onboarding {what} is Started but its process ({j.owner}) is gone"
                + (f", during {j.step}" if j.step else "")
                + "; the next dispatch re-queues it",
                {"job_id": j.job_id, "user_id": j.user_id, "step": j.step, "owner": j.owner},
            )
        )
    for r in found.sync_runs:
        what = f"user {r['user_id']} {r['source']}.{r['entity']}"
        items.append(
            HealthItem(
                INTERRUPTED_CHECK,
                what,
                CRITICAL,
                None,
                f"sync run {r['run_id']} ({what}) is running but its process ({r['owner']}) is "
                "gone; the next dispatch or daily sync marks it failed",
                {"run_id": r["run_id"], "owner": r["owner"]},
            )
        )
    rows = conn.execute(
        sa.text(
            """
            select job_id, user_id, status, interruptions, error from ops.onboarding_jobs
             where interruptions > 0 and status in ('New', 'Error') and error like :p
             order by job_id
            """
        ),
        {"p": INTERRUPTED + "%"},
    ).mappings()
    for r in rows:
        what = f"job {r['job_id']} (user {r['user_id']})"
        items.append(
            HealthItem(
                INTERRUPTED_CHECK,
                what,
                CRITICAL if r["status"] == "Error" else WARNING,
                r["interruptions"],
                f"onboarding {what} is {r['status']}: {r['error']}",
                {"job_id": r["job_id"], "user_id": r["user_id"], "status": r["status"]},
            )
        )
    return items


def _webhook_items(conn: Connection, s: Settings) -> list[HealthItem]:
    """FUB webhook events that failed (retrying or out of attempts) or wait unprocessed."""
    row = conn.execute(
        sa.text(
            """
            select
              count(*) filter (where status = 'failed' and next_attempt_at is not null) as retrying,
              count(*) filter (where status = 'failed' and next_attempt_at is null) as dead,
              extract(epoch from now() - min(received_at) filter (where status = 'failed'))
                  / 3600.0 as failed_age,
              count(*) filter (where status = 'received') as pending,
              extract(epoch from now() - min(received_at) filter (where status = 'received'))
                  / 3600.0 as pending_age
              from ops.webhook_events
             where status in ('failed', 'received')
            """
        )
    ).one()
    items: list[HealthItem] = []
    if row.dead:
        items.append(
            HealthItem(
                WEBHOOK_CHECK,
                "failed",
                CRITICAL,
                int(row.dead),
                f"{row.dead} webhook event(s) failed every attempt (oldest "
                f"{float(row.failed_age):.1f} h); fix the cause, then `agentsync webhooks replay`",
            )
        )
    if row.retrying:
        items.append(
            HealthItem(
                WEBHOOK_CHECK,
                "retrying",
                WARNING,
                int(row.retrying),
                f"{row.retrying} webhook event(s) failed and wait for a retry with back-off",
            )
        )
    if row.pending:
        age = float(row.pending_age)
        level = _level(age, s.job_stuck_warn_hours, s.job_stuck_critical_hours)
        items.append(
            HealthItem(
                WEBHOOK_CHECK,
                "received",
                level,
                int(row.pending),
                f"{row.pending} webhook event(s) received and not processed yet (oldest "
                f"{age:.1f} h; warn > {s.job_stuck_warn_hours:g} h)",
            )
        )
    return items


def _new_column_items(conn: Connection, entities: Sequence[EntitySpec]) -> list[HealthItem]:
    """Raw columns dlt added after creating the table that no model reads (information)."""
    from agentsync.quality.drift import new_unmapped_columns

    return [
        HealthItem(
            NEW_COLUMN_CHECK,
            f"{c.raw_table}.{c.column}",
            OK,
            None,
            c.line,
            {"raw_table": c.raw_table, "column": c.column, "first_load_id": c.first_load_id},
        )
        for c in new_unmapped_columns(conn, entities)
    ]


def _freshness_items(s: Settings, now: datetime) -> list[HealthItem]:
    """What the last ``dbt source freshness`` (``agentsync dbt source freshness``) found, from
    the ``sources.json`` it wrote: a source dbt warned about is a warning, one past its
    ``error_after`` is critical. A run older than ``AGENTSYNC_SYNC_AGE_WARN_HOURS`` is no longer
    current and is not reported (the sync-age check covers the agents then)."""
    from agentsync.transform import target_dir

    path = target_dir(s) / "sources.json"
    try:
        found = json.loads(path.read_text())
        ran_at = datetime.fromisoformat(found["metadata"]["generated_at"].replace("Z", "+00:00"))
    except (OSError, ValueError, KeyError, TypeError):  # never run, or not a freshness file
        return []
    if (now - ran_at).total_seconds() > s.sync_age_warn_hours * 3600:
        return []
    levels = {"pass": OK, "warn": WARNING, "error": CRITICAL}
    items = []
    for r in found.get("results", []):
        key = str(r.get("unique_id", "")).removeprefix("source.agentsync.")
        level = levels.get(str(r.get("status")), WARNING)
        age_h = float(r.get("max_loaded_at_time_ago_in_s") or 0) / 3600
        crit = r.get("criteria") or {}
        limits = ", ".join(
            f"{name.split('_')[0]}s after {c['count']} {c['period']}(s)"
            for name in ("warn_after", "error_after")
            if (c := crit.get(name)) and c.get("count")
        )
        message = (
            f"dbt source freshness {key}: {r.get('status')}: newest load {age_h:.1f} h old "
            f"({limits}); checked {ran_at:%Y-%m-%d %H:%M} UTC"
        )
        details = {"status": r.get("status"), "max_loaded_at": r.get("max_loaded_at")}
        items.append(HealthItem(FRESHNESS_CHECK, key, level, round(age_h, 2), message, details))
    return items


def check_health(
    entities: Sequence[EntitySpec] | None = None, settings: Settings | None = None
) -> HealthReport:
    """Measure everything the operations manual watches; never raises for a bad finding.

    Args:
        entities: the entities to check the backlog of (default: the whole registry).
        settings: thresholds and database (default: the process settings).
    """
    s = settings or get_settings()
    if entities is None:
        entities = all_entities()
    db.ensure_ready(s)
    with db.begin(s) as conn:
        items = _backlog_items(conn, entities, s)
        items += _sync_age_items(conn, s)
        items += _error_items(conn)
        items += _stuck_job_items(conn, s)
        items += _interrupted_items(conn, s)
        items += _webhook_items(conn, s)
        items += _new_column_items(conn, entities)
    now = datetime.now(UTC)
    items += _freshness_items(s, now)
    return HealthReport(items=items, checked_at=now)
