"""The command line of an edit kind, declared rather than coded: the CLI builds each kind's
subcommands from these, so a new kind adds its arguments here, not a parser of its own.

Every edit command also takes the CLI's target options (--where, --ids, --ids-file) and run
options (--dry-run, --yes, --json, audit settings); a spec lists only what is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class Option:
    """One argument: its names and argparse's keyword arguments (help, nargs, choices...)."""

    names: tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CliAction:
    """`keyops COMMAND ACTION ...`: e.g. `tags add`, `status disable`, `accounts assign`."""

    name: str
    help: str
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class CliCommand:
    command: str
    help: str  # the command's own help, used when the CLI has no such command yet
    actions: tuple[CliAction, ...]
    # The request from the parsed arguments (`vars(args)`: `action` names the action). Bad
    # input raises BadRequest, before any key is read.
    request: Callable[[Mapping[str, Any]], BaseModel]
