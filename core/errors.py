"""Errors an operator sees as one clear line, each with the CLI exit code it maps to."""

from __future__ import annotations


class KeyopsError(Exception):
    """Base error: its message is shown to the operator as-is, on one line, with no traceback."""

    exit_code = 1


class BadInput(KeyopsError):
    """The operator gave something we cannot act on (bad URL, bad query, bad tag...)."""

    exit_code = 2


class ConnectionFailed(KeyopsError):
    """Redis could not be reached or refused us (host down, wrong password, TLS trouble)."""

    exit_code = 1


class NotACrsDatabase(KeyopsError):
    """The database answers but holds no CRS data: probably the wrong DB index or host."""

    exit_code = 1


class BadRequest(BadInput):
    """A batch request that fails validation: one specific message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class RedisRefused(KeyopsError):
    """The Redis user may not run a command keyops needs (an ACL refusal)."""

    exit_code = 1


class RedisFailed(KeyopsError):
    """Redis answered a command with an error, or stopped answering, after keyops connected."""

    exit_code = 1
