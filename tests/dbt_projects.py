"""Two dbt projects over one database: the project before issue 19 and this checkout's.

For the test that the rewrite left the marts unchanged (``tests/foundation/test_marts_unchanged.py``)
and for ``bench/bench_dbt_project.py``, which measure the same builds:

- :func:`old_project` extracts ``dbt_project/`` at :data:`OLD_PROJECT_COMMIT` with ``git archive``
  (the project is not kept twice in the repository; a clone without that commit fails saying so);
- :func:`run_project` runs dbt on a project directory with agentsync's database and profile
  (``dbt_env``), its own target directory;
- :func:`load_quirky_day` loads every source for every sandbox agent with the sandbox's record
  faults armed; :func:`hold_back` / :func:`bring_back` take a day's loads out of raw and back, so
  a project can build over the first day, then incrementally over the second;
- :func:`reset_models` drops every model and the processed state: the next build is a first one.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from agentsync import agents, db
from agentsync.transform import PROJECT_DIR, dbt_env

ROOT = PROJECT_DIR.parent
#: main's commit issue 19's branch started from: its dbt_project/ is the project before issue 19
OLD_PROJECT_COMMIT = "f97e29128167e9660940435fdd7765024b4b33ca"
RAW_SCHEMAS = ("raw_fub", "raw_rezen", "raw_skyslope", "raw_qualia")
MODEL_SCHEMAS = ("staging", "intermediate", "marts")
#: record faults on every API: records without an id or with wrong JSON types (quarantined),
#: an added field and a renamed one (drift)
QUIRKS = ",".join(
    f"{api}:{route}:{kind}:{count}"
    for api, route in (
        ("fub", "/v1/people*"),
        ("fub", "/v1/calls*"),
        ("rezen", "*"),
        ("skyslope", "*"),
        ("qualia", "*"),
    )
    for kind, count in (
        ("malformed", 1),
        ("malformed_types", 1),
        ("drift_added", 1),
        ("drift_renamed", 1),
    )
)


def old_project(dest: Path) -> Path:
    """``dbt_project/`` as it was at :data:`OLD_PROJECT_COMMIT`, extracted under ``dest``."""

    def present() -> bool:
        probe = ["git", "-C", str(ROOT), "cat-file", "-e", f"{OLD_PROJECT_COMMIT}^{{commit}}"]
        return subprocess.run(probe, capture_output=True).returncode == 0

    if not present():  # a shallow clone: deepen it from where it was cloned, if reachable
        subprocess.run(
            ["git", "-C", str(ROOT), "fetch", "--quiet", "--unshallow"],
            capture_output=True,
            timeout=300,
        )
    if not present():
        raise AssertionError(
            f"commit {OLD_PROJECT_COMMIT} (the dbt project before issue 19) is not in this "
            "clone's history: fetch it (git fetch --unshallow)"
        )
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", OLD_PROJECT_COMMIT, "dbt_project"],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "dbt_project"


def run_project(
    project: Path, target: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess:
    """``dbt <args>`` on ``project`` against agentsync's database, in a process of its own."""
    env = {**os.environ, **dbt_env(), "DBT_USE_COLORS": "false"}
    env["DBT_PROFILES_DIR"] = env["DBT_PROJECT_DIR"] = str(project)
    env["DBT_TARGET_PATH"] = str(target)
    env["DBT_LOG_PATH"] = str(target / "logs")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), *args, "--project-dir", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if check:
        assert done.returncode == 0, (str(project), args, done.stdout[-6000:], done.stderr[-2000:])
    return done


def timed(project: Path, target: Path, *args: str) -> float:
    started = time.perf_counter()
    run_project(project, target, *args)
    return time.perf_counter() - started


def register_agents(sandbox) -> list[tuple[int, set[str]]]:
    """Every sandbox agent with its credentials: ``[(user_id, {integration, ...})]``."""
    out = []
    for demo in sandbox.demo_agents():
        agents.add_agent(demo["user_id"], demo["name"], demo["credentials"])
        out.append((demo["user_id"], set(demo["credentials"])))
    return out


