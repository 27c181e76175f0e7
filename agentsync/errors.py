"""Exceptions that carry context. A user mistake becomes one clear line at the CLI, never a traceback."""

from __future__ import annotations


class AgentsyncError(Exception):
    """Base class for errors that the CLI prints as one line and maps to an exit code."""

    exit_code = 1


class SettingError(AgentsyncError):
    """A setting is missing or wrong; the message names the ``AGENTSYNC_*`` variable."""

    exit_code = 2


class DatabaseError(AgentsyncError):
    """The database cannot be reached or started."""

    exit_code = 3


class NotFoundError(AgentsyncError):
    """A thing the user named does not exist (an agent, a job)."""

    exit_code = 4


class ConflictError(AgentsyncError):
    """The request conflicts with what exists (a duplicate user_id)."""

    exit_code = 5


class InvalidInputError(AgentsyncError):
    """Input that cannot be used as given (an unknown integration, an empty credential)."""

    exit_code = 2


class IntegrationError(AgentsyncError):
    """A vendor API refused or failed; the message names agent and integration, never a secret."""

    exit_code = 6

    def __init__(self, user_id: int, integration: str, message: str) -> None:
        self.user_id = user_id
        self.integration = integration
        super().__init__(f"agent {user_id}, {integration}: {message}")
