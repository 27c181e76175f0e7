"""The sandbox's shared world: seed, scale, clock, demo agents, and real-world deals.

Everything is deterministic from the seed. Records are derived on demand from
``(seed, agent, index)`` so seed scale (1.7M FUB people) is served without materialising it;
only the changes made by advancing the clock are kept in memory.

Real-world deals are shared by the reZEN and SkySlope replicas: the same house sale can appear in
both systems (for an agent connected to both), as it does when a brokerage runs transactions in
reZEN and an agent also keeps the file in SkySlope.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache


def _epoch() -> datetime:
    """Where the sandbox clock starts.

    ``AGENTSYNC_SANDBOX_EPOCH`` (ISO date or datetime, naive = UTC) if set, else midnight UTC of
    yesterday, so the demo's one-day advance lands on today and never in the future. Every vendor
    timestamp is derived relative to it: the same seed gives the same data on the same day, and
    freshness checks see data as recent as a live account's. Pin the variable for data identical
    across days.

    The sandbox stands in for the vendors and imports nothing of agentsync: it reads the
    variable from the environment. agentsync's commands that start it read the setting the way
    every setting is read (environment or ``.env``, a bad value one line naming it, exit 2) and
    export it first (:func:`agentsync.commands.sandbox_cmd.export_sandbox_epoch`).

    Raises:
        ValueError: the variable is set to something that is not an ISO date/datetime.
    """
    raw = os.environ.get("AGENTSYNC_SANDBOX_EPOCH", "").strip()
    if raw:
        try:
            pinned = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"AGENTSYNC_SANDBOX_EPOCH={raw!r} is not an ISO date/datetime "
                "(e.g. 2024-05-01 or 2024-05-01T06:00:00Z)"
            ) from None
        return pinned if pinned.tzinfo else pinned.replace(tzinfo=UTC)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


EPOCH = _epoch()  # the sandbox clock starts here


@dataclass(frozen=True)
class ScaleProfile:
    """Volumes across all agents.

    ``sizing="skewed"`` (every profile but the fleet): the totals are shared out skewed, the first
    agent the biggest (:func:`shares`). ``sizing="fleet"``: each agent has an account of its own
    size (:func:`fleet_people`) and every other volume is in proportion to its FUB people; the
    totals are then the sums over the fleet (:meth:`World.__init__` fills them in).

    ``vendor_limits``: the replicas of SkySlope, reZEN and Qualia enforce the request limits the
    research documents or a stand-in where it has none (:data:`VENDOR_LIMITS`). FUB's own limits
    (fub.md §4, OFFICIAL) are on in every profile.
    """

    name: str
    agents: int
    fub_people: int
    rezen_transactions: int
    rezen_listings: int
    skyslope_deals: int
    qualia_orders: int
    network_size: int  # down-line agents in the first agent's network (fleet: per 1M people)
    sizing: str = "skewed"
    vendor_limits: bool = False


SCALES: dict[str, ScaleProfile] = {
    # tiny: unit/e2e tests; agent 101 still has more people than FUB's deep-offset limit (2000):
    # 4,000 people skewed over 3 agents gives agent 101 about 2,350 (2,600 gave only 1,528).
    "tiny": ScaleProfile("tiny", 3, 4_000, 90, 45, 60, 30, 40),
    "small": ScaleProfile("small", 5, 25_000, 1_500, 650, 600, 300, 200),
    "medium": ScaleProfile("medium", 10, 250_000, 15_000, 6_500, 6_000, 3_000, 1_000),
    # the legacy system's volumes (docs/vendors/legacy.md §4: FUB people 1.7M, staged reZEN
    # transactions 102,843, staged listings 44,688)
    "seed": ScaleProfile("seed", 25, 1_700_000, 102_843, 44_688, 40_000, 20_000, 5_000),
    # fleet (issue 17 item 5): a brokerage of 250 agents, each with its own accounts and
    # credentials, mostly 1-5k FUB people and a few large ones (fleet_people); the other volumes
    # per 1M FUB people (an agent with 3,000 people has about 45 reZEN transactions, 20 listings,
    # 30 SkySlope files, 15 Qualia orders and a down-line of 24); every vendor's limits on.
    "fleet": ScaleProfile(
        "fleet", 250, 1_000_000, 15_000, 6_500, 10_000, 5_000, 8_000, "fleet", True
    ),
}

#: Fleet account sizes (FUB people): every FLEET_LARGE_EVERY-th agent (the first included) is
#: large, every FLEET_MID_EVERY-th of the rest mid-sized, the others small-to-mid. Sizes within a
#: class are log-uniform, drawn from (seed, agent).
FLEET_LARGE_EVERY = 50
FLEET_MID_EVERY = 10
FLEET_SIZES = {"large": (20_000, 60_000), "mid": (5_000, 12_000), "small": (1_000, 5_000)}


def fleet_class(index: int) -> str:
    """``large``, ``mid`` or ``small``: the size class of the fleet's agent number ``index``."""
    if index % FLEET_LARGE_EVERY == 0:
        return "large"
    return "mid" if index % FLEET_MID_EVERY == 0 else "small"


