"""Every suite's expectations, evaluated in one set-based SQL statement.

The gate's suites (``expectations/gx/expectations/``) hold column expectations over the
per-agent metrics tables ``quality.<source>__<entity>`` (one row per agent checked). Loading the
GX context, validating 29 suites and rendering their Data Docs costs seconds whatever changed;
the same verdicts cost one query over a few hundred rows. So the gate evaluates every suite here
first, and runs GX only for the suites whose verdict or data changed (:func:`agentsync.quality.
gx.run_checkpoint` decides which).

What is read is the suites as stored, not a second copy of the checks: a suite edited by hand is
evaluated as edited. Two expectation types are evaluated, exactly as GX evaluates them:

- ``expect_column_values_to_be_between`` (``min_value``/``max_value``, literal or
  ``{"$PARAMETER": name}``, ``strict_min``/``strict_max``): a value below the minimum (at or below
  it when strict) or above the maximum is unexpected;
- ``expect_column_values_to_be_in_set`` (``value_set``): a value outside the set is unexpected;

and, as in GX's column-map expectations, null values are never unexpected. An expectation of any
other type, with any other argument (``mostly``, ``row_condition``, ...), or with a parameter the
run does not supply, makes its suite *not evaluable here*: the caller then validates it with GX,
so nothing this pass cannot express goes unchecked. A statement that fails (a column the table
lacks) makes every suite not evaluable, for the same reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
_ARGUMENTS = {
    BETWEEN: {"column", "min_value", "max_value", "strict_min", "strict_max"},
    IN_SET: {"column", "value_set"},
}


@dataclass(frozen=True)
class Suite:
    """One stored suite: its ``name`` (``<source>.<entity>``), its expectations as stored, and a
    digest of them (a rebuilt or edited suite has a new digest)."""

    name: str
    expectations: list[dict[str, Any]]
    digest: str


@dataclass
class Verdict:
    """A suite's verdict from the SQL pass: ``passed`` (None: not evaluable here, ``why`` says
    why) and, per expectation in the suite's order, how many rows were unexpected."""

    suite: str
    passed: bool | None
    unexpected: list[int] = field(default_factory=list)
    why: str = ""


def read_suites(gx_dir: Path) -> dict[str, Suite]:
    """The suites stored in the GX context at ``gx_dir``, by name."""
    suites: dict[str, Suite] = {}
    for path in sorted((gx_dir / "expectations").rglob("*.json")):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "name" not in data:
            continue
        expectations = list(data.get("expectations") or [])
        digest = hashlib.sha256(json.dumps(expectations, sort_keys=True).encode()).hexdigest()
        suites[str(data["name"])] = Suite(str(data["name"]), expectations, digest)
    return suites


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _value(raw: Any, params: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(resolved, value)``: a literal, or a ``$PARAMETER`` the run supplies."""
    if isinstance(raw, dict):
        if set(raw) == {"$PARAMETER"} and raw["$PARAMETER"] in params:
            return True, params[raw["$PARAMETER"]]
        return False, None
    return True, raw


def unexpected_predicate(
    expectation: Mapping[str, Any], params: Mapping[str, Any], binds: dict[str, Any]
) -> tuple[str | None, str]:
    """The SQL predicate that holds for a row this expectation finds unexpected.

    Bound values are added to ``binds``. Returns ``(None, why)`` when the expectation is not
    one this pass evaluates.
    """
    kind = expectation.get("type")
    kwargs = dict(expectation.get("kwargs") or {})
    if kind not in _ARGUMENTS:
        return None, f"expectation type {kind} is validated by GX only"
    extra = sorted(set(kwargs) - _ARGUMENTS[str(kind)])
    if extra:
        return None, f"{kind} with {', '.join(extra)} is validated by GX only"
    column = kwargs.get("column")
    if not isinstance(column, str) or not column:
        return None, f"{kind} without a column"
    col = _quote(column)

    def bind(value: Any) -> str:
        name = f"v{len(binds)}"
        binds[name] = value
        return f":{name}"

    if kind == IN_SET:
        values = kwargs.get("value_set")
        if not isinstance(values, list) or not values:
            return None, f"{kind} without a value set"
        if any(isinstance(v, dict) for v in values):
            return None, f"{kind} with a parameter in its value set"
        return f"({col} is not null and {col} not in ({', '.join(bind(v) for v in values)}))", ""
    ok_min, low = _value(kwargs.get("min_value"), params)
    ok_max, high = _value(kwargs.get("max_value"), params)
    if not (ok_min and ok_max):
        return None, f"{kind} with a parameter this run does not supply"
    if low is None and high is None:
        return None, f"{kind} without bounds"
    parts = []
    if low is not None:
        parts.append(f"{col} {'<=' if kwargs.get('strict_min') else '<'} {bind(low)}")
    if high is not None:
        parts.append(f"{col} {'>=' if kwargs.get('strict_max') else '>'} {bind(high)}")
    return f"({col} is not null and ({' or '.join(parts)}))", ""


def evaluate(
    conn: sa.Connection,
    suites: Mapping[str, Suite],
    tables: Mapping[str, str],
    params: Mapping[str, Any],
) -> dict[str, Verdict]:
    """Evaluate every suite in ``tables`` (suite name -> the quoted table it validates) in one
    statement, with the run's expectation ``params``.

    Returns:
        A :class:`Verdict` per suite in ``tables``.
    """
    out: dict[str, Verdict] = {}
    selects: list[tuple[str, str]] = []
    binds: dict[str, Any] = {}
    for name, table in tables.items():
        suite = suites.get(name)
        if suite is None:
            out[name] = Verdict(name, None, why="no stored suite of this name")
            continue
        predicates = []
        for exp in suite.expectations:
            predicate, why = unexpected_predicate(exp, params, binds)
            if predicate is None:
                out[name] = Verdict(name, None, why=why)
                break
            predicates.append(predicate)
        else:
            counts = ", ".join(f"count(*) filter (where {p})" for p in predicates) or "0"
            selects.append(
                (name, f"select :s{len(selects)} as suite, array[{counts}] from {table}")
            )
    if not selects:
        return out
    for i, (name, _) in enumerate(selects):
        binds[f"s{i}"] = name
    statement = "\nunion all\n".join(sql for _, sql in selects)
    try:
        with conn.begin():
            rows = conn.execute(sa.text(statement), binds).all()
    except sa.exc.DBAPIError as err:
        detail = (str(getattr(err, "orig", None) or err).strip().splitlines() or [""])[0]
        for name, _ in selects:
            out[name] = Verdict(name, None, why=f"the SQL pass failed: {detail[:200]}")
        return out
    for name, counts in rows:
        unexpected = [int(c) for c in counts][: len(suites[name].expectations)]
        out[name] = Verdict(name, not any(unexpected), unexpected)
    return out
