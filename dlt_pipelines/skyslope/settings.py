"""SkySlope source settings (``AGENTSYNC_SKYSLOPE_*``) beyond the shared base URL and timezone.

The base URL (``AGENTSYNC_SKYSLOPE_BASE_URL``) and the naive-datetime timezone
(``AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE``) live in :class:`agentsync.settings.Settings`.
"""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentsync.errors import SettingError


class SkySlopeSettings(BaseSettings):
    """Knobs of the SkySlope source."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTSYNC_SKYSLOPE_", env_file=".env", extra="ignore"
    )

    window_lag_hours: float = Field(
        default=24,
        ge=0,
        description=(
            "How far before the newest modifiedOn seen the next incremental window starts "
            "(absorbs the naive-timezone ambiguity and late writes; re-read rows are deduped "
            "in dbt)."
        ),
    )
    full_reread_days: float = Field(
        default=7,
        ge=0,
        description=(
            "A daily run lists the whole account (earliestDate=0) when the agent's last full "
            "listing is at least this many days old: the listed count is the source-reported "
            "total the count checks compare, and a file no window saw is fetched. Only new or "
            "changed files are fetched in full. 0 makes every daily run a full listing."
        ),
    )


def load() -> SkySlopeSettings:
    """Read the settings; a bad value raises :class:`SettingError` naming the variable."""
    try:
        return SkySlopeSettings()
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "?"
        raise SettingError(f"AGENTSYNC_SKYSLOPE_{name} {first['msg']}") from None
