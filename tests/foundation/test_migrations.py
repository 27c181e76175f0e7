"""The ops schema is created and upgraded by Alembic, automatically and idempotently."""

from __future__ import annotations

import threading

from sqlalchemy import text

from agentsync import db, migrate


def _ops_tables() -> set[str]:
    with db.begin() as conn:
        rows = conn.execute(
            text("select table_name from information_schema.tables where table_schema = 'ops'")
        )
        return {r[0] for r in rows}


def _heads() -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(migrate.alembic_config()).get_heads())


def test_upgrade_creates_ops_schema_and_is_idempotent(agentsync_env):
    assert migrate.current_revision() is None
    migrate.upgrade()
    first = _ops_tables()
    assert {"agents", "credentials", "onboarding_jobs", "onboarding_steps", "sync_runs"} <= first
    assert {
        "quarantine",
        "webhook_events",
        "alerts",
        "dbt_processed_loads",
        "alembic_version",
    } <= first
    migrate._done.clear()  # force a real second run, not the in-process shortcut
    migrate.upgrade()
    assert _ops_tables() == first
    assert migrate.current_revision() == _heads()[0]


def test_single_head_chain():
    assert len(_heads()) == 1, (
        "migration chain has forked; give each new revision the previous head"
    )


def test_concurrent_upgrades_serialise(agentsync_env):
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade()
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    migrate._done.clear()
    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert migrate.current_revision() == _heads()[0]


def test_downgrade_then_upgrade_round_trips(agentsync_env):
    migrate.upgrade()
    with db.engine().connect() as conn:
        from alembic import command

        command.downgrade(migrate.alembic_config(conn), "base")
        conn.commit()
    with db.begin() as conn:
        assert conn.execute(text("select to_regclass('ops.agents')")).scalar() is None
    migrate._done.clear()
    migrate.upgrade()
    assert "agents" in _ops_tables()
