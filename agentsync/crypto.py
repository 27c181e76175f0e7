"""Encryption at rest for credentials (Fernet, from ``cryptography``).

The key comes from ``AGENTSYNC_ENCRYPTION_KEY``. When unset (the embedded default) a key is
generated once into ``<data_dir>/secret.key`` with 0600 permissions and reused after.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from agentsync.errors import SettingError
from agentsync.settings import Settings, get_settings


def _key_file(settings: Settings) -> Path:
    return settings.data_dir / "secret.key"


def load_key(settings: Settings | None = None) -> bytes:
    """The Fernet key: from settings, else from (or newly generated into) the key file."""
    settings = settings or get_settings()
    if settings.encryption_key is not None:
        return settings.encryption_key.get_secret_value().strip().encode()
    path = _key_file(settings)
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SettingError(
                f"AGENTSYNC_ENCRYPTION_KEY file {path} is readable by others "
                f"(mode {mode:o}); run: chmod 600 {path}"
            )
        return path.read_bytes().strip()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_bytes().strip()
    except OSError as err:
        raise SettingError(
            f"AGENTSYNC_DATA_DIR {settings.data_dir} is not writable: {err}"
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


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
