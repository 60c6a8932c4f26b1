"""`keyops` argument parsing and the headless commands.

The TUI commands (`demo`, `ui`) are parsed here too so `keyops --help` lists everything, but
they run through a `UiRunner` the launcher passes in: the core never imports the TUI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import NoPermissionError, RedisError

from keyops import __version__
from keyops.cli import batch_commands, render
from keyops.cli.help_topics import TOPICS, WHERE_HELP
from keyops.cli.seed_command import cmd_seed
from keyops.core.errors import BadInput, KeyopsError
from keyops.core.logs import setup_file_logging
from keyops.core.query import QueryContext, QueryError, compile_query
from keyops.core.session import CrsSession
from keyops.core.settings import RedisSettings, settings_from_args

UiRunner = Callable[[argparse.Namespace], int]

DESCRIPTION = "Bulk-manage claude-relay-service API keys in Redis, safely."
EPILOG = """\
keyops COMMAND --help   a command's options
keyops help query       the query language of --where
keyops demo             try the console on a built-in sample, no server needed"""

log = logging.getLogger("keyops.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyops",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"keyops {__version__}")
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument(
        "--redis-url",
        help="redis:// or rediss:// URL (default: KEYOPS_REDIS_URL, else CRS's REDIS_* settings)",
    )
    connection.add_argument(
        "--crs-env", type=Path, metavar="PATH", help="read REDIS_* settings from CRS's .env file"
    )
    tls = connection.add_argument_group("TLS (rediss://)")
    tls.add_argument(
        "--tls-ca-file",
        type=Path,
        metavar="PATH",
        help="CA certificate(s) to trust (KEYOPS_TLS_CA_FILE)",
    )
    tls.add_argument(
        "--tls-cert-file",
        type=Path,
        metavar="PATH",
        help="client certificate (KEYOPS_TLS_CERT_FILE)",
    )
    tls.add_argument(
        "--tls-key-file", type=Path, metavar="PATH", help="client key (KEYOPS_TLS_KEY_FILE)"
    )
    tls.add_argument(
        "--tls-skip-hostname-check", action="store_true",
        help="accept a certificate for another host name; the chain is still verified (KEYOPS_TLS_SKIP_HOSTNAME_CHECK)",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    keys = commands.add_parser("keys", help="read API keys").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    keys_list = keys.add_parser("list", parents=[connection], help="list keys matching a query")
    keys_list.add_argument("--where", default="", metavar="QUERY", help=WHERE_HELP)
    keys_list.add_argument(
        "--include-deleted", action="store_true", help="also list soft-deleted keys"
    )
    keys_list.add_argument("--json", action="store_true", help="one JSON object per key")
    keys_list.set_defaults(handler=cmd_keys_list)

    accounts = commands.add_parser(
        "accounts", help="upstream accounts: list, assign keys to them"
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    accounts_list = accounts.add_parser("list", parents=[connection], help="accounts and groups")
    accounts_list.add_argument(
        "--json", action="store_true", help="one JSON array of accounts and groups"
    )
    accounts_list.set_defaults(handler=cmd_accounts_list)

    batch_commands.register(commands, connection, accounts)

    info = commands.add_parser("info", parents=[connection], help="server, counts, index version")
    info.add_argument("--json", action="store_true", help="one JSON object")
    info.set_defaults(handler=cmd_info)

    seed = commands.add_parser(
        "seed", parents=[connection], help="write CRS-shaped test data (benchmarks, trials)"
    )
    seed.add_argument("--keys", type=int, required=True, metavar="N", help="number of API keys")
    seed.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    seed.add_argument("--force", action="store_true", help="write even if the DB holds CRS data")
    seed.set_defaults(handler=cmd_seed)

    demo = commands.add_parser("demo", help="open the console on a built-in sample (no server)")
    demo.add_argument("--keys", type=int, default=2000, metavar="N", help="sample size")
    demo.add_argument("--read-only", action="store_true", help="turn off every mutating action")
    demo.set_defaults(ui=True)
    ui = commands.add_parser("ui", parents=[connection], help="open the console on a CRS Redis")
    ui.add_argument("--read-only", action="store_true", help="turn off every mutating action")
    ui.set_defaults(ui=True)

    help_command = commands.add_parser(
        "help", help="this overview, a command's options, or a topic: keyops help query"
    )
    help_command.add_argument(
        "topic", nargs="?", metavar="TOPIC", help=f"a command or one of: {', '.join(TOPICS)}"
    )
    help_command.set_defaults(handler=cmd_help)
    return parser


def short_help(parser: argparse.ArgumentParser) -> str:
    """What `keyops` alone prints: the commands, one line each, and where to read on."""
    lines = [
        "usage: keyops COMMAND [OPTIONS]   (keyops --help, keyops --version)",
        "",
        DESCRIPTION,
        "",
    ]
    lines += [f"  {name:<9} {text}" for name, text in _command_summaries(parser)]
    lines += ["", parser.epilog or ""]
    return "\n".join(lines)


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any]:
    # argparse keeps its sub-commands in a private action; nothing public lists them.
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _command_summaries(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    return [(choice.dest, choice.help or "") for choice in _subcommands(parser)._choices_actions]


def cmd_help(args: argparse.Namespace) -> int:
    parser = build_parser()
    commands: dict[str, argparse.ArgumentParser] = dict(_subcommands(parser).choices)
    if args.topic is None:
        print(short_help(parser))
    elif args.topic in TOPICS:
        print(TOPICS[args.topic], end="")
    elif args.topic in commands:
        print(commands[args.topic].format_help().rstrip("\n"))
    else:
        raise BadInput(
            f"no help on {args.topic!r}: name a command ({', '.join(commands)}) "
            f"or a topic ({', '.join(TOPICS)})"
        )
    return 0


def _settings(args: argparse.Namespace) -> RedisSettings:
    return settings_from_args(args)


def _run(coroutine: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coroutine)


async def _keys_list(args: argparse.Namespace) -> int:
    session = await CrsSession.open(_settings(args))
    try:
        table = await session.load_keys()
        catalog = await session.load_accounts()
    finally:
        await session.aclose()
    context = QueryContext(catalog=catalog, include_deleted=args.include_deleted)
    try:
        query = compile_query(args.where, context)
    except QueryError as error:
        raise BadInput(f"{error}\n{error.pointer(args.where)}") from None
    rows = query.filter(table.rows)
    print(
        render.keys_as_json(rows) if args.json else render.keys_as_text(rows, catalog, len(table))
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    return _run(_keys_list(args))


async def _accounts_list(args: argparse.Namespace) -> int:
    session = await CrsSession.open(_settings(args))
    try:
        catalog = await session.load_accounts()
    finally:
        await session.aclose()
    print(render.accounts_as_json(catalog) if args.json else render.accounts_as_text(catalog))
    return 0


def cmd_accounts_list(args: argparse.Namespace) -> int:
    return _run(_accounts_list(args))


async def _info(args: argparse.Namespace) -> int:
    session = await CrsSession.open(_settings(args))
    try:
        info = await session.info()
    finally:
        await session.aclose()
    print(render.info_as_json(info) if args.json else render.info_as_text(info))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    return _run(_info(args))


def main(argv: Sequence[str] | None = None, ui_runner: UiRunner | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv:  # a bare `keyops`: the overview, not an argparse error
        print(short_help(parser))
        return 0
    args = parser.parse_args(argv)
    setup_file_logging()
    log.info("keyops %s", getattr(args, "command", ""))
    try:
        if getattr(args, "ui", False):
            if ui_runner is None:
                raise KeyopsError("the console is not available in this installation")
            return ui_runner(args)
        if hasattr(args, "batch_handler"):
            return batch_commands.run_batch_command(args)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except KeyopsError as error:
        log.warning("%s: %s", type(error).__name__, error)
        print(f"keyops: {error}", file=sys.stderr)
        return error.exit_code
    except NoPermissionError as error:
        print(f"keyops: this Redis user may not do that: {error}", file=sys.stderr)
        return 1
    except RedisError as error:
        log.warning("redis error: %s: %s", type(error).__name__, error)
        # Anything else Redis said: one line, never a traceback (messages carry no secrets).
        print(f"keyops: Redis failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("keyops: interrupted", file=sys.stderr)
        return 130
