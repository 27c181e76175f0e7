"""Which people a FUB text-message read asks about.

``GET /textMessages`` cannot list an account's texts: a filter such as ``personId`` is mandatory
(``docs/vendors/fub.md`` §2.6), so texts are read with one request per person. Asking every
person costs a request per person even when most have never texted. FUB's people carry text
counters: ``textsSent``, ``textsReceived`` and ``lastText`` are documented sort keys of
``GET /people`` (§2.1); that the list serves them as fields with ``fields=allFields`` is
UNCONFIRMED, so nothing here assumes it:

- a person whose newest raw version carries both counts, and they are 0, has no texts: not
  asked (an onboarding asks only people with texts);
- on a daily run, a changed person whose counters (both counts and ``lastText``) equal those of
  the version before the last text read has no new texts: not asked;
- a person without the counters (the account's responses lack them, or they are null) is asked,
  as before: the fallback is per record, so an account that never serves them costs what it
  did.

What a request returns is checked against the counters: when a person's texts served differ from
``textsSent + textsReceived``, the counters cannot be trusted for this account. The run then asks
every person it skipped, and the account is read per person until a full walk finds every
counter right again (``counters_trusted`` in the stream state). A daily run also walks every
person when the last walk is ``AGENTSYNC_FUB_TEXTS_FULL_WALK_DAYS`` old, which bounds what a
wrong counter could hide (an edited text, a new text that did not change the person's record).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text

from agentsync import db

#: raw_fub.people columns of the counters (dlt's snake_case of the vendor names)
COUNTER_COLUMNS = ("texts_sent", "texts_received", "last_text")


@dataclass(frozen=True)
class Counters:
    """A person's text counters in one raw version (``None`` where the version lacks one)."""

    sent: int | None = None
    received: int | None = None
    last: str | None = None

    @property
    def known(self) -> bool:
        return self.sent is not None and self.received is not None

    @property
    def total(self) -> int | None:
        return (
            self.sent + self.received
            if self.sent is not None and self.received is not None
            else None
        )


@dataclass(frozen=True)
class Candidate:
    """A person changed since the last text read: counters now, and before it (if any)."""

    person_id: int
    now: Counters
    before: Counters | None = None


def needs_texts(person: Candidate, first_read: bool) -> bool:
    """Whether the person must be asked for texts (see the module doc)."""
    if not person.now.known:
        return True
    if person.now.total == 0:
        return False
    if first_read or person.before is None:
        return True
    return person.before != person.now


def _counter_columns(conn) -> list[str]:
    present = set(
        conn.execute(
            text(
                "select column_name from information_schema.columns "
                "where table_schema = 'raw_fub' and table_name = 'people'"
            )
        ).scalars()
    )
    return [f"{c}::text" if c in present else "null::text" for c in COUNTER_COLUMNS]


def _counters(row: Iterable) -> Counters:
    sent, received, last = row

    def number(value: str | None) -> int | None:
        try:
            return int(float(value)) if value is not None else None
        except ValueError:
            return None

    return Counters(number(sent), number(received), last)


def candidates(user_id: int, since_load_id: str | None) -> tuple[list[Candidate], str | None]:
    """People of the agent with a raw version newer than ``since_load_id`` (all if None), with
    their counters now and as of ``since_load_id``; and the newest load id seen."""
    with db.begin() as conn:
        if conn.execute(text("select to_regclass('raw_fub.people')")).scalar() is None:
            return [], since_load_id
        sent, received, last = _counter_columns(conn)
        rows = conn.execute(
            text(
                f"""
                select distinct on (id) id, _dlt_load_id, {sent}, {received}, {last}
                  from raw_fub.people
                 where user_id = :u
                   and (cast(:since as text) is null
                        or cast(_dlt_load_id as numeric) > cast(:since as numeric))
                 order by id, cast(_dlt_load_id as numeric) desc
                """
            ),
            {"u": user_id, "since": since_load_id},
        ).all()
        before: dict[int, Counters] = {}
        if since_load_id is not None and rows:
            earlier = conn.execute(
                text(
                    f"""
                    select distinct on (id) id, {sent}, {received}, {last}
                      from raw_fub.people
                     where user_id = :u and id = any(:ids)
                       and cast(_dlt_load_id as numeric) <= cast(:since as numeric)
                     order by id, cast(_dlt_load_id as numeric) desc
                    """
                ),
                {"u": user_id, "since": since_load_id, "ids": [int(r[0]) for r in rows]},
            ).all()
            before = {int(r[0]): _counters(r[1:]) for r in earlier}
    newest = max((r[1] for r in rows), key=float, default=since_load_id)
    found = [Candidate(int(r[0]), _counters(r[2:]), before.get(int(r[0]))) for r in rows]
    return found, newest
