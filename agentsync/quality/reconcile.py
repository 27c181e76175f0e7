"""Reconciliation: per agent and entity, source-reported ↔ raw ↔ final, exclusions by reason.

For every registry entity and agent (see :mod:`agentsync.quality.metrics` for the definitions):
reported total, raw versions and distinct ids, final rows, excluded rows by reason (each
exclusion flag of the entity, ``quarantined``, ``superseded``), ids missing from the mart and
the unexplained gap. A row fails when ``|unexplained_gap|`` or ``missing_in_mart`` exceeds the
tolerance.

``--against`` runs the legacy system's "parallel run" (``docs/vendors/legacy.md`` §3): a
mapping file says, per entity, which legacy table or query gives the legacy count per agent,
and each agent's final count is compared with it. Mapping file (YAML or JSON)::

    entities:
      fub.people:                       # <source>.<entity> from the registry
        table: public.fub_people        # count(*) per user column ...
        user_column: user_id            # (default user_id)
        where: "not is_deleted"         # optional filter
      rezen.transactions:
        query: "select user_id, count(*) from transaction group by 1"   # ... or any query
        compare: mart_rows              # final_rows (default) or mart_rows
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from agentsync import db
from agentsync.contracts import EntitySpec
from agentsync.entities import all_entities
from agentsync.errors import AgentsyncError, InvalidInputError
from agentsync.quality.metrics import EntityCounts, entity_counts, entity_key, ident, split_table
from agentsync.settings import Settings, get_settings

COMPARE_COLUMNS = ("final_rows", "mart_rows")


class ReconcileError(AgentsyncError):
    """An entity could not be counted (its spec does not match its tables)."""


@dataclass(frozen=True)
class Tolerance:
    """How big a gap may be before it fails: ``rows`` absolute, or ``fraction`` of the reported."""

    rows: int = 0
    fraction: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> Tolerance:
        """``"0"``, ``"5"`` (rows) or ``"0.5%"`` (percent of the reported total)."""
        if text is None or not str(text).strip():
            return cls()
        raw = str(text).strip()
        try:
            if raw.endswith("%"):
                pct = float(raw[:-1])
                if not 0 <= pct <= 100:
                    raise ValueError
                return cls(fraction=pct / 100)
            rows = int(raw)
            if rows < 0:
                raise ValueError
            return cls(rows=rows)
        except ValueError:
            raise InvalidInputError(
                f"--tolerance {raw!r}: give a row count (e.g. 5) or a percentage (e.g. 0.5%)"
            ) from None

    def allows(self, gap: int, base: int | None) -> bool:
        if self.fraction is not None:
            return abs(gap) <= self.fraction * max(base or 0, 0)
        return abs(gap) <= self.rows


@dataclass
class ReconRow:
    """One (agent, entity) line of the reconciliation."""

    user_id: int
    entity: str
    reported: int | None
    raw_rows: int
    raw_ids: int
    final: int
    mart_rows: int
    excluded: dict[str, int]
    missing_in_mart: int
    unexplained_gap: int
    ok: bool
    legacy: int | None = None
    legacy_diff: int | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class LegacyMapping:
    """Where the legacy count of one entity comes from."""

    entity: str
    query: str
    compare: str = "final_rows"


def load_mapping(path: Path) -> dict[str, LegacyMapping]:
    """Read and check a mapping file (see the module docstring)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise InvalidInputError(f"--mapping {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"--mapping {path} is not valid YAML/JSON: {err}") from None
    entries = data.get("entities") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise InvalidInputError(
            f"--mapping {path} needs an 'entities' mapping of <source>.<entity>"
        )
    out: dict[str, LegacyMapping] = {}
    for key, spec in entries.items():
        where = f"--mapping {path}: {key}"
        if not isinstance(spec, dict):
            raise InvalidInputError(f"{where} must be a mapping with 'table' or 'query'")
        compare = spec.get("compare", "final_rows")
        if compare not in COMPARE_COLUMNS:
            raise InvalidInputError(f"{where}: compare must be one of {', '.join(COMPARE_COLUMNS)}")
        if "query" in spec:
            query = str(spec["query"])
        elif "table" in spec:
            try:
                schema, table = split_table(str(spec["table"]), "table")
                user_col = ident(str(spec.get("user_column", "user_id")), "user_column")
            except ValueError as err:
                raise InvalidInputError(f"{where}: {err}") from None
            filt = f" where {spec['where']}" if spec.get("where") else ""
            query = (
                f'select {user_col} as user_id, count(*) as n from "{schema}"."{table}"{filt} '
                f"group by {user_col}"
            )
        else:
            raise InvalidInputError(f"{where} must give 'table' or 'query'")
        out[str(key)] = LegacyMapping(str(key), query, compare)
    return out


def legacy_counts(url: str, mappings: dict[str, LegacyMapping]) -> dict[str, dict[int, int]]:
    """Per mapped entity: legacy count per agent, read from the legacy database at ``url``."""
    sa_url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", url)
    try:
        engine = sa.create_engine(sa_url)
    except Exception as err:  # any URL problem is the user's input; never echo the URL
        raise InvalidInputError(
            f"--against is not a usable database URL ({type(err).__name__})"
        ) from None
    out: dict[str, dict[int, int]] = {}
    try:
        with engine.connect() as conn:
            for key, m in mappings.items():
                try:
                    rows = conn.execute(sa.text(m.query)).all()
                except sa.exc.DBAPIError as err:
                    first = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
                    first = db.scrub_secrets(first, url)
                    raise InvalidInputError(
                        f"--mapping {key}: legacy query failed: {first}"
                    ) from None
                out[key] = {int(r[0]): int(r[1]) for r in rows if r[0] is not None}
    except sa.exc.OperationalError as err:
        first = str(err.orig).strip().splitlines()[0] if err.orig else "cannot connect"
        first = db.scrub_secrets(first, url)
        raise InvalidInputError(f"--against {db.redact_url(url)}: {first}") from None
    finally:
        engine.dispose()
    return out


def _row(c: EntityCounts, tolerance: Tolerance) -> ReconRow:
    excluded = dict(c.excluded, quarantined=c.quarantined, superseded=c.superseded)
    problems = []
    if not tolerance.allows(c.unexplained_gap, c.reported_total):
        problems.append(f"unexplained gap {c.unexplained_gap}")
    if not tolerance.allows(c.missing_in_mart, c.raw_ids):
        problems.append(f"{c.missing_in_mart} raw ids missing from the final table")
    return ReconRow(
        user_id=c.user_id,
        entity=c.key,
        reported=c.reported_total,
        raw_rows=c.raw_rows,
        raw_ids=c.raw_ids,
        final=c.final_rows,
        mart_rows=c.mart_rows,
        excluded=excluded,
        missing_in_mart=c.missing_in_mart,
        unexplained_gap=c.unexplained_gap,
        ok=not problems,
        problems=problems,
    )


def reconcile(
    user_ids: Sequence[int] | None = None,
    tolerance: Tolerance | None = None,
    against: str | None = None,
    mapping: Path | None = None,
    entities: Sequence[EntitySpec] | None = None,
    settings: Settings | None = None,
) -> list[ReconRow]:
    """Reconcile every entity for every agent (or ``user_ids``).

    Args:
        user_ids: only these agents (default: all agents with data or runs).
        tolerance: how big a gap may be (default: 0 rows).
        against: a legacy database URL to compare final counts with (needs ``mapping``).
        mapping: the mapping file for ``against``.
        entities: default the whole registry.
        settings: default the process settings.
    """
    s = settings or get_settings()
    tolerance = tolerance or Tolerance()
    if (against is None) != (mapping is None):
        raise InvalidInputError("--against and --mapping go together")
    if entities is None:
        entities = all_entities()
    legacy: dict[str, dict[int, int]] = {}
    mappings: dict[str, LegacyMapping] = {}
    if against is not None and mapping is not None:
        mappings = load_mapping(mapping)
        known = {entity_key(e) for e in entities}
        unknown = sorted(set(mappings) - known)
        if unknown:
            raise InvalidInputError(
                f"--mapping names unknown entities {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known)) or 'none'}"
            )
        legacy = legacy_counts(against, mappings)
    db.ensure_ready(s)
    rows: list[ReconRow] = []
    with db.begin(s) as conn:
        for spec in entities:
            key = entity_key(spec)
            try:
                counts = {c.user_id: c for c in entity_counts(conn, spec, user_ids)}
            except (sa.exc.DBAPIError, ValueError) as err:
                detail = str(getattr(err, "orig", None) or err).strip().splitlines()
                raise ReconcileError(
                    f"reconcile {key}: cannot count ({detail[0] if detail else type(err).__name__})"
                ) from None
            for uid in sorted(counts):
                row = _row(counts[uid], tolerance)
                if key in legacy:
                    m = mappings[key]
                    row.legacy = legacy[key].get(uid, 0)
                    ours = row.final if m.compare == "final_rows" else row.mart_rows
                    row.legacy_diff = ours - row.legacy
                    if not tolerance.allows(row.legacy_diff, row.legacy):
                        row.problems.append(
                            f"{m.compare} {ours} differs from legacy {row.legacy} by {row.legacy_diff}"
                        )
                        row.ok = False
                rows.append(row)
            for uid, n in sorted(legacy.get(key, {}).items()):
                if uid not in counts and (not user_ids or uid in user_ids):
                    rows.append(
                        ReconRow(
                            uid,
                            key,
                            None,
                            0,
                            0,
                            0,
                            0,
                            {},
                            0,
                            0,
                            tolerance.allows(n, n),
                            legacy=n,
                            legacy_diff=-n,
                            problems=[]
                            if tolerance.allows(n, n)
                            else [f"legacy has {n} rows, agentsync none"],
                        )
                    )
    return rows


def as_json(rows: list[ReconRow]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2, default=str)


def summary(rows: list[ReconRow]) -> dict[str, Any]:
    failing = [r for r in rows if not r.ok]
    return {"rows": len(rows), "failing": len(failing), "ok": not failing}