def run_steps(users: list[tuple[int, set[str]]], kind: str) -> None:
    """Every source's steps, in order, for each agent (the sources it has credentials for)."""
    from dlt_pipelines.registry import all_steps

    for user_id, integrations in users:
        for step in all_steps():
            if step.source in integrations:
                step.run(user_id, kind, None)


def load_ids() -> dict[str, set[str]]:
    """The committed dlt loads of each raw schema."""
    out: dict[str, set[str]] = {}
    with db.begin() as conn:
        for schema in RAW_SCHEMAS:
            if conn.execute(text("select to_regclass(:t)"), {"t": f"{schema}._dlt_loads"}).scalar():
                loads = conn.execute(text(f"select load_id from {schema}._dlt_loads"))
                out[schema] = set(loads.scalars())
    return out


def load_quirky_days(sandbox_server, quirks: bool = True) -> dict[str, set[str]]:
    """Two days of every source for every sandbox agent, :data:`QUIRKS` armed (unless
    ``quirks`` is false): an onboarding, then a daily sync after the sandbox clock moved a day
    (new, changed and deleted records).

    Returns the second day's loads per raw schema.
    """
    root = sandbox_server.url
    if quirks:
        spec = {"spec": QUIRKS}
        httpx.post(f"{root}/_sandbox/faults", json=spec, timeout=30).raise_for_status()
    users = register_agents(sandbox_server.sandbox)
    run_steps(users, "onboarding")
    first = load_ids()
    advance = {"seconds": 86_400, "fraction": 0.2}
    httpx.post(f"{root}/_sandbox/advance", json=advance, timeout=120).raise_for_status()
    run_steps(users, "daily")
    return {schema: ids - first.get(schema, set()) for schema, ids in load_ids().items()}


def _root_tables(conn, schema: str) -> list[str]:
    rows = conn.execute(
        text(
            "select table_name from information_schema.columns where table_schema = :s "
            "and column_name = '_dlt_load_id' and left(table_name, 5) <> '_dlt_' order by 1"
        ),
        {"s": schema},
    )
    return [*rows.scalars(), "_dlt_loads"]


def hold_back(loads: dict[str, set[str]]) -> None:
    """Move the rows of ``loads`` (and their ``_dlt_loads`` entries) out of raw, to ``held``."""
    with db.begin() as conn:
        conn.execute(text("create schema held"))
        for schema, ids in loads.items():
            for table in _root_tables(conn, schema):
                column = "load_id" if table == "_dlt_loads" else "_dlt_load_id"
                rows = f'{schema}."{table}" where {column} = any(:ids)'
                conn.execute(
                    text(f'create table held."{schema}__{table}" as select * from {rows}'),
                    {"ids": sorted(ids)},
                )
                conn.execute(text(f"delete from {rows}"), {"ids": sorted(ids)})


def bring_back(loads: dict[str, set[str]]) -> None:
    with db.begin() as conn:
        for schema in loads:
            for table in _root_tables(conn, schema):
                conn.execute(
                    text(f'insert into {schema}."{table}" select * from held."{schema}__{table}"')
                )
        conn.execute(text("drop schema held cascade"))


def reset_models() -> None:
    """No model and no processed state: the next build is a first build."""
    with db.begin() as conn:
        for schema in MODEL_SCHEMAS:
            conn.execute(text(f"drop schema if exists {schema} cascade"))
        conn.execute(
            text(
                "truncate ops.dbt_processed_loads, ops.dbt_load_batch, ops.dbt_view_digests, "
                "ops.dbt_built_loads"
            )
        )


def tables_in(schema: str) -> list[str]:
    with db.begin() as conn:
        rows = conn.execute(
            text(
                "select table_name from information_schema.tables where table_schema = :s "
                "and table_type = 'BASE TABLE' order by 1"
            ),
            {"s": schema},
        )
        return list(rows.scalars())


def copy_marts(into: str) -> None:
    """Every table of ``marts`` copied into schema ``into``."""
    with db.begin() as conn:
        conn.execute(text(f"create schema {into}"))
    for mart in tables_in("marts"):
        with db.begin() as conn:
            conn.execute(text(f'create table {into}."{mart}" as select * from marts."{mart}"'))
