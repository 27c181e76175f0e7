"""Qualia source settings (``AGENTSYNC_QUALIA_*``) beyond the shared base URL."""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentsync.errors import SettingError


class QualiaSettings(BaseSettings):
    """Knobs of the Qualia source."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTSYNC_QUALIA_", env_file=".env", extra="ignore"
    )

    page_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description=(
            "orders per GraphQL page. Must not exceed the API's own page cap (100 in the "
            "sandbox): a page shorter than this that more orders follow is read as lost records."
        ),
    )
    lookback_orders: int = Field(
        default=200,
        ge=0,
        description=(
            "Daily runs re-read the newest N orders before the end seen last time (plus every "
            "newer order); onboarding reads everything."
        ),
    )
    full_reread_days: float = Field(
        default=7,
        ge=0,
        description=(
            "A daily run reads every order (not only the tail) when the agent's last full read "
            "is at least this many days old, so status changes of older orders are picked up; "
            "0 makes every run a full read."
        ),
    )


def load() -> QualiaSettings:
    """Read the settings; a bad value raises :class:`SettingError` naming the variable."""
    try:
        return QualiaSettings()
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "?"
        raise SettingError(f"AGENTSYNC_QUALIA_{name} {first['msg']}") from None
