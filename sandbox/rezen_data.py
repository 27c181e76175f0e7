"""reZEN sandbox data: every agent's records, derived on demand from the seed.

The replica's HTTP layer (``sandbox.rezen``) asks this module for records; nothing here knows
about HTTP. Facts followed are from ``docs/vendors/rezen.md`` (cited per field
below as A.x = §x of that file; B.x = ``docs/vendors/skyslope.md`` §x); where a shape is
[UNCONFIRMED] the choice made here is the most plausible one and is said so.

Determinism: every value comes from ``stable_int(seed, kind, user_id, index)``. Only the changes
made by :meth:`RezenData.advance` are stored (per-transaction overrides, new transactions, new
revshare payments, network status changes).
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.world import EPOCH, FIRST_NAMES, LAST_NAMES, RealDeal, World, stable_int

# A.4: agent status enum (SDK + Xano integration fetches by each).
AGENT_STATUSES = ("ACTIVE", "INACTIVE", "CANDIDATE", "REJECTED", "RESURRECTING")
# A.6.4: lifecycle groups of the participant transaction lists.
LIFECYCLE_GROUPS = ("OPEN", "CLOSED", "TERMINATED")
MAX_TIER = 5
# A.4: stateOrProvince as full upper-snake names (SDK).
STATE_NAMES = {
    "CA": "CALIFORNIA",
    "NV": "NEVADA",
    "TX": "TEXAS",
    "CO": "COLORADO",
    "FL": "FLORIDA",
}
CENT = Decimal("0.01")


def make_uuid(*parts: object) -> str:
    """A deterministic UUID (A.4: ids are UUID strings)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def rezen_record_id(seed: int, user_id: int, deal_key: int, is_listing: bool) -> str:
    """The reZEN id (A.4: a UUID) of the transaction or listing recording world deal ``deal_key``.

    Public so the SkySlope replica's ground truth can name the reZEN record of a shared deal.
    """
    return make_uuid(seed, "rezen-listing" if is_listing else "rezen-tx", user_id, deal_key)


def _same_day_in(day: date, year: int) -> date:
    """``day``'s month and day in ``year`` (a 29 February becomes the 28th in a common year)."""
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def epoch_ms(dt: datetime) -> int:
    """Epoch milliseconds (A.4: some date fields are epoch ms, e.g. ``closedAt``)."""
    return int(dt.timestamp() * 1000)


def money(cents: int, currency: str = "USD") -> dict[str, Any]:
    """A.4: money objects ``{amount, currency}`` in major units (dollars)."""
    return {"amount": Decimal(cents) / 100, "currency": currency}


@dataclass
class NetAgent:
    """One agent in a down-line: ``tier`` 1..5 below the root, ``sponsor_id`` its direct sponsor."""

    id: str
    first_name: str
    last_name: str
    status: str
    join_date: date
    tier: int
    sponsor_id: str
    updated_at: datetime
    size_of_network: int = 0


@dataclass
class Book:
    """Everything the replica knows about one reZEN agent (a ``user_id`` with reZEN)."""

    user_id: int
    yenta_id: str
    api_key: str
    first_name: str
    last_name: str
    join_date: date
    team_id: str
    team_name: str
    roster: list[dict[str, Any]]
    network: list[NetAgent]
    upline: list[dict[str, Any]]
    tx_deals: list[RealDeal]
    ls_deals: list[RealDeal]
    by_id: dict[str, NetAgent] = field(default_factory=dict)


