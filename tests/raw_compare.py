"""Compare two copies of a raw schema: same tables, same columns and types, same rows.

Used by the typed-load A/B tests: the same pages landed by dlt's dict path and by the typed
path must give identical raw — per table the same columns (name, type, precision, scale,
nullability) and, with ``except all`` both ways over every column not dlt's own (``_dlt_*``:
load ids and row ids differ by construction), the same multiset of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

ColumnType = tuple[Any, ...]


def columns(conn: Any, schema: str) -> dict[str, dict[str, ColumnType]]:
    """``{table: {column: (data_type, precision, scale, datetime precision, nullable)}}`` of
    ``schema``'s tables and columns, dlt's own left out."""
    out: dict[str, dict[str, ColumnType]] = {}
    for table, column, *kind in conn.execute(
        text(
            """
            select c.table_name, c.column_name, c.data_type, c.numeric_precision,
                   c.numeric_scale, c.datetime_precision, c.is_nullable
              from information_schema.columns c
              join information_schema.tables t
                on t.table_schema = c.table_schema and t.table_name = c.table_name
             where c.table_schema = :s and t.table_type = 'BASE TABLE'
               and c.table_name not like '\\_dlt%' and c.column_name not like '\\_dlt%'
            """
        ),
        {"s": schema},
    ):
        out.setdefault(table, {})[column] = tuple(kind)
    return out


@dataclass
class RawDiff:
    """What differs between raw schemas ``a`` and ``b``."""

    a: str
    b: str
    only_a: set[str] = field(default_factory=set)
    only_b: set[str] = field(default_factory=set)
    column_diffs: list[tuple[str, str, ColumnType | None, ColumnType | None]] = field(
        default_factory=list
    )
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # (a not in b, b not in a)
    counts: dict[str, int] = field(default_factory=dict)  # rows of each table in a
    # columns of one side only that are NULL in every row (rows are then compared without them)
    null_only: list[tuple[str, str]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return (
            not self.only_a
            and not self.only_b
            and not self.column_diffs
            and all(n == (0, 0) for n in self.rows.values())
        )

    @property
    def same_rows(self) -> bool:
        """Identical but for columns one side has and holds only NULLs in (e.g. a column newly
        declared: dlt creates it though no record has the field)."""
        bad = [d for d in self.column_diffs if (d[0], d[1]) not in set(self.null_only)]
        return (
            not self.only_a
            and not self.only_b
            and not bad
            and all(n == (0, 0) for n in self.rows.values())
        )

    def describe(self) -> str:
        lines = [f"{self.a} vs {self.b}"]
        if self.only_a or self.only_b:
            lines.append(f"tables only in {self.a}: {self.only_a}, only in {self.b}: {self.only_b}")
        lines += [
            f"column {t}.{c}: {x} vs {y}"
            + (" (NULL in every row)" if (t, c) in self.null_only else "")
            for t, c, x, y in self.column_diffs
        ]
        lines += [
            f"{t}: {n[0]} rows only in {self.a}, {n[1]} only in {self.b} (of {self.counts[t]})"
            for t, n in sorted(self.rows.items())
            if n != (0, 0)
        ]
        return "\n".join(lines)


def compare(conn: Any, a: str, b: str) -> RawDiff:
    """Compare raw schemas ``a`` and ``b`` (see the module doc)."""
    cols_a, cols_b = columns(conn, a), columns(conn, b)
    diff = RawDiff(a, b, set(cols_a) - set(cols_b), set(cols_b) - set(cols_a))
    for table in sorted(set(cols_a) & set(cols_b)):
        ca, cb = cols_a[table], cols_b[table]
        bad = [
            (table, c, ca.get(c), cb.get(c))
            for c in sorted(set(ca) | set(cb))
            if ca.get(c) != cb.get(c)
        ]
        diff.column_diffs += bad
        diff.counts[table] = conn.execute(text(f'select count(*) from {a}."{table}"')).scalar()
        for _, c, x, y in bad:
            if x is None or y is None:
                side = b if x is None else a
                filled = conn.execute(text(f'select count("{c}") from {side}."{table}"')).scalar()
                if filled == 0:
                    diff.null_only.append((table, c))
        if any((table, c) not in diff.null_only for _, c, _, _ in bad):
            continue
        cl = ", ".join(f'"{c}"' for c in sorted(set(ca) & set(cb)))

        def missing(x: str, y: str, cl: str = cl, table: str = table) -> int:
            return conn.execute(
                text(
                    f'select count(*) from (select {cl} from {x}."{table}" '
                    f'except all select {cl} from {y}."{table}") d'
                )
            ).scalar()

        diff.rows[table] = (missing(a, b), missing(b, a))
    return diff
