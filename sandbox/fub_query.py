"""Follow Up Boss replica: list queries — filters, ordering, ``offset``/``next`` paging, totals.

Behaviour (``docs/vendors/fub.md`` §3; every § below is a section of that file):

- ``limit`` default 10, max 100 (§3.1, OFFICIAL). A larger limit is clamped to 100 and a
  non-number answers 400 — the real answer to a bad limit is UNCONFIRMED; this is a guess.
- Default order is id descending, newest first (§3.1, OFFICIAL). People document ``sort``
  default ``created`` (§2.1); since creation order is id order here, that is the same order.
  Supported ``sort`` values: ``id``, ``created``, ``updated`` (ascending; a ``-`` prefix means
  descending, §3.2). Other documented sort keys answer 400 naming the supported ones (a
  sandbox limitation, said in the message).
- ``next``: an opaque base64 JSON token ``{"sinceId": <last id>}`` (the official example
  decodes to exactly that, §3.1), plus ``sinceUpdated`` when sorting by ``updated``, and the
  running ``offset`` for ``_metadata.offset``. ``nextLink`` is the full URL with the original
  query parameters and ``next`` replaced. ``next``/``nextLink`` are null on the last page.
- Deep offsets: ``offset`` >= :data:`MAX_OFFSET` (2000) answers 400 "Deep pagination disabled"
  (§3.1: OFFICIAL says the API enforces ``next`` for deep offsets; the threshold 2000 and the
  error text come from a 3P client and are UNCONFIRMED).
- Common filters (§3.3): ``id``/``ids``, ``idGreaterThan``/``idLessThan``,
  ``createdAfter``/``createdBefore``, ``updatedAfter``/``updatedBefore`` (ISO-8601 UTC; strict
  comparisons — inclusive vs exclusive is UNCONFIRMED). Deals have no ``updated`` field
  (§2.2) so ``updatedAfter``/``updatedBefore`` don't filter deals (UNCONFIRMED).
- ``_metadata.total`` is the count after filters (§7.4: assumed).
"""

from __future__ import annotations

import base64
import bisect
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.fub_data import BIG, CUSTOM_FIELDS, EPOCH_S, MAX_UPDATE_LAG_S, Collection

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_OFFSET = 2000
SORTABLE = ("id", "created", "updated")
#: Small collections sort in memory by their documented keys (fub.md §2.7, §2.8, §3.2).
SMALL_SORTABLE = ("id", "created", "updated", "name", "orderWeight", "event", "status")
#: Per-collection equality filters on the served record (documented params, fub.md §2).
RECORD_FILTERS: dict[str, dict[str, str]] = {
    "people": {"stage": "stage", "source": "source", "assignedUserId": "assignedUserId"},
    "deals": {"pipelineId": "pipelineId", "status": "status"},
    "events": {"type": "type"},
    "calls": {"userId": "userId", "isIncoming": "isIncoming"},
    "appointments": {},
    "textMessages": {"userId": "userId"},
}
CHILD_PERSON_FILTER = {"deals", "events", "calls", "appointments", "textMessages"}
TEXT_FILTERS = ("personId", "toNumber", "fromNumber", "id", "ids")


class BadRequest(ValueError):
    """A query FUB would refuse: answered 400 with ``{"errorMessage": ...}`` (fub.md §1.1)."""


def parse_time(name: str, value: str) -> int:
    """An ISO-8601 time parameter as POSIX seconds; naive times are UTC (fub.md §1.1)."""
    raw = value.strip().replace(" ", "T")
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"Invalid value for {name}: {value!r}; expected an ISO-8601 date like "
            "2021-07-01T04:00:00Z"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def parse_int(name: str, value: str, minimum: int = 0) -> int:
    try:
        out = int(value)
    except ValueError:
        raise BadRequest(f"Invalid value for {name}: {value!r}; expected an integer") from None
    if out < minimum:
        raise BadRequest(f"Invalid value for {name}: {value!r}; must be >= {minimum}")
    return out


def parse_ids(name: str, value: str) -> set[int]:
    return {parse_int(name, v.strip()) for v in value.split(",") if v.strip()}


