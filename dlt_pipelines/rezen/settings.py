"""reZEN source settings: services, page sizes, lifecycle groups, tiers, statuses, look-backs.

Facts: ``docs/vendors/rezen.md`` (section cited per value: A.n is §n of that file).
"""

from __future__ import annotations

from datetime import date

# A.5: 0-based pageNumber + pageSize; working code uses 100..1000 (1000 for down-line).
PAGE_SIZE = 200
DOWNLINE_PAGE_SIZE = 1000
# A page that breaks the paging's invariants (wrong page served, short page that links on, last
# page short of totalCount) is read again this many times before the run fails by name.
SHORT_PAGE_REREADS = 2
# A.6.4 / A.6.5: lifecycle groups of the participant transaction and listing lists.
LIFECYCLE_GROUPS: tuple[str, ...] = ("OPEN", "CLOSED", "TERMINATED")
# A.6.3: tiers 1-5 are used in practice.
TIERS: tuple[int, ...] = (1, 2, 3, 4, 5)
# A.4 / A.6.3: every agent status, passed explicitly (statusIn defaults to ACTIVE only).
AGENT_STATUSES: tuple[str, ...] = ("ACTIVE", "INACTIVE", "CANDIDATE", "REJECTED", "RESURRECTING")
# A.6.3: a production sync re-reads the down-line with updatedAtFrom = 3 days back.
DOWNLINE_LOOKBACK_DAYS = 3
# Contributions can be recorded after their transaction closed: re-read a month back.
CONTRIBUTIONS_LOOKBACK_DAYS = 30
# A.6.6: contributors require startDate and endDate; this window covers every contribution.
CONTRIBUTORS_START = date(2000, 1, 1)
# Concurrent transaction-detail requests per agent run.
DETAIL_WORKERS = 4
# A.2: a normal, non-empty User-Agent (keymaker's load balancer 403s automation agents).
USER_AGENT = "Mozilla/5.0 (compatible; agentsync/1.0)"

# Steps in dependency order (legacy onboarding order within each step):
# team members -> agent -> network downline -> cap data -> frontline -> sponsor tree ->
# transactions -> listings -> participants -> equity -> revshare payments -> contributions
# (and pending) -> contributors.
STEP_ENTITIES: dict[str, tuple[str, ...]] = {
    "teams": ("teams", "team_members"),
    "agents": ("agent", "network", "cap_info", "front_line", "sponsors"),
    "transactions": ("transactions", "listings"),
    "participants": ("participants",),
    "contributions": (
        "equity",
        "revshare_payments",
        "contributions",
        "pending_contributions",
        "contributors",
    ),
}
