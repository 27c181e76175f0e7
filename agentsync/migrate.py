"""Alembic migrations for the ``ops`` schema, run automatically and idempotently.

Every command that touches the database calls :func:`upgrade` first. A PostgreSQL advisory lock
serialises concurrent upgrades (two processes starting at once), and Alembic's version table
(``ops.alembic_version``) makes a second run a no-op.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from agentsync.settings import Settings, get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_ID = 7_310_001  # arbitrary, constant: "agentsync migrations"
_done: set[str] = set()


def alembic_config(connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(settings: Settings | None = None, revision: str = "head") -> None:
    """Bring the ``ops`` schema up to ``revision`` (default: newest). Safe to call repeatedly."""
    from agentsync.db import engine, sqlalchemy_url

    settings = settings or get_settings()
    url = sqlalchemy_url(settings)
    if revision == "head" and url in _done:
        return
    with engine(settings).connect() as conn:
        conn.execute(text("select pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
        try:
            conn.execute(text("create schema if not exists ops"))
            conn.commit()
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
        finally:
            conn.execute(text("select pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_ID})
            conn.commit()
    if revision == "head":
        _done.add(url)


def current_revision(settings: Settings | None = None) -> str | None:
    from agentsync.db import engine

    with engine(settings).connect() as conn:
        exists = conn.execute(text("select to_regclass('ops.alembic_version')")).scalar()
        if not exists:
            return None
        return conn.execute(text("select version_num from ops.alembic_version")).scalar()
