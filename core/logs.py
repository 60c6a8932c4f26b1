"""keyops's own log: a rotating file under the XDG state directory, one line per event, with
operation ids, and no secrets.

    $XDG_STATE_HOME/keyops/keyops.log   (default ~/.local/state/keyops/keyops.log)

Nothing logged carries a key's secret (keyops never reads the `apiKey` field into anything it
keeps); the Redis password is known to the redactor, which masks it in any line as a second
guard. A log that cannot be written never stops keyops: it says so once and goes on.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 5
LOGGER_NAME = "keyops"


def log_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "keyops" / "keyops.log"


class SecretRedactor(logging.Filter):
    """Masks every registered secret in a record's final message."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            if secret and secret in message:
                message = message.replace(secret, "***")
        record.msg, record.args = message, None
        return True


REDACTOR = SecretRedactor()


def register_secret(secret: str | None) -> None:
    if secret:
        REDACTOR.secrets.add(secret)


def setup_file_logging(path: Path | None = None) -> Path | None:
    """Sends the `keyops` logger to the rotating file; returns its path (None if unwritable)."""
    logger = logging.getLogger(LOGGER_NAME)
    if any(isinstance(handler, RotatingFileHandler) for handler in logger.handlers):
        return path or log_path()
    path = path or log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = RotatingFileHandler(
            path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as error:
        print(f"keyops: not logging to {path}: {error.strerror}", file=sys.stderr)
        return None
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s")
    )
    handler.addFilter(REDACTOR)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return path
