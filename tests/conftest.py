"""Shared test harness.

One embedded PostgreSQL (pgserver) per test session, in a temporary data dir. Each test that asks
for ``agentsync_env`` gets its own fresh database on that server, exposed to in-process code and
to subprocesses through ``AGENTSYNC_DATABASE_URL``, so tests never see each other's rows.
Data volume in the end-to-end tests is scaled with ``AGENTSYNC_TEST_SCALE`` (default ``tiny``).

No test may depend on the order tests run in, on what another test left behind, or on the date:
each test gets its own database and sandbox, and changes it needs in the sandbox it makes itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest

from agentsync import db
from agentsync.settings import load_settings

TEST_SCALE = os.environ.get("AGENTSYNC_TEST_SCALE", "tiny")
# Set for a whole run, kept in every test's environment (so a subprocess's sandbox has the same
# clock as the test's): the data scale, and the sandbox epoch (unset: yesterday's midnight UTC).
# The suite must pass with any epoch: `AGENTSYNC_SANDBOX_EPOCH=2025-03-15 make test`.
RUN_WIDE = ("AGENTSYNC_TEST_SCALE", "AGENTSYNC_SANDBOX_EPOCH")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL (database ``postgres``) of the session's embedded PostgreSQL.

    Its data dir is *not* under pytest's ``/tmp/pytest-of-<user>``: every pytest process that
    starts (another xdist worker set, a nested ``make test``) resets that directory to mode 0700,
    which locks out the server's own OS user (pgserver runs it as ``pgserver`` under root) and
    kills the server mid-run ("could not open file .../global/pg_control: Permission denied").
    """
    data_dir = Path(tempfile.mkdtemp(prefix="agentsync-test-pg-"))
    settings = load_settings(data_dir=data_dir, database_name="postgres")
    url = db.database_url(settings)
    yield url
    db.stop_embedded()
    shutil.rmtree(data_dir, ignore_errors=True)


def _create_database(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"')
    conn.close()


def _drop_database(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    conn.close()


def database_url_for(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return parts._replace(path=f"/{name}").geturl()


@pytest.fixture
def fresh_database(pg_server: str) -> Iterator[str]:
    """A new, empty database on the session server; dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _create_database(pg_server, name)
    yield database_url_for(pg_server, name)
    _drop_database(pg_server, name)


@pytest.fixture
def agentsync_env(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Environment for one isolated agentsync: own database, own data dir, own key.

    Returns the ``AGENTSYNC_*`` variables so a test can pass them to subprocesses.
    """
    from cryptography.fernet import Fernet

    env = {
        "AGENTSYNC_DATABASE_URL": fresh_database,
        "AGENTSYNC_DATA_DIR": str(tmp_path / "data"),
        "AGENTSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    for key in list(os.environ):
        if key.startswith("AGENTSYNC_") and key not in env and key not in RUN_WIDE:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


@pytest.fixture
def sandbox_server():
    """A fresh sandbox (tiny scale, seed 42) on a free loopback port, for one test."""
    from sandbox.core import start_in_thread

    running = start_in_thread(seed=42, scale=TEST_SCALE)
    yield running
    running.stop()


@pytest.fixture
def sandbox_env(agentsync_env, sandbox_server, monkeypatch) -> dict[str, str]:
    """``agentsync_env`` plus the base-URL settings pointing at ``sandbox_server``."""
    env = dict(agentsync_env)
    for key, value in sandbox_server.sandbox.env().items():
        monkeypatch.setenv(key, value)
        env[key] = value
    return env
