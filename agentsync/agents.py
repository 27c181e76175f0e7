"""Agents (platform user-ids) and their per-integration credentials.

``user_id`` is the platform's integer id for an agent-user: the one identity everywhere. Vendor
ids (FUB person id, reZEN agent UUID, SkySlope guid) are attributes loaded from the sources.
Credentials are validated against a per-integration shape, encrypted with Fernet and never
returned by listing functions; only :func:`get_credentials` decrypts, for a source run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text

from agentsync import db
from agentsync.crypto import decrypt_json, encrypt_json, load_key
from agentsync.errors import ConflictError, InvalidInputError, NotFoundError, SettingError

# Which fields each integration's credential must (or may) carry. FUB takes either an API key
# or OAuth tokens (access + refresh; client id/secret let us refresh).
CREDENTIAL_SHAPES: dict[str, list[set[str]]] = {
    "fub": [{"api_key"}, {"access_token", "refresh_token"}],
    "rezen": [{"api_key"}],
    "skyslope": [{"access_key", "access_secret", "client_id", "client_secret"}],
    "qualia": [{"username", "password"}],
}
OPTIONAL_FIELDS: dict[str, set[str]] = {
    "fub": {"client_id", "client_secret", "expires_at", "system", "system_key"},
    "rezen": set(),
    "skyslope": set(),
    "qualia": set(),
}
INTEGRATIONS = tuple(CREDENTIAL_SHAPES)


@dataclass
class Agent:
    user_id: int
    name: str
    integrations: list[str] = field(default_factory=list)
    created_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "integrations": {i: (i in self.integrations) for i in INTEGRATIONS},
            "created_at": self.created_at,
        }


def validate_credential(integration: str, cred: dict[str, Any]) -> dict[str, str]:
    """Check a credential's shape; raise :class:`InvalidInputError` naming the problem."""
    if integration not in CREDENTIAL_SHAPES:
        raise InvalidInputError(
            f"unknown integration {integration!r}; expected one of {', '.join(INTEGRATIONS)}"
        )
    if not isinstance(cred, dict):
        raise InvalidInputError(f"{integration} credential must be an object of named fields")
    clean: dict[str, str] = {}
    for key, value in cred.items():
        if value is None:
            continue
        if not isinstance(value, str | int) or not str(value).strip():
            raise InvalidInputError(f"{integration} credential field {key!r} is empty or not text")
        clean[key] = str(value).strip()
    allowed = set().union(*CREDENTIAL_SHAPES[integration]) | OPTIONAL_FIELDS[integration]
    unknown = sorted(set(clean) - allowed)
    if unknown:
        raise InvalidInputError(
            f"{integration} credential has unknown field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    if not any(shape <= set(clean) for shape in CREDENTIAL_SHAPES[integration]):
        options = " or ".join("+".join(sorted(s)) for s in CREDENTIAL_SHAPES[integration])
        raise InvalidInputError(f"{integration} credential needs {options}")
    return clean


# ops.agents.user_id is a PostgreSQL bigint.
MAX_USER_ID = 2**63 - 1


def check_user_id(user_id: int) -> None:
    """Raise InvalidInputError unless ``user_id`` fits ``ops.agents.user_id`` (1..bigint max).

    Raises:
        InvalidInputError: the id is not positive or is above PostgreSQL's bigint range.
    """
    if not 0 < user_id <= MAX_USER_ID:
        raise InvalidInputError(
            f"--user-id must be between 1 and {MAX_USER_ID} (the platform's integer user id); "
            f"got {user_id}"
        )


def add_agent(
    user_id: int, name: str, credentials: dict[str, dict[str, Any]] | None = None
) -> Agent:
    """Create an agent with optional credentials, all-or-nothing."""
    check_user_id(user_id)
    if not name or not name.strip():
        raise InvalidInputError("--name must not be empty")
    checked = {i: validate_credential(i, c) for i, c in (credentials or {}).items()}
    db.ensure_ready()
    with db.begin() as conn:
        inserted = conn.execute(
            text(
                "insert into ops.agents (user_id, name) values (:u, :n) "
                "on conflict (user_id) do nothing returning user_id"
            ),
            {"u": user_id, "n": name.strip()},
        ).scalar()
        if inserted is None:
            raise ConflictError(f"agent with user_id {user_id} already exists")
        for integration, cred in checked.items():
            _upsert_credential(conn, user_id, integration, cred)
    return get_agent(user_id)


def _upsert_credential(conn, user_id: int, integration: str, cred: dict[str, str]) -> None:
    conn.execute(
        text(
            """
            insert into ops.credentials (user_id, integration, secret, field_names)
            values (:u, :i, :s, :f)
            on conflict (user_id, integration) do update
               set secret = excluded.secret, field_names = excluded.field_names,
                   updated_at = now()
            """
        ),
        {"u": user_id, "i": integration, "s": encrypt_json(cred), "f": sorted(cred)},
    )


def set_credential(user_id: int, integration: str, cred: dict[str, Any]) -> None:
    """Add or replace (rotate) one integration's credential for an agent."""
    clean = validate_credential(integration, cred)
    db.ensure_ready()
    with db.begin() as conn:
        _require_agent(conn, user_id)
        _upsert_credential(conn, user_id, integration, clean)


def update_credential_fields(user_id: int, integration: str, changes: dict[str, str]) -> None:
    """Merge changed fields (e.g. refreshed OAuth tokens) into a stored credential."""
    current = get_credentials(user_id, integration)
    current.update({k: v for k, v in changes.items() if v is not None})
    set_credential(user_id, integration, current)


def remove_credential(user_id: int, integration: str) -> bool:
    db.ensure_ready()
    with db.begin() as conn:
        _require_agent(conn, user_id)
        res = conn.execute(
            text("delete from ops.credentials where user_id = :u and integration = :i"),
            {"u": user_id, "i": integration},
        )
        return res.rowcount > 0


def _require_agent(conn, user_id: int) -> None:
    check_user_id(user_id)
    found = conn.execute(text("select 1 from ops.agents where user_id = :u"), {"u": user_id})
    if found.scalar() is None:
        raise NotFoundError(f"no agent with user_id {user_id}")


def remove_agent(user_id: int) -> None:
    db.ensure_ready()
    with db.begin() as conn:
        _require_agent(conn, user_id)
        conn.execute(text("delete from ops.agents where user_id = :u"), {"u": user_id})


def list_agents() -> list[Agent]:
    db.ensure_ready()
    with db.begin() as conn:
        rows = conn.execute(
            text(
                """
                select a.user_id, a.name, a.created_at,
                       coalesce(array_agg(c.integration order by c.integration)
                                filter (where c.integration is not null), '{}') as integrations
                  from ops.agents a
                  left join ops.credentials c using (user_id)
                 group by a.user_id, a.name, a.created_at
                 order by a.user_id
                """
            )
        ).all()
    return [Agent(r.user_id, r.name, list(r.integrations), r.created_at.isoformat()) for r in rows]


def get_agent(user_id: int) -> Agent:
    for agent in list_agents():
        if agent.user_id == user_id:
            return agent
    raise NotFoundError(f"no agent with user_id {user_id}")


def connected_integrations(user_id: int) -> list[str]:
    return get_agent(user_id).integrations


def get_credentials(user_id: int, integration: str) -> dict[str, str]:
    """Decrypt one agent's credential for one integration (only for a source run)."""
    db.ensure_ready()
    with db.begin() as conn:
        token = conn.execute(
            text("select secret from ops.credentials where user_id = :u and integration = :i"),
            {"u": user_id, "i": integration},
        ).scalar()
    if token is None:
        raise NotFoundError(f"agent {user_id} has no {integration} credentials")
    return decrypt_json(token)


def check_key_reads_credentials(user_ids: list[int] | None = None) -> None:
    """Fail before any work when the encryption key reads none of these agents' credentials.

    A key that decrypts no stored credential at all is a wrong setting (a changed
    ``AGENTSYNC_ENCRYPTION_KEY``, a data dir copied without its ``secret.key``): one line, exit 2.
    A key that reads some but not all is not a setting problem; the agents it cannot read fail
    their steps, each saying why.

    Raises:
        SettingError: no credential of these agents (default: all) decrypts.
    """
    db.ensure_ready()
    with db.begin() as conn:
        tokens = (
            conn.execute(
                text(
                    "select secret from ops.credentials"
                    + ("" if user_ids is None else " where user_id = any(:u)")
                ),
                {} if user_ids is None else {"u": list(user_ids)},
            )
            .scalars()
            .all()
        )
    if not tokens:
        return
    fernet = Fernet(load_key())
    for token in tokens:
        try:
            fernet.decrypt(bytes(token))
            return
        except InvalidToken:
            continue
    raise SettingError(
        f"AGENTSYNC_ENCRYPTION_KEY decrypts none of the {len(tokens)} stored credential(s) "
        "(was the key changed, or the data dir copied without its secret.key?)"
    )
