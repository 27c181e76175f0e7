"""Reconciliation: reported ↔ raw ↔ final with exclusions by reason, tolerance, legacy DB."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from agentsync.errors import InvalidInputError
from agentsync.quality.reconcile import Tolerance, reconcile
from tests.conftest import _create_database, _drop_database, database_url_for
from tests.quality.conftest import SPEC, TinySource, execute, widgets


def _clean_world(tiny: TinySource) -> None:
    # agent 1: 10 widgets; 2 re-fetched later (superseded versions), 1 trashed, 1 deleted
    # (deleted at the vendor: no longer in the reported total), 1 record quarantined.
    tiny.sync(1, widgets(range(1, 11)), reported_total=11,
              quarantine=[({"id": None}, "no id", "q-1")])  # fmt: skip
    later = widgets([3]) + widgets([4], is_trashed=True) + widgets([5], is_deleted=True)
    tiny.sync(1, later, reported_total=10)  # 10 ids - 1 deleted + 1 quarantined
    tiny.sync(2, widgets(range(1, 6)), reported_total=5)
    tiny.build_mart()


def test_clean_run_reconciles_with_every_exclusion_counted(tiny: TinySource) -> None:
    _clean_world(tiny)
    rows = {r.user_id: r for r in reconcile(entities=[SPEC])}
    one = rows[1]
    assert one.ok, one.problems
    assert (one.reported, one.raw_ids, one.raw_rows, one.mart_rows) == (10, 10, 13, 10)
    assert one.excluded == {"deleted": 1, "trashed": 1, "quarantined": 1, "superseded": 3}
    assert one.final == 8
    assert one.unexplained_gap == 0 and one.missing_in_mart == 0
    assert rows[2].ok and rows[2].final == 5 and rows[2].excluded["superseded"] == 0


def test_lost_rows_show_as_an_unexplained_gap_beyond_tolerance(tiny: TinySource) -> None:
    # the API said 12 but only 10 arrived (a lost page): 2 unexplained
    tiny.sync(1, widgets(range(1, 11)), reported_total=12)
    tiny.build_mart()
    [row] = reconcile(entities=[SPEC])
    assert row.unexplained_gap == 2 and not row.ok
    assert "unexplained gap 2" in row.problems
    assert all(r.ok for r in reconcile(entities=[SPEC], tolerance=Tolerance.parse("2")))
    assert all(r.ok for r in reconcile(entities=[SPEC], tolerance=Tolerance.parse("20%")))
    assert not any(r.ok for r in reconcile(entities=[SPEC], tolerance=Tolerance.parse("10%")))


def test_rows_deleted_from_the_mart_are_missing(tiny: TinySource) -> None:
    tiny.sync(1, widgets(range(1, 6)), reported_total=5)
    tiny.build_mart()
    execute("delete from marts.qtest_widgets where widget_id in ('2', '3')")
    [row] = reconcile(entities=[SPEC])
    assert row.missing_in_mart == 2 and row.unexplained_gap == 2 and not row.ok


def test_a_total_goes_stale_when_a_later_run_loads_rows_without_one(tiny: TinySource) -> None:
    """A window read (SkySlope) cannot count the account: the older total is no longer compared."""
    tiny.sync(1, widgets(range(1, 6)), reported_total=5)  # full read: 5
    tiny.sync(1, [], reported_total=None)  # an empty window read changes nothing
    tiny.build_mart()
    [row] = reconcile(entities=[SPEC])
    assert (row.reported, row.unexplained_gap) == (5, 0) and row.ok
    # a window read brings 2 new records and reports no total: 5 is stale, raw <-> mart is checked
    tiny.sync(1, widgets([6, 7]), reported_total=None)
    tiny.build_mart()
    [row] = reconcile(entities=[SPEC])
    assert row.reported is None and row.unexplained_gap == 0 and row.ok, row
    execute("delete from marts.qtest_widgets where widget_id = '6'")
    [row] = reconcile(entities=[SPEC])
    assert row.unexplained_gap == 1 and row.missing_in_mart == 1 and not row.ok
    # the next full read reports again, and is compared again
    tiny.sync(1, widgets([6]), reported_total=8)
    tiny.build_mart()
    [row] = reconcile(entities=[SPEC])
    assert (row.reported, row.unexplained_gap) == (8, 1) and not row.ok


def test_tolerance_parsing_names_the_option() -> None:
    assert Tolerance.parse("5") == Tolerance(rows=5)
    assert Tolerance.parse("0.5%").fraction == pytest.approx(0.005)
    for bad in ("-1", "abc", "150%"):
        with pytest.raises(InvalidInputError, match="--tolerance"):
            Tolerance.parse(bad)


@pytest.fixture
def legacy_db(pg_server: str):
    name = f"legacy_{uuid.uuid4().hex[:8]}"
    _create_database(pg_server, name)
    yield database_url_for(pg_server, name)
    _drop_database(pg_server, name)


def test_parallel_run_against_a_legacy_database(
    tiny: TinySource, legacy_db: str, tmp_path: Path, qenv: dict[str, str]
) -> None:
    _clean_world(tiny)
    conn = psycopg2.connect(legacy_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create table fub_widget (ad_user_id int, removed boolean)")
        # legacy: agent 1 has the 8 live widgets (+1 removed), agent 2 only 4 of 5
        cur.execute("insert into fub_widget select 1, false from generate_series(1, 8)")
        cur.execute("insert into fub_widget values (1, true)")
        cur.execute("insert into fub_widget select 2, false from generate_series(1, 4)")
    conn.close()
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(
        "entities:\n  qtest.widgets:\n    table: public.fub_widget\n"
        "    user_column: ad_user_id\n    where: not removed\n"
    )
    rows = {r.user_id: r for r in reconcile(entities=[SPEC], against=legacy_db, mapping=mapping)}
    assert rows[1].legacy == 8 and rows[1].legacy_diff == 0 and rows[1].ok
    assert rows[2].legacy == 4 and rows[2].legacy_diff == 1 and not rows[2].ok
    assert "differs from legacy 4 by 1" in rows[2].problems[0]

    query_map = tmp_path / "mapping.json"
    query_map.write_text(json.dumps({"entities": {"qtest.widgets": {
        "query": "select ad_user_id, count(*) from fub_widget group by 1",
        "compare": "mart_rows"}}}))  # fmt: skip
    rows = {r.user_id: r for r in reconcile(entities=[SPEC], against=legacy_db, mapping=query_map)}
    assert rows[1].legacy == 9 and rows[1].legacy_diff == 1  # 10 mart rows vs 9 legacy


def test_bad_mapping_is_a_clear_error(tiny: TinySource, legacy_db: str, tmp_path: Path) -> None:
    bad = tmp_path / "m.yml"
    bad.write_text("entities:\n  nope.things:\n    table: public.x\n")
    with pytest.raises(InvalidInputError, match=r"unknown entities nope\.things"):
        reconcile(entities=[SPEC], against=legacy_db, mapping=bad)
    with pytest.raises(InvalidInputError, match="--against and --mapping go together"):
        reconcile(entities=[SPEC], against=legacy_db)


@pytest.mark.parametrize("password", ["Hunter2Secret", "Hunter2%zzSecret", "Hunter2@Secret"])
def test_cli_reconcile_exits_2_on_an_unusable_legacy_db_and_hides_its_password(
    qenv: dict[str, str], tmp_path: Path, password: str
) -> None:
    mapping = tmp_path / "m.yml"
    mapping.write_text("entities:\n  fub.people:\n    table: public.people\n")
    env = {**qenv, "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "reconcile", "--against",
         f"postgresql://legacy:{password}@127.0.0.1:1/old", "--mapping", str(mapping)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "Hunter2" not in res.stdout + res.stderr
    assert "--against" in res.stderr


def test_cli_reconcile_exits_1_on_an_unexplained_gap(qenv: dict[str, str]) -> None:
    """The API reported 3 people for agent 7 and none arrived: a real gap, exit 1."""
    from agentsync import agents

    env = {**qenv, "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "agentsync.cli", "reconcile", "--user-id", "7"]
    agents.add_agent(7, "Agent 7", {"fub": {"api_key": "k"}})
    execute(
        "insert into ops.sync_runs (kind, user_id, source, entity, status, ended_at, "
        "reported_total) values ('daily', 7, 'fub', 'people', 'done', now(), 0)"
    )
    clean = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    execute("update ops.sync_runs set reported_total = 3")
    gap = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert gap.returncode == 1, gap.stdout + gap.stderr
    assert "FAIL" in gap.stdout
    as_json = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert as_json.returncode == 1
    [row] = [r for r in json.loads(as_json.stdout) if r["entity"] == "fub.people"]
    assert (row["reported"], row["unexplained_gap"], row["ok"]) == (3, 3, False)
