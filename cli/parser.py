"""`keyops` command line: every command, option and help text, and nothing else.

Kept free of the core, redis, pydantic and Textual: `keyops --help`, `--version` and a mistyped
option answer as fast as Python starts. Each command names the function that runs it as
"module.function" under keyops.cli (`run`), imported only when that command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyops import __version__
from keyops.cli.help_topics import TOPICS, WHERE_HELP

DESCRIPTION = "Bulk-manage claude-relay-service API keys in Redis, safely."
EPILOG = """\
keyops COMMAND --help   a command's options
keyops help query       the query language of --where
keyops demo             try the console on a built-in sample, no server needed"""

DATE_HELP = "a date or time, UTC unless it names a zone: 2026-11-27 or 2026-11-27T10:00"

# Batch commands share one runner (session, service, interrupted-operation warning), which
# calls the command's own handler from batch_commands by name.
BATCH = "batch_commands.run_batch_command"


Filler = Callable[[argparse.ArgumentParser, argparse.ArgumentParser], None]


def whole_number(text: str) -> int:
    """A count typed in ASCII digits. Python's int() also takes '٣', '５', '1_000' and ' 3 ',
    which a typed confirmation (`--confirm-purge`) or a key count should not."""
    body = text[1:] if text.startswith("-") else text
    if not body.isascii() or not body.isdigit():
        raise argparse.ArgumentTypeError(f"{text!a} is not a whole number (digits 0-9)")
    return int(text)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command with its one-line help; the options of `only` (every command when None).

    argparse needs only the chosen command's options to parse a command line, and the summary
    lines for `--help`: filling in the other commands would be work thrown away on each run."""
    parser = argparse.ArgumentParser(
        prog="keyops",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"keyops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    connection: argparse.ArgumentParser | None = None
    for name, (summary, fill, connects) in COMMANDS.items():
        if only is not None and only != name:
            commands.add_parser(name, help=summary)
            continue
        connection = connection or connection_options()
        parents = [connection] if connects else []
        fill(commands.add_parser(name, help=summary, parents=parents), connection)
    return parser


def connection_options() -> argparse.ArgumentParser:
    """The options every command that talks to Redis takes (a parent parser)."""
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument(
        "--redis-url",
        help="redis:// or rediss:// URL (default: KEYOPS_REDIS_URL, else CRS's REDIS_* settings)",
    )
    connection.add_argument(
        "--crs-env", type=Path, metavar="PATH",
        help="read REDIS_* settings (and TIMEZONE_OFFSET) from CRS's .env file",
    )  # fmt: skip
    connection.add_argument(
        "--timezone-offset", metavar="HOURS",
        help="CRS's TIMEZONE_OFFSET, which names its usage days "
        "(default: TIMEZONE_OFFSET from the environment or --crs-env, else 8 as in CRS)",
    )  # fmt: skip
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
    return connection


def actions(command: argparse.ArgumentParser) -> Any:
    return command.add_subparsers(dest="action", metavar="ACTION", required=True)


# `keys top --by` choices; the same names as the core's FIGURES (a test checks), kept here so
# --help never imports the core.
TOP_FIGURES = (
    "cost.today",
    "cost.week",
    "cost.total",
    "requests.today",
    "tokens.today",
    "concurrency",
    "limit",
    "window.requests",
    "window.tokens",
    "window.cost",
)


def fill_keys(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    key_actions = actions(command)
    keys_list = key_actions.add_parser(
        "list", parents=[connection], help="list keys matching a query"
    )
    keys_list.add_argument("--where", default="", metavar="QUERY", help=WHERE_HELP)
    keys_list.add_argument(
        "--include-deleted", action="store_true", help="also list soft-deleted keys"
    )
    keys_list.add_argument(
        "--json", action="store_true",
        help="a JSON array, one object per key, with its usage and CRS's verdict",
    )  # fmt: skip
    keys_list.add_argument(
        "--no-usage", action="store_true", help="with --json: leave usage out (reads less)"
    )
    keys_list.set_defaults(run="read_commands.cmd_keys_list")
    # Declared here rather than from the registry, so `keys list` never loads the core to
    # build its parser; the request still comes from the kind's CLI spec, when it runs.
    for action, summary in KEY_EDITS.items():
        sub = key_actions.add_parser(action, parents=[connection], help=summary)
        sub.add_argument(
            "--best-effort", action="store_true", help="keep what succeeded when a key fails"
        )
        add_target_options(sub)
        add_run_options(sub)
        sub.set_defaults(
            run=BATCH,
            batch_handler="cmd_edit",
            edit_request=_KeysRequest(action),
            # restore and purge act on soft-deleted keys, which queries otherwise hide
            targets_deleted=action != "delete",
        )
    purge = key_actions.add_parser(
        "purge", parents=[connection],
        help="remove soft-deleted keys for good, with their usage data (no undo; typed confirmation)",
    )  # fmt: skip
    add_target_options(purge)
    purge.add_argument("--dry-run", action="store_true", help="print what would go, remove nothing")
    purge.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    purge.add_argument(
        "--confirm-purge", type=whole_number, metavar="N",
        help="N = the number of keys the purge removes, as its preview says (--yes is not enough)",
    )  # fmt: skip
    purge.set_defaults(run=BATCH, batch_handler="cmd_keys_purge")

    keys_top = key_actions.add_parser(
        "top", parents=[connection], help="the keys spending most, or closest to a limit"
    )
    keys_top.add_argument(
        "--by", default="cost.today", choices=TOP_FIGURES, metavar="FIGURE",
        help="cost.today (default), cost.week, cost.total, requests.today, tokens.today, "
        "concurrency, limit (highest share of any limit), window.requests|tokens|cost",
    )  # fmt: skip
    keys_top.add_argument(
        "-n", type=whole_number, default=10, metavar="N", help="how many (default 10)"
    )
    keys_top.add_argument("--where", default="", metavar="QUERY", help=WHERE_HELP)
    keys_top.add_argument(
        "--include-deleted", action="store_true", help="also rank soft-deleted keys"
    )
    keys_top.add_argument("--json", action="store_true", help="a JSON array, highest first")
    keys_top.set_defaults(run="read_commands.cmd_keys_top")
    fill_keys_create(key_actions, connection)
    fill_keys_rotate(key_actions, connection)


# The limit options `keys create` takes, as `limits set` names them (declared here so the
# parser never loads the core).
CREATE_LIMITS = (
    ("--token-limit", "N", "tokens per rate window"),
    ("--concurrency", "N", "requests at once"),
    ("--rate-window", "MIN", "rate-limit window, minutes"),
    ("--rate-requests", "N", "requests per window"),
    ("--rate-cost", "USD", "cost per window"),
    ("--daily-cost", "USD", "cost per day"),
    ("--total-cost", "USD", "cost, all time"),
    ("--weekly-opus-cost", "USD", "Claude-model cost per week"),
)
SECRET_OUT_HELP = (
    "a NEW file for the raw keys (created mode 0600, never overwritten); '-' writes them to "
    "stdout instead"
)


def fill_keys_create(key_actions: Any, connection: argparse.ArgumentParser) -> None:
    create = key_actions.add_parser(
        "create", parents=[connection],
        help="create keys as CRS does; their raw keys go to a new 0600 file (--out), once",
    )  # fmt: skip
    create.add_argument(
        "--count", type=whole_number, required=True, metavar="N", help="how many keys"
    )
    create.add_argument(
        "--name", required=True, metavar="BASE", help="key names BASE_1..BASE_N (one key: BASE)"
    )
    create.add_argument("--tags", nargs="+", default=[], metavar="TAG", help="tags every key gets")
    create.add_argument(
        "--bind", action="append", default=[], metavar="PLATFORM=ACCOUNT",
        help="bind to an account or group:ID (claude, console, gemini, openai, azure, bedrock, "
        "droid; repeatable)",
    )  # fmt: skip
    for option, metavar, summary in CREATE_LIMITS:
        create.add_argument(option, metavar=metavar, help=f"{summary} (0 = no limit)")
    create.add_argument("--weekly-reset", metavar="DAY@HOUR", help="when the weekly cost resets")
    create.add_argument(
        "--permissions", metavar="all|SERVICES", help="all, or a comma list of claude, gemini, "
        "openai, droid",
    )  # fmt: skip
    create.add_argument("--out", required=True, metavar="FILE", help=SECRET_OUT_HELP)
    create.add_argument("--dry-run", action="store_true", help="print the preview, write nothing")
    create.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    create.add_argument("--json", action="store_true", help="machine-readable outcome on stdout")
    create.set_defaults(run=BATCH, batch_handler="cmd_keys_create")


def fill_keys_rotate(key_actions: Any, connection: argparse.ArgumentParser) -> None:
    rotate = key_actions.add_parser(
        "rotate", parents=[connection],
        help="give keys new raw keys (same id, settings, usage); the old ones stop at once",
    )  # fmt: skip
    add_target_options(rotate)
    rotate.add_argument("--out", required=True, metavar="FILE", help=SECRET_OUT_HELP)
    rotate.add_argument("--dry-run", action="store_true", help="print the preview, write nothing")
    rotate.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rotate.add_argument("--json", action="store_true", help="machine-readable outcome on stdout")
    rotate.set_defaults(run=BATCH, batch_handler="cmd_keys_rotate")


KEY_EDITS = {
    "delete": "soft-delete keys as CRS does: they stop authenticating at once (undo: ops revert)",
    "restore": "restore soft-deleted keys as CRS does",
}


def spec_actions(spec: Any) -> set[str]:
    return {action.name for action in spec.actions}


class _KeysRequest:
    """The request of `keys ACTION`, built by the kind's CLI spec (the core is imported only
    when the command runs)."""

    def __init__(self, action: str) -> None:
        self.action = action

    def __call__(self, args: dict[str, Any]) -> Any:
        from keyops.core.api import KINDS

        for kind in KINDS:
            spec = kind.cli
            if spec is not None and spec.command == "keys" and self.action in spec_actions(spec):
                return spec.request(args)
        raise LookupError(f"no edit kind offers keys {self.action}")


def fill_accounts(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    accounts = actions(command)
    accounts_list = accounts.add_parser("list", parents=[connection], help="accounts and groups")
    accounts_list.add_argument(
        "--json", action="store_true", help="one JSON array of accounts and groups"
    )
    accounts_list.set_defaults(run="read_commands.cmd_accounts_list")
    fill_edit_commands("accounts", accounts, connection)


def fill_info(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true", help="one JSON object")
    command.set_defaults(run="read_commands.cmd_info")


def fill_seed(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    command.add_argument("--keys", type=int, required=True, metavar="N", help="number of API keys")
    command.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    command.add_argument(
        "--force", action="store_true",
        help="add to a DB keyops seeded before (never to one holding CRS data it did not seed)",
    )  # fmt: skip
    command.set_defaults(run="seed_command.cmd_seed")


def fill_demo(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    command.add_argument("--keys", type=int, default=2000, metavar="N", help="sample size")
    command.add_argument("--read-only", action="store_true", help="turn off every mutating action")
    command.set_defaults(ui=True)


def fill_ui(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    command.add_argument("--read-only", action="store_true", help="turn off every mutating action")
    command.set_defaults(ui=True)


def fill_help(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    command.add_argument(
        "topic", nargs="?", metavar="TOPIC", help=f"a command or one of: {', '.join(TOPICS)}"
    )
    command.set_defaults(run="parser.cmd_help")


def short_help(parser: argparse.ArgumentParser) -> str:
    """What `keyops` alone prints: the commands, one line each, and where to read on."""
    lines = [
        "usage: keyops COMMAND [OPTIONS]   (keyops --help, keyops --version)",
        "",
        DESCRIPTION,
        "",
    ]
    lines += [f"  {name:<11} {text}" for name, text in _command_summaries(parser)]
    lines += ["", parser.epilog or ""]
    return "\n".join(lines)


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any]:
    # argparse keeps its sub-commands in a private action; nothing public lists them.
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _command_summaries(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    return [(choice.dest, choice.help or "") for choice in _subcommands(parser)._choices_actions]


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--where", metavar="QUERY", help=WHERE_HELP)
    parser.add_argument("--ids", action="append", metavar="ID[,ID...]", help="key ids (repeatable)")
    parser.add_argument("--ids-file", type=Path, metavar="PATH", help="one key id per line")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the preview, write nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument(
        "--audit-failure", choices=("block", "warn"), default="block",
        help="if the audit trail cannot be written: block (default) or warn and go on",
    )  # fmt: skip
    # Gone: a batch trimmed every operator's history by it. Still parsed, to say where it went.
    parser.add_argument("--audit-retention-days", help=argparse.SUPPRESS)


def fill_edit_commands(
    command: str, command_actions: Any, connection: argparse.ArgumentParser
) -> None:
    """The actions of `command` that edit kinds declare (`tags add`, `status disable`,
    `accounts assign`...), built from the core's registry of edit kinds. Loaded only when that
    command is the one being run or shown, so `keyops --help` never imports the core."""
    from keyops.core.api import KINDS

    for kind in KINDS:
        spec = kind.cli
        if spec is None or spec.command != command:
            continue
        for action in spec.actions:
            sub = command_actions.add_parser(action.name, parents=[connection], help=action.help)
            for option in action.options:
                sub.add_argument(*option.names, **option.settings)
            add_target_options(sub)
            add_run_options(sub)
            sub.set_defaults(run=BATCH, batch_handler="cmd_edit", edit_request=spec.request)


def fill_tags(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("tags", actions(command), connection)


def fill_status(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("status", actions(command), connection)


def fill_limits(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("limits", actions(command), connection)


def fill_permissions(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("permissions", actions(command), connection)


def fill_rates(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("rates", actions(command), connection)


def fill_expiry(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("expiry", actions(command), connection)


def fill_models(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("models", actions(command), connection)


def fill_clients(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("clients", actions(command), connection)


def fill_description(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    fill_edit_commands("description", actions(command), connection)


def fill_ops(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    ops_actions = actions(command)
    ops_list = ops_actions.add_parser("list", parents=[connection], help="recent operations")
    ops_list.add_argument("--limit", type=int, default=20, metavar="N",
                          help="show the N most recent operations (default 20)")  # fmt: skip
    ops_list.add_argument("--json", action="store_true", help="one JSON array")
    ops_list.set_defaults(run=BATCH, batch_handler="cmd_ops_list")
    ops_show = ops_actions.add_parser("show", parents=[connection], help="one operation, per key")
    ops_show.add_argument("op_id", metavar="OP_ID", help="as 'keyops ops list' shows it")
    ops_show.add_argument("--json", action="store_true", help="the record and its per-key journal")
    ops_show.set_defaults(run=BATCH, batch_handler="cmd_ops_show")
    ops_revert = ops_actions.add_parser(
        "revert", parents=[connection], help="undo a finished operation"
    )
    ops_revert.add_argument("op_id", metavar="OP_ID", help="the operation to undo")
    add_run_options(ops_revert)
    ops_revert.set_defaults(run=BATCH, batch_handler="cmd_ops_revert")
    ops_recover = ops_actions.add_parser(
        "recover", parents=[connection], help="finish or roll back an interrupted operation"
    )
    ops_recover.add_argument("op_id", nargs="?", metavar="OP_ID",
                             help="the interrupted operation (without it: list them)")  # fmt: skip
    way = ops_recover.add_mutually_exclusive_group()
    way.add_argument("--rollback", action="store_true",
                     help="undo what it wrote, from its journal (a rollback is finished, never undone)")  # fmt: skip
    way.add_argument("--resume", action="store_true",
                     help="finish it: write the keys it did not reach (a rollback: restore the rest)")  # fmt: skip
    add_run_options(ops_recover)
    ops_recover.set_defaults(run=BATCH, batch_handler="cmd_ops_recover")
    ops_break = ops_actions.add_parser(
        "break-lock",
        parents=[connection],
        help="take a stuck operation's lock: it is then interrupted, its keys kept for "
        "'ops recover' (audited)",
    )
    ops_break.add_argument("op_id", metavar="OP_ID", help="the operation holding the lock")
    ops_break.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    ops_break.set_defaults(run=BATCH, batch_handler="cmd_ops_break_lock")


def fill_audit(command: argparse.ArgumentParser, connection: argparse.ArgumentParser) -> None:
    from keyops.core.api import OpType  # the kinds' names, as the audit stores them

    audit_actions = actions(command)
    for action in ("list", "export"):
        sub = audit_actions.add_parser(action, parents=[connection], help=f"{action} audit entries")
        sub.add_argument(
            "--type", action="append", choices=tuple(kind.value for kind in OpType),
            help="only operations of this type (repeatable)",
        )  # fmt: skip
        sub.add_argument("--since", metavar="DATE", help=f"entries from DATE on ({DATE_HELP})")
        sub.add_argument("--until", metavar="DATE", help=f"entries up to DATE ({DATE_HELP})")
        sub.add_argument("--key", metavar="KEY_ID", help="entries about this key")
        sub.add_argument("--operator", metavar="TEXT", help="part of user@host")
        sub.add_argument("--op", metavar="OP_ID", help="entries of this operation")
        if action == "list":
            sub.add_argument("--limit", type=int, default=200, metavar="N",
                             help="stop after N entries (default 200)")  # fmt: skip
            sub.add_argument("--json", action="store_true", help="one JSON object per line")
            sub.set_defaults(run=BATCH, batch_handler="cmd_audit_list")
        else:
            sub.add_argument("--format", choices=("csv", "json"), default="csv",
                             help="csv (default; a cell that would start a spreadsheet formula "
                                  "gets a leading ') or json (one object per line)")  # fmt: skip
            sub.add_argument(
                "--output", "-o", type=Path, metavar="PATH", help="file to write (default: stdout)"
            )
            sub.set_defaults(run=BATCH, batch_handler="cmd_audit_export")
    trim = audit_actions.add_parser(
        "trim", parents=[connection],
        help="remove audit entries older than DAYS, for every operator (previewed and audited)",
    )  # fmt: skip
    trim.add_argument("--older-than", type=int, required=True, metavar="DAYS",
                      help="remove the entries older than this many days (at least 1)")  # fmt: skip
    trim.add_argument("--dry-run", action="store_true", help="print what would go, remove nothing")
    trim.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    trim.set_defaults(run=BATCH, batch_handler="cmd_audit_trim")


# The commands in the order --help lists them: (one-line help, what adds their options, whether
# the command itself takes the connection options; commands with actions give them to those).
COMMANDS: dict[str, tuple[str, Filler, bool]] = {
    "keys": ("read API keys; create, rotate, delete, restore or purge many", fill_keys, False),
    "accounts": ("upstream accounts: list, assign keys to them", fill_accounts, False),
    "tags": ("add, remove or replace tags on many keys", fill_tags, False),
    "status": ("enable or disable many keys", fill_status, False),
    "limits": ("set token, concurrency, rate and cost limits on many keys", fill_limits, False),
    "permissions": ("set which services many keys may use", fill_permissions, False),
    "rates": ("set per-service cost rates on many keys", fill_rates, False),
    "expiry": ("set, extend or clear many keys' expiry", fill_expiry, False),
    "models": ("restrict which models many keys may use", fill_models, False),
    "clients": ("allow only some clients (Claude Code...) on many keys", fill_clients, False),
    "description": ("set or clear many keys' description", fill_description, False),
    "ops": ("operations: list, show, revert, recover", fill_ops, False),
    "audit": ("the audit trail: list, export, trim", fill_audit, False),
    "info": ("server, counts, index version", fill_info, True),
    "seed": ("write CRS-shaped test data (benchmarks, trials)", fill_seed, True),
    "demo": ("open the console on a built-in sample (no server)", fill_demo, False),
    "ui": ("open the console on a CRS Redis", fill_ui, True),
    "help": ("this overview, a command's options, or a topic: keyops help query", fill_help, False),
}


def cmd_help(args: argparse.Namespace) -> int:
    from keyops.core.api import BadInput

    parser = build_parser(only=args.topic or "")  # the overview needs no options
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
