"""The advisory locks the flows use; they live in :mod:`agentsync.locks` (core code takes them too).

Kept so ``from flows.locks import agent_lock, onboarding_slot, dbt_lock`` goes on working.
"""

from __future__ import annotations

from agentsync.locks import agent_lock, dbt_lock, onboarding_slot

__all__ = ["agent_lock", "dbt_lock", "onboarding_slot"]
