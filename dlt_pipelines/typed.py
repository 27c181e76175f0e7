"""Typed loads: a source's rows become Arrow tables with their columns' types, and dlt loads them
with ``COPY`` instead of running its per-row normaliser and ``INSERT`` writer.

What lands in raw is what dlt's dict path lands (``tests/foundation/test_typed_ab.py`` loads the
same sandbox pages both ways and compares raw row for row): :class:`TypedRows` applies dlt's own
rules, column by column instead of row by row —

- column names: the schema's naming convention (``dealPrice`` → ``deal_price``); an empty key is
  ``_empty``; when two keys of a row name the same column, the later one wins (as dlt's
  flattening does);
- a column already known (declared by the source — ``columns=`` hints — or in the pipeline's
  schema from earlier loads) keeps its type; a value of another type is coerced with dlt's
  coercions (``coerce_value``), and one that cannot be goes to dlt's variant column
  (``<column>__v_<type>``), typed as dlt would type it;
- a new column (schema drift: a vendor field nobody declared) is typed from its first non-null
  value as dlt infers it (its type detections, e.g. ISO timestamps, then the Python type); a
  column null in every row is not created, as dlt does not create one;
- ``None`` is ``NULL`` (so are NaN and infinities, as on dlt's dict path, which keeps rows as
  JSON between extract and normalise); an empty string stays an empty string; objects and lists
  in a JSON column are serialised with dlt's JSON encoder; decimals keep the column's scale
  (rounded half away from zero, as PostgreSQL's ``numeric`` does); timestamps are instants in UTC.

Not mirrored (no API serves them; noted so nobody relies on it): a string that starts with one of
dlt's private-use marker characters, which dlt's dict path decodes into a typed value, lands here
as the string it is.

Values of the declared types take a vectorised path (one Arrow conversion per column and batch:
ISO-8601 strings with a zone are parsed by Arrow, objects are encoded by dlt's ``orjson``
encoder); only values that need a coercion go one by one through dlt's functions. Arrow tables
are written by dlt as CSV and copied by :mod:`dlt_pipelines.destination` (which keeps ``""``
apart from ``NULL``).

Scope: flat rows only (``max_table_nesting=0``, or objects only in declared JSON columns). A
source whose rows dlt flattens into ``a__b`` columns or child tables (reZEN) keeps the dict path.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.json import json as dlt_json
from dlt.common.normalizers.json.helpers import normalize_identifier
from dlt.common.normalizers.json.relational import DataItemNormalizer
from dlt.common.schema import Schema
from dlt.common.schema.typing import TColumnSchema
from dlt.common.schema.utils import autodetect_sc_type
from dlt.common.time import normalize_timezone
from dlt.common.typing import VARIANT_FIELD_FORMAT

log = logging.getLogger(__name__)

UTC_US = pa.timestamp("us", "UTC")
DEFAULT_DECIMAL = (38, 9)  # dlt's PostgreSQL default: numeric(38,9)
# ISO-8601 date and time with a zone, at most microseconds: what Arrow parses to the same
# instant dlt's parser gives (anything else goes one value at a time through dlt).
_ZONED_ISO_RE2 = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})$"
_NONE = type(None)
_ARROW: dict[str, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": UTC_US,
    "date": pa.date32(),
    "json": pa.string(),
}
# Python types whose values land in a column of that type unchanged (dlt's "type matches")
_SAME: dict[str, frozenset[type]] = {
    "text": frozenset({str}),
    "bigint": frozenset({int}),
    "double": frozenset({float}),
    "bool": frozenset({bool}),
    "json": frozenset({dict, list}),
}


class TypedLoadError(ValueError):
    """Rows the typed path cannot write as dlt would (the message names table and column)."""


class TypedRows:
    """Turns batches of one raw table's rows into Arrow tables typed as dlt would type them.

    Args:
        table: the raw table.
        declared: the source's column declarations (dlt ``columns=`` hints, normalised names).
        schema: the pipeline's schema as it is now (``dlt.current.source_schema()``): the
            columns earlier loads created, its naming convention and type detections.
        nested: whether dlt would flatten objects of undeclared columns (``max_table_nesting``
            above 0); such a row is refused (:class:`TypedLoadError`) rather than typed
            differently.
    """

    def __init__(
        self,
        table: str,
        declared: Mapping[str, TColumnSchema],
        schema: Schema,
        nested: bool = False,
    ) -> None:
        self.table = table
        self.nested = nested
        self.naming = schema.naming
        self._schema = schema
        normalizer = schema.data_item_normalizer
        if not isinstance(normalizer, DataItemNormalizer):
            raise TypedLoadError(f"{table}: schema {schema.name} has no relational normaliser")
        self._type_map = normalizer.py_type_to_sc_type_map
        self._py_type = normalizer.py_type_to_sc_type
        self._can_coerce = normalizer.can_coerce_type
        self._coerce = normalizer.coerce_type
        self._detections = list(schema.settings.get("detections") or [])
        self._empty_key = normalizer.EMPTY_KEY_IDENTIFIER
        self.columns: dict[str, TColumnSchema] = {}
        known = schema.tables.get(table, {}).get("columns", {})
        for name, col in {**known, **declared}.items():
            merged = {**known.get(name, {}), **col, "name": name}
            if merged.get("data_type"):
                self.columns[name] = merged  # type: ignore[assignment]
        # columns whose hints travel with the Arrow tables: JSON (Arrow has no JSON type: they
        # are strings) and dlt's variant columns (marked as such in dlt's schema)
        self.hinted = {n for n, c in declared.items() if c.get("data_type") == "json"}
        self._names: dict[str, str] = {}
        self.rows = 0

    # -- names -------------------------------------------------------------------------------
    def _name(self, key: str) -> str:
        name = self._names.get(key)
        if name is None:
            if not isinstance(key, str):
                raise TypedLoadError(f"{self.table}: a row key is not a string: {key!r}")
            if key and not key.isspace():
                name = normalize_identifier(self._schema, self.naming, key)
            else:
                name = self._empty_key
            self._names[key] = name
        return name

    # -- types -------------------------------------------------------------------------------
    def _infer(self, value: Any, name: str, variant: bool = False) -> str:
        """dlt's type for a new column from its first value (``_infer_column_type``)."""
        mapped = autodetect_sc_type(self._detections, type(value), value)
        if mapped is None:
            mapped = self._py_type(type(value))
        preferred = None if variant else self._schema.get_preferred_type(name)
        return preferred or mapped

    def _new_column(self, name: str, data_type: str, variant: bool = False) -> TColumnSchema:
        col: TColumnSchema = {"name": name, "data_type": data_type, "nullable": True}  # type: ignore[typeddict-item]
        if variant:
            col["variant"] = True
        self.columns[name] = col
        return col

    # -- one batch ---------------------------------------------------------------------------
    def arrow(self, rows: list[dict[str, Any]]) -> tuple[pa.Table, dict[str, TColumnSchema]]:
        """The rows as one Arrow table, and the hints of its JSON and variant columns dlt has
        not been told of yet (they travel with the table: Arrow has no JSON type, JSON is a
        string; a variant column is marked as one in dlt's schema, as dlt marks it)."""
        uniform = _uniform(rows)
        keys = (
            list(rows[0]) if uniform is not None else list(dict.fromkeys(chain.from_iterable(rows)))
        )
        names = [self._name(k) for k in keys]
        by_name: dict[str, list[str]] = {}
        for key, name in zip(keys, names, strict=True):
            by_name.setdefault(name, []).append(key)
        fields: list[pa.Field] = []
        arrays: list[pa.Array] = []
        variants: dict[str, list[Any]] = {}
        # the rows as columns (one C-level pass per row); keys that share a column come later
        single = [group[0] for group in by_name.values() if len(group) == 1]
        if uniform is not None and len(single) == len(keys):
            by_row = uniform  # every row has the same keys: their values in one C-level pass
        else:
            by_row = [tuple(map(r.get, single)) for r in rows]
        columns = dict(zip(single, zip(*by_row, strict=True), strict=True))
        for name, group in by_name.items():
            values = columns[group[0]] if len(group) == 1 else self._values(rows, group)
            kinds = set(map(type, values))
            if float in kinds:
                values = _finite(values)
                kinds = set(map(type, values))
            kinds.discard(_NONE)
            col = self.columns.get(name)
            if not kinds:
                if col is not None and col.get("nullable") is False:
                    raise TypedLoadError(f"{self.table}.{name}: null in a not-null column")
                continue  # dlt creates no column from nulls alone
            if self.nested and kinds & {dict, list} and (col or {}).get("data_type") != "json":
                raise TypedLoadError(
                    f"{self.table}.{name}: objects dlt would flatten (typed loads are flat)"
                )
            if col is None:
                first = next(v for v in values if v is not None)
                col = self._new_column(name, self._infer(first, name))
            elif col.get("nullable") is False and any(v is None for v in values):
                raise TypedLoadError(f"{self.table}.{name}: null in a not-null column")
            array = self._array(name, col, values, kinds, variants)
            fields.append(pa.field(name, array.type, nullable=col.get("nullable", True)))
            arrays.append(array)
        for name, values in variants.items():
            if name in by_name:  # a field of the variant's name too: left to dlt's row order
                raise TypedLoadError(f"{self.table}.{name}: both a field and dlt's variant column")
            col = self.columns[name]
            kinds = set(map(type, values))
            kinds.discard(_NONE)
            array = self._array(name, col, values, kinds, None)
            fields.append(pa.field(name, array.type, nullable=True))
            arrays.append(array)
        hints: dict[str, TColumnSchema] = {}
        for f in fields:
            col = self.columns[f.name]
            if f.name not in self.hinted and (col["data_type"] == "json" or col.get("variant")):
                hint = {"name": f.name, "data_type": col["data_type"]}
                if col.get("variant"):
                    hint["variant"] = True
                hints[f.name] = hint  # type: ignore[assignment]
                self.hinted.add(f.name)
        self.rows += len(rows)
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields)), hints

    @staticmethod
    def _values(rows: list[dict[str, Any]], group: list[str]) -> list[Any]:
        """Several keys name one column: the last of them in the row wins (dlt's flattening)."""
        keys = set(group)
        out: list[Any] = []
        for row in rows:
            value = None
            for k, v in row.items():
                if k in keys:
                    value = v
            out.append(value)
        return out

    def _array(
        self,
        name: str,
        col: TColumnSchema,
        values: Sequence[Any],
        kinds: set[type],
        variants: dict[str, list[Any]] | None,
    ) -> pa.Array:
        data_type = col["data_type"]
        same = _SAME.get(data_type)
        if same is not None and kinds <= same:
            return self._build(name, col, values)
        if data_type == "decimal" and kinds == {int}:
            exact = self._int_decimals(col, values)
            if exact is not None:
                return exact
        if data_type == "timestamp" and kinds == {str}:
            parsed = _zoned_strings(values)
            if parsed is not None:
                return parsed
        return self._build(name, col, self._coerce_values(name, col, values, variants))

    def _coerce_values(
        self,
        name: str,
        col: TColumnSchema,
        values: Sequence[Any],
        variants: dict[str, list[Any]] | None,
    ) -> list[Any]:
        """dlt's ``_coerce_row`` for one column, value by value."""
        data_type = col["data_type"]
        out: list[Any] = [None] * len(values)
        for i, v in enumerate(values):
            if v is None:
                continue
            py_type = self._type_map.get(type(v)) or self._py_type(type(v))
            if py_type == data_type:
                out[i] = normalize_timezone(v, True) if data_type == "timestamp" else v
                continue
            if self._can_coerce(data_type, py_type):
                try:
                    new = self._coerce(data_type, py_type, v)
                except (ValueError, SyntaxError):
                    pass
                else:
                    out[i] = normalize_timezone(new, True) if data_type == "timestamp" else new
                    continue
            if variants is None or col.get("variant"):
                raise TypedLoadError(
                    f"{self.table}.{name}: cannot coerce {py_type} value {v!r:.60} to {data_type}"
                )
            self._to_variant(name, py_type, v, i, len(values), variants)
        return out

    def _to_variant(
        self,
        name: str,
        py_type: str,
        value: Any,
        index: int,
        size: int,
        variants: dict[str, list[Any]],
    ) -> None:
        vname = self.naming.shorten_fragments(name, VARIANT_FIELD_FORMAT % py_type)
        if py_type == "json":
            old = self.naming.shorten_fragments(name, VARIANT_FIELD_FORMAT % "complex")
            if self.columns.get(old, {}).get("variant"):
                vname = old
        if vname not in self.columns:
            self._new_column(vname, self._infer(value, vname, variant=True), variant=True)
        variants.setdefault(vname, [None] * size)[index] = value

    def _build(self, name: str, col: TColumnSchema, values: Sequence[Any]) -> pa.Array:
        data_type = col["data_type"]
        try:
            if data_type == "json":  # UTF-8 bytes: Arrow takes them as strings as they are
                return pa.array(_json_values(values), pa.string())
            if data_type == "decimal":
                decimal = _decimal_type(col)
                precision, scale = decimal.precision, decimal.scale
                quantum = Decimal(1).scaleb(-scale)
                exact = Context(prec=precision + scale + 2, rounding=ROUND_HALF_UP)
                return pa.array(
                    [None if v is None else v.quantize(quantum, context=exact) for v in values],
                    decimal,
                )
            arrow_type = _ARROW.get(data_type)
            if arrow_type is None:
                raise TypedLoadError(f"{self.table}.{name}: type {data_type} is not typed here")
            return pa.array(values, arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ArithmeticError) as err:
            raise TypedLoadError(f"{self.table}.{name} ({data_type}): {err}") from err

    @staticmethod
    def _int_decimals(col: TColumnSchema, values: Sequence[Any]) -> pa.Array | None:
        """Integers in a ``decimal`` column, converted by Arrow (exact: an integer has no
        fraction to round); None when Arrow refuses them (beyond 64 bits, or more digits than
        the column's precision leaves), which then go through dlt's coercion one by one."""
        try:
            return pc.cast(pa.array(values, pa.int64()), _decimal_type(col))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return None


