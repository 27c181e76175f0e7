"""What a dbt run did to a mart, for the incremental-mart tests (reZEN and unified marts)."""

from __future__ import annotations

from sqlalchemy import text

from agentsync import db


def row_versions(relation: str) -> dict[int, set[tuple[str, str]]]:
    """Per agent: the (ctid, xmin) of every row: a rewritten row gets a new one of each."""
    out: dict[int, set[tuple[str, str]]] = {}
    with db.begin() as conn:
        for user_id, ctid, xmin in conn.execute(
            text(f"select user_id, ctid::text, xmin::text from {relation}")
        ):
            out.setdefault(user_id, set()).add((ctid, xmin))
    return out


def contents(relation: str) -> dict[int, list[str]]:
    """Per agent: the rows as text, sorted (the result, whatever the physical versions)."""
    out: dict[int, list[str]] = {}
    with db.begin() as conn:
        for user_id, row in conn.execute(
            text(f"select r.user_id, r::text from {relation} as r order by 2")
        ):
            out.setdefault(user_id, []).append(row)
    return out


def processed_state() -> list[tuple]:
    """Every (model, raw schema, load, when) in the processed state."""
    with db.begin() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "select model, schema_name, load_id, processed_at from ops.dbt_processed_loads "
                    "order by 1, 2, 3"
                )
            )
        ]
