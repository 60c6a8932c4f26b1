"""`keyops`: parse the command line, run the one command asked for, report failures in one line.

Only the command that runs is imported (see cli/parser.py): the core, redis and pydantic load
for commands that talk to Redis, Textual only for the console. The console commands (`demo`,
`ui`) run through a `UiRunner` the launcher passes in: the core never imports the TUI.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from keyops.cli.parser import build_parser, short_help

if TYPE_CHECKING:
    import logging

UiRunner = Callable[[argparse.Namespace], int]


def command_function(spec: str) -> Callable[[argparse.Namespace], int]:
    """The function a parser entry names as "module.function" under keyops.cli."""
    module, _, name = spec.rpartition(".")
    function: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"keyops.cli.{module}"), name
    )
    return function


def load_command(spec: str) -> Callable[[argparse.Namespace], int]:
    """Imports the command with the garbage collector paused, then freezes what the imports
    made. Importing redis, pydantic and the batch engine makes some 35,000 tracked objects and
    almost no garbage (a hundred collections free under a thousand); collecting while they are
    built, and scanning them again in the run's collections, was about a sixth of a 1,000-key
    `tags add`'s CPU time."""
    gc.disable()
    try:
        return command_function(spec)
    finally:
        gc.freeze()  # module-level objects live as long as the process: never collect them
        gc.enable()


def main(argv: Sequence[str] | None = None, ui_runner: UiRunner | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Only the command being run gets its options built (--help needs just the summaries).
    parser = build_parser(only=argv[0] if argv else "")
    if not argv:  # a bare `keyops`: the overview, not an argparse error
        print(short_help(parser))
        return 0
    args = parser.parse_args(argv)

    import logging

    from keyops.core.api import KeyopsError, setup_file_logging

    setup_file_logging()
    log = logging.getLogger("keyops.cli")
    log.info("keyops %s", getattr(args, "command", ""))
    try:
        if getattr(args, "ui", False):
            if ui_runner is None:
                raise KeyopsError("the console is not available in this installation")
            return ui_runner(args)
        return load_command(args.run)(args)
    except KeyopsError as error:
        log.warning("%s: %s", type(error).__name__, error)
        print(f"keyops: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("keyops: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        code = redis_failure(error, log)
        if code is None:
            raise
        return code


def redis_failure(error: Exception, log: logging.Logger) -> int | None:
    """One line for an error Redis raised (never a traceback; its messages carry no secrets),
    or None for anything else. redis is only looked at if a command loaded it."""
    if "redis.exceptions" not in sys.modules:
        return None
    from redis.exceptions import NoPermissionError, RedisError

    if isinstance(error, NoPermissionError):
        print(f"keyops: this Redis user may not do that: {error}", file=sys.stderr)
        return 1
    if isinstance(error, RedisError):
        log.warning("redis error: %s: %s", type(error).__name__, error)
        print(f"keyops: Redis failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return None
