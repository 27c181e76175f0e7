"""Fixtures for the quality tests: a tiny real source (dlt → raw) and a mart built by SQL.

The quality checks are generic over ``EntitySpec``; these fixtures give them a real raw table
(loaded by a real dlt pipeline, with ``_dlt_load_id`` and ``_dlt_loads``), a real mart built the
way the dbt marts are (latest version per id, processed loads recorded in
``ops.dbt_processed_loads``), real ``ops.sync_runs`` rows written through ``record_sync`` and
quarantine rows through ``Quarantine``. The thing under test is the checks, not these tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
import sqlalchemy as sa

from agentsync import db
from agentsync.contracts import EntitySpec
from dlt_pipelines.run import Quarantine, record_sync
from tests.webhook_receiver import Receiver

SPEC = EntitySpec(
    source="qtest",
    entity="widgets",
    raw_table="raw_qtest.widgets",
    raw_id_column="id",
    mart="marts.qtest_widgets",
    mart_id_column="widget_id",
    freshness_column="updated_at",
    excluded_flag_columns={"deleted": "is_deleted", "trashed": "is_trashed"},
)


class TinySource:
    """Loads widget records for agents into ``raw_qtest.widgets`` and builds the mart."""

    def __init__(self, pipelines_dir: Path) -> None:
        self.pipelines_dir = pipelines_dir
        self.spec = SPEC

    def load(self, user_id: int, records: list[dict[str, Any]]) -> str:
        """Append records (each gets ``user_id``) through a real dlt pipeline; returns load id."""
        rows = [dict(r, user_id=user_id) for r in records]
        pipeline = dlt.pipeline(
            pipeline_name=f"qtest_user_{user_id}_{uuid.uuid4().hex[:6]}",
            destination=dlt.destinations.postgres(credentials=db.database_url()),
            dataset_name="raw_qtest",
            pipelines_dir=str(self.pipelines_dir),
        )
        info = pipeline.run(
            rows,
            table_name="widgets",
            write_disposition="append",
            columns={
                "updated_at": {"data_type": "timestamp"},
                "is_deleted": {"data_type": "bool"},
                "is_trashed": {"data_type": "bool"},
                # a vendor record kept whole, as Qualia's and SkySlope's are
                **({"payload": {"data_type": "json"}} if any("payload" in r for r in rows) else {}),
            },
        )
        return info.loads_ids[-1]

    def sync(
        self,
        user_id: int,
        records: list[dict[str, Any]],
        reported_total: int | None = None,
        quarantine: list[tuple[dict[str, Any], str, str]] | None = None,
    ) -> str:
        """A successful sync run: load + ``ops.sync_runs`` (reported total) + quarantine."""
        ensure_agent(user_id)
        with record_sync("manual", user_id, SPEC.source, SPEC.entity) as run:
            load_id = self.load(user_id, records)
            q = Quarantine(user_id, SPEC.source)
            for record, reason, rid in quarantine or []:
                q.add(SPEC.entity, record, reason, rid)
            q.flush(load_id)
            run.rows = len(records)
            run.reported_total = reported_total
            run.load_id = load_id
        return load_id

    def build_mart(self) -> None:
        """Merge unprocessed loads into ``marts.qtest_widgets`` like an incremental dbt mart."""
        with db.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    create schema if not exists marts;
                    create table if not exists marts.qtest_widgets (
                        user_id bigint not null, widget_id text not null,
                        updated_at timestamptz, is_deleted boolean, is_trashed boolean,
                        primary key (user_id, widget_id));
                    create temp table batch on commit drop as
                        select l.load_id from raw_qtest._dlt_loads as l
                         where l.status = 0 and not exists (
                               select 1 from ops.dbt_processed_loads as p
                                where p.model = 'marts.qtest_widgets' and p.load_id = l.load_id);
                    insert into marts.qtest_widgets
                    select distinct on (user_id, id) user_id, id::text, updated_at,
                           coalesce(is_deleted, false), coalesce(is_trashed, false)
                      from raw_qtest.widgets
                     where _dlt_load_id in (select load_id from batch)
                     order by user_id, id, updated_at desc, _dlt_load_id desc
                    on conflict (user_id, widget_id) do update
                       set updated_at = excluded.updated_at, is_deleted = excluded.is_deleted,
                           is_trashed = excluded.is_trashed;
                    insert into ops.dbt_processed_loads (model, schema_name, load_id)
                    select 'marts.qtest_widgets', 'raw_qtest', load_id from batch;
                    """
                )
            )


def widgets(ids: range | list[int], **extra: Any) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {"id": i, "updated_at": now - timedelta(hours=i % 5), "is_deleted": False,
         "is_trashed": False, **extra}
        for i in ids
    ]  # fmt: skip


def ensure_agent(user_id: int) -> None:
    """The agent exists in ``ops.agents`` (freshness is expected only of existing agents)."""
    execute(
        "insert into ops.agents (user_id, name) values (:u, :n) on conflict do nothing",
        u=user_id, n=f"Agent {user_id}",
    )  # fmt: skip


def execute(sql: str, **params: Any) -> list[Any]:
    with db.begin() as conn:
        res = conn.execute(sa.text(sql), params)
        return list(res.all()) if res.returns_rows else []


@pytest.fixture
def qenv(agentsync_env: dict[str, str]) -> dict[str, str]:
    """An isolated agentsync database with the ops schema migrated."""
    db.ensure_ready()
    return agentsync_env


@pytest.fixture
def tiny(qenv: dict[str, str], tmp_path: Path) -> TinySource:
    return TinySource(tmp_path / "dlt")


@pytest.fixture
def context(tiny: TinySource, tmp_path: Path) -> Path:
    """A GX context for :data:`SPEC` alone, built in the test's own directory."""
    from agentsync.quality.gx import build_context

    root = tmp_path / "expectations"
    build_context([SPEC], root=root)
    return root


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()
