"""Column declarations: the raw columns each source lands, declared once, where records are loaded.

Every source package has a ``columns.py`` with ``TABLES: dict[str, Table]``: per raw table that
the dbt staging models read (``raw_<source>.<table>``), the columns staging reads, keyed by the
raw column name as dlt names it, each with its type in dlt's column-schema vocabulary and the
API field it comes from. One declaration serves three readers:

- **dlt** (:meth:`Table.hints`): the resources' ``columns=`` hints. dlt creates a hinted column
  with its type even when every row so far had the field null (without a hint it creates no
  column at all, so staging would have to look columns up in the catalog). Columns that are not
  declared (schema drift, FUB custom fields, fields no model reads) still land as dlt infers
  them, exactly as before.
- **validation** (:meth:`Table.checks`, :meth:`Column.checks`): the JSON type each field must
  have before the record lands (:func:`dlt_pipelines.checks.check_types`); a record whose field
  has another type is quarantined with the field named. The kind is declared beside the column,
  so the checks and the columns cannot drift apart.
- **the typed load path** (:func:`declared_columns`, :func:`postgres_type`): a writer that
  bypasses dlt's normaliser (e.g. COPY into a raw table) gets the table's declared columns in
  dlt's vocabulary, and their PostgreSQL types exactly as dlt creates them.

The dbt sources YAML (``dbt_project/models/staging/<source>/_<source>__sources.yml``) lists the
same columns with these PostgreSQL types as ``data_type``: dbt's guard builds an empty relation
from them while a raw table does not exist yet, and adds a declared column a raw table created
before the declaration lacks (``macros/raw_declared_columns.sql``).
``tests/foundation/test_column_declarations.py`` keeps the two equal.

Types are the ones dlt inferred from what the APIs serve before columns were declared (money as
``decimal``: ``numeric(38,9)``, never float), so raw tables are what they were: dlt never alters
an existing column, and a hint of another type would only make dlt write values of that type
into it. A field no API response has carried yet is declared with the type staging expects of
it (``text`` where the encoding is unconfirmed: dlt writes a number into a text column as its
digits).

Example, a writer of its own::

    from dlt_pipelines.columns import declared_columns, postgres_type

    for name, column in declared_columns("fub", "people").items():
        print(name, column["data_type"], postgres_type(column))  # id bigint bigint, ...
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlt.common.schema.typing import TColumnSchema, TDataType

    from dlt_pipelines.checks import FieldKind

#: the sources with column declarations (``dlt_pipelines.<source>.columns``)
SOURCES = ("fub", "rezen", "skyslope", "qualia")


@dataclass(frozen=True)
class Column:
    """One raw column.

    Attributes:
        name: the raw column, as dlt names it (snake_case; ``a__b`` for a flattened ``a.b``).
        data_type: dlt's data type (``bigint``, ``text``, ``timestamp``, ``decimal``, ``bool``,
            ``json``, ``date``, ``double``...).
        field: the API field it comes from (dotted path of the record as served; ``None``: set
            by the source itself, e.g. ``user_id``, or the whole record for a JSON column).
        kind: the JSON type the source checks that field has before the record lands
            (``None``: not checked).
        required: the record cannot be used without this field (quarantined when it is null
            or missing); other fields may always be null.
        nullable: ``False`` only where the column is created ``not null``.
        precision, scale: for exact decimals that need other than dlt's ``numeric(38,9)``.
        fields: for a ``json`` column: the paths inside its value that staging reads, with the
            kind each must have (``*`` is every list item).
    """

    name: str
    data_type: TDataType
    field: str | None = None
    kind: FieldKind | None = None
    required: bool = False
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None
    fields: Mapping[str, FieldKind] = _field(default_factory=dict)

    def hint(self) -> TColumnSchema:
        """This column as a dlt column schema (what ``columns=`` takes)."""
        out: dict[str, Any] = {"data_type": self.data_type}
        if not self.nullable:
            out["nullable"] = False
        if self.precision is not None:
            out["precision"] = self.precision
        if self.scale is not None:
            out["scale"] = self.scale
        return out  # type: ignore[return-value]

    def checks(self) -> dict[str, FieldKind]:
        """The type checks of this column's API field (dotted path → kind), with the objects
        and lists its path goes through. For a JSON column holding a whole record (``field``
        ``None``), the paths are the record's own."""
        own: dict[str, FieldKind] = {}
        if self.field is not None and self.kind is not None:
            own[self.field] = self.kind
        prefix = f"{self.field}." if self.field else ""
        own.update({f"{prefix}{path}": kind for path, kind in self.fields.items()})
        return with_parents(own)


@dataclass(frozen=True)
class Table:
    """The declared columns of one raw table.

    Attributes:
        name: the raw table (``raw_<source>.<name>``).
        columns: the columns staging reads, plus the ones the source needs typed.
        source_checks: fields the source itself reads that do not land as declared columns
            (e.g. a team's roster, split off into its own table), checked like the columns.
    """

    name: str
    columns: tuple[Column, ...]
    source_checks: Mapping[str, FieldKind] = _field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name}: a column is declared twice: {names}")

    def hints(self) -> dict[str, TColumnSchema]:
        """``{column: dlt column schema}`` for the resource's ``columns=``."""
        return {c.name: c.hint() for c in self.columns}

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} declares no column {name!r}")

    def checks(self) -> dict[str, FieldKind]:
        """The type checks of a record of this table as served: every declared column that
        comes from an API field, and the source's own checks."""
        out: dict[str, FieldKind] = {}
        for c in self.columns:
            if c.field is not None:
                out.update(c.checks())
        out.update(self.source_checks)
        return with_parents(out)


def with_parents(checks: Mapping[str, FieldKind]) -> dict[str, FieldKind]:
    """``checks`` plus the containers their paths go through: ``a.b`` needs ``a`` to be an
    object, ``a.*`` needs ``a`` to be a list (a kind declared for the container wins)."""
    out: dict[str, FieldKind] = {}
    for path, kind in checks.items():
        parts = path.split(".")
        for i in range(1, len(parts)):  # each container just before the first path inside it
            parent = ".".join(parts[:i])
            if parent not in out:
                out[parent] = checks.get(parent, "list" if parts[i] == "*" else "object")
        out[path] = kind
    return out


def tables(source: str) -> dict[str, Table]:
    """The declared tables of one source (``dlt_pipelines.<source>.columns.TABLES``)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
    return dict(importlib.import_module(f"dlt_pipelines.{source}.columns").TABLES)


def declared_columns(source: str, table: str) -> dict[str, TColumnSchema]:
    """The declared columns of ``raw_<source>.<table>`` in dlt's column-schema vocabulary.

    Raises:
        KeyError: the source declares no such table.
    """
    found = tables(source)
    if table not in found:
        raise KeyError(f"raw_{source}.{table} has no column declaration")
    return {name: {"name": name, **hint} for name, hint in found[table].hints().items()}


def postgres_type(column: Mapping[str, Any]) -> str:
    """The PostgreSQL type dlt gives a column schema (``bigint``, ``varchar``,
    ``timestamp with time zone``, ``numeric(38,9)``, ``boolean``, ``jsonb``...)."""
    import dlt

    mapper = dlt.destinations.postgres().capabilities().get_type_mapper()
    return str(mapper.to_destination_type(dict(column), {"name": "t"}))  # type: ignore[arg-type]
