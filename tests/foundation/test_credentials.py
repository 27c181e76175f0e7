"""Agents and credentials: encrypted at rest, never printed, bad input changes nothing."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from agentsync import agents, crypto, db
from agentsync.errors import ConflictError, InvalidInputError, NotFoundError, SettingError
from agentsync.settings import load_settings

AGENTSYNC = str(Path(sys.executable).with_name("agentsync"))
FUB_KEY = "fub-secret-0123456789abcdef"
REZEN_KEY = "rezen-secret-abcdef0123456789"
SKY = {
    "access_key": "sky-access-key-1",
    "access_secret": "sky-access-secret-XYZ",
    "client_id": "sky-client-1",
    "client_secret": "sky-client-secret-QRS",
}
SECRETS = [FUB_KEY, REZEN_KEY, SKY["access_secret"], SKY["client_secret"]]


def cli(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSYNC_")}
    full_env.update(env)
    return subprocess.run(
        [AGENTSYNC, *args], env=full_env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_encryption_round_trip_and_ciphertext_at_rest(agentsync_env):
    agents.add_agent(7, "Round Trip", {"fub": {"api_key": FUB_KEY}, "skyslope": SKY})
    assert agents.get_credentials(7, "fub") == {"api_key": FUB_KEY}
    assert agents.get_credentials(7, "skyslope") == SKY
    with db.begin() as conn:
        raw = conn.execute(text("select secret, field_names from ops.credentials")).all()
    dumped = b"".join(bytes(r.secret) for r in raw)
    for secret in [FUB_KEY, SKY["access_secret"]]:
        assert secret.encode() not in dumped
    assert sorted(raw[0].field_names + raw[1].field_names) == sorted(["api_key", *SKY])


def test_generated_key_is_0600_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTSYNC_ENCRYPTION_KEY", raising=False)
    settings = load_settings(data_dir=tmp_path)
    key = crypto.load_key(settings)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert crypto.load_key(settings) == key
    token = crypto.encrypt_json({"a": "b"}, settings)
    assert crypto.decrypt_json(token, settings) == {"a": "b"}
    path.chmod(0o644)
    with pytest.raises(Exception, match="readable by others"):
        crypto.load_key(settings)


# Each racing process imports agentsync, waits for the go file (so all start at once), then loads
# the key and prints it (Fernet-checked). Writes through os.fdopen are slowed down, so a key file
# that is visible before its key is written (the race) is seen by the other processes every time.
_RACE = """
import os, sys, time
from pathlib import Path
from cryptography.fernet import Fernet
from agentsync import crypto
from agentsync.settings import load_settings

real_fdopen = os.fdopen
class SlowWriter:
    def __init__(self, fh): self.fh = fh
    def __getattr__(self, name): return getattr(self.fh, name)
    def __enter__(self): return self
    def __exit__(self, *exc): return self.fh.__exit__(*exc)
    def write(self, data):
        time.sleep(0.5)
        return self.fh.write(data)
os.fdopen = lambda *a, **kw: SlowWriter(real_fdopen(*a, **kw))

settings = load_settings(data_dir=sys.argv[1])
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
key = crypto.load_key(settings)
Fernet(key)
print(key.decode())
"""


def test_generated_key_race_between_processes(tmp_path):
    """Processes creating the key at once all end with one complete key and no error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSYNC_")}
    data_dir, go = tmp_path / "data", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, str(data_dir), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    time.sleep(2)  # let them import; a late one still races a slow writer
    go.write_text("go")
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), [err for _, err in results]
    keys = {out.strip() for out, _ in results}
    assert keys == {(data_dir / "secret.key").read_text().strip()}
    assert stat.S_IMODE((data_dir / "secret.key").stat().st_mode) == 0o600
    assert [f.name for f in data_dir.iterdir()] == ["secret.key"]  # no temporary file left


def test_damaged_key_file_is_a_setting_error(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTSYNC_ENCRYPTION_KEY", raising=False)
    settings = load_settings(data_dir=tmp_path)
    path = tmp_path / "secret.key"
    path.write_bytes(b"")
    path.chmod(0o600)
    with pytest.raises(SettingError, match="empty or not a Fernet key"):
        crypto.load_key(settings)


def test_cli_never_prints_secrets(agentsync_env, caplog):
    creds = {"rezen": {"api_key": REZEN_KEY}, "skyslope": SKY}
    caplog.set_level(logging.DEBUG)
    add = cli(
        [
            "--verbose",
            "users",
            "add",
            "--user-id",
            "42",
            "--name",
            "Casey",
            "--fub-api-key",
            FUB_KEY,
            "--credentials-file",
            "-",
            "--json",
        ],
        agentsync_env,
        stdin=json.dumps(creds),
    )
    assert add.returncode == 0, add.stderr
    listed = cli(["--verbose", "users", "list", "--json"], agentsync_env)
    table = cli(["users", "list"], agentsync_env)
    helps = [cli([*c, "--help"], agentsync_env) for c in (["users", "add"], ["users", "list"], [])]
    dup = cli(
        ["users", "add", "--user-id", "42", "--name", "x", "--fub-api-key", FUB_KEY], agentsync_env
    )
    outputs = [add, listed, table, dup, *helps]
    everything = "".join(p.stdout + p.stderr for p in outputs) + caplog.text
    for secret in SECRETS:
        assert secret not in everything
    data = json.loads(listed.stdout)
    assert data[0]["integrations"] == {
        "fub": True,
        "rezen": True,
        "skyslope": True,
        "qualia": False,
    }
    assert dup.returncode == 5 and "already exists" in dup.stderr
    # ... and the refused duplicate changed nothing: same name, same connected integrations
    after = cli(["users", "list", "--json"], agentsync_env)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == data
    assert data[0]["name"] == "Casey"
    assert agents.get_credentials(42, "rezen") == creds["rezen"]
    assert agents.get_credentials(42, "fub") == {"api_key": FUB_KEY}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--credentials-file", "-"], "unknown integration 'dotloop'"),
        (["--qualia-username", "only-user"], "qualia credential needs password+username"),
        (["--rezen-api-key", "   "], "rezen credential field 'api_key' is empty"),
    ],
)
def test_bad_credentials_change_nothing(agentsync_env, args, message):
    stdin = json.dumps({"dotloop": {"token": "t"}}) if "-" in args else None
    proc = cli(["users", "add", "--user-id", "9", "--name", "Bad", *args], agentsync_env, stdin)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert agents.list_agents() == []


