"""Encryption at rest for credentials (Fernet, from ``cryptography``).

The key comes from ``AGENTSYNC_ENCRYPTION_KEY``. When unset (the embedded default) a key is
generated once into ``<data_dir>/secret.key`` with 0600 permissions and reused after.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from agentsync.errors import SettingError
from agentsync.settings import Settings, get_settings


def _key_file(settings: Settings) -> Path:
    return settings.data_dir / "secret.key"


def _read_key(path: Path) -> bytes:
    """The key in an existing key file; a loose mode or a damaged file is a SettingError."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SettingError(
            f"AGENTSYNC_ENCRYPTION_KEY file {path} is readable by others "
            f"(mode {mode:o}); run: chmod 600 {path}"
        )
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise SettingError(
            f"AGENTSYNC_ENCRYPTION_KEY file {path} is empty or not a Fernet key; restore it from "
            "a backup (credentials stored with the lost key cannot be decrypted)"
        ) from None
    return key


def _create_key_file(path: Path) -> bytes:
    """Generate a key into ``path`` atomically, or return the key another process put there.

    The key is written and flushed to a 0600 temporary file in the same directory, then
    hard-linked to ``path``: the link either creates a complete key file or fails because one
    exists (never clobbered), so no process can read a half-written key.
    """
    key = Fernet.generate_key()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret.key.", suffix=".tmp")
    except OSError as err:
        raise SettingError(
            f"AGENTSYNC_DATA_DIR {path.parent} is not writable: {err.strerror or err}"
        ) from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process won the race; its file is complete
            return _read_key(path)
        except OSError as err:
            raise SettingError(
                f"AGENTSYNC_DATA_DIR {path.parent}: cannot create the key file {path}: "
                f"{err.strerror or err}"
            ) from None
        return key
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load_key(settings: Settings | None = None) -> bytes:
    """The Fernet key: from settings, else from (or newly generated into) the key file."""
    settings = settings or get_settings()
    if settings.encryption_key is not None:
        return settings.encryption_key.get_secret_value().strip().encode()
    path = _key_file(settings)
    if path.exists():
        return _read_key(path)
    return _create_key_file(path)


def encrypt_json(payload: dict, settings: Settings | None = None) -> bytes:
    return Fernet(load_key(settings)).encrypt(json.dumps(payload, sort_keys=True).encode())


def decrypt_json(token: bytes, settings: Settings | None = None) -> dict:
    try:
        return json.loads(Fernet(load_key(settings)).decrypt(bytes(token)))
    except InvalidToken:
        raise SettingError(
            "AGENTSYNC_ENCRYPTION_KEY does not decrypt the stored credentials "
            "(was the key changed or the data dir copied without its secret.key?)"
        ) from None