@lru_cache(maxsize=8)
def fleet_people(seed: int, agents: int) -> tuple[int, ...]:
    """Each fleet agent's FUB people, by agent index (deterministic from the seed)."""
    out = []
    for i in range(agents):
        lo, hi = FLEET_SIZES[fleet_class(i)]
        rng = random.Random(stable_int(seed, "fleet-size", i))
        out.append(round(lo * (hi / lo) ** rng.random()))
    return tuple(out)


#: Request limits the SkySlope, reZEN and Qualia replicas enforce in a profile with
#: ``vendor_limits``: api -> (requests, window seconds, what the limit rests on). Counted per
#: credential (each agent's own key), in fixed windows; over it, 429 with ``Retry-After``.
VENDOR_LIMITS: dict[str, tuple[int, float, str]] = {
    # skyslope.md §3: "one plan quotes 100 requests/minute" [UNCONFIRMED]; the headers it
    # documents (x-ratelimit-remaining / -reset) are sent.
    "skyslope": (100, 60.0, "skyslope.md §3: one plan quotes 100/min (UNCONFIRMED)"),
    # rezen.md §2: none published, no headers [NOT FOUND]: a stand-in, no headers sent.
    "rezen": (300, 60.0, "rezen.md §2: none published; stand-in 300/min, no headers"),
    # qualia.md §1: "enforced" with no numbers or headers [OFFICIAL]: a stand-in, no headers.
    "qualia": (120, 60.0, "qualia.md §1: enforced, no numbers; stand-in 120/min, no headers"),
}