def _decimal_type(col: TColumnSchema) -> pa.Decimal128Type:
    """The Arrow type of a ``decimal`` column: its precision and scale, else dlt's default."""
    scale = col.get("scale")
    return pa.decimal128(
        col.get("precision") or DEFAULT_DECIMAL[0], DEFAULT_DECIMAL[1] if scale is None else scale
    )


def _uniform(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
    """The rows' values in the first row's key order when every row has exactly the first row's
    keys (an API page usually does); None otherwise."""
    if not rows or len(rows[0]) < 2:
        return None
    first = rows[0]
    if len(set(map(len, rows))) != 1:
        return None
    try:  # as many keys as the first row, each of them: the same keys
        return list(map(itemgetter(*first), rows))
    except KeyError:
        return None


def _json_values(values: Sequence[Any]) -> list[bytes | None]:
    """JSON column values as dlt's encoder writes them. Values decoded from JSON (str keys,
    JSON's own types) take orjson's plain call, which writes the same bytes as dlt's (its
    options only matter for other keys and types) at about two thirds of the cost; any batch
    with something else goes through dlt's encoder."""
    plain = _PLAIN_DUMPB
    if plain is not None:
        try:
            return [None if v is None else plain(v) for v in values]
        except TypeError:  # a non-str key, a type JSON has not (orjson's error is a TypeError)
            pass
    dumpb = _DUMPB
    return [None if v is None else dumpb(v) for v in values]


def _json_encoders() -> tuple[Callable[[Any], bytes], Callable[[Any], bytes] | None]:
    """dlt's JSON encoder (``json.dumpb``) and, with orjson, orjson's plain call (what
    :func:`_json_values` tries first). dlt's with orjson is the very call it makes, bound once
    (a JSON column holds ~8 objects per FUB person: dlt's two wrapper calls per value add up)."""
    if getattr(dlt_json, "_impl_name", None) == "orjson":
        import orjson
        from dlt.common.json import custom_encode

        full = partial(orjson.dumps, default=custom_encode, option=orjson.OPT_NON_STR_KEYS)
        return full, orjson.dumps
    return dlt_json.dumpb, None


_DUMPB, _PLAIN_DUMPB = _json_encoders()


def _finite(values: Sequence[Any]) -> list[Any]:
    """NaN and infinities as ``None``: dlt's dict path stores rows as JSON between extract and
    normalise, where they become ``null``."""
    isfinite = math.isfinite
    return [None if type(v) is float and not isfinite(v) else v for v in values]


def _zoned_strings(values: Sequence[Any]) -> pa.Array | None:
    """ISO-8601 strings with a zone as UTC instants, parsed by Arrow; None when any string is
    not of that form (they then go through dlt's parser one by one)."""
    strings = pa.array(values, pa.string())
    if not pc.all(pc.match_substring_regex(strings, _ZONED_ISO_RE2)).as_py():
        return None
    try:
        return pc.cast(strings, UTC_US)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


# -- the resource ---------------------------------------------------------------------------


class _HintWarnings(logging.Filter):
    """dlt warns on every Arrow table whose JSON column it types from the hint rather than from
    Arrow (a string): that is how JSON travels here, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


_FILTER = _HintWarnings()
logging.getLogger("dlt").addFilter(_FILTER)


class _FewerCollections:
    """Python's cyclic garbage collector runs less often while typed batches are built.

    A batch keeps thousands of freshly decoded rows alive (dicts, lists, strings: no cycles;
    reference counting frees them), so the default thresholds (a collection every 700 net
    allocations, a full one every 100 of those) send the collector through them again and again:
    about 30% of the extract's CPU in a profile of 100,000 FUB people (extract CPU 7.7 s with the
    default thresholds, 5.2 s with these). Thresholds are process-wide: the first load in the
    process to start raises them, the last to finish puts back what it found.
    """

    _lock = threading.Lock()
    _active = 0
    _saved: tuple[int, int, int] | None = None
    THRESHOLDS = (50_000, 20, 20)

    def __enter__(self) -> None:
        with self._lock:
            cls = type(self)
            if cls._active == 0:
                cls._saved = gc.get_threshold()
                gc.set_threshold(
                    *(max(a, b) for a, b in zip(cls._saved, self.THRESHOLDS, strict=True))
                )
            cls._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            cls = type(self)
            cls._active -= 1
            if cls._active == 0 and cls._saved is not None:
                gc.set_threshold(*cls._saved)
                cls._saved = None


def typed_batches(
    table: str,
    declared: Mapping[str, TColumnSchema],
    items: Iterable[dict[str, Any] | list[dict[str, Any]]],
    *,
    nested: bool = False,
    min_rows: int = 5_000,
) -> Iterator[Any]:
    """``items`` (rows, or lists of rows) as typed Arrow tables: a dlt resource's data.

    Runs inside dlt's extract (it reads the pipeline's schema there). Rows are gathered to at
    least ``min_rows`` per Arrow table (a table per 100-row API page would cost dlt a parquet
    row group each). A table with a JSON column dlt has not been told of (not declared) carries
    that column's hint. ``nested``: dlt would flatten objects of undeclared columns (the
    resource's ``max_table_nesting`` is not 0).

    Rows the typed path cannot write as dlt would (:class:`TypedLoadError`: objects dlt would
    flatten, a type it does not type, a value out of a column's range) are not refused: that
    batch and the rest of the load go to dlt as dict rows (``INSERT``, dlt's own rules, a
    warning naming the column); the Arrow tables already yielded have typed their columns the
    way dlt types them, so the load is the same as an all-dict one.
    """
    typed = TypedRows(table, declared, dlt.current.source_schema(), nested)
    pending: list[dict[str, Any]] = []
    as_dicts = False
    fewer_collections = _FewerCollections()

    def flush() -> Any:
        nonlocal as_dicts
        rows = list(pending)
        pending.clear()
        if not as_dicts:
            try:
                arrow, hints = typed.arrow(rows)
            except TypedLoadError as err:
                log.warning(
                    "%s: %s; the rest of this load goes through dlt's row normaliser", table, err
                )
                as_dicts = True
            else:
                if hints:
                    hint = dlt.mark.make_hints(columns=list(hints.values()))
                    return dlt.mark.with_hints(arrow, hint)
                return arrow
        return rows

    with fewer_collections:
        for item in items:
            if isinstance(item, dict):
                pending.append(item)
            else:
                pending.extend(item)
            if len(pending) >= min_rows:
                yield flush()
        if pending:
            yield flush()


def as_arrow(
    table: str,
    declared: Mapping[str, TColumnSchema],
    gen: Callable[[], Iterable[Any]],
    **kwargs: Any,
) -> Callable[[], Iterator[Any]]:
    """A generator function yielding ``gen``'s rows as typed Arrow tables."""

    def arrow_gen() -> Iterator[Any]:
        yield from typed_batches(table, declared, gen(), **kwargs)

    return arrow_gen
