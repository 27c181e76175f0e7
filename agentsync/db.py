"""The database: the embedded PostgreSQL (pgserver) by default, or any server by URL.

With ``AGENTSYNC_DATABASE_URL`` unset, agentsync starts a real PostgreSQL 16 from the pip-installed
``pgserver`` in ``<data_dir>/pgdata``. Every process that uses it registers a handle; the server
is reused by all of them and stopped when the last one exits (pgserver's ``cleanup_mode='stop'``).
The server listens only on a unix socket in its data directory; the URL we hand to dlt, dbt and
GX has the ``localhost`` + ``?host=/socket/dir`` form that all three accept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agentsync import orphans
from agentsync.errors import DatabaseError, SettingError
from agentsync.settings import Settings, get_settings

log = logging.getLogger(__name__)
# pgserver asks platformdirs for a runtime dir; the fallback it warns about is fine here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

EMBEDDED_USER = "postgres"
# pg_hba of the embedded server trusts local socket connections; dlt and GX insist on a
# password being present in the URL, so we give them a placeholder that is not a secret.
EMBEDDED_PASSWORD = "embedded"  # noqa: S105
PG_START_TIMEOUT_SECONDS = 120

_lock = threading.Lock()
_server = None  # pgserver.PostgresServer handle held for the life of this process
_url_cache: dict[str, str] = {}
_engines: dict[str, Engine] = {}
_release_hooks: list[Callable[[], None]] = []  # run when this process lets go of its databases


def on_release(hook: Callable[[], None]) -> None:
    """Call ``hook`` when :func:`stop_embedded` lets go of the database (e.g. to close leases)."""
    _release_hooks.append(hook)


@dataclass(frozen=True)
class ConnInfo:
    """Connection parts, for tools (dbt profiles) that want them split."""

    host: str
    port: int
    user: str
    password: str
    dbname: str


def _check_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise SettingError(
            f"AGENTSYNC_DATA_DIR {path} is not writable ({err.strerror or err})"
        ) from None


def _start_embedded(settings: Settings) -> str:
    global _server
    _check_data_dir(settings.data_dir)
    import pgserver  # imported lazily: production never needs it

    _patch_pgserver_timeouts()
    logging.getLogger("pgserver").setLevel(logging.CRITICAL)
    with _lock:
        if _server is None:
            # A killed process never removed itself from the server's users: forget dead ones,
            # so the server stops when the last living user exits (agentsync.orphans).
            orphans.prune_pgserver_handles(settings.pgdata)
            _server = _get_server_with_retries(pgserver, settings.pgdata)
        info = _server.get_postmaster_info()
    socket_dir = str(info.socket_dir) if info.socket_dir else None
    admin_url = _server.get_uri("postgres")
    _ensure_database(admin_url, settings.database_name)
    if socket_dir:
        return (
            f"postgresql://{EMBEDDED_USER}:{EMBEDDED_PASSWORD}@localhost/"
            f"{settings.database_name}?host={quote(socket_dir)}"
        )
    return (
        f"postgresql://{EMBEDDED_USER}:{EMBEDDED_PASSWORD}@{info.hostname}:{info.port}/"
        f"{settings.database_name}"
    )


def _patch_pgserver_timeouts() -> None:
    """pgserver gives ``pg_ctl start`` 10 s; a busy 2-core machine can need more."""
    import pgserver.postgres_server as pgs

    if getattr(pgs.pg_ctl, "_agentsync_patient", False):
        return
    original = pgs.pg_ctl

    def patient_pg_ctl(*args, **kwargs):
        kwargs["timeout"] = max(kwargs.get("timeout") or 0, PG_START_TIMEOUT_SECONDS)
        return original(*args, **kwargs)

    patient_pg_ctl._agentsync_patient = True  # type: ignore[attr-defined]
    pgs.pg_ctl = patient_pg_ctl


def _get_server_with_retries(pgserver, pgdata: Path, attempts: int = 4):
    """Start or attach to the server; a start that raced another process is retried."""
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            return pgserver.get_server(pgdata, cleanup_mode="stop")
        except Exception as err:  # pgserver raises bare exceptions; retried, then given context
            last = err
            # A failed constructor stays cached in pgserver; drop it so the retry re-checks.
            pgserver.PostgresServer._instances.pop(Path(pgdata).expanduser().resolve(), None)
            time.sleep(1 + attempt * 2)
    log_file = Path(pgdata) / "log"
    raise DatabaseError(
        f"could not start the embedded PostgreSQL in {pgdata}: {last} (server log: {log_file})"
    ) from last


def _ensure_database(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
                    cur.execute(f'create database "{name}"')
    finally:
        conn.close()


# libpq messages that mean the server answered and refused this URL's user, password or
# database: the setting is wrong (exit 2), not the server unreachable (exit 3).
_REFUSED_BY_SERVER = (
    "authentication failed",
    "no password supplied",
    "does not exist",
    "pg_hba.conf",
    "not permitted to log in",
    "permission denied",
)
_QUOTED = re.compile(r'\s*:?\s*"[^"]*"')


def _userinfo_password(url: str) -> str | None:
    """The raw password between ``user:`` and the last ``@`` of the URL, or None."""
    _, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo = rest.rpartition("@")[0]
    return userinfo.partition(":")[2] if ":" in userinfo else None


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe for messages and logs.

    Everything between ``user:`` and the last ``@`` is masked, so a password with unencoded
    special characters (``@``, ``/``, ``#``) is masked whole; so is a ``password=`` parameter.
    """
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        userinfo, _, hostpart = rest.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.partition(":")[0] + ":***"
        url = f"{scheme}://{userinfo}@{hostpart}"
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)


