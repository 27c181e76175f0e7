"""CLI command groups, one module per area; each exposes ``register(app)``."""

from agentsync.commands import (
    db_cmd,
    dbt_cmd,
    demo,
    onboard,
    quality,
    sandbox_cmd,
    sync,
    users,
    webhooks,
)

REGISTRARS = [
    users.register,
    db_cmd.register,
    demo.register,
    sandbox_cmd.register,
    onboard.register,
    sync.register,
    webhooks.register,
    quality.register,
    dbt_cmd.register,
]