class RezenData:
    """Derives and (after ``advance``) remembers the reZEN records of every agent."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._lock = threading.RLock()
        self._books: dict[int, Book] = {}
        # (user_id, deal key) -> {"lifecycle": str, "updated": datetime, "close": date | None}
        self._tx_over: dict[tuple[int, int], dict[str, Any]] = {}
        self._extra_deals: dict[int, list[RealDeal]] = {}
        self._extra_payments: dict[int, list[datetime]] = {}  # when each added one was paid
        self.version = 0  # bumps on every advance (list caches key on it)
        self._by_key: dict[str, int] | None = None

    # -- agents --------------------------------------------------------------------------------
    def agents(self) -> list[int]:
        return [a.user_id for a in self.world.agents_with("rezen")]

    def book(self, user_id: int) -> Book | None:
        with self._lock:
            if user_id not in self._books:
                if user_id not in self.agents():
                    return None
                self._books[user_id] = self._make_book(user_id)
            return self._books[user_id]

    def book_by_key(self, api_key: str) -> Book | None:
        with self._lock:
            if self._by_key is None:  # key -> agent, without deriving every agent's book
                self._by_key = {self.api_key(uid): uid for uid in self.agents()}
        uid = self._by_key.get(api_key)
        return self.book(uid) if uid is not None else None

    def api_key(self, user_id: int) -> str:
        digest = hashlib.blake2b(f"{self.world.seed}:rezen-key:{user_id}".encode(), digest_size=18)
        return "real_" + digest.hexdigest()  # A.2: keys look like real_ + ~36 alphanumerics

    def network_size(self, user_id: int) -> int:
        """``profile.network_size`` for the first reZEN agent, smaller for the others (the fleet:
        in proportion to each agent's FUB people, at least 12)."""
        full = self.world.profile.network_size
        if self.world.profile.sizing == "fleet":  # in proportion to the agent's book
            return max(12, self.world.share("rezen", full, user_id))
        ids = self.agents()
        pos = ids.index(user_id)
        return full if pos == 0 else max(12, full // (3 * pos))

    def _name(self, *parts: object) -> tuple[str, str]:
        rng = random.Random(stable_int(self.world.seed, "rezen-name", *parts))
        return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)

    def _make_book(self, user_id: int) -> Book:
        seed = self.world.seed
        spec = self.world.agent(user_id)
        assert spec is not None
        first, last = spec.name.split(" ", 1)
        yenta_id = make_uuid(seed, "rezen-agent", user_id)
        rng = random.Random(stable_int(seed, "rezen-book", user_id))
        join = (EPOCH - timedelta(days=rng.randint(400, 2500))).date()
        network = self._make_network(user_id, yenta_id)
        # Upline: three sponsors above the agent (A.6.3 flattenedSponsors, level 1 = direct).
        upline = []
        for level in (1, 2, 3):
            f, lname = self._name(user_id, "upline", level)
            upline.append(
                {
                    "id": make_uuid(seed, "rezen-upline", user_id, level),
                    "firstName": f,
                    "lastName": lname,
                    "level": level,
                    "status": "ACTIVE",
                }
            )
        team_id = make_uuid(seed, "rezen-team", user_id)
        roster = self._make_roster(user_id, yenta_id, first, last, join, network)
        deals = [d for d in self.world.deals(user_id) if d.in_rezen]
        book = Book(
            user_id=user_id,
            yenta_id=yenta_id,
            api_key=self.api_key(user_id),
            first_name=first,
            last_name=last,
            join_date=join,
            team_id=team_id,
            team_name=f"{last} Group",
            roster=roster,
            network=network,
            upline=upline,
            tx_deals=[d for d in deals if not d.is_listing],
            ls_deals=[d for d in deals if d.is_listing],
        )
        book.by_id = {a.id: a for a in network}
        return book

    def _make_network(self, user_id: int, root_id: str) -> list[NetAgent]:
        """A down-line of tiers 1..5 whose tiers agree with the sponsor edges; every status."""
        seed = self.world.seed
        n = self.network_size(user_id)
        nodes: list[NetAgent] = []
        eligible: list[int] = []  # indexes of nodes that may still sponsor (tier < 5)
        for i in range(n):
            rng = random.Random(stable_int(seed, "rezen-net", user_id, i))
            if i < MAX_TIER:  # a chain through all five tiers
                sponsor = root_id if i == 0 else nodes[i - 1].id
                tier = i + 1
            else:
                pick = rng.randrange(-max(2, len(eligible) // 3), len(eligible))
                if pick < 0:
                    sponsor, tier = root_id, 1
                else:
                    parent = nodes[eligible[pick]]
                    sponsor, tier = parent.id, parent.tier + 1
            if MAX_TIER <= i < MAX_TIER + len(AGENT_STATUSES):
                status = AGENT_STATUSES[i - MAX_TIER]  # every status present
            else:
                status = rng.choices(AGENT_STATUSES, weights=[70, 18, 5, 3, 4])[0]
            first, last = self._name(user_id, "net", i)
            join = (EPOCH - timedelta(days=rng.randint(30, 1500))).date()
            updated = datetime.combine(join, datetime.min.time(), UTC) + timedelta(
                days=rng.randint(0, 20)
            )
            node = NetAgent(
                id=make_uuid(seed, "rezen-net", user_id, i),
                first_name=first,
                last_name=last,
                status=status,
                join_date=join,
                tier=tier,
                sponsor_id=sponsor,
                updated_at=min(updated, EPOCH - timedelta(days=1)),
            )
            nodes.append(node)
            if tier < MAX_TIER:
                eligible.append(i)
        by_id = {a.id: a for a in nodes}
        for node in reversed(nodes):  # children come after parents: accumulate sizes upward
            parent = by_id.get(node.sponsor_id)
            if parent is not None:
                parent.size_of_network += 1 + node.size_of_network
        return nodes

    def _make_roster(
        self,
        user_id: int,
        yenta_id: str,
        first: str,
        last: str,
        join: date,
        network: list[NetAgent],
    ) -> list[dict[str, Any]]:
        """Team roster items (A.6.2 shape: ``{id, agent: {...}, roles[], flexRoles[]}``).

        The agent leads its team; one admin and a few members, some of them from its tier-1
        down-line. The roles vocabulary (LEADER/ADMIN/MEMBER) is an assumption (A.7).
        """
        seed = self.world.seed
        members: list[dict[str, Any]] = [
            _roster_item(seed, user_id, yenta_id, first, last, "ACTIVE", join, ["LEADER"])
        ]
        tier1 = [a for a in network if a.tier == 1][:2]
        for a in tier1:
            members.append(
                _roster_item(
                    seed,
                    user_id,
                    a.id,
                    a.first_name,
                    a.last_name,
                    a.status,
                    a.join_date,
                    ["MEMBER"],
                )
            )
        size = 4 if user_id == self.agents()[0] else 2
        for j in range(size):
            f, lname = self._name(user_id, "roster", j)
            roles = ["ADMIN"] if j == 0 else ["MEMBER"]
            members.append(
                _roster_item(
                    seed,
                    user_id,
                    make_uuid(seed, "rezen-roster", user_id, j),
                    f,
                    lname,
                    "ACTIVE",
                    (EPOCH - timedelta(days=100 + j * 37)).date(),
                    roles,
                )
            )
        return members

    # -- transactions and listings -------------------------------------------------------------
    def deals(self, book: Book, listings: bool) -> list[RealDeal]:
        base = book.ls_deals if listings else book.tx_deals
        extra = [d for d in self._extra_deals.get(book.user_id, []) if d.is_listing == listings]
        return base + extra

    def state(self, book: Book, deal: RealDeal) -> dict[str, Any]:
        """Current lifecycle, updatedAt and close date of a deal (base values or advanced)."""
        over = self._tx_over.get((book.user_id, deal.key))
        if over is not None:
            return over
        rng = random.Random(stable_int(self.world.seed, "rezen-upd", book.user_id, deal.key))
        updated = deal.created_at + timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 999))
        return {
            "lifecycle": deal.lifecycle,
            "updated": min(updated, EPOCH - timedelta(seconds=rng.randint(60, 86_400))),
            "close": deal.close_date,
        }

    def tx_id(self, book: Book, deal: RealDeal) -> str:
        return rezen_record_id(self.world.seed, book.user_id, deal.key, deal.is_listing)

    def transaction(self, book: Book, deal: RealDeal, detail: bool = False) -> dict[str, Any]:
        """A transaction (A.6.4 core fields; ``participants`` only in the detail)."""
        st = self.state(book, deal)
        lifecycle = st["lifecycle"]
        states = {"OPEN": "NEW", "CLOSED": "SETTLED", "TERMINATED": "TERMINATED"}
        gross_cents = _gross_cents(self.world.seed, book.user_id, deal)
        rec: dict[str, Any] = {
            "id": self.tx_id(book, deal),
            "code": f"T{deal.user_id}-{deal.key:06d}",
            "transactionType": "SALE",  # A.7 (assumed value)
            # [UNCONFIRMED] which side the agent represents; BUYER/SELLER per the shared deal.
            "representationType": deal.side,
            "listing": False,
            "lifecycleState": {"state": states[lifecycle]},
            "address": _address(deal),
            "price": money(deal.price_cents),
            "grossCommission": money(gross_cents),
            "saleCommissionPercent": _pct(gross_cents, deal.price_cents),
            "createdAt": epoch_ms(deal.created_at),
            "updatedAt": epoch_ms(st["updated"]),
        }
        if lifecycle == "CLOSED" and st["close"] is not None:
            closed = datetime.combine(st["close"], datetime.min.time(), UTC) + timedelta(hours=12)
            rec["closedAt"] = epoch_ms(closed)
            rec["rezenClosedAt"] = epoch_ms(closed)
        elif lifecycle == "OPEN" and st["close"] is not None:
            rec["closingDateEstimated"] = st["close"].isoformat()
        if detail:
            rec["participants"] = self.participants(book, deal, lifecycle, gross_cents)
        return rec

    def participants(
        self, book: Book, deal: RealDeal, lifecycle: str, gross_cents: int
    ) -> list[dict[str, Any]]:
        """A.6.4 ``participants[]``: the client (external), the agent, maybe a co-agent (a known
        down-line agent) or a referring agent who is NOT a known agent of this roster/network
        (to exercise the unknown-reference rule), and REAL (the brokerage).

        The unknown referring agents are deliberate, not a broken relation. Every agent
        participant is an agent (role ``*_AGENT``, ``external: false``, a ``yentaUserId``), but
        research says nothing guarantees that this key can resolve it:
        - A.6.4 [LIVE-OBSERVED]: participants carry ``yentaUserId`` and ``external``, with
          roles including ``REFERRING_AGENT``.
        - A.2 [LIVE-OBSERVED]: a key sees only what its own user can see.
        A referral from a Real agent outside this agent's team and down-line therefore names a
        yenta id that none of this key's endpoints (roster, down-line, sponsor tree) returns.
        Research does not say how often that happens, nor whether a non-Real other-side agent
        appears as a participant at all: [UNCONFIRMED], so this replica models only the
        referral case. SkySlope (B.4) keeps the other side as a contact,
        ``otherSideAgentContact``, not a user.

        Splits: for CLOSED transactions the payees' ``payment.amount`` sum exactly to
        ``grossCommission``; OPEN/TERMINATED ones have no REAL split yet (``payment`` null), so
        the sum holds only where the lifecycle is CLOSED.
        """
        seed = self.world.seed
        rng = random.Random(stable_int(seed, "rezen-part", book.user_id, deal.key))
        buyer = deal.side == "BUYER"
        tid = self.tx_id(book, deal)
        cf, cl = self._name(book.user_id, "client", deal.key)
        out: list[dict[str, Any]] = [
            _participant(tid, "client", None, "BUYER" if buyer else "SELLER", True, cf, cl)
        ]
        payees: list[dict[str, Any]] = [
            _participant(
                tid,
                "agent",
                book.yenta_id,
                "BUYERS_AGENT" if buyer else "SELLERS_AGENT",
                False,
                book.first_name,
                book.last_name,
            )
        ]
        roll = rng.random()
        if book.network and roll < 0.3:
            co = book.network[rng.randrange(len(book.network))]
            payees.append(
                _participant(
                    tid,
                    "co",
                    co.id,
                    payees[0]["participantRole"],
                    False,
                    co.first_name,
                    co.last_name,
                )
            )
        elif deal.key % 7 == 1 or roll > 0.88:  # a referring agent we do not know
            rf, rl = self._name(book.user_id, "referrer", deal.key)
            unknown = make_uuid(seed, "rezen-unknown-agent", book.user_id, deal.key % 5)
            payees.append(_participant(tid, "ref", unknown, "REFERRING_AGENT", False, rf, rl))
        real = _participant(tid, "real", None, "REAL", False, "Real", "Brokerage")
        payees.append(real)
        weights = [rng.randint(50, 80)] + [rng.randint(10, 30) for _ in payees[1:-1]]
        weights.append(100 - sum(weights) if sum(weights) < 95 else 5)
        total_w = sum(weights)
        remaining = gross_cents
        for i, p in enumerate(payees):
            share = remaining if i == len(payees) - 1 else gross_cents * weights[i] // total_w
            remaining -= share
            if p is real and lifecycle != "CLOSED":
                p["payment"] = None
                continue
            p["payment"] = {
                "percent": _pct(share, gross_cents),
                "amount": money(share),
                "paid": lifecycle == "CLOSED",
            }
        return out + payees

    def listing(self, book: Book, deal: RealDeal) -> dict[str, Any]:
        """A listing transaction (A.6.5: ``listingPrice{amount}``, address, id, code)."""
        st = self.state(book, deal)
        lifecycle = st["lifecycle"]
        states = {"OPEN": "LISTING_ACTIVE", "CLOSED": "LISTING_CLOSED", "TERMINATED": "TERMINATED"}
        listed = deal.created_at.date()
        rec: dict[str, Any] = {
            "id": self.tx_id(book, deal),
            "code": f"L{deal.user_id}-{deal.key:06d}",
            "transactionType": "LISTING",
            "listing": True,
            "representationType": deal.side,
            "lifecycleState": {"state": states[lifecycle]},
            "address": _address(deal),
            "listingPrice": money(deal.price_cents),
            "listingDate": listed.isoformat(),
            "listingExpirationDate": (listed + timedelta(days=180)).isoformat(),
            "createdAt": epoch_ms(deal.created_at),
            "updatedAt": epoch_ms(st["updated"]),
        }
        if lifecycle == "CLOSED" and st["close"] is not None:
            closed = datetime.combine(st["close"], datetime.min.time(), UTC) + timedelta(hours=12)
            rec["closedAt"] = epoch_ms(closed)
        return rec

    def group_counts(self, book: Book, listings: bool) -> dict[str, int]:
        counts = dict.fromkeys(LIFECYCLE_GROUPS, 0)
        for d in self.deals(book, listings):
            counts[self.state(book, d)["lifecycle"]] += 1
        return counts

    # -- network -------------------------------------------------------------------------------
    def downline(self, book: Book, tier: int, statuses: set[str]) -> list[NetAgent]:
        return [a for a in book.network if a.tier == tier and a.status in statuses]

    def sponsor_path(self, book: Book, agent_id: str) -> list[dict[str, Any]] | None:
        """``flattenedSponsors`` of ``agent_id`` (the book's agent or one of its down-line)."""
        chain: list[dict[str, Any]] = []
        current = book.by_id.get(agent_id)
        if current is None and agent_id != book.yenta_id:
            return None
        while current is not None:
            sponsor = book.by_id.get(current.sponsor_id)
            if sponsor is None:  # the book's agent
                chain.append(
                    {
                        "id": book.yenta_id,
                        "firstName": book.first_name,
                        "lastName": book.last_name,
                        "status": "ACTIVE",
                    }
                )
                break
            chain.append(
                {
                    "id": sponsor.id,
                    "firstName": sponsor.first_name,
                    "lastName": sponsor.last_name,
                    "status": sponsor.status,
                }
            )
            current = sponsor
        chain.extend({k: v for k, v in u.items() if k != "level"} for u in book.upline)
        return [dict(s, level=i + 1) for i, s in enumerate(chain)]

    # -- revenue share, equity, cap --------------------------------------------------------------
    def _base_payments(self, book: Book) -> int:
        return 24 if book.user_id == self.agents()[0] else 12

    def paid_at(self, book: Book, index: int) -> datetime:
        """When payment ``index`` was paid: monthly before the clock's start, then each one
        :meth:`advance` added at the sandbox time it was added (never in the future, however
        many days are advanced)."""
        base = self._base_payments(book)
        if index < base:
            return EPOCH - timedelta(days=30 * (base - index))
        return self._extra_payments[book.user_id][index - base]

    def payments(self, book: Book) -> list[dict[str, Any]]:
        """Monthly revshare payments (A.6.6; shape [UNCONFIRMED]: ``payments`` list)."""
        n = self._base_payments(book) + len(self._extra_payments.get(book.user_id, []))
        out = []
        for i in range(n):
            paid = self.paid_at(book, i)
            contributions = self.payment_contributions(book, i)
            cents = sum(int(c["amount"]["amount"] * 100) for c in contributions)
            out.append(
                {
                    "id": make_uuid(self.world.seed, "rezen-pay", book.user_id, i),
                    "amount": money(cents),
                    "paidAt": epoch_ms(paid),
                    "status": "PAID",
                    "contributionCount": len(contributions),
                }
            )
        return out

    def payment_contributions(self, book: Book, index: int) -> list[dict[str, Any]]:
        """The contributions paid in payment ``index`` (from down-line agents, tier 1..5)."""
        seed = self.world.seed
        rng = random.Random(stable_int(seed, "rezen-contrib", book.user_id, index))
        pay_id = make_uuid(seed, "rezen-pay", book.user_id, index)
        when = self.paid_at(book, index) - timedelta(days=20)
        return [
            self._contribution(book, rng, f"{index}:{j}", pay_id, when, "PAID")
            for j in range(rng.randint(2, 6))
        ]

    def pending_contributions(self, book: Book) -> list[dict[str, Any]]:
        seed = self.world.seed
        rng = random.Random(stable_int(seed, "rezen-pending", book.user_id, self.version))
        when = self.world.now() - timedelta(days=5)
        return [
            self._contribution(book, rng, f"p{self.version}:{j}", None, when, "PENDING")
            for j in range(rng.randint(2, 5))
        ]

    def _contribution(
        self,
        book: Book,
        rng: random.Random,
        key: str,
        payment_id: str | None,
        when: datetime,
        status: str,
    ) -> dict[str, Any]:
        contributor = book.network[rng.randrange(len(book.network))]
        cents = rng.randint(5_000, 400_000)
        return {
            "id": make_uuid(self.world.seed, "rezen-contribution", book.user_id, key),
            "contributorYentaId": contributor.id,
            "contributorFirstName": contributor.first_name,
            "contributorLastName": contributor.last_name,
            "tier": contributor.tier,
            "transactionId": make_uuid(self.world.seed, "rezen-contrib-tx", book.user_id, key),
            "amount": money(cents),
            "transactionClosedAt": epoch_ms(when),
            "outgoingPaymentId": payment_id,
            "status": status,
        }

    def contributions(self, book: Book) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(len(self.payments(book))):
            out.extend(self.payment_contributions(book, i))
        return out

    def contributors(self, book: Book, start: date, end: date) -> list[dict[str, Any]]:
        """Per (tier, contributor): count and total of paid contributions closed in the window."""
        agg: dict[str, dict[str, Any]] = {}
        for c in self.contributions(book):
            closed = datetime.fromtimestamp(c["transactionClosedAt"] / 1000, UTC).date()
            if not start <= closed <= end:
                continue
            a = book.by_id[c["contributorYentaId"]]
            row = agg.setdefault(
                a.id,
                {
                    "agentYentaId": a.id,
                    "firstName": a.first_name,
                    "lastName": a.last_name,
                    "tier": a.tier,
                    "status": a.status,
                    "contributionCount": 0,
                    "cents": 0,
                },
            )
            row["contributionCount"] += 1
            row["cents"] += int(c["amount"]["amount"] * 100)
        out = []
        for row in agg.values():
            cents = row.pop("cents")
            out.append(dict(row, totalContribution=money(cents)))
        return sorted(out, key=lambda r: (r["tier"], r["agentYentaId"]))

    def equity(self, book: Book) -> list[dict[str, Any]]:
        """Equity purchases/awards. [NOT FOUND] in research (A.6.8): endpoint and shape chosen."""
        seed = self.world.seed
        n = 12 if book.user_id == self.agents()[0] else 6
        out = []
        for i in range(n):
            rng = random.Random(stable_int(seed, "rezen-equity", book.user_id, i))
            cents = rng.randint(10_000, 250_000)
            price_cents = rng.randint(300, 900)
            shares = (Decimal(cents) / Decimal(price_cents)).quantize(Decimal("0.0001"))
            out.append(
                {
                    "id": make_uuid(seed, "rezen-equity", book.user_id, i),
                    "type": rng.choice(["PURCHASE", "PURCHASE", "AWARD", "ELITE_AWARD"]),
                    "amount": money(cents),
                    "sharePrice": money(price_cents),
                    "shares": shares,
                    "purchasedAt": epoch_ms(EPOCH - timedelta(days=30 * (n - i))),
                }
            )
        return out

    def cap_info(self, book: Book) -> dict[str, Any]:
        """A.6.7 cap info ([UNCONFIRMED] shape: brokerage + team cap amounts and paid)."""
        rng = random.Random(stable_int(self.world.seed, "rezen-cap", book.user_id, self.version))
        cap = 1_200_000
        paid = min(cap, rng.randint(100_000, 1_400_000))
        anniversary = _same_day_in(book.join_date, EPOCH.year)
        if anniversary > EPOCH.date():
            anniversary = _same_day_in(book.join_date, EPOCH.year - 1)
        return {
            "agentId": book.yenta_id,
            "capYearStart": anniversary.isoformat(),
            "capYearEnd": (anniversary + timedelta(days=365)).isoformat(),
            "capStatus": "CAPPED" if paid >= cap else "NOT_CAPPED",
            "brokerageCap": money(cap),
            "brokerageCapPaid": money(paid),
            "teamCap": money(600_000),
            "teamCapPaid": money(min(600_000, paid // 2)),
        }

    # -- the clock moves -----------------------------------------------------------------------
    def advance(self, fraction: float, rng: random.Random) -> dict[str, Any]:
        """The clock moved: update, close, terminate and create transactions and listings.

        Per agent and kind, ``fraction`` of the records (at least one) get a new ``updatedAt``;
        of those that are OPEN, about 40% close (``closedAt`` = today) and about 20% are
        terminated. Termination is how reZEN shows a deal going away: the record stays served,
        moves to the ``TERMINATED`` lifecycle group with ``lifecycleState.state`` ``TERMINATED``
        (A.6.4 [LIVE-OBSERVED]: the groups ``OPEN``/``CLOSED``/``TERMINATED``; the
        ``TERMINATION_REQUESTED`` → ``TERMINATED`` states and the ``/terminated`` lifecycle
        write). Nothing is ever deleted, so truth's ``deleted_ids`` stay empty and
        ``by_lifecycle`` moves. About half as many new OPEN records are created; some network
        statuses flip; one revshare payment is added. Returns a summary per agent
        (``transactions_updated`` counts every touched record, listings included)."""
        now = self.world.now()
        summary: dict[str, Any] = {}
        with self._lock:
            self.version += 1
            for uid in self.agents():
                book = self.book(uid)
                assert book is not None
                changed = moved = terminated = status_changes = 0
                created = {False: 0, True: 0}
                for listings in (False, True):
                    pool = self.deals(book, listings)
                    k = max(1, round(len(pool) * fraction)) if pool and fraction > 0 else 0
                    for deal in rng.sample(pool, min(k, len(pool))):
                        st = dict(self.state(book, deal))
                        roll = rng.random() if st["lifecycle"] == "OPEN" else 1.0
                        if roll < 0.4:
                            st["lifecycle"] = "CLOSED"
                            st["close"] = now.date()
                            moved += 1
                        elif roll < 0.6:
                            st["lifecycle"] = "TERMINATED"
                            st["close"] = None
                            moved += 1
                            terminated += 1
                        st["updated"] = now - timedelta(seconds=rng.randint(0, 3_600))
                        self._tx_over[(uid, deal.key)] = st
                        changed += 1
                    for _ in range(k // 2 + (1 if k else 0)):
                        extras = self._extra_deals.setdefault(uid, [])
                        template = rng.choice(pool) if pool else None
                        if template is None:
                            break
                        new = replace(
                            template,
                            key=10_000_000 + len(extras),
                            created_at=now - timedelta(seconds=rng.randint(0, 3_600)),
                            lifecycle="OPEN",
                            close_date=(now + timedelta(days=30)).date(),
                            street_number=rng.randint(10, 9999),
                            in_skyslope=False,  # recorded in reZEN only
                        )
                        extras.append(new)
                        self._tx_over[(uid, new.key)] = {
                            "lifecycle": "OPEN",
                            "updated": new.created_at,
                            "close": new.close_date,
                        }
                        created[listings] += 1
                for agent in rng.sample(book.network, min(len(book.network), max(1, k))):
                    agent.status = "INACTIVE" if agent.status == "ACTIVE" else "ACTIVE"
                    agent.updated_at = now
                    status_changes += 1
                if fraction > 0:  # paid now (it was dated a month after the last one: a
                    # second advance of a day put it 30 days in the future)
                    self._extra_payments.setdefault(uid, []).append(now)
                summary[str(uid)] = {
                    "transactions_updated": changed,
                    "lifecycle_changes": moved,
                    "terminated": terminated,
                    "transactions_created": created[False],
                    "listings_created": created[True],
                    "network_status_changes": status_changes,
                    "revshare_payments_added": 1 if fraction > 0 else 0,
                }
        return summary


def _roster_item(
    seed: int,
    user_id: int,
    agent_id: str,
    first: str,
    last: str,
    status: str,
    join: date,
    roles: list[str],
) -> dict[str, Any]:
    return {
        "id": make_uuid(seed, "rezen-roster-item", user_id, agent_id),
        "agent": {
            "id": agent_id,
            "firstName": first,
            "lastName": last,
            "emailAddress": f"{first}.{last}.{agent_id[:6]}@example.com".lower(),
            "agentStatus": status,
            "joinDate": join.isoformat(),
        },
        "roles": roles,
        "flexRoles": [],
    }


def _participant(
    tid: str,
    slot: str,
    yenta_id: str | None,
    role: str,
    external: bool,
    first: str,
    last: str,
) -> dict[str, Any]:
    return {
        "id": make_uuid("rezen-participant", tid, slot),
        "yentaUserId": yenta_id,
        "participantRole": role,
        "external": external,
        "firstName": first,
        "lastName": last,
    }


def _address(deal: RealDeal) -> dict[str, Any]:
    street = f"{deal.street_number} {deal.street_name}"
    state = STATE_NAMES.get(deal.state, deal.state)
    unit = f" Unit {deal.unit}" if deal.unit else ""
    return {
        "oneLine": f"{street}{unit}, {deal.city}, {deal.state} {deal.zip}",
        "street": street,
        "street2": f"Unit {deal.unit}" if deal.unit else None,
        "city": deal.city,
        "state": state,
        "zip": deal.zip,
    }


def _gross_cents(seed: int, user_id: int, deal: RealDeal) -> int:
    bp = 200 + stable_int(seed, "rezen-gross", user_id, deal.key) % 150  # 2.00%..3.49%
    return deal.price_cents * bp // 10_000


def _pct(part: int, whole: int) -> Decimal:
    if whole == 0:
        return Decimal(0)
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
