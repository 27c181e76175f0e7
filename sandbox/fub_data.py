"""Follow Up Boss replica: the deterministic data of each agent's FUB account.

Nothing is materialised. Every record of the big collections (people, deals, events, calls,
appointments, textMessages) is derived on demand from ``(seed, user_id, entity, index)``; only the
changes made by :meth:`Account` overlays (created / updated / trashed / deleted by ``advance``)
are stored, in dicts keyed by index. Ids are arithmetic: ``id = id_base + index + 1``, and a
record's ``created`` time grows with its index, so id order is creation order and keyset paging,
``idGreaterThan`` and ``createdAfter`` are bisections, not scans.

Shapes follow ``docs/vendors/fub.md`` (§2.1 person, §2.2 deal,
§2.3 event, §2.4 call, §2.5 appointment, §2.6 text message, §2.7 user, §2.8 stage,
§2.9 pipeline, §2.10 group): integer ids, ISO-8601 ``Z`` timestamps, ``isPrimary`` as ``1/0``,
``contacted`` as an integer, deals with ``createdAt`` and no ``updated``, event ``property``
numbers as strings.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.world import CITIES, EPOCH, FIRST_NAMES, LAST_NAMES, STREETS, World, stable_int

EPOCH_S = int(EPOCH.timestamp())
SPAN_S = 4 * 365 * 86_400  # base records were created over the four years before the epoch
START_S = EPOCH_S - SPAN_S
MAX_UPDATE_LAG_S = 180 * 86_400  # a base record's ``updated`` is at most this after ``created``
ID_SPAN = 10_000_000  # each account owns ids [(i+1)*ID_SPAN, (i+2)*ID_SPAN) in every collection
TRASH_MOD = 8  # one base person in eight sits in the Trash stage (fub.md §2.1: live 3,318 vs 2,091)

#: Big collections: URL name -> (JSON collection key, records per person). fub.md §3.1: most
#: keys are the camelCase resource name; the official textMessages example uses ``textmessages``.
BIG = {
    "people": ("people", 1.0),
    "deals": ("deals", 1 / 25),
    "events": ("events", 1 / 2),
    "calls": ("calls", 1 / 4),
    "appointments": ("appointments", 1 / 30),
    "textMessages": ("textmessages", 1 / 3),
}
SMALL = {"users": "users", "stages": "stages", "pipelines": "pipelines", "groups": "groups"}

PERSON_STAGES = [
    ("Lead", 10), ("Prospect", 20), ("Active Client", 30), ("Under Contract", 40),
    ("Closed", 50), ("Past Client", 60), ("Sphere", 70), ("Trash", 80),
]  # fmt: skip
PIPELINES = [
    ("Buyers", ["Showing", "Offer Made", "Under Contract", "Closed"]),
    ("Sellers", ["Listing Appointment", "Active Listing", "Under Contract", "Closed"]),
]
SOURCES = [("Zillow Preferred", 39), ("Realtor.com", 12), ("Website", 3), ("Sphere", 7),
           ("Open House", 21), ("Referral", 5)]  # fmt: skip
EVENT_TYPES = [
    "Registration", "Inquiry", "Seller Inquiry", "Property Inquiry", "General Inquiry",
    "Viewed Property", "Saved Property", "Visited Website", "Property Search",
    "Visited Open House", "Viewed Page",
]  # fmt: skip
CALL_OUTCOMES = ["Interested", "Not Interested", "Left Message", "No Answer", "Busy", "Bad Number"]
TAGS = ["Buyer", "Seller", "Zillow Connected", "RealScout", "Past Client", "Investor", "VIP"]
CUSTOM_FIELDS = ("customBirthday", "customClosePrice", "customLeadScore")
DEFAULT_PERSON_FIELDS = (
    "id", "created", "updated", "createdVia", "lastActivity", "name", "firstName", "lastName",
    "stage", "stageId", "type", "source", "sourceId", "sourceUrl", "leadFlowId", "delayed",
    "contacted", "price", "assignedLenderId", "assignedLenderName", "assignedUserId",
    "assignedPondId", "assignedTo", "tags", "emails", "phones", "addresses", "picture",
    "socialData", "websiteVisits", "timeframeId", "timeframeUpdated", "timeframeStatus",
    "timeframeDateRange", "claimed", "dealStatus", "dealStage", "dealName", "dealCloseDate",
    "dealPrice", "firstToClaimOffer", "collaborators", "teamLeaders", "pondMembers",
)  # fmt: skip


def iso_s(ts: int) -> str:
    """POSIX seconds as FUB writes timestamps: ISO-8601 UTC with ``Z`` (fub.md §1.1)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _pick(r: Callable[[], float], seq: Sequence[Any]) -> Any:
    """``random.choice`` from a bound ``random()`` (cheaper on the hot people path)."""
    return seq[int(r() * len(seq))]


