"""What a resource remembers of what it landed, so that a re-read lands only what changed.

Daily runs re-read on purpose: a look-back window overlapping the last run's cursor, a list read
whole, a periodic full read. Landing a record that raw already holds exactly as read now adds a
duplicate version and no mart change, yet dbt and the gate would process the load. The helpers
here keep, in the resource's dlt state (committed with the load, so what it says was landed is in
raw), enough to skip those:

- :class:`LandedVersions`: per record id, the version last landed (a content hash, or the
  vendor's own version stamp); for streams whose marts keep the newest version per id.
- :class:`LandedSnapshot`: the digest of a list read whole; all or nothing, for lists whose marts
  read the newest load as the whole list (absent = gone).
- :func:`full_read_due`: whether a periodic full read is due (the count checks need one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any


def full_read_due(last_full_at: object, now: datetime, max_age: timedelta) -> bool:
    """Whether a daily run must read the whole account: no full read recorded, or it is too old.

    Args:
        last_full_at: the ``last_full_at`` value of the resource state (ISO-8601 UTC), if any.
        now: the current time (timezone-aware).
        max_age: the source's ``..._FULL_REREAD_DAYS`` setting as a duration.

    Returns:
        True when ``last_full_at`` is missing or unreadable, or at least ``max_age`` old.
    """
    if not isinstance(last_full_at, str):
        return True
    try:
        then = datetime.fromisoformat(last_full_at)
    except ValueError:
        return True
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return now - then >= max_age


#: most records whose landed version a resource keeps in its state (the state stays small)
MAX_LANDED_VERSIONS = 5_000


def row_digest(row: dict[str, Any]) -> str:
    """A short hash of a prepared row's content (what would land in raw); key order is not
    content."""
    payload = json.dumps(row, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class LandedSnapshot:
    """All or nothing for a list read whole as the current snapshot (the marts take the newest
    load as the whole list: absent = gone), so a quiet day lands none of it.

    The list's digest (its rows' content hashes, in any order) is kept in the resource state
    under ``key``; a list that is the same as the one last landed is not landed again, and
    one that differs in any row, or in which rows it has, is landed whole. The state is
    committed with the load, so what it says was landed is in raw; the first read lands.
    """

    def __init__(self, state: dict[str, Any], key: str) -> None:
        self._state = state
        self._key = key

    def changed(self, rows: list[dict[str, Any]]) -> bool:
        """True when ``rows`` must land (and from now on they are what was landed)."""
        digest = hashlib.sha256(
            "\n".join(sorted(row_digest(r) for r in rows)).encode()
        ).hexdigest()[:32]
        if self._state.get(self._key) == digest:
            return False
        self._state[self._key] = digest
        return True


class LandedVersions:
    """Which records a re-read window must land: those not already in raw as read now.

    Daily runs re-read a window that overlaps the last run's (a look-back of offsets, days or
    hours) so that nothing near the cursor is missed. A record re-read exactly as it was landed
    adds nothing to raw but a duplicate version: no mart changes, yet dbt and the gate would
    process the load. This keeps ``{id: version}`` (a content hash, or the vendor's own version
    stamp) of the records the last run read in the resource state under ``key``; a record whose
    version is unchanged is skipped. The state is committed with the load, so what it says was
    landed is in raw. ``trust=False`` (a full read, a repair) lands everything and starts again.

    Only records that are read whole and kept latest-version-wins by their marts may be skipped;
    a stream whose marts read the newest load as the whole list (absent = deleted) must land
    all or nothing (:class:`LandedSnapshot`).
    """

    def __init__(self, state: dict[str, Any], key: str = "landed", trust: bool = True) -> None:
        self._state = state
        self._key = key
        self._trust = trust
        self._before: dict[str, str] = dict(state.get(key) or {}) if trust else {}
        self._now: dict[str, str] = {}
        self._landed = 0
        self.unchanged = 0

    def unchanged_since_landed(self, rid: str, version: str) -> bool:
        """True (and counted) when raw already holds this version of the record: skip it."""
        if self._before.get(rid) == version:
            self._now[rid] = version
            self.unchanged += 1
            return True
        return False

    def landed(self, rid: str, version: str) -> None:
        """The record is landed in this version by this run."""
        self._now[rid] = version
        self._landed += 1

    def fresh(self, rows: list[dict[str, Any]], id_of: Callable[[dict[str, Any]], Any]) -> list:
        """The rows to land: each row's content hash is its version."""
        out = []
        for row in rows:
            rid, version = str(id_of(row)), row_digest(row)
            if not self.unchanged_since_landed(rid, version):
                self.landed(rid, version)
                out.append(row)
        return out

    def commit(self) -> None:
        """Keep the versions read now (the newest ``MAX_LANDED_VERSIONS`` in read order).

        A trusted read that landed nothing leaves the state as it was: every record it read was
        already there in the same version, and every version it holds is still in raw (raw only
        grows), so the state stays true. Writing the read's smaller set instead (the window moved
        past some records) would change the state alone, and a changed state is a load of its
        own: one per stream on the day after a change, with no row in it.
        """
        if self._trust and self._landed == 0:
            return
        kept = list(self._now.items())[-MAX_LANDED_VERSIONS:]
        self._state[self._key] = dict(kept)