def test_malformed_credentials_file(agentsync_env, tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    proc = cli(
        ["users", "add", "--user-id", "9", "--name", "B", "--credentials-file", str(bad)],
        agentsync_env,
    )
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    assert agents.list_agents() == []


def test_service_errors(agentsync_env):
    agents.add_agent(1, "One", {"rezen": {"api_key": "k0"}})
    before = agents.list_agents()
    with pytest.raises(ConflictError):
        agents.add_agent(1, "Again", {"rezen": {"api_key": "other"}, "fub": {"api_key": "f"}})
    assert agents.list_agents() == before  # name and connected integrations unchanged
    assert agents.get_agent(1).name == "One" and agents.get_agent(1).integrations == ["rezen"]
    assert agents.get_credentials(1, "rezen") == {"api_key": "k0"}
    with pytest.raises(InvalidInputError):
        agents.add_agent(0, "Zero")
    with pytest.raises(NotFoundError):
        agents.get_credentials(1, "fub")
    with pytest.raises(NotFoundError):
        agents.remove_agent(99)
    agents.set_credential(1, "rezen", {"api_key": "k1"})
    agents.set_credential(1, "rezen", {"api_key": "k2"})  # rotation replaces
    assert agents.get_credentials(1, "rezen") == {"api_key": "k2"}
    agents.update_credential_fields(1, "rezen", {"api_key": "k3"})
    assert agents.get_credentials(1, "rezen") == {"api_key": "k3"}
    assert agents.remove_credential(1, "rezen") is True
    agents.remove_agent(1)
    assert agents.list_agents() == []


@pytest.mark.parametrize("user_id", [str(2**63), str(10**30), "0", "-3"])
def test_user_id_outside_bigint_range_is_one_line(agentsync_env, user_id):
    """ops.agents.user_id is a PostgreSQL bigint: out-of-range ids are bad input (exit 2)."""
    proc = cli(["users", "add", "--user-id", user_id, "--name", "Big"], agentsync_env)
    assert proc.returncode == 2, proc.stderr
    assert "--user-id must be between 1 and 9223372036854775807" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert agents.list_agents() == []
    largest = agents.add_agent(agents.MAX_USER_ID, "Largest")  # the top of the range still fits
    assert largest.user_id == 2**63 - 1


def test_users_remove_and_disconnect_cli(agentsync_env):
    agents.add_agent(5, "Five", {"fub": {"api_key": FUB_KEY}})
    assert (
        cli(
            ["users", "disconnect", "--user-id", "5", "--integration", "fub"], agentsync_env
        ).returncode
        == 0
    )
    assert agents.get_agent(5).integrations == []
    bad = cli(["users", "disconnect", "--user-id", "5", "--integration", "zillow"], agentsync_env)
    assert bad.returncode == 2 and "unknown integration" in bad.stderr
    assert cli(["users", "remove", "--user-id", "5"], agentsync_env).returncode == 0
    gone = cli(["users", "remove", "--user-id", "5"], agentsync_env)
    assert gone.returncode == 4 and "no agent with user_id 5" in gone.stderr


@pytest.mark.parametrize(
    "args",
    [["quality-gate", "--skip-dbt"], ["reconcile"], ["reconcile", "--json"]],
)
def test_checks_of_an_agent_that_does_not_exist_exit_4(agentsync_env, args):
    """A gate or reconciliation of an unknown agent is not "passed" or "[]": it is not found."""
    agents.add_agent(5, "Five")
    proc = cli([*args, "--user-id", "5", "--user-id", "999"], agentsync_env)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == ["agentsync: error: no agent with user_id 999"]
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--user-id", "999"], 4, "no agent with user_id 999"),
        (["--source", "dotloop"], 2, "unknown source 'dotloop'"),
    ],
)
def test_sync_of_an_unknown_agent_or_source_is_refused_before_it_runs(
    agentsync_env, args, code, message
):
    """``sync`` checks what it was asked for before any Prefect start-up or sync run."""
    agents.add_agent(5, "Five", {"rezen": {"api_key": "k0"}})
    proc = cli(["sync", *args], agentsync_env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert proc.stdout == ""
    with db.begin() as conn:
        assert conn.execute(text("select count(*) from ops.sync_runs")).scalar_one() == 0