def _libpq_parts(url: str) -> dict[str, str]:
    """The URL as libpq reads it; malformed (unparseable or ambiguous) raises SettingError."""
    try:
        parts = psycopg2.extensions.parse_dsn(url)
    except psycopg2.ProgrammingError as err:
        # The driver quotes the offending token, which may be the password: keep only its words.
        reason = _QUOTED.sub("", str(err).strip().splitlines()[0]).removeprefix("invalid dsn: ")
        hint = (
            "; percent-encode special characters in the user name and password (% as %25)"
            if "percent" in reason
            else ""
        )
        raise SettingError(f"AGENTSYNC_DATABASE_URL is malformed ({reason}){hint}") from None
    raw = _userinfo_password(url)
    if raw is None:
        query_pw = parse_qs(urlsplit(url).query).get("password", [None])[0] if "?" in url else None
        expected = query_pw
    else:
        expected = unquote(raw)
    if parts.get("password") != expected:
        # libpq split the URL differently from its last "@": an unencoded special character in
        # the user name or password. Its host or port would then echo part of the password.
        raise SettingError(
            "AGENTSYNC_DATABASE_URL is malformed: the user name or password contains an unencoded"
            " special character (@ / ? # :); percent-encode it (@ as %40, / as %2F)"
        )
    return parts


# A URL inside free text: scheme, "://", then anything up to whitespace, a quote or a bracket.
_URL_IN_TEXT = re.compile(r"""(?i)\b[a-z][a-z0-9+.-]*://[^\s'"<>()\[\]{}]+""")
# libpq's key/value form: password=secret or password='quoted \' secret' (one whole value).
_PASSWORD_KV = re.compile(r"""(?i)\b(password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s,;&]+)""")
# A quoted value as drivers print them ("value" or 'value'); masked only when it IS a secret.
_QUOTED_VALUE = re.compile(r""""([^"]*)"|'([^']*)'""")


def scrub_secrets(text: str, url: str) -> str:
    """``text`` (a driver's error, say) with ``url`` and its password masked, by parsing.

    See :func:`_scrub`: a password is never removed as a substring, so a short one (``p``) does
    not eat letters out of ordinary words (``port 1 failed`` stays readable).
    """
    return _scrub(text, url, {})


def _scrub(text: str, url: str, parts: dict[str, str]) -> str:
    """``text`` with the credentials in it masked, found by parsing rather than substring search.

    - the configured ``url`` itself, wherever it appears whole, is shown redacted
      (:func:`redact_url`: its password masked, host and database still readable);
    - every other URL in the text has its userinfo password and ``password=`` parameter masked
      (:func:`redact_url` applied to each URL token);
    - libpq ``password=value`` pairs have their value masked;
    - a quoted value (``"..."``/``'...'``) that is exactly the password (raw, decoded or
      percent-encoded) is masked, and so is a text that is nothing but the password;
    - the password in userinfo position, a token ``[user:]password@...``, is masked.

    A password elsewhere, inside ordinary words, is left alone: there it is not a credential.
    """
    raw = _userinfo_password(url) or ""
    secrets = {parts.get("password") or "", raw, unquote(raw)}
    secrets |= {quote(s, safe="") for s in set(secrets) if s}
    secrets.discard("")
    if text.strip() in secrets:
        return "***"
    pieces = text.split(url) if url else [text]
    shown = redact_url(url) if url else ""
    out = []
    for piece in pieces:
        piece = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), piece)
        piece = _PASSWORD_KV.sub(lambda m: m.group(1) + "***", piece)
        piece = _QUOTED_VALUE.sub(lambda m: _mask_quoted(m, secrets), piece)
        for secret in sorted(secrets, key=len, reverse=True):
            # userinfo position: a token that is "[user:]secret@host" (a driver echoing a host
            # split from a URL with an unencoded "@" in its password)
            userinfo = rf"""(^|[\s"'(/=,])([^\s:@"'/]*:)?{re.escape(secret)}(?=@)"""
            piece = re.sub(userinfo, lambda m: m.group(1) + (m.group(2) or "") + "***", piece)
        out.append(piece)
    return shown.join(out)


