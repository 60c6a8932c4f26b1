"""A key's secret as CRS makes and checks it: `cr_` + 64 hex from a CSPRNG, stored only as
`sha256(raw + ENCRYPTION_KEY)` (lowercase hex) in the record's `apiKey` and `apikey:hash_map`.

`ENCRYPTION_KEY` is read from the environment or CRS's `.env` (the environment wins, as with
CRS's dotenv), never from a command-line value, which other users could read in `ps`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from keyops.core.errors import BadInput
from keyops.core.settings import SecretStr, read_env_file

DEFAULT_PREFIX = "cr_"  # CRS's API_KEY_PREFIX default
SECRET_BYTES = 32  # crypto.randomBytes(32) -> 64 hex characters


@dataclass(frozen=True, slots=True)
class KeyMinter:
    """Makes raw keys and their stored hashes with CRS's settings."""

    encryption_key: SecretStr
    prefix: str = DEFAULT_PREFIX

    def new_raw(self) -> str:
        return self.prefix + secrets.token_hex(SECRET_BYTES)

    def digest(self, raw: str) -> str:
        salted = raw + self.encryption_key.get_secret_value()
        return hashlib.sha256(salted.encode("utf-8")).hexdigest()


def minter_from(environ: Mapping[str, str], crs_env: Path | None) -> KeyMinter:
    """The minter for CRS's ENCRYPTION_KEY and API_KEY_PREFIX; BadInput when the key is unset
    (a key hashed with another one would never authenticate)."""
    values: dict[str, str] = dict(read_env_file(crs_env)) if crs_env is not None else {}
    values.update(
        {name: environ[name] for name in ("ENCRYPTION_KEY", "API_KEY_PREFIX") if name in environ}
    )
    key = values.get("ENCRYPTION_KEY", "")
    if not key:
        raise BadInput(
            "ENCRYPTION_KEY is not set: keys are hashed with CRS's ENCRYPTION_KEY; give CRS's "
            ".env with --crs-env PATH or set ENCRYPTION_KEY in the environment"
        )
    return KeyMinter(SecretStr(key), values.get("API_KEY_PREFIX") or DEFAULT_PREFIX)
