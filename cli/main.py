"""`keyops`: parse the command line, run the one command asked for, report failures in one line.

Only the command that runs is imported (see cli/parser.py): the core, redis and pydantic load
for commands that talk to Redis, Textual only for the console. The console commands (`demo`,
`ui`) run through a `UiRunner` the launcher passes in: the core never imports the TUI.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from keyops.cli.parser import build_parser, short_help

UiRunner = Callable[[argparse.Namespace], int]

# Options whose value may itself start with '-': a query (`--where -tag:x`, as the docs write
# it), a tag, an id. argparse would take such a value for an option.
VALUE_OPTIONS = frozenset({"--where", "--ids", "--remove", "--key", "--op", "--operator"})

# The exit code of a process a closed pipe stopped (128 + SIGPIPE), as shells report it.
EXIT_BROKEN_PIPE = 141


def _looks_like_option(text: str) -> bool:
    return text.startswith("--") and len(text) > 2 and text[2].isalpha()


def join_dash_values(argv: Sequence[str]) -> list[str]:
    """`--where -tag:x` as `--where=-tag:x`. A value that looks like a long option (`--yes`)
    is left alone: the missing value stays an error rather than becoming the query."""
    joined: list[str] = []
    items = list(argv)
    index = 0
    while index < len(items):
        item = items[index]
        following = items[index + 1] if index + 1 < len(items) else None
        if (
            item in VALUE_OPTIONS
            and following is not None
            and following.startswith("-")
            and not _looks_like_option(following)
        ):
            joined.append(f"{item}={following}")
            index += 2
            continue
        joined.append(item)
        index += 1
    return joined


def report(message: str) -> None:
    """An error for the operator: one `keyops:` line (a query's caret lines follow it), with
    whatever stored text it quotes shown as escapes."""
    from keyops.core.api import printable

    lines = (printable(line) for line in message.split("\n"))
    print("keyops: " + "\n".join(lines), file=sys.stderr)


def _quiet_stdout() -> None:
    # Python flushes stdout again at exit; pointed at /dev/null, that flush cannot fail into
    # a second traceback.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


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
    argv = join_dash_values(sys.argv[1:] if argv is None else argv)
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
        result = load_command(args.run)(args)
        sys.stdout.flush()  # a closed pipe is reported here, not by the interpreter at exit
        return result
    except KeyopsError as error:
        log.warning("%s: %s", type(error).__name__, error)
        report(str(error))
        return error.exit_code
    except BrokenPipeError:
        # `keyops keys list | head`: the reader left. Nothing more can reach it; say so once.
        _quiet_stdout()
        report("the output was closed before it was complete (broken pipe)")
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("keyops: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        # Anything Redis raised outside the facade's methods: the facade's own translation, so
        # the operator reads one line (never a traceback; Redis's messages carry no secrets).
        from keyops.core.api import as_keyops_error

        translated = as_keyops_error(error)
        if translated is None:
            raise
        log.warning("redis error: %s: %s", type(error).__name__, error)
        report(str(translated))
        return translated.exit_code