def scale_profile(scale: str | int) -> ScaleProfile:
    """A named profile, or ``N`` = total FUB people with the rest in seed-scale proportion.

    The fleet profile's totals are nominal here; :class:`World` replaces them with the sums of
    its agents' sizes for its seed."""
    if isinstance(scale, str) and scale in SCALES:
        return SCALES[scale]
    try:
        people = int(scale)
    except (TypeError, ValueError):
        raise ValueError(
            f"scale must be one of {', '.join(SCALES)} or a number of FUB people"
        ) from None
    if people < 10:
        raise ValueError("a numeric scale must be at least 10 FUB people")
    seed = SCALES["seed"]
    ratio = people / seed.fub_people
    return ScaleProfile(
        name=str(people),
        agents=max(3, min(seed.agents, people // 2_000 + 3)),
        fub_people=people,
        rezen_transactions=max(10, round(seed.rezen_transactions * ratio)),
        rezen_listings=max(5, round(seed.rezen_listings * ratio)),
        skyslope_deals=max(5, round(seed.skyslope_deals * ratio)),
        qualia_orders=max(5, round(seed.qualia_orders * ratio)),
        network_size=max(10, round(seed.network_size * ratio)),
    )


FIRST_NAMES = [
    "Avery", "Blake", "Casey", "Dana", "Emerson", "Finley", "Gray", "Harper", "Indy", "Jordan",
    "Kai", "Logan", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Riley", "Sage", "Taylor",
]  # fmt: skip
LAST_NAMES = [
    "Alvarez", "Brooks", "Chen", "Diaz", "Ellis", "Foster", "Garcia", "Hughes", "Ito", "Jensen",
    "Khan", "Lopez", "Murphy", "Nguyen", "Owens", "Patel", "Reyes", "Singh", "Turner", "Walsh",
]  # fmt: skip
STREETS = [
    "Heritage Ct", "Lakeview Dr", "Oak St", "Pine Ave", "Maple Rd", "Cedar Ln", "Elm St",
    "Willow Way", "Sunset Blvd", "Ridge Rd", "Harbor Dr", "Mission St",
]  # fmt: skip
CITIES = [("Sacramento", "CA", "958"), ("Reno", "NV", "895"), ("Austin", "TX", "787"),
          ("Denver", "CO", "802"), ("Tampa", "FL", "336")]  # fmt: skip


@dataclass(frozen=True)
class AgentSpec:
    """A demo agent: platform ``user_id`` and which integrations it has connected."""

    user_id: int
    name: str
    index: int
    integrations: tuple[str, ...]


@dataclass(frozen=True)
class RealDeal:
    """One real-world deal; ``in_rezen`` / ``in_skyslope`` say where it is recorded."""

    key: int
    user_id: int
    is_listing: bool
    street_number: int
    street_name: str
    unit: str | None
    city: str
    state: str
    zip: str
    side: str  # BUYER / SELLER (listings are always SELLER)
    price_cents: int
    lifecycle: str  # OPEN / CLOSED / TERMINATED
    created_at: datetime
    close_date: date | None
    in_rezen: bool
    in_skyslope: bool

    @property
    def address(self) -> str:
        unit = f" Unit {self.unit}" if self.unit else ""
        return f"{self.street_number} {self.street_name}{unit}"


def stable_int(*parts: object) -> int:
    """A deterministic 64-bit integer from the parts (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shares(total: int, n: int) -> list[int]:
    """Split ``total`` over ``n`` agents, skewed (first agent ~ half), summing exactly."""
    if n <= 0:
        return []
    weights = [1.0 / (i + 1) ** 1.2 for i in range(n)]
    s = sum(weights)
    out = [int(total * w / s) for w in weights]
    out[0] += total - sum(out)
    return out


class World:
    """Seed, scale, clock and the demo agents every replica shares."""

    def __init__(self, seed: int = 42, scale: str | int = "tiny") -> None:
        self.seed = int(seed)
        self.profile = fleet_totals(scale_profile(scale), self.seed)
        self.scale_name = self.profile.name
        self._offset = timedelta(0)
        self._lock = threading.Lock()
        self.agents = [self._agent(i) for i in range(self.profile.agents)]
        self._with: dict[str, list[AgentSpec]] = {}
        self._shares: dict[tuple[str, int], dict[int, int]] = {}

    # -- clock ---------------------------------------------------------------------------------
    @property
    def start(self) -> datetime:
        """Where this world's clock started (``EPOCH``)."""
        return EPOCH

    def now(self) -> datetime:
        with self._lock:
            return EPOCH + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
            return EPOCH + self._offset

    # -- agents --------------------------------------------------------------------------------
    def _agent(self, i: int) -> AgentSpec:
        rng = random.Random(stable_int(self.seed, "agent", i))
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        # Agent 1 (user 101) has everything; 2 has FUB + reZEN; 3 FUB + SkySlope + Qualia
        # (another brokerage); further agents cycle through those three patterns.
        pattern = i % 3
        integrations = {
            0: ("fub", "rezen", "skyslope", "qualia"),
            1: ("fub", "rezen"),
            2: ("fub", "skyslope", "qualia"),
        }[pattern]
        return AgentSpec(user_id=101 + i, name=name, index=i, integrations=integrations)

    def agent(self, user_id: int) -> AgentSpec | None:
        idx = user_id - 101
        return self.agents[idx] if 0 <= idx < len(self.agents) else None

    def agents_with(self, integration: str) -> list[AgentSpec]:
        cache = self.__dict__.setdefault("_with", {})
        if integration not in cache:
            cache[integration] = [a for a in self.agents if integration in a.integrations]
        return list(cache[integration])

    def share(self, integration: str, total: int, user_id: int) -> int:
        """This agent's share of ``total`` records among the agents connected to ``integration``.

        Skewed profiles: :func:`shares` over the connected agents. The fleet: in proportion to
        the agent's FUB people (``total`` is the fleet's, per its ``fub_people``)."""
        cache = self.__dict__.setdefault("_shares", {})
        key = (integration, total)
        if key not in cache:
            ids = [a.user_id for a in self.agents_with(integration)]
            if self.profile.sizing == "fleet":
                sizes = fleet_people(self.seed, self.profile.agents)
                per = {u: round(total * sizes[u - 101] / self.profile.fub_people) for u in ids}
            else:
                per = dict(zip(ids, shares(total, len(ids)), strict=True))
            cache[key] = per
        return cache[key].get(user_id, 0)

    # -- real-world deals (shared by reZEN and SkySlope) ----------------------------------------
    def deals(self, user_id: int) -> list[RealDeal]:
        return _deals(self.seed, self.profile, user_id)


def fleet_totals(profile: ScaleProfile, seed: int) -> ScaleProfile:
    """A fleet profile with its totals for ``seed``: FUB people summed over the agents' sizes,
    the other volumes at the profile's rate per 1M people (other profiles: as they are)."""
    if profile.sizing != "fleet":
        return profile
    people = sum(fleet_people(seed, profile.agents))
    per = people / 1_000_000
    return replace(
        profile,
        fub_people=people,
        rezen_transactions=round(profile.rezen_transactions * per),
        rezen_listings=round(profile.rezen_listings * per),
        skyslope_deals=round(profile.skyslope_deals * per),
        qualia_orders=round(profile.qualia_orders * per),
        network_size=round(profile.network_size * per),
    )


@lru_cache(maxsize=1024)
def _deals(seed: int, profile: ScaleProfile, user_id: int) -> list[RealDeal]:
    world = World.__new__(World)  # cheap: only the agent table is needed
    world.seed, world.profile = seed, profile
    world.agents = [World._agent(world, i) for i in range(profile.agents)]
    agent = world.agent(user_id)
    if agent is None:
        return []
    has_rezen = "rezen" in agent.integrations
    has_sky = "skyslope" in agent.integrations
    n_tx = world.share("rezen", profile.rezen_transactions, user_id) if has_rezen else 0
    n_ls = world.share("rezen", profile.rezen_listings, user_id) if has_rezen else 0
    n_sky = world.share("skyslope", profile.skyslope_deals, user_id) if has_sky else 0
    out: list[RealDeal] = []
    key = 0

    def make(is_listing: bool, in_rezen: bool, in_sky: bool) -> RealDeal:
        nonlocal key
        key += 1
        rng = random.Random(stable_int(seed, "deal", user_id, key))
        city, state, zip3 = rng.choice(CITIES)
        created = EPOCH - timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86_399))
        lifecycle = rng.choices(["OPEN", "CLOSED", "TERMINATED"], weights=[3, 6, 1])[0]
        close = (created + timedelta(days=rng.randint(20, 90))).date()
        if lifecycle == "OPEN":
            close = (EPOCH + timedelta(days=rng.randint(5, 60))).date()
        return RealDeal(
            key=key,
            user_id=user_id,
            is_listing=is_listing,
            street_number=rng.randint(10, 9999),
            street_name=rng.choice(STREETS),
            unit=str(rng.randint(1, 40)) if rng.random() < 0.1 else None,
            city=city,
            state=state,
            zip=f"{zip3}{rng.randint(10, 99)}",
            side="SELLER" if is_listing else rng.choice(["BUYER", "SELLER"]),
            price_cents=rng.randint(150_000, 2_500_000) * 100,
            lifecycle=lifecycle,
            created_at=created,
            close_date=close if lifecycle != "TERMINATED" else None,
            in_rezen=in_rezen,
            in_skyslope=in_sky,
        )

    # When an agent has both systems, about a third of the SkySlope files are the same deals as
    # reZEN transactions/listings; the rest are SkySlope-only.
    overlap = min(n_sky // 3, n_tx + n_ls) if (has_rezen and has_sky) else 0
    for i in range(n_tx):
        out.append(make(False, True, i < overlap * n_tx // max(1, n_tx + n_ls)))
    for i in range(n_ls):
        out.append(make(True, True, i < overlap - overlap * n_tx // max(1, n_tx + n_ls)))
    already = sum(1 for d in out if d.in_skyslope)
    for _ in range(max(0, n_sky - already)):
        out.append(make(False, False, True))
    return out
