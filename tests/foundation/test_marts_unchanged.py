"""Issue 19 item 6: the readable dbt project builds the same marts as the project it replaced.

The project as it was before the rewrite (``dbt_project/`` at ``OLD_PROJECT_COMMIT``, from git:
:mod:`tests.dbt_projects`) and this checkout's are built over the same raw data: every source for
every sandbox agent, loaded by the real sources from the real sandbox with quirks armed on every
API (records without an id and records with wrong JSON types, quarantined; an added field and a
renamed one; besides what the sandbox always serves: SkySlope's control characters, ``0001-01-01``
dates and datetimes without a zone, empty strings, nulls, FUB custom fields), then a day later
(the clock advanced: new, changed and deleted records; FUB's deletion checks) a daily sync.

Each project builds the way a deployment does: first over the first day's loads (the second
day's held back), then incrementally once they are back. After each build every mart is copied
aside, and the two projects' copies must have the same marts, the same columns (names and types;
``varchar`` and ``text`` are one type) and the same rows: ``except all`` both ways over every
column. Two columns hold the build's own clock, not data, and are compared as set / not set:
``agent_daily_snapshots.taken_at`` and ``deleted_at`` of the FUB reference marts (stamped when a
row is found missing from the agent's newest full read).
"""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import text

from agentsync import db
from agentsync.transform import PROJECT_DIR
from tests import dbt_projects as projects

pytestmark = pytest.mark.slow

CLOCK_COLUMNS = {
    ("agent_daily_snapshots", "taken_at"),
    ("fub_users", "deleted_at"),
    ("stages", "deleted_at"),
    ("pipelines", "deleted_at"),
    ("groups", "deleted_at"),
}


def _build_two_days(project, target, label: str, second_day: dict[str, set[str]]) -> None:
    projects.hold_back(second_day)
    projects.run_project(project, target, "run")
    projects.copy_marts(f"{label}_day1")
    projects.bring_back(second_day)
    projects.run_project(project, target, "run")
    projects.copy_marts(f"{label}_day2")
    projects.reset_models()


def _columns(conn, schema: str, table: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        text(
            "select column_name, case data_type when 'character varying' then 'text' "
            "else data_type end from information_schema.columns "
            "where table_schema = :s and table_name = :t order by column_name"
        ),
        {"s": schema, "t": table},
    )
    return [(r[0], r[1]) for r in rows]


def _compare(conn, left: str, right: str, mart: str) -> tuple[int, int, int]:
    """``(rows in left, rows only in left, rows only in right)`` of one mart, every column."""
    exprs = []
    for column, _ in _columns(conn, left, mart):
        quoted = f'"{column}"'
        exprs.append(f"({quoted} is not null)" if (mart, column) in CLOCK_COLUMNS else quoted)
    cols = ", ".join(exprs)

    def only(a: str, b: str) -> int:
        return conn.execute(
            text(
                f'select count(*) from (select {cols} from {a}."{mart}" '
                f'except all select {cols} from {b}."{mart}") as d'
            )
        ).scalar()

    rows = conn.execute(text(f'select count(*) from {left}."{mart}"')).scalar()
    return rows, only(left, right), only(right, left)


def test_old_and_new_project_build_the_same_marts(sandbox_env, sandbox_server, tmp_path) -> None:
    second_day = projects.load_quirky_days(sandbox_server)
    assert all(second_day.get(s) for s in projects.RAW_SCHEMAS), second_day
    with db.begin() as conn:
        quarantined = conn.execute(text("select count(distinct source) from ops.quarantine"))
        assert quarantined.scalar() == 4  # every source met records it could not use
        drift = conn.execute(
            text(
                "select count(distinct table_schema) from information_schema.columns "
                "where table_schema like 'raw\\_%' and column_name like 'sandbox%'"
            )
        )
        assert drift.scalar() >= 2  # drift columns landed (JSON sources keep theirs inside)

    old = projects.old_project(tmp_path / "old")
    _build_two_days(old, tmp_path / "old_target", "old", second_day)
    new = tmp_path / "new" / "dbt_project"
    shutil.copytree(PROJECT_DIR, new, ignore=shutil.ignore_patterns("target", "logs"))
    _build_two_days(new, tmp_path / "new_target", "new", second_day)

    with db.begin() as conn:
        for day in ("day1", "day2"):
            old_marts, new_marts = (
                projects.tables_in(f"old_{day}"),
                projects.tables_in(f"new_{day}"),
            )
            assert len(old_marts) == 33 and old_marts == new_marts, (old_marts, new_marts)
            found = {}
            for mart in old_marts:
                old_cols = _columns(conn, f"old_{day}", mart)
                assert old_cols == _columns(conn, f"new_{day}", mart), (day, mart)
                found[mart] = _compare(conn, f"old_{day}", f"new_{day}", mart)
            differing = {mart: f for mart, f in found.items() if f[1] or f[2]}
            assert not differing, f"{day}: (rows, only old, only new) {differing}"
            empty = [mart for mart, f in found.items() if not f[0]]
            assert len(empty) <= 2, (day, empty)  # rows were compared, not two empty marts
        # The control: the same comparison tells the two days apart (the second build merged
        # new, changed and deleted records), so an unchanged mart is not a blind spot.
        changed = {
            mart
            for mart in projects.tables_in("new_day2")
            if _compare(conn, "new_day1", "new_day2", mart)[1:] != (0, 0)
        }
        assert {"people", "rezen_transactions", "skyslope_sales", "title_orders"} <= changed