def _int(r: Callable[[], float], a: int, b: int) -> int:
    """``random.randint(a, b)`` from a bound ``random()``."""
    return a + int(r() * (b - a + 1))


def count_mod(lo: int, hi: int, mod: int, residue: int) -> int:
    """How many ``i`` in ``[lo, hi)`` have ``i % mod == residue``."""
    if hi <= lo:
        return 0

    def upto(n: int) -> int:  # count in [0, n)
        return (n - residue + mod - 1) // mod if n > residue else 0

    return upto(hi) - upto(lo)


@dataclass
class Overlay:
    """What ``advance`` changed in one (account, collection); everything else is derived."""

    new_created: list[int] = field(default_factory=list)  # created (s) of index n_base + k
    new_person: list[int] = field(default_factory=list)  # person index of new child records
    updated: dict[int, tuple[int, int]] = field(default_factory=dict)  # idx -> (updated, version)
    trashed: dict[int, int] = field(default_factory=dict)  # idx -> when (s)
    deleted: dict[int, int] = field(default_factory=dict)  # idx -> when (s)


class Collection:
    """One big collection of one account: arithmetic ids, derived records, an overlay."""

    def __init__(self, account: Account, name: str, n_base: int) -> None:
        self.account = account
        self.name = name
        self.key = BIG[name][0]
        self.n_base = n_base
        self.id_base = (account.index + 1) * ID_SPAN
        self.ov = Overlay()
        self._step = max(1, SPAN_S // max(1, n_base))
        self._seed = account.seed
        self._trash_residue = account.seed % TRASH_MOD

    # -- arithmetic --------------------------------------------------------------------------
    @property
    def n_total(self) -> int:
        return self.n_base + len(self.ov.new_created)

    def id_of(self, idx: int) -> int:
        return self.id_base + idx + 1

    def idx_of(self, rid: int) -> int | None:
        idx = rid - self.id_base - 1
        return idx if 0 <= idx < self.n_total else None

    def created_s(self, idx: int) -> int:
        if idx >= self.n_base:
            return self.ov.new_created[idx - self.n_base]
        jitter = stable_int(self._seed, self.name, self.account.uid, idx, "c") % self._step
        return START_S + (idx * SPAN_S) // self.n_base + jitter

    def base_updated_s(self, idx: int) -> int:
        created = self.created_s(idx)
        if idx >= self.n_base:
            return created
        lag = stable_int(self._seed, self.name, self.account.uid, idx, "u") % MAX_UPDATE_LAG_S
        # updates that would reach the epoch fall in its last day before it (at most a minute
        # before): clamped to one second, a seed-scale account had 8,714 calls updated in the
        # same second, more than any real account, and a look-back re-read landed them daily
        cap = EPOCH_S - 60 - stable_int(self._seed, self.name, self.account.uid, idx, "uc") % 86_400
        return max(created, min(created + lag, cap))

    def updated_s(self, idx: int) -> int:
        hit = self.ov.updated.get(idx)
        return hit[0] if hit else self.base_updated_s(idx)

    def version(self, idx: int) -> int:
        hit = self.ov.updated.get(idx)
        return hit[1] if hit else 0

    def base_trashed(self, idx: int) -> bool:
        return (
            self.name == "people" and idx < self.n_base and idx % TRASH_MOD == self._trash_residue
        )

    def is_trashed(self, idx: int) -> bool:
        return idx in self.ov.trashed or self.base_trashed(idx)

    def count_base_trashed(self, lo: int, hi: int) -> int:
        if self.name != "people":
            return 0
        return count_mod(lo, min(hi, self.n_base), TRASH_MOD, self._trash_residue)

    def person_idx(self, idx: int) -> int:
        """Index of the person a child record belongs to (children are spread evenly)."""
        if idx >= self.n_base:
            return self.ov.new_person[idx - self.n_base]
        people = self.account.people.n_base
        return (idx * people) // self.n_base

    def child_range(self, person: int) -> tuple[int, int]:
        """Base indices ``[a, b)`` of this child collection that belong to base person ``person``."""
        people = self.account.people.n_base
        if person >= people:
            return (0, 0)
        a = -((-person * self.n_base) // people)
        b = -((-(person + 1) * self.n_base) // people)
        return (a, min(b, self.n_base))

    def is_deleted(self, idx: int) -> bool:
        if idx in self.ov.deleted:
            return True
        if self.name != "people":
            return self.person_idx(idx) in self.account.people.ov.deleted
        return False

    def first_idx_created_after(self, ts: int) -> int:
        """Smallest index whose ``created`` is > ``ts`` (created grows with the index)."""
        lo, hi = 0, self.n_total
        while lo < hi:
            mid = (lo + hi) // 2
            if self.created_s(mid) > ts:
                hi = mid
            else:
                lo = mid + 1
        return lo

    # -- records -----------------------------------------------------------------------------
    def rng(self, idx: int) -> random.Random:
        return random.Random(stable_int(self._seed, self.name, self.account.uid, idx, "r"))

    def record(self, idx: int, custom: bool = False) -> dict[str, Any]:
        """The record as the API serves it now (assumes it is not deleted)."""
        build = getattr(self.account, f"_build_{self.name}")
        return build(self, idx, custom)


@dataclass(frozen=True)
class User:
    """One FUB user of an account (the agent is its owner; the rest are teammates/lenders)."""

    id: int
    first: str
    last: str
    role: str
    is_owner: bool
    created_s: int

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


class Account:
    """One agent's FUB account: users, stages, pipelines, groups and the big collections."""

    def __init__(self, world: World, uid: int, index: int) -> None:
        self.seed = world.seed
        # people carry textsSent/textsReceived/lastText (off: an account whose responses lack
        # them, for the source's fallback; /_sandbox/fub/text_fields)
        self.serve_text_fields = True
        self.uid = uid
        self.index = index
        self.account_id = 900_000 + index + 1
        n_people = world.share("fub", world.profile.fub_people, uid)
        self.people = Collection(self, "people", n_people)
        self.collections: dict[str, Collection] = {"people": self.people}
        for name, (_, ratio) in BIG.items():
            if name != "people":
                self.collections[name] = Collection(self, name, max(1, int(n_people * ratio)))
        self.users = self._make_users(world)
        self._agents = [u for u in self.users if u.role != "Lender"]
        small_base = (index + 1) * 1_000
        self.stages = [
            {
                "id": small_base + i + 1,
                "name": name,
                "orderWeight": weight,
                "isProtected": name in ("Lead", "Trash"),
                "pipelineId": None,
                "description": "",
                "systems": [],
            }
            for i, (name, weight) in enumerate(PERSON_STAGES)
        ]
        self.trash_stage = next(s for s in self.stages if s["name"] == "Trash")
        self._live_stages = [s for s in self.stages if s["name"] != "Trash"]
        self.pipelines = []
        deal_stage_id = small_base + 100  # deal stages: a disjoint id range (fub.md §2.8)
        for p, (name, stage_names) in enumerate(PIPELINES):
            stages = []
            for s, sname in enumerate(stage_names):
                deal_stage_id += 1
                stages.append(
                    {
                        "id": deal_stage_id,
                        "name": sname,
                        "color": ["#4a90d9", "#f5a623", "#7ed321", "#417505"][s % 4],
                        "description": "",
                        "orderWeight": (s + 1) * 100,
                        "closedStage": sname == "Closed",
                    }
                )
            self.pipelines.append(
                {
                    "id": small_base + 50 + p + 1,
                    "name": name,
                    "description": f"{name} pipeline",
                    "orderWeight": (p + 1) * 100,
                    "stages": stages,
                }
            )
        self.groups = [
            {
                "id": small_base + 80 + 1,
                "name": "Buyer Agents",
                "type": "Agent",
                "distribution": "round-robin",
                "defaultUserId": self.users[0].id,
                "defaultPondId": None,
                "defaultGroupId": None,
                "claimWindow": 300,
                "hideName": False,
                "hideSource": False,
                "nextRoundRobinUser": self.users[-1].id,
                "isPrimary": True,
                "users": [self.user_json_short(u) for u in self.users if u.role != "Lender"],
            }
        ]

    # -- small collections ---------------------------------------------------------------------
    def _make_users(self, world: World) -> list[User]:
        agent = world.agent(self.uid)
        first, last = agent.name.split(" ", 1) if agent else ("Agent", str(self.uid))
        rng = random.Random(stable_int(self.seed, "fub-users", self.uid))
        users = [User((self.index + 1) * 1_000 + 501, first, last, "Broker", True, START_S)]
        for k in range(2 + self.index % 3):
            role = "Lender" if k == 0 else "Agent"
            users.append(
                User(
                    users[0].id + k + 1,
                    rng.choice(FIRST_NAMES),
                    rng.choice(LAST_NAMES),
                    role,
                    False,
                    START_S + rng.randint(1, SPAN_S // 2),
                )
            )
        return users

    def user_json_short(self, u: User) -> dict[str, Any]:
        return {
            "id": u.id,
            "name": u.name,
            "firstName": u.first,
            "lastName": u.last,
            "role": u.role,
            "picture": None,
            "pauseLeadDistribution": False,
        }

    def user_json(self, u: User) -> dict[str, Any]:
        """A user, with the live fields of fub.md §2.7."""
        email = f"{u.first}.{u.last}@example.com".lower()
        return {
            "id": u.id,
            "created": iso_s(u.created_s),
            "updated": iso_s(u.created_s + 86_400),
            "name": u.name,
            "firstName": u.first,
            "lastName": u.last,
            "email": email,
            "phone": f"916555{u.id % 10_000:04d}",
            "role": u.role,
            "status": "Active",
            "timezone": "America/Los_Angeles",
            "beta": False,
            "picture": {"original": f"https://s.followupboss.example/u/{u.id}.jpg"},
            "pauseLeadDistribution": False,
            "lastSeenIos": None,
            "lastSeenAndroid": None,
            "lastSeenFub2": iso_s(EPOCH_S - 3_600),
            "canExport": u.is_owner,
            "canCreateApiKeys": u.is_owner,
            "fuid": f"fau_{stable_int(self.seed, 'fuid', u.id) % 10**12:012d}",
            "isOwner": u.is_owner,
            "groups": [],
            "teamIds": [],
            "teamLeaderOf": [],
            "leadEmailAddress": f"leads+{u.id}@example.com",
            "mlsMemberships": [],
        }

    def small(self, name: str) -> list[dict[str, Any]]:
        """The rows of a small collection (users, stages, pipelines, groups)."""
        if name == "users":
            return [self.user_json(u) for u in self.users]
        if name == "stages":
            counts = self.stage_counts()
            return [{**s, "peopleCount": counts.get(s["id"], 0)} for s in self.stages]
        return list(getattr(self, name))

    def base_stage_pos(self, idx: int) -> int:
        """A person's initial (non-Trash) stage: arithmetic in the index, so that ``peopleCount``
        per stage is exact without scanning (each block of 7 people holds every stage once)."""
        return (idx + (idx // 7) * 3 + self.seed) % len(self._live_stages)

    def person_stage(self, idx: int) -> dict[str, Any]:
        """The stage a person is in now: each update moves them one stage along; Trash wins."""
        people = self.people
        if people.is_trashed(idx):
            return self.trash_stage
        pos = self.base_stage_pos(idx) + people.version(idx)
        return self._live_stages[pos % len(self._live_stages)]

    def stage_counts(self) -> dict[int, int]:
        """Exact ``peopleCount`` per stage: arithmetic over the base people, plus the overlay."""
        people = self.people
        live = self._live_stages
        period = 49 * TRASH_MOD  # stage pattern repeats every 49 indices, Trash every 8
        counts = dict.fromkeys((s["id"] for s in self.stages), 0)
        for c in range(period):
            k = count_mod(0, people.n_base, period, c)
            if people.base_trashed(c):  # (k is 0 for any c >= n_base)
                counts[self.trash_stage["id"]] += k
            else:
                counts[live[self.base_stage_pos(c)]["id"]] += k
        touched = set(people.ov.updated) | set(people.ov.trashed) | set(people.ov.deleted)
        for idx in touched:
            if idx >= people.n_base:
                continue
            if people.base_trashed(idx):
                counts[self.trash_stage["id"]] -= 1
            else:
                counts[live[self.base_stage_pos(idx)]["id"]] -= 1
            if not people.is_deleted(idx):
                counts[self.person_stage(idx)["id"]] += 1
        for idx in range(people.n_base, people.n_total):
            if not people.is_deleted(idx):
                counts[self.person_stage(idx)["id"]] += 1
        return counts

    def agent_users(self) -> list[User]:
        return self._agents

    # -- big collection builders -----------------------------------------------------------------
    def person_name(self, idx: int) -> tuple[str, str]:
        h = stable_int(self.seed, "people", self.uid, idx, "n")
        return FIRST_NAMES[h % len(FIRST_NAMES)], LAST_NAMES[(h >> 16) % len(LAST_NAMES)]

    def _build_people(self, col: Collection, idx: int, custom: bool) -> dict[str, Any]:
        r = col.rng(idx).random
        first, last = self.person_name(idx)
        name = f"{first} {last}"
        owner = _pick(r, self._agents)
        source, source_id = _pick(r, SOURCES)
        version = col.version(idx)
        stage = self.person_stage(idx)
        city, state, zip3 = _pick(r, CITIES)
        tags = [t for t in TAGS if r() < 0.15][:3]
        if version:
            tags.append(f"Updated {version}")
        phone = f"{_int(r, 200, 989)}555{_int(r, 0, 9999):04d}"
        email = f"{first}.{last}{idx}@example.com".lower()
        has_email, has_phone, has_address = r() < 0.9, r() < 0.8, r() < 0.6
        price = 150_000 + 5_000 * int(r() * 470) + version * 5_000
        created, updated = col.created_s(idx), col.updated_s(idx)
        pid = col.id_of(idx)
        rec: dict[str, Any] = {
            "id": pid,
            "created": iso_s(created),
            "updated": iso_s(updated),
            "createdVia": _pick(r, ("Email Parsing", "API", "Manually", "Import")),
            "lastActivity": iso_s(updated),
            "name": name,
            "firstName": first,
            "lastName": last,
            "stage": stage["name"],
            "stageId": stage["id"],
            "type": "Seller" if "Seller" in tags else "Buyer",
            "source": source if r() < 0.95 else None,
            "sourceId": source_id,
            "sourceUrl": f"https://leads.example.com/{source_id}/{pid}",
            "leadFlowId": _pick(r, (None, 11, 12)),
            "delayed": False,
            "contacted": 1 if (version or r() < 0.6) else 0,
            "price": price,
            "assignedLenderId": None,
            "assignedLenderName": None,
            "assignedUserId": owner.id if r() < 0.97 else None,
            "assignedPondId": None,
            "assignedTo": owner.name,
            "tags": tags,
            "emails": [{"value": email, "type": "home", "status": "Not Validated", "isPrimary": 1}]
            if has_email
            else [],
            "phones": [
                {
                    "value": f"({phone[:3]}) {phone[3:6]}-{phone[6:]}",
                    "normalized": phone,
                    "type": "mobile",
                    "status": "Not Validated",
                    "isPrimary": 1,
                }
            ]
            if has_phone
            else [],
            "addresses": [
                {
                    "type": "home",
                    "street": f"{_int(r, 10, 9999)} {_pick(r, STREETS)}",
                    "city": city,
                    "state": state,
                    "code": f"{zip3}{_int(r, 10, 99)}",
                    "country": "United States",
                }
            ]
            if has_address
            else [],
            "picture": None,
            "socialData": {"name": name, "firstName": first, "lastName": last},
            "websiteVisits": _int(r, 0, 40),
            "timeframeId": None,
            "timeframeUpdated": None,
            "timeframeStatus": None,
            "timeframeDateRange": None,
            "claimed": True,
            "dealStatus": None,
            "dealStage": None,
            "dealName": None,
            "dealCloseDate": None,
            "dealPrice": None,
            "firstToClaimOffer": False,
            "collaborators": [
                {"id": owner.id, "name": owner.name, "assigned": True, "role": "Agent"}
            ],
            "teamLeaders": [],
            "pondMembers": [],
        }
        if custom:  # fub.md §2.1: custom fields only with fields=allFields
            rec["customBirthday"] = f"19{_int(r, 50, 99)}-{_int(r, 1, 12):02d}-15"
            rec["customClosePrice"] = str(price) if r() < 0.3 else None
            rec["customLeadScore"] = _int(r, 0, 100)
            if self.serve_text_fields:
                rec.update(self.text_summary(idx))
        return rec

    def text_summary(self, pidx: int) -> dict[str, Any]:
        """The person's text counters as FUB's people sort keys name them (fub.md §2.1:
        ``textsSent``, ``textsReceived``, ``lastText``), from the text messages served now.
        Served with ``fields=allFields`` (that the list carries them there is UNCONFIRMED)."""
        col = self.collections["textMessages"]
        a, b = col.child_range(pidx)
        texts = [*range(a, b)]
        texts += [col.n_base + k for k, p in enumerate(col.ov.new_person) if p == pidx]
        sent = received = 0
        newest: str | None = None
        for t in texts:
            if col.is_deleted(t):
                continue
            msg = col.record(t)
            if msg["isIncoming"]:
                received += 1
            else:
                sent += 1
            newest = max(newest or "", msg["created"])
        return {"textsSent": sent, "textsReceived": received, "lastText": newest}

    def _person_ref(self, pidx: int) -> tuple[int, str]:
        first, last = self.person_name(pidx)
        return self.people.id_of(pidx), f"{first} {last}"

    def _build_deals(self, col: Collection, idx: int, custom: bool) -> dict[str, Any]:
        rng = col.rng(idx)
        pid, pname = self._person_ref(col.person_idx(idx))
        pipeline = self.pipelines[rng.randrange(len(self.pipelines))]
        stage = pipeline["stages"][rng.randrange(len(pipeline["stages"]))]
        agent = self.agent_users()[rng.randrange(len(self.agent_users()))]
        created = col.created_s(idx)
        price = rng.randrange(150_000, 2_500_000, 1_000)
        commission = price * 3 // 100
        return {
            "id": col.id_of(idx),
            "name": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
            "type": 0,
            "status": "Active",
            "price": price,
            "createdAt": iso_s(created),
            "orderWeight": 1000,
            "description": "",
            "projectedCloseDate": iso_s(created + rng.randint(20, 90) * 86_400)[:10],
            "pipelineId": pipeline["id"],
            "pipelineName": pipeline["name"],
            "stageId": stage["id"],
            "stageName": stage["name"],
            "enteredStageAt": iso_s(created + rng.randint(0, 20) * 86_400),
            "commissionValue": commission,
            "agentCommission": commission * 26 // 100,
            "teamCommission": commission * 22 // 100,
            "timeToClose": rng.randint(10, 90),
            "earnestMoneyDueDate": None,
            "mutualAcceptanceDate": None,
            "dueDiligenceDate": None,
            "finalWalkThroughDate": None,
            "possessionDate": None,
            "customLeadSourceMaverick": rng.choice(["Zillow Flex", "Sphere", None]),
            "people": [{"id": pid, "name": pname, "avatar": ""}],
            "users": [{"id": agent.id, "name": agent.name, "picture": None}],
        }

    def _build_events(self, col: Collection, idx: int, custom: bool) -> dict[str, Any]:
        rng = col.rng(idx)
        pid, _ = self._person_ref(col.person_idx(idx))
        created = col.created_s(idx)
        etype = rng.choice(EVENT_TYPES)
        city, state, zip3 = rng.choice(CITIES)
        prop = None
        if etype in ("Viewed Property", "Saved Property", "Property Inquiry"):
            prop = {  # fub.md §2.3: numbers as strings in live data
                "id": rng.randint(100_000, 999_999),
                "street": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
                "city": city,
                "state": state,
                "code": f"{zip3}{rng.randint(10, 99)}",
                "mlsNumber": str(rng.randint(10**8, 10**9 - 1)),
                "price": str(rng.randrange(150_000, 2_500_000, 50)),
                "forRent": 0,
                "url": f"https://www.example.com/homedetails/{rng.randint(1, 10**9)}_zpid/",
                "type": "",
                "bedrooms": str(rng.randint(1, 6)),
                "bathrooms": f"{rng.randint(1, 4)}.{rng.choice([0, 5])}",
                "area": None,
                "lot": None,
                "lat": round(38.5 + rng.random(), 6),
                "lng": round(-121.5 - rng.random(), 6),
            }
        return {
            "id": col.id_of(idx),
            "created": iso_s(created),
            "updated": iso_s(col.updated_s(idx)),
            "occurred": iso_s(created - rng.randint(0, 30)),
            "personId": pid,
            "message": "",
            "description": "",
            "additional": [],
            "noteId": None,
            "source": rng.choice(["Zillow", "Website", "Realtor.com"]),
            "type": etype,
            "pageTitle": None,
            "pageUrl": prop["url"] if prop else None,
            "pageDuration": rng.randint(0, 300),
            "property": prop,
            "propertySearch": None,
        }

    def _build_calls(self, col: Collection, idx: int, custom: bool) -> dict[str, Any]:
        rng = col.rng(idx)
        pidx = col.person_idx(idx)
        pid, _ = self._person_ref(pidx)
        first, last = self.person_name(pidx)
        user = self.agent_users()[rng.randrange(len(self.agent_users()))]
        created = col.created_s(idx)
        incoming = rng.random() < 0.4
        phone = f"916{rng.randint(1_000_000, 9_999_999)}"
        office = f"650{rng.randint(1_000_000, 9_999_999)}"
        return {
            "id": col.id_of(idx),
            "relationshipId": 0,
            "created": iso_s(created),
            "updated": iso_s(col.updated_s(idx)),
            "createdById": -1,
            "updatedById": -1,
            "personId": pid,
            "name": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "userId": user.id,
            "userName": user.name,
            "phone": phone,
            "fromNumber": phone if incoming else office,
            "toNumber": office if incoming else phone,
            "forwardNumber": None,
            "note": None,
            "outcome": rng.choice(CALL_OUTCOMES),
            "isIncoming": incoming,
            "duration": rng.randint(0, 900),
            "recordingUrl": "* Recording URL is hidden for privacy reasons *",
            "sharedInboxId": 0,
            "conferenceCallId": None,
            "systemId": None,
            "ringDuration": None,
            "startedAt": None,
        }

    def _build_appointments(self, col: Collection, idx: int, custom: bool) -> dict[str, Any]:
        rng = col.rng(idx)
        pidx = col.person_idx(idx)
        pid, pname = self._person_ref(pidx)
        user = self.agent_users()[rng.randrange(len(self.agent_users()))]
        created = col.created_s(idx)
        start = created + rng.randint(1, 14) * 86_400
        return {
            "id": col.id_of(idx),
            "created": iso_s(created),
            "updated": iso_s(col.updated_s(idx)),
            "createdById": user.id,
            "updatedById": user.id,
            "title": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
            "description": "",
            "start": iso_s(start),
            "end": iso_s(start + 3_600),
            "timezone": "America/Los_Angeles",
            "allDay": False,
            "originFub": True,
            "location": "",
            "invitees": [
                {
                    "userId": user.id,
                    "personId": None,
                    "relationshipId": None,
                    "name": user.name,
                    "email": f"{user.first}.{user.last}@example.com".lower(),
                },
                {
                    "userId": None,
                    "personId": pid,
                    "relationshipId": None,
                    "name": pname,
                    "email": None,
                },
            ],
            "typeId": None,
            "type": None,
            "outcomeId": None,
            "outcome": None,
            "isEditable": True,
            "detailsVisible": True,
            "isDeletable": True,
        }

    def _build_textMessages(self, col: Collection, idx: int, custom: bool) -> dict[str, Any]:
        rng = col.rng(idx)
        pidx = col.person_idx(idx)
        pid, _ = self._person_ref(pidx)
        first, last = self.person_name(pidx)
        user = self.agent_users()[rng.randrange(len(self.agent_users()))]
        created = col.created_s(idx)
        incoming = rng.random() < 0.45
        person_phone = f"530555{rng.randint(0, 9999):04d}"
        office = f"530555{user.id % 10_000:04d}"
        return {
            "id": col.id_of(idx),
            "created": iso_s(created),
            "updated": iso_s(col.updated_s(idx)),
            "createdById": user.id,
            "updatedById": user.id,
            "personId": pid,
            "name": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "picture": None,
            "userId": user.id,
            "userName": user.name,
            "status": "Received" if incoming else "Delivered",
            "message": rng.choice(
                ["Are you free to tour Saturday?", "Thanks!", "Can we see it again?", "Sounds good"]
            ),
            "fromNumber": person_phone if incoming else office,
            "toNumber": office if incoming else person_phone,
            "sent": iso_s(created),
            "isIncoming": incoming,
            "archived": False,
            "read": True,
            "sharedInboxId": 0,
            "actionPlanId": None,
            "groupTextId": None,
            "isExternal": False,
            "externalUrl": None,
            "externalLabel": None,
            "systemId": None,
            "media": [],
            "systemName": "Follow Up Boss",
        }
