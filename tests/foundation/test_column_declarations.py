"""Column declarations (``dlt_pipelines/<source>/columns.py``): one list per raw table gives dlt
its column hints, the sources their type checks and a typed writer its columns.

Real dlt loads into a real PostgreSQL; the FUB one through the real source and sandbox.
"""

from __future__ import annotations

from typing import Any

import dlt
import pytest
from sqlalchemy import text

from agentsync import db
from dlt_pipelines import columns as declarations
from dlt_pipelines.columns import Column, Table, declared_columns, postgres_type, with_parents


def _catalog(schema: str, table: str) -> dict[str, tuple[str, str]]:
    """``{column: (PostgreSQL type, is_nullable)}`` of a raw table, as the catalog has it."""
    with db.begin() as conn:
        rows = conn.execute(
            text(
                "select column_name, case when data_type = 'numeric' then 'numeric(' || "
                "numeric_precision || ',' || numeric_scale || ')' when data_type = "
                "'character varying' then 'varchar' else data_type end, is_nullable "
                "from information_schema.columns where table_schema = :s and table_name = :t"
            ),
            {"s": schema, "t": table},
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


_SAMPLE: dict[str, Any] = {"bigint": 1, "text": "x", "timestamp": "2025-01-01T00:00:00Z"}


@pytest.mark.parametrize("source", declarations.SOURCES)
def test_every_declared_column_is_created_with_its_type_though_null_in_every_row(
    agentsync_env, tmp_path, source
) -> None:
    """Each source's declared tables, loaded by dlt with the declared hints from rows whose
    declared fields are all null (only the ``not null`` columns carry a value), have every
    declared column with the PostgreSQL type the declaration names."""
    pipeline = dlt.pipeline(
        pipeline_name=f"declared_{source}",
        destination=dlt.destinations.postgres(credentials=db.database_url()),
        dataset_name=f"declared_{source}",
        pipelines_dir=str(tmp_path),
    )
    tables = declarations.tables(source)
    resources = []
    for name, table in tables.items():
        row = {c.name: _SAMPLE[c.data_type] for c in table.columns if not c.nullable}
        row["seen"] = 1  # a table needs one non-null value to be loaded at all
        resources.append(dlt.resource([row], name=name, columns=table.hints(), max_table_nesting=0))
    pipeline.run(resources)
    for name, table in tables.items():
        found = _catalog(f"declared_{source}", name)
        for column in table.columns:
            expected = postgres_type(declared_columns(source, name)[column.name])
            assert column.name in found, f"{source}.{name}.{column.name} was not created"
            assert found[column.name][0] == expected, (name, column.name, found[column.name])
            assert (found[column.name][1] == "YES") == column.nullable, (name, column.name)


def test_fub_people_field_null_in_every_record_lands_as_a_typed_column(
    sandbox_env, sandbox_server, monkeypatch
) -> None:
    """The real source and sandbox: no sandbox person has ``assignedLenderId``, yet
    ``raw_fub.people.assigned_lender_id`` exists as bigint. Control: the same load without
    that declaration creates no such column (what staging used to look up in the catalog)."""
    from dlt_pipelines.fub import columns as fub_columns
    from dlt_pipelines.fub import run_streams
    from tests.fub.conftest import add_agent

    add_agent(sandbox_server.sandbox, 102)
    people = fub_columns.TABLES["people"]
    without = Table("people", tuple(c for c in people.columns if c.name != "assigned_lender_id"))
    monkeypatch.setitem(fub_columns.TABLES, "people", without)
    run_streams(102, "manual", None, ["people"])
    with db.begin() as conn:
        served = conn.execute(text("select count(*) from raw_fub.people")).scalar()
    assert served > 0
    assert "assigned_lender_id" not in _catalog("raw_fub", "people")  # the control

    monkeypatch.setitem(fub_columns.TABLES, "people", people)
    run_streams(102, "manual", None, ["people"], full=True)
    found = _catalog("raw_fub", "people")
    assert found["assigned_lender_id"][0] == "bigint"
    with db.begin() as conn:
        populated = conn.execute(
            text("select count(assigned_lender_id) from raw_fub.people")
        ).scalar()
    assert populated == 0  # null in every record: the column exists because it is declared


def test_checks_come_from_the_declaration_with_their_containers() -> None:
    """A money object, a nested list and a record-level JSON column give the checks that the
    sources' validation runs (no second list)."""
    table = Table(
        "t",
        (
            Column("user_id", "bigint"),
            Column("price__amount", "decimal", "price.amount", kind="number"),
            Column("price__currency", "text", "price.currency", kind="text"),
            Column("teams", "json", "teams", kind="list", fields={"*.teamId": "text"}),
            Column("note", "text", "note"),  # not checked: no kind
        ),
        source_checks={"members": "list"},
    )
    assert table.checks() == {
        "price": "object",
        "price.amount": "number",
        "price.currency": "text",
        "teams": "list",
        "teams.*": "object",
        "teams.*.teamId": "text",
        "members": "list",
    }
    record = Column("order", "json", fields={"properties.*.city": "text", "_id": "text"})
    assert list(record.checks().items()) == [
        ("properties", "list"),
        ("properties.*", "object"),
        ("properties.*.city", "text"),
        ("_id", "text"),
    ]
    assert with_parents({"a": "money", "a.b": "text"}) == {"a": "money", "a.b": "text"}


def test_the_sources_validate_what_they_declare() -> None:
    """Each source's validation runs the checks of its declaration."""
    from dlt_pipelines.fub.columns import TABLES as FUB
    from dlt_pipelines.qualia import validate as qualia
    from dlt_pipelines.qualia.columns import TABLES as QUALIA
    from dlt_pipelines.rezen import validate as rezen
    from dlt_pipelines.rezen.columns import TABLES as REZEN
    from dlt_pipelines.skyslope import validate as skyslope
    from dlt_pipelines.skyslope.columns import TABLES as SKYSLOPE

    assert rezen.FIELDS["transactions"] == REZEN["transactions"].checks()
    assert rezen.FIELDS["participants"] == REZEN["transaction_participants"].checks()
    assert skyslope.FILE_FIELDS["sales"] == SKYSLOPE["sales"].column("file").checks()
    assert QUALIA["orders"].column("order").checks() == qualia.ORDER_FIELDS
    assert rezen.problem("transactions", {"price": {"amount": "n/a"}}) == (
        "price.amount is not a number: 'n/a'"
    )
    money = [c.field for c in FUB["deals"].columns if c.data_type == "decimal"]
    assert money == ["price", "commissionValue", "agentCommission", "teamCommission"]


#: raw tables the sources YAML still describes but no source writes any more (FUB's full id
#: snapshots, replaced by id_changes; read by the deletion flags until migrated)
LEGACY_TABLES = {("fub", "id_snapshots"), ("fub", "id_snapshot_runs")}


def test_the_sources_yaml_lists_the_declared_columns_with_their_types() -> None:
    """Every raw table of the dbt sources is declared (or legacy), and its YAML columns are the
    declared ones plus ``_dlt_load_id``, each with the PostgreSQL type dlt creates and a
    description: the guard's empty relation (source_or_empty) and the docs read them."""
    import yaml

    from agentsync.transform import PROJECT_DIR

    for source in declarations.SOURCES:
        path = PROJECT_DIR / "models" / "staging" / source / f"_{source}__sources.yml"
        [yml] = yaml.safe_load(path.read_text())["sources"]
        declared = declarations.tables(source)
        in_yaml = {t["name"] for t in yml["tables"]}
        assert set(declared) <= in_yaml, (source, set(declared) - in_yaml)
        for table in yml["tables"]:
            name = table["name"]
            columns = {c["name"]: c for c in table.get("columns") or []}
            assert all(c.get("description") for c in columns.values()), (source, name)
            assert all(c.get("data_type") for c in columns.values()), (source, name)
            if (source, name) in LEGACY_TABLES:
                continue
            assert name in declared, f"{source}.{name} has no column declaration"
            expected = {
                column: postgres_type(schema)
                for column, schema in declared_columns(source, name).items()
            }
            expected["_dlt_load_id"] = "varchar"
            found = {column: c["data_type"] for column, c in columns.items()}
            assert found == expected, (source, name)


def test_a_raw_table_from_before_a_declaration_gets_its_columns_at_the_next_build(
    sandbox_env, sandbox_server
) -> None:
    """A raw table dlt created before a column was declared (here: raw_fub.calls without
    ``note``, dropped after a real load) gets the column, typed as declared, when dbt starts
    (add_declared_raw_columns), so the staging model naming it builds before the next load.
    Control: the same build with that start-up step given no raw schema fails on the column."""
    from agentsync.transform import run_dbt
    from dlt_pipelines.fub import run_streams
    from tests.fub.conftest import add_agent

    add_agent(sandbox_server.sandbox, 102)
    run_streams(102, "manual", None, ["calls"])
    with db.begin() as conn:
        conn.execute(text("alter table raw_fub.calls drop column note"))
    select = ["--select", "stg_fub__calls"]
    control = run_dbt(
        ["run", *select, "--vars", "{raw_schemas: [raw_none]}"], raise_on_failure=False
    )
    assert not control.success
    assert any('column "note" does not exist' in f for f in control.failures), control.failures
    assert "note" not in _catalog("raw_fub", "calls")

    result = run_dbt(["run", *select], raise_on_failure=False)
    assert result.success, result.failures
    assert _catalog("raw_fub", "calls")["note"] == ("varchar", "YES")