def encode_token(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.b64decode(token + "=" * (-len(token) % 4), validate=False))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Invalid value for next: not a token this API issued") from None
    ok = (
        isinstance(data, dict)
        and type(data.get("sinceId")) is int
        and type(data.get("offset", 0)) is int
        and data.get("offset", 0) >= 0
        and type(data.get("sinceUpdated", 0)) is int
    )
    if not ok:
        raise BadRequest("Invalid value for next: not a token this API issued")
    return data


@dataclass
class ListQuery:
    """A parsed list request."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    cursor: dict[str, Any] | None = None
    sort: str = "id"
    desc: bool = True
    ids: set[int] | None = None
    id_gt: int | None = None
    id_lt: int | None = None
    created_after: int | None = None
    created_before: int | None = None
    updated_after: int | None = None
    updated_before: int | None = None
    include_trash: bool = False
    person_ids: set[int] | None = None
    record_eq: dict[str, str] = field(default_factory=dict)
    fields: list[str] | None = None
    all_fields: bool = False

    def signature(self) -> tuple:
        """Everything that decides the matching set (not the page position)."""
        return (
            frozenset(self.ids) if self.ids is not None else None,
            self.id_gt,
            self.id_lt,
            self.created_after,
            self.created_before,
            self.updated_after,
            self.updated_before,
            self.include_trash,
            frozenset(self.person_ids) if self.person_ids is not None else None,
            tuple(sorted(self.record_eq.items())),
            self.sort,
            self.desc,
        )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def parse_query(collection: str, params: dict[str, str], single: bool = False) -> ListQuery:
    """Turn query parameters into a :class:`ListQuery`, or raise :class:`BadRequest`.

    ``single`` is a GET by id: only ``fields`` matters and no list filter is required.
    """
    q = ListQuery()
    if "limit" in params:
        q.limit = min(MAX_LIMIT, parse_int("limit", params["limit"], minimum=1))
    if params.get("next"):
        q.cursor = decode_token(params["next"])
        q.offset = int(q.cursor.get("offset", 0))
    elif "offset" in params:
        q.offset = parse_int("offset", params["offset"])
        if q.offset >= MAX_OFFSET:
            raise BadRequest(
                f"Deep pagination disabled: offset {q.offset} is too deep (the limit is "
                f"{MAX_OFFSET}). Please use the 'next' parameter from _metadata to page further."
            )
    sort = params.get("sort", "").strip()
    if sort:
        key = sort.lstrip("-")
        allowed = SORTABLE if collection in BIG else SMALL_SORTABLE
        if key not in allowed:
            raise BadRequest(
                f"Invalid sort {sort!r}: this sandbox replica sorts {collection} by "
                f"{', '.join(allowed)} (optionally prefixed with '-')"
            )
        q.sort = key
        q.desc = sort.startswith("-")
    ids = params.get("id") or params.get("ids")
    if ids:
        q.ids = parse_ids("id", ids)
    if "idGreaterThan" in params:
        q.id_gt = parse_int("idGreaterThan", params["idGreaterThan"])
    if "idLessThan" in params:
        q.id_lt = parse_int("idLessThan", params["idLessThan"])
    for name, attr in (
        ("createdAfter", "created_after"),
        ("createdBefore", "created_before"),
        ("updatedAfter", "updated_after"),
        ("updatedBefore", "updated_before"),
    ):
        if params.get(name):
            setattr(q, attr, parse_time(name, params[name]))
    if collection == "deals":
        q.updated_after = q.updated_before = None  # deals carry no `updated` (fub.md §2.2)
    q.include_trash = _flag(params.get("includeTrash"))
    if collection in CHILD_PERSON_FILTER and params.get("personId"):
        q.person_ids = parse_ids("personId", params["personId"])
    for param, fld in RECORD_FILTERS.get(collection, {}).items():
        if params.get(param):
            q.record_eq[fld] = params[param]
    if collection == "textMessages" and not single and not any(params.get(k) for k in TEXT_FILTERS):
        # fub.md §1.1 LIVE-OBS: the exact live error text
        raise BadRequest(
            "personId, threadId, phone, toNumber, fromNumber, sharedInboxId, groupTextId, "
            "participants, or id list must be specified for GET /v1/textMessages."
        )
    if collection == "textMessages":
        for param in ("toNumber", "fromNumber"):
            if params.get(param):
                q.record_eq[param] = params[param]
    if params.get("fields"):
        names = [f.strip() for f in params["fields"].split(",") if f.strip()]
        if "allFields" in names:
            if collection == "deals":  # fub.md §2.2 LIVE-OBS: deals 400 on fields=allFields
                raise BadRequest("fields=allFields is not supported for deals")
            q.all_fields = True
            names = [n for n in names if n != "allFields"]
        q.fields = names or None
        if q.all_fields:
            q.fields = None
    return q


def project(collection: str, rec: dict[str, Any], q: ListQuery) -> dict[str, Any]:
    """Apply ``fields``: ``id`` always included (fub.md §2.1)."""
    if q.fields is None:
        return rec
    unknown = [f for f in q.fields if f not in rec]
    if unknown:
        raise BadRequest(f"Invalid field name(s) for {collection}: {', '.join(unknown)}")
    return {"id": rec.get("id"), **{f: rec[f] for f in q.fields if f != "id"}}


def wants_custom(collection: str, q: ListQuery) -> bool:
    if collection != "people":
        return False
    return q.all_fields or bool(q.fields and any(f in CUSTOM_FIELDS for f in q.fields))


# ---------------------------------------------------------------------------------------------
# big collections
# ---------------------------------------------------------------------------------------------


@dataclass
class Segment:
    """Candidate indices: a half-open range, or an explicit ascending list."""

    lo: int = 0
    hi: int = 0
    items: list[int] | None = None

    def iterate(self, desc: bool):
        if self.items is not None:
            return reversed(self.items) if desc else iter(self.items)
        return range(self.hi - 1, self.lo - 1, -1) if desc else range(self.lo, self.hi)

    def size(self) -> int:
        return len(self.items) if self.items is not None else max(0, self.hi - self.lo)


class BigLister:
    """Runs a :class:`ListQuery` over one :class:`Collection` without materialising it."""

    def __init__(
        self,
        col: Collection,
        q: ListQuery,
        collection: str,
        cache: dict[tuple, Any] | None = None,
    ) -> None:
        """``cache`` (optional) keeps totals and sort keys per query signature; the owner must
        clear it whenever the data changes (``advance``)."""
        self.col = col
        self.q = q
        self.collection = collection
        self.hide_trash = collection == "people" and not q.include_trash
        self.cache = cache

    def _cached(self, kind: str, compute):
        if self.cache is None:
            return compute()
        key = (kind, self.col.account.uid, self.col.name, self.q.signature())
        if key not in self.cache:
            if len(self.cache) >= 64:
                self.cache.clear()
            self.cache[key] = compute()
        return self.cache[key]

    # -- candidate narrowing ----------------------------------------------------------------
    def _bounds(self, with_cursor: bool = False) -> tuple[int, int]:
        """Index range the filters allow; ``with_cursor`` also starts after the ``next`` cursor
        (id-keyset pages cost the page, not the depth)."""
        col, q = self.col, self.q
        lo, hi = 0, col.n_total
        if with_cursor and q.cursor is not None and q.sort != "updated":
            since = q.cursor["sinceId"] - col.id_base - 1
            if q.desc:
                hi = min(hi, since)
            else:
                lo = max(lo, since + 1)
        if q.id_gt is not None:
            lo = max(lo, q.id_gt - col.id_base)
        if q.id_lt is not None:
            hi = min(hi, q.id_lt - col.id_base - 1)
        if q.created_after is not None:
            lo = max(lo, col.first_idx_created_after(q.created_after))
        if q.created_before is not None:
            hi = min(hi, col.first_idx_created_after(q.created_before - 1))
        return max(0, lo), max(0, hi)

    def segments(self, with_cursor: bool = False) -> list[Segment]:
        """Ascending, disjoint candidate segments (a superset of the matches)."""
        col, q = self.col, self.q
        lo, hi = self._bounds(with_cursor)
        if hi <= lo:
            return []
        if q.ids is not None:
            items = sorted(i for i in (col.idx_of(r) for r in q.ids) if i is not None)
            return [Segment(items=[i for i in items if lo <= i < hi])]
        if q.person_ids is not None:
            people = col.account.people
            items: set[int] = set()
            for pid in q.person_ids:
                pidx = people.idx_of(pid)
                if pidx is None:
                    continue
                a, b = col.child_range(pidx)
                items.update(range(max(a, lo), min(b, hi)))
            items.update(
                col.n_base + k
                for k, p in enumerate(col.ov.new_person)
                if people.id_of(p) in q.person_ids and lo <= col.n_base + k < hi
            )
            return [Segment(items=sorted(items))]
        if q.updated_after is not None and col.name != "deals":
            # base `updated` <= created + MAX_UPDATE_LAG: below that only overlay updates match
            if q.updated_after >= EPOCH_S - 60:
                cut = max(lo, min(hi, col.n_base))  # base `updated` never reaches the epoch
            else:
                cut = max(lo, col.first_idx_created_after(q.updated_after - MAX_UPDATE_LAG_S))
            extra = sorted(
                i for i, (u, _) in col.ov.updated.items() if lo <= i < cut and u > q.updated_after
            )
            segs = [Segment(items=extra)] if extra else []
            segs.append(Segment(cut, hi))
            return segs
        return [Segment(lo, hi)]

    # -- predicates -------------------------------------------------------------------------------
    def cheap_match(self, idx: int) -> bool:
        col, q = self.col, self.q
        if col.is_deleted(idx):
            return False
        if self.hide_trash and col.is_trashed(idx):
            return False
        if q.created_after is not None or q.created_before is not None:
            c = col.created_s(idx)
            if q.created_after is not None and c <= q.created_after:
                return False
            if q.created_before is not None and c >= q.created_before:
                return False
        if q.updated_after is not None or q.updated_before is not None:
            u = col.updated_s(idx)
            if q.updated_after is not None and u <= q.updated_after:
                return False
            if q.updated_before is not None and u >= q.updated_before:
                return False
        return True

    def record_match(self, rec: dict[str, Any]) -> bool:
        for fld, want in self.q.record_eq.items():
            have = rec.get(fld)
            if isinstance(have, bool):
                have = "true" if have else "false"
                want = want.lower()
            if str(have) != want:
                return False
        return True

    def _simple(self) -> bool:
        q = self.q
        return (
            q.ids is None
            and q.person_ids is None
            and q.updated_after is None
            and q.updated_before is None
            and not q.record_eq
        )

    # -- counting ---------------------------------------------------------------------------------
    def total(self) -> int:
        """Matches after filters: arithmetic when possible, else a (cached) scan."""
        if self._simple():
            return self._total()
        return self._cached("total", self._total)

    def _total(self) -> int:
        col = self.col
        if self._simple():
            lo, hi = self._bounds()
            if hi <= lo:
                return 0
            base_hi = min(hi, col.n_base)
            count = max(0, base_hi - lo)
            if self.hide_trash:
                count -= col.count_base_trashed(lo, base_hi)
            touched: set[int] = set(col.ov.trashed) | set(col.ov.deleted)
            if col.name != "people":
                for p in col.account.people.ov.deleted:
                    if p < col.account.people.n_base:
                        a, b = col.child_range(p)
                        touched.update(range(a, b))
            for idx in touched:
                if lo <= idx < base_hi:
                    base = not (self.hide_trash and col.base_trashed(idx))
                    count += int(self.cheap_match(idx)) - int(base)
            for idx in range(max(lo, col.n_base), hi):
                count += int(self.cheap_match(idx))
            return count
        n = 0
        for seg in self.segments():
            for idx in seg.iterate(False):
                if self.cheap_match(idx) and (
                    not self.q.record_eq or self.record_match(col.record(idx))
                ):
                    n += 1
        return n

    # -- paging --------------------------------------------------------------------------------
    def page(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The page's records (served shape) and the next cursor (or None on the last page)."""
        if self.q.sort == "updated":
            return self._page_by_updated()
        q, col = self.q, self.col
        since = None
        if q.cursor is not None:
            since = q.cursor["sinceId"] - col.id_base - 1
        skip = 0 if q.cursor is not None else q.offset
        custom = wants_custom(self.collection, q)
        out: list[dict[str, Any]] = []
        last_idx = None
        segs = self.segments(with_cursor=True)
        for seg in reversed(segs) if q.desc else segs:
            for idx in seg.iterate(q.desc):
                if since is not None and (idx >= since if q.desc else idx <= since):
                    continue
                if not self.cheap_match(idx):
                    continue
                rec = None
                if q.record_eq:
                    rec = col.record(idx, custom)
                    if not self.record_match(rec):
                        continue
                if skip:
                    skip -= 1
                    continue
                if len(out) == q.limit:
                    return out, self._cursor(last_idx, len(out))
                out.append(rec if rec is not None else col.record(idx, custom))
                last_idx = idx
        return out, None

    def _cursor(self, last_idx: int | None, served: int) -> dict[str, Any]:
        return {"sinceId": self.col.id_of(last_idx), "offset": self.q.offset + served}

    def _page_by_updated(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Sorted by ``updated``: scans the candidates (how ``next`` works with a non-id sort
        is UNCONFIRMED, fub.md §3.2; here the token carries ``sinceUpdated`` + ``sinceId``)."""
        q, col = self.q, self.col

        def sort_keys() -> list[tuple[int, int]]:
            keys = [
                (col.updated_s(idx), idx)
                for seg in self.segments()
                for idx in seg.iterate(False)
                if self.cheap_match(idx)
            ]
            keys.sort(reverse=q.desc)
            return keys

        keys = self._cached("keys", sort_keys)
        start = 0 if q.cursor is None else None
        if q.cursor is not None:
            pos = (int(q.cursor.get("sinceUpdated", 0)), q.cursor["sinceId"] - col.id_base - 1)
            if q.desc:  # first key strictly after the cursor in this order
                start = bisect.bisect_right(keys, (-pos[0], -pos[1]), key=lambda k: (-k[0], -k[1]))
            else:
                start = bisect.bisect_right(keys, pos)
        else:
            start = q.offset
        custom = wants_custom(self.collection, q)
        out, last = [], None
        i = start
        while i < len(keys) and len(out) < q.limit:
            rec = col.record(keys[i][1], custom)
            i += 1
            if q.record_eq and not self.record_match(rec):
                continue
            out.append(rec)
            last = keys[i - 1]
        if i >= len(keys) or last is None:
            return out, None
        return out, {
            "sinceId": col.id_of(last[1]),
            "sinceUpdated": last[0],
            "offset": q.offset + len(out),
        }


# ---------------------------------------------------------------------------------------------
# small collections (users, stages, pipelines, groups, webhooks)
# ---------------------------------------------------------------------------------------------

SMALL_DEFAULT_SORT = {"stages": ("orderWeight", False), "pipelines": ("orderWeight", False)}


def small_page(
    collection: str, rows: list[dict[str, Any]], params: dict[str, str], q: ListQuery
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int]:
    """Filter/sort/page a small in-memory collection; returns (page, next cursor, total)."""
    rows = list(rows)
    if q.ids is not None:
        rows = [r for r in rows if r["id"] in q.ids]
    if q.id_gt is not None:
        rows = [r for r in rows if r["id"] > q.id_gt]
    if q.id_lt is not None:
        rows = [r for r in rows if r["id"] < q.id_lt]
    for name, attr in (("created", "created_after"), ("updated", "updated_after")):
        bound = getattr(q, attr)
        if bound is not None:
            # rows without the field (stages, pipelines, groups) are not filtered by it
            rows = [r for r in rows if name not in r or parse_time(name, r[name]) > bound]
    for name in ("name", "role", "email", "type", "event", "status"):
        if params.get(name):
            rows = [r for r in rows if str(r.get(name)) == params[name]]
    if params.get("sort"):
        key, desc = q.sort, q.desc
    else:
        key, desc = SMALL_DEFAULT_SORT.get(collection, ("id", True))
    rows.sort(key=lambda r: (r.get(key) or 0, r["id"]), reverse=desc)
    total = len(rows)
    start = q.offset
    if q.cursor is not None:
        ids = [r["id"] for r in rows]
        since = q.cursor["sinceId"]
        start = ids.index(since) + 1 if since in ids else len(rows)
    page = rows[start : start + q.limit]
    more = start + q.limit < total
    cursor = {"sinceId": page[-1]["id"], "offset": start + len(page)} if more and page else None
    return page, cursor, total
