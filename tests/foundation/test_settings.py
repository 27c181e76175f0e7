"""Settings: one object, AGENTSYNC_ prefix, .env support, one-line errors naming the setting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentsync.errors import SettingError
from agentsync.settings import load_settings

AGENTSYNC = str(Path(sys.executable).with_name("agentsync"))


def _env(**extra: str) -> dict[str, str]:
    # Neither this suite's AGENTSYNC_* nor a PREFECT_HOME other tests share (Prefect's home is
    # then the data dir's own, as for a user).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENTSYNC_") and k != "PREFECT_HOME"
    }
    env.update(extra)
    return env


def test_environment_prefix_and_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AGENTSYNC_BACKLOG_WARN_ROWS", "7")
    s = load_settings()
    assert s.data_dir == tmp_path
    assert s.backlog_warn_rows == 7
    assert s.embedded is True
    assert s.fub_base_url == "https://api.followupboss.com/v1"


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTSYNC_BACKLOG_CRITICAL_ROWS", raising=False)
    (tmp_path / ".env").write_text("AGENTSYNC_BACKLOG_CRITICAL_ROWS=1234\n")
    assert load_settings().backlog_critical_rows == 1234


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "AGENTSYNC_DATABASE_URL",
            "mysql://x@y/z",
            "AGENTSYNC_DATABASE_URL must start with postgresql://",
        ),
        (
            "AGENTSYNC_DATABASE_URL",
            "postgresql://u:p@host",
            "AGENTSYNC_DATABASE_URL must name a database",
        ),
        (
            "AGENTSYNC_ENCRYPTION_KEY",
            "not-a-key",
            "AGENTSYNC_ENCRYPTION_KEY is not a valid Fernet key",
        ),
        ("AGENTSYNC_BACKLOG_WARN_ROWS", "lots", "AGENTSYNC_BACKLOG_WARN_ROWS"),
        ("AGENTSYNC_WEBHOOK_MAX_ATTEMPTS", "0", "AGENTSYNC_WEBHOOK_MAX_ATTEMPTS"),
        ("AGENTSYNC_WEBHOOK_MAX_ATTEMPTS", "five", "AGENTSYNC_WEBHOOK_MAX_ATTEMPTS"),
        ("AGENTSYNC_WEBHOOK_RETRY_BASE_SECONDS", "-1", "AGENTSYNC_WEBHOOK_RETRY_BASE_SECONDS"),
        ("AGENTSYNC_WEBHOOK_RETRY_CAP_SECONDS", "nan", "AGENTSYNC_WEBHOOK_RETRY_CAP_SECONDS"),
        ("AGENTSYNC_TIMEZONE", "Mars/Olympus", "AGENTSYNC_TIMEZONE 'Mars/Olympus' is not an IANA"),
        ("AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE", "EST5", "AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE"),
        ("AGENTSYNC_DAILY_SYNC_CRON", "61 * * * *", "AGENTSYNC_DAILY_SYNC_CRON '61 * * * *' is"),
        ("AGENTSYNC_FUB_BASE_URL", "notaurl", "AGENTSYNC_FUB_BASE_URL 'notaurl' is not an http(s)"),
        ("AGENTSYNC_QUALIA_BASE_URL", "ftp://h/graphql", "AGENTSYNC_QUALIA_BASE_URL"),
        ("AGENTSYNC_REZEN_YENTA_URL", "https:///api", "AGENTSYNC_REZEN_YENTA_URL"),
    ],
)
def test_bad_setting_names_itself(monkeypatch, var, value, expected):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingError) as err:
        load_settings()
    assert expected in str(err.value)
    assert value not in str(err.value) or var != "AGENTSYNC_ENCRYPTION_KEY"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([AGENTSYNC, *args], env=env, capture_output=True, text=True, timeout=120)


def test_webhook_retry_settings(monkeypatch):
    """The webhook retry budget and back-off are settings (defaults: 5 attempts, 30 s, 1 h)."""
    from webhooks.fub import retry_delay_seconds

    for var in ("MAX_ATTEMPTS", "RETRY_BASE_SECONDS", "RETRY_CAP_SECONDS"):
        monkeypatch.delenv(f"AGENTSYNC_WEBHOOK_{var}", raising=False)
    s = load_settings()
    assert (s.webhook_max_attempts, s.webhook_retry_base_seconds) == (5, 30.0)
    assert s.webhook_retry_cap_seconds == 3600.0
    assert [retry_delay_seconds(n, s) for n in (1, 2, 3, 10)] == [30.0, 60.0, 120.0, 3600.0]
    monkeypatch.setenv("AGENTSYNC_WEBHOOK_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AGENTSYNC_WEBHOOK_RETRY_BASE_SECONDS", "5")
    monkeypatch.setenv("AGENTSYNC_WEBHOOK_RETRY_CAP_SECONDS", "12")
    s = load_settings()
    assert s.webhook_max_attempts == 2
    assert [retry_delay_seconds(n, s) for n in (1, 2, 3)] == [5.0, 10.0, 12.0]


@pytest.mark.parametrize(
    ("var", "value"),
    [("AGENTSYNC_TIMEZONE", "Mars/Olympus"), ("AGENTSYNC_DAILY_SYNC_CRON", "0 25 * * *")],
)
def test_deploy_dry_run_refuses_a_bad_schedule_in_one_line(tmp_path, var, value):
    """``deploy --dry-run`` validates what a real deploy would use, before any Prefect start-up."""
    proc = _run(["deploy", "--dry-run"], _env(AGENTSYNC_DATA_DIR=str(tmp_path), **{var: value}))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and var in lines[0], lines
    assert "Traceback" not in proc.stderr


def test_valid_schedule_settings_are_kept(monkeypatch):
    monkeypatch.setenv("AGENTSYNC_TIMEZONE", " America/New_York ")
    monkeypatch.setenv("AGENTSYNC_DAILY_SYNC_CRON", "30 5 * * 1-5")
    monkeypatch.setenv("AGENTSYNC_FUB_BASE_URL", "http://127.0.0.1:8080/fub/v1")
    s = load_settings()
    assert (s.timezone, s.daily_sync_cron) == ("America/New_York", "30 5 * * 1-5")
    assert s.fub_base_url == "http://127.0.0.1:8080/fub/v1"


def test_bad_webhook_setting_is_one_line_exit_2(tmp_path):
    proc = _run(
        ["webhooks", "process"],
        _env(AGENTSYNC_DATA_DIR=str(tmp_path), AGENTSYNC_WEBHOOK_MAX_ATTEMPTS="0"),
    )
    assert proc.returncode == 2, proc.stderr
    assert "AGENTSYNC_WEBHOOK_MAX_ATTEMPTS" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unwritable_data_dir_is_one_line_no_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = _run(["users", "list"], _env(AGENTSYNC_DATA_DIR=str(blocker / "sub")))
    assert proc.returncode == 2
    assert "AGENTSYNC_DATA_DIR" in proc.stderr and "not writable" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _free_port() -> int:
    """A TCP port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_exits_3(tmp_path):
    url = f"postgresql://u:unreachable-secret@127.0.0.1:{_free_port()}/db"
    proc = _run(
        ["users", "list"], _env(AGENTSYNC_DATA_DIR=str(tmp_path), AGENTSYNC_DATABASE_URL=url)
    )
    assert proc.returncode == 3, proc.stderr  # documented: 3 database unreachable
    assert "AGENTSYNC_DATABASE_URL" in proc.stderr and "unreachable" in proc.stderr
    assert "unreachable-secret" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "url",
    [
        # libpq echoes the bad %-token, i.e. the password, in its own error text
        "postgresql://u:s3cr%zzet@127.0.0.1:1/db",
        # an unencoded "@" / "/" in the password: libpq reads part of it as host / port
        "postgresql://u:s3cr@zzet@127.0.0.1:1/db",
        "postgresql://u:s3cr/zzet@127.0.0.1:1/db",
    ],
)
def test_malformed_url_never_echoes_the_password(tmp_path, url):
    proc = _run(
        ["users", "list"], _env(AGENTSYNC_DATA_DIR=str(tmp_path), AGENTSYNC_DATABASE_URL=url)
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    for fragment in ("s3cr", "zzet"):
        assert fragment not in out
    assert "AGENTSYNC_DATABASE_URL" in proc.stderr and "malformed" in proc.stderr
    assert "Traceback" not in out
    assert len(proc.stderr.strip().splitlines()) == 1


def test_wrong_password(pg_server, tmp_path):

    # A server that exists, with a wrong password for a role that must authenticate: make the
    # session server demand scram for that one role (it trusts local sockets otherwise).
    from urllib.parse import parse_qs, urlsplit

    import psycopg2

    sock = parse_qs(urlsplit(pg_server).query)["host"][0]
    hba = Path(sock) / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("local all pw_user scram-sha-256\n" + original)
    conn = psycopg2.connect(pg_server)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("drop role if exists pw_user")
            cur.execute("create role pw_user login password 'right-password'")
            cur.execute("select pg_reload_conf()")
        bad = f"postgresql://pw_user:wrong-password@localhost/postgres?host={sock}"
        proc = _run(
            ["users", "list"], _env(AGENTSYNC_DATA_DIR=str(tmp_path), AGENTSYNC_DATABASE_URL=bad)
        )
    finally:
        hba.write_text(original)
        with conn.cursor() as cur:
            cur.execute("select pg_reload_conf()")
        conn.close()
    assert proc.returncode == 2, proc.stderr
    assert "AGENTSYNC_DATABASE_URL" in proc.stderr
    assert "password authentication failed" in proc.stderr
    assert "wrong-password" not in proc.stderr  # the password is redacted
    assert "Traceback" not in proc.stderr


def test_bad_sandbox_epoch_is_one_line_naming_the_setting(tmp_path):
    proc = _run(
        ["sandbox", "serve", "--port", "0"],
        _env(AGENTSYNC_DATA_DIR=str(tmp_path), AGENTSYNC_SANDBOX_EPOCH="yesterday-ish"),
    )
    assert proc.returncode == 2, proc.stderr
    assert "AGENTSYNC_SANDBOX_EPOCH" in proc.stderr and "ISO date" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_sandbox_epoch_is_read_from_dotenv(tmp_path):
    """The sandbox clock honours .env like every other setting: the commands that start the
    sandbox export it before importing it (the sandbox itself reads only the environment)."""
    pinned = datetime(2024, 5, 1, 6, 30, tzinfo=UTC)
    (tmp_path / ".env").write_text(f"AGENTSYNC_SANDBOX_EPOCH={pinned.isoformat()}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from agentsync.commands.sandbox_cmd import export_sandbox_epoch;"
            "export_sandbox_epoch(); import sandbox.world as w; print(w.EPOCH.isoformat())",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert datetime.fromisoformat(proc.stdout.strip()) == pinned
