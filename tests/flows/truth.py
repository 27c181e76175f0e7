"""An agent's marts against the sandbox's ground truth (``/_sandbox/truth``), for reZEN and Qualia.

:func:`mart_problems` lists every difference: an id the vendor serves that a mart lacks (a lost
record), an id a mart has that the vendor does not serve, and a mart row present more than once
(a duplicate). Empty: the agent's marts hold exactly what the vendor serves now.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from sqlalchemy import text

from agentsync import db

# truth entity -> (mart, id column); the truth's ids of each entity are the mart's ids
REZEN_MARTS: dict[str, tuple[str, str]] = {
    "teams": ("marts.teams", "team_id"),
    "team_members": ("marts.team_roster", "agent_id"),
    "agent": ("marts.agents", "agent_id"),
    "network": ("marts.network", "agent_id"),
    "cap_info": ("marts.agent_cap", "agent_id"),
    "transactions": ("marts.rezen_transactions", "transaction_id"),
    "listings": ("marts.rezen_listings", "listing_id"),
    "participants": ("marts.transaction_participants", "participant_id"),
    "equity": ("marts.equity", "equity_id"),
    "revshare_payments": ("marts.revshare_payments", "payment_id"),
    # paid and pending contributions share marts.contributions
    "contributions": ("marts.contributions", "contribution_id"),
    "contributors": ("marts.contributors", "contributor_id"),
}


def truth(root: str, api: str, user_id: int, entity: str | None = None) -> dict[str, Any]:
    """The sandbox's truth for one agent (``{}`` when the agent has no such account)."""
    params: dict[str, Any] = {"user_id": user_id}
    if entity:
        params["entity"] = entity
    resp = httpx.get(f"{root}/_sandbox/truth/{api}", params=params, timeout=60)
    resp.raise_for_status()
    return resp.json().get(str(user_id), {})


def _mart_ids(relation: str, column: str, user_id: int) -> Counter:
    with db.begin() as conn:
        exists = conn.execute(text("select to_regclass(:r)"), {"r": relation}).scalar()
        if exists is None:
            return Counter()
        return Counter(
            str(v)
            for v in conn.execute(
                text(f"select {column} from {relation} where user_id = :u"), {"u": user_id}
            ).scalars()
        )


def _compare(name: str, want: set[str], have: Counter) -> list[str]:
    problems = []
    lost = want - set(have)
    extra = set(have) - want
    dup = {k: n for k, n in have.items() if n > 1}
    if lost:
        problems.append(f"{name}: {len(lost)} id(s) missing, e.g. {sorted(lost)[:3]}")
    if extra:
        problems.append(
            f"{name}: {len(extra)} id(s) the vendor does not serve: {sorted(extra)[:3]}"
        )
    if dup:
        problems.append(f"{name}: {len(dup)} id(s) more than once: {sorted(dup.items())[:3]}")
    return problems


def mart_problems(root: str, user_id: int, integrations: list[str]) -> list[str]:
    """Every difference between one agent's reZEN/Qualia marts and the sandbox's truth."""
    problems: list[str] = []
    if "rezen" in integrations:
        pending = truth(root, "rezen", user_id, "pending_contributions")
        pending_ids = {str(i) for i in pending["pending_contributions"]["ids"]}
        for entity, (mart, column) in REZEN_MARTS.items():
            want = {str(i) for i in truth(root, "rezen", user_id, entity)[entity]["ids"]}
            if entity == "contributions":
                want |= pending_ids
            problems += _compare(f"{user_id} {mart}", want, _mart_ids(mart, column, user_id))
    if "qualia" in integrations:
        orders = truth(root, "qualia", user_id, "orders")["orders"]
        want = {str(i) for i in orders["ids"]}
        problems += _compare(
            f"{user_id} marts.title_orders",
            want,
            _mart_ids("marts.title_orders", "order_id", user_id),
        )
    return problems
