"""One settings object for all of agentsync.

Every setting comes from an environment variable with the ``AGENTSYNC_`` prefix (or a ``.env``
file in the working directory). Defaults are the embedded, zero set-up ones: an embedded
PostgreSQL in the data directory and the real vendor base URLs.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agentsync.errors import SettingError

ENV_PREFIX = "AGENTSYNC_"


def _default_data_dir() -> Path:
    return Path.home() / ".agentsync"


class Settings(BaseSettings):
    """agentsync settings; each field is ``AGENTSYNC_<FIELD NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    # --- storage -------------------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the embedded PostgreSQL, the generated key, dlt and GX state live.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: agentsync starts an embedded PostgreSQL in data_dir.",
    )
    database_name: str = Field(default="agentsync", description="Database for the embedded server.")
    encryption_key: SecretStr | None = Field(
        default=None,
        description="Fernet key for credentials at rest. Unset: generated once in data_dir (0600).",
    )

    # --- vendor base URLs (production defaults; the demo and tests point them at the sandbox) --
    fub_base_url: str = "https://api.followupboss.com/v1"
    fub_oauth_token_url: str = "https://app.followupboss.com/oauth/token"  # noqa: S105
    fub_system: str = "agentsync"
    fub_system_key: SecretStr | None = None
    rezen_yenta_url: str = "https://yenta.therealbrokerage.com/api/v1"
    rezen_arrakis_url: str = "https://arrakis.therealbrokerage.com/api/v1"
    rezen_keymaker_url: str = "https://keymaker.therealbrokerage.com/api/v1"
    skyslope_base_url: str = "https://api.skyslope.com"
    qualia_base_url: str = "https://api.qualia.io/graphql"

    # --- HTTP behaviour --------------------------------------------------------------------------
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    http_max_retries: int = Field(
        default=6, ge=0, description="Retries per request for 5xx, timeouts and bad bodies."
    )
    rate_limit_budget_seconds: float = Field(
        default=900.0,
        ge=0,
        allow_inf_nan=False,
        description="How long one request keeps waiting out 429 responses (Retry-After honoured) "
        "before it fails; 429s do not count against AGENTSYNC_HTTP_MAX_RETRIES.",
    )
    shared_request_pacing: bool = Field(
        default=True,
        description="Pace each vendor account's requests through ops.api_pacing, shared by "
        "every process on the database, so concurrent runs on one account never exceed its "
        "rate; false paces each process on its own.",
    )
    typed_loads: bool = Field(
        default=True,
        description="FUB, SkySlope and Qualia rows land as Arrow batches with their declared "
        "column types, copied into raw by COPY (dlt_pipelines/typed.py); false lands them as "
        "dict rows through dlt's row normaliser and INSERT (the same raw, several times slower).",
    )
    fub_max_concurrent_requests: int = Field(
        default=4, ge=1, description="Concurrent FUB calls per FUB account, across agent runs."
    )
    fub_texts_full_walk_days: float = Field(
        default=30,
        ge=0,
        allow_inf_nan=False,
        description="Text messages are read only for people whose textsSent/textsReceived/"
        "lastText say they have new texts; a daily run asks every person (one request each) "
        "when the agent's last such walk is at least this many days old (0: every run), which "
        "bounds what a wrong vendor counter could hide.",
    )

    # --- orchestration ---------------------------------------------------------------------------
    max_concurrent_onboardings: int = Field(default=2, ge=1)
    max_concurrent_syncs: int = Field(
        default=4,
        ge=1,
        description="How many agents' extractions a daily sync runs at once: task runs on a "
        "thread pool in its own process, or, deployed, sync-agent flow runs in flight on the "
        "work pool (across every worker).",
    )
    agent_run_start_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        allow_inf_nan=False,
        description="How long an agent's flow run may sit Pending on a worker without starting "
        "before the daily sync gives it up as abandoned (its worker died) and starts it again.",
    )
    dbt_task_per_node: bool = Field(
        default=False,
        description="Inside a Prefect run, run each dbt model, test and seed as its own Prefect "
        "task run (prefect-dbt: each node's state and time in the UI). Off, the build is the "
        "dbt.build step run by dbt itself: about a fifth of the time on 2 cores.",
    )
    dispatch_interval_seconds: int = Field(default=60, ge=5)
    pipeline_lock_wait_seconds: float = Field(
        default=1800.0,
        ge=0,
        allow_inf_nan=False,
        description="How long a run waits for another run of the same dlt pipeline to finish "
        "before it fails with 'another run holds pipeline ...'.",
    )
    max_interrupted_attempts: int = Field(
        default=3,
        ge=0,
        description="How many times the dispatcher re-queues an onboarding whose process died "
        "before it ends the job Error, and how many times a daily sync starts an agent's flow "
        "run again after its process died (0: never).",
    )
    webhook_max_attempts: int = Field(
        default=5,
        ge=1,
        description="How many times a FUB webhook event is tried (once per processing pass) "
        "before it stays failed until 'agentsync webhooks replay'.",
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0,
        gt=0,
        allow_inf_nan=False,
        description="Back-off of a failed webhook event: it waits base * 2^(attempts-1) seconds "
        "before its next attempt.",
    )
    webhook_retry_cap_seconds: float = Field(
        default=3600.0,
        gt=0,
        allow_inf_nan=False,
        description="The longest back-off between two attempts of a failed webhook event.",
    )
    daily_sync_cron: str = "0 6 * * *"
    timezone: str = "UTC"

    # --- health thresholds (legacy operations manual) --------------------------------------------
    backlog_warn_rows: int = Field(default=1_000, ge=0)
    backlog_critical_rows: int = Field(default=5_000, ge=0)
    sync_age_warn_hours: float = Field(default=24, gt=0)
    sync_age_critical_hours: float = Field(default=72, gt=0)
    job_stuck_warn_hours: float = Field(default=4, gt=0)
    job_stuck_critical_hours: float = Field(default=24, gt=0)
    max_record_age_hours: float = Field(
        default=365 * 24,
        gt=0,
        description="Quality gate freshness: an entity's newest record may be at most this old "
        "(a warning unless record_age_severity is error).",
    )
    max_record_age_hours_by_entity: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict,
        description="Per-entity record-age thresholds overriding max_record_age_hours, "
        "e.g. 'fub.people=17520,rezen.transactions=26280'.",
    )
    record_age_severity: Literal["warn", "error"] = Field(
        default="warn",
        description="What an old newest record (over the record-age threshold) is in the quality "
        "gate: warn (reported, the gate passes) or error (the gate fails).",
    )
    drift_severity: Literal["warn", "error"] = Field(
        default="error",
        description="What a mapped raw field that stopped arriving (null in every row of the "
        "newest loads, populated before) is in the quality gate: error (the gate fails) or warn. "
        "A partial drop is always a warning.",
    )

    # --- alerts ----------------------------------------------------------------------------------
    alert_webhook_url: SecretStr | None = Field(
        default=None, description="Slack-compatible incoming webhook; unset: alerts only logged."
    )

    # --- SkySlope quirk rule -----------------------------------------------------------------------
    skyslope_naive_timezone: str = Field(
        default="America/Los_Angeles",
        description="Timezone assumed for SkySlope datetimes that carry none.",
    )

    # --- sandbox (demo and tests only) -------------------------------------------------------------
    sandbox_epoch: datetime | None = Field(
        default=None,
        description="Where the sandbox clock starts (ISO date/datetime, naive = UTC). "
        "Unset: midnight UTC of yesterday.",
    )

    @field_validator("sandbox_epoch", mode="before")
    @classmethod
    def _check_epoch(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                "is not an ISO date/datetime (e.g. 2024-05-01 or 2024-05-01T06:00:00Z)"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    @field_validator("record_age_severity", "drift_severity", mode="before")
    @classmethod
    def _lower_severity(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("max_record_age_hours_by_entity", mode="before")
    @classmethod
    def _check_age_map(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        out: dict[str, float] = {}
        for item in (p.strip() for p in value.split(",")):
            if not item:
                continue
            key, sep, hours = item.partition("=")
            key = key.strip().lower()
            source, dot, entity = key.partition(".")
            if not sep or not dot or not source or not entity:
                raise ValueError(
                    f"entry {item!r} is not <source>.<entity>=<hours> "
                    "(e.g. fub.people=17520,rezen.transactions=26280)"
                )
            try:
                limit = float(hours)
            except ValueError:
                raise ValueError(f"entry {item!r}: {hours.strip()!r} is not a number") from None
            if not limit > 0 or limit == float("inf"):
                raise ValueError(f"entry {item!r}: hours must be a positive number")
            out[key] = limit
        return out

    @field_validator(
        "fub_base_url",
        "fub_oauth_token_url",
        "rezen_yenta_url",
        "rezen_arrakis_url",
        "rezen_keymaker_url",
        "skyslope_base_url",
        "qualia_base_url",
    )
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an http(s) URL with a host (e.g. https://api.example.com/v1)"
            )
        return value.strip()

    @field_validator("timezone", "skyslope_naive_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. UTC or America/New_York)"
            ) from None
        return value.strip()

    @field_validator("daily_sync_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value.strip()):
            raise ValueError(f"{value!r} is not a valid cron expression (e.g. '0 6 * * *')")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        raw = value.get_secret_value().strip()
        parts = urlsplit(raw)
        if parts.scheme not in {"postgresql", "postgres", "postgresql+psycopg2"}:
            raise ValueError("must start with postgresql:// (e.g. postgresql://user:pw@host/db)")
        if not parts.path.strip("/"):
            raise ValueError("must name a database (postgresql://user:pw@host/DBNAME)")
        return SecretStr(raw)

    @field_validator("encryption_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from cryptography.fernet import Fernet

        try:
            Fernet(value.get_secret_value().strip().encode())
        except (ValueError, TypeError):
            raise ValueError(
                "is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
        return value

    @property
    def embedded(self) -> bool:
        """True when agentsync runs its own PostgreSQL (no database URL set)."""
        return self.database_url is None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def dlt_dir(self) -> Path:
        return self.data_dir / "dlt"


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{ENV_PREFIX}{field.upper()} {msg}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; a bad value raises :class:`SettingError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise SettingError(_describe(err)) from None


@lru_cache(maxsize=1)
def _cached(env_fingerprint: tuple[tuple[str, str], ...]) -> Settings:
    return load_settings()


def get_settings() -> Settings:
    """Settings for this process, re-read whenever an ``AGENTSYNC_*`` variable changes."""
    fingerprint = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    return _cached(fingerprint)