def _mask_quoted(match: re.Match[str], secrets: set[str]) -> str:
    value = match.group(1) if match.group(1) is not None else match.group(2)
    if value in secrets:
        quote_char = match.group(0)[0]
        return f"{quote_char}***{quote_char}"
    return match.group(0)


def _check_external(url: str) -> None:
    """Connect once; a bad URL or a refused login is a SettingError, no server a DatabaseError."""
    parts = _libpq_parts(url)
    shown = redact_url(url)
    try:
        conn = psycopg2.connect(url, connect_timeout=5)
    except psycopg2.ProgrammingError as err:
        reason = _QUOTED.sub("", str(err).strip().splitlines()[0])
        raise SettingError(f"AGENTSYNC_DATABASE_URL is malformed ({reason})") from None
    except psycopg2.OperationalError as err:
        text = str(err).strip()
        first = _scrub(text.splitlines()[0], url, parts) if text else "connection refused"
        if first.startswith("invalid"):
            raise SettingError(f"AGENTSYNC_DATABASE_URL is malformed: {first}") from None
        if any(marker in first for marker in _REFUSED_BY_SERVER):
            raise SettingError(f"AGENTSYNC_DATABASE_URL {shown} cannot be used: {first}") from None
        raise DatabaseError(
            f"AGENTSYNC_DATABASE_URL {shown}: database unreachable: {first}"
        ) from None
    conn.close()


def database_url(settings: Settings | None = None) -> str:
    """The libpq URL of the database, starting the embedded server when none is configured."""
    settings = settings or get_settings()
    key = (
        settings.database_url.get_secret_value()
        if settings.database_url
        else f"embedded:{settings.pgdata}"
    )
    if key in _url_cache:
        return _url_cache[key]
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        if url.startswith("postgresql+psycopg2://"):
            url = "postgresql://" + url.removeprefix("postgresql+psycopg2://")
        _check_external(url)
    else:
        url = _start_embedded(settings)
    _url_cache[key] = url
    return url


def conn_info(settings: Settings | None = None) -> ConnInfo:
    """The database URL split into parts (host is the socket dir for the embedded server)."""
    url = database_url(settings)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    return ConnInfo(
        host=host,
        port=parts.port or 5432,
        user=parts.username or EMBEDDED_USER,
        password=parts.password or "",
        dbname=parts.path.lstrip("/"),
    )


def sqlalchemy_url(settings: Settings | None = None) -> str:
    return "postgresql+psycopg2://" + database_url(settings).removeprefix("postgresql://")


#: Pooled connections one agent's run may hold at once: its pipeline's lock (held for the whole
#: load, :func:`agentsync.locks.pipeline_lock`), the statement it is running (its sync-run row,
#: state) and its requests' pacing statements (:mod:`agentsync.pacing`).
CONNECTIONS_PER_RUN = 3


def pool_overflow(settings: Settings | None = None) -> int:
    """Connections the pool may open beyond its 5 kept ones: enough for every agent run this
    process may have at once (``AGENTSYNC_MAX_CONCURRENT_SYNCS`` + ``..._ONBOARDINGS``).

    SQLAlchemy's default (10) let 15 connections be held at most: with 16 agents syncing, their
    pipeline locks held them all, every other statement waited 30 s for one and failed
    (``bench/results.md``, "Fleet")."""
    s = settings or get_settings()
    width = s.max_concurrent_syncs + s.max_concurrent_onboardings
    return max(10, CONNECTIONS_PER_RUN * width)


def engine(settings: Settings | None = None) -> Engine:
    """A pooled SQLAlchemy engine for the configured database (one per URL per process)."""
    url = sqlalchemy_url(settings)
    with _lock:
        if url not in _engines:
            _engines[url] = sa.create_engine(
                url,
                pool_pre_ping=True,
                future=True,
                pool_size=5,
                max_overflow=pool_overflow(settings),
            )
        return _engines[url]


@contextlib.contextmanager
def begin(settings: Settings | None = None) -> Iterator[Connection]:
    """A connection inside a transaction (committed on success, rolled back on error)."""
    with engine(settings).begin() as conn:
        yield conn


def ensure_ready(settings: Settings | None = None) -> str:
    """Start/reach the database and bring the ``ops`` schema to the newest migration."""
    from agentsync.migrate import upgrade

    settings = settings or get_settings()
    url = database_url(settings)
    upgrade(settings)
    return url


def dispose_engines() -> None:
    """Close every pooled connection this process holds (the engines are made again on use)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()


def stop_embedded() -> None:
    """Release this process's handle on the embedded server (it stops when the last one goes)."""
    global _server
    for hook in _release_hooks:
        hook()
    with _lock:
        if _server is not None:
            _server.cleanup()
            _server = None
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()
        _url_cache.clear()


def embedded_server_pid(settings: Settings | None = None) -> int | None:
    """PID of the running embedded postmaster, or None (reads postmaster.pid)."""
    settings = settings or get_settings()
    pidfile = settings.pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return None
    return pid
