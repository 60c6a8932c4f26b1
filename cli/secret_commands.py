"""`keys create` and `keys rotate`: the commands that make raw keys.

A raw key is printed nowhere but the file `--out` names (a new 0600 file) or, only when the
operator writes `--out -`, stdout. Previews, progress and outcomes go to stderr (or stdout with
--json when the keys go to a file) and never hold a key or a hash.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from keyops.cli.output import say
from keyops.cli.text import plural
from keyops.core.api import BadInput, KeyopsSession, json_text, printable


def _out(args: argparse.Namespace) -> Path | TextIO:
    if args.out == "-":
        if args.json:
            raise BadInput("--out - writes the raw keys to stdout: --json cannot share it")
        return sys.stdout
    path = Path(args.out)
    if path.exists() or path.is_symlink():
        raise BadInput(f"{path} already exists: keyops never overwrites a key file")
    return path


# The batch commands' prompt and --ids reading, handed in by cli/batch_commands (which calls
# these handlers), so this module never imports it back.
Confirm = Callable[[str, int], bool]
Ids = Callable[[argparse.Namespace], "list[str] | None"]


def _confirm(args: argparse.Namespace, confirm: Confirm, question: str, count: int) -> bool:
    return bool(args.yes) or confirm(question, count)


def _report(args: argparse.Namespace, outcome: Any, verb: str) -> int:
    if args.json:
        print(json_text({"op": outcome.op_id, verb: outcome.done, "rolled_back": outcome.rolled_back,
                         "message": outcome.message}))  # fmt: skip
    else:
        say(f"keyops: {outcome.message} (operation {outcome.op_id})", sys.stderr)
    return 1 if outcome.rolled_back else 0


async def cmd_keys_create(
    session: KeyopsSession, args: argparse.Namespace, confirm: Confirm
) -> int:
    from keyops.core.api import KeysCreate, minter_from

    limits = {
        dest: getattr(args, dest)
        for dest in ("token_limit", "concurrency", "rate_window", "rate_requests", "rate_cost",
                     "daily_cost", "total_cost", "weekly_opus_cost")
    }  # fmt: skip
    request = KeysCreate.build(
        args.count,
        args.name,
        tags=args.tags,
        binds=args.bind,
        limits=limits,
        weekly_reset=args.weekly_reset,
        permissions=args.permissions,
    )
    minter = minter_from(os.environ, args.crs_env)
    out = _out(args)
    where = "stdout" if not isinstance(out, Path) else f"{out} (new, mode 0600)"
    preview = sys.stdout if args.dry_run and not args.json else sys.stderr
    say(f"keys create: {printable(request.summary)}", preview)
    say(f"  raw keys to {printable(where)}, written before any key exists in Redis", preview)
    if args.dry_run:
        return 0
    if not _confirm(args, confirm, f"Create {plural(request.count, 'key')}?", request.count):
        say("nothing created", sys.stderr)
        return 1
    with args.stops.write(), args.stops.during_run(True) as cancel:
        outcome = await session.create_keys(request, minter, out, cancel)
    return _report(args, outcome, "created")


async def cmd_keys_rotate(
    session: KeyopsSession, args: argparse.Namespace, confirm: Confirm, ids: Ids
) -> int:
    from keyops.core.api import minter_from

    minter = minter_from(os.environ, args.crs_env)
    out = _out(args)
    targets = await session.targets(args.where, ids(args))
    preview = await session.rotate_preview(targets)
    shown = sys.stdout if args.dry_run and not args.json else sys.stderr
    say(
        f"keys rotate: {plural(len(preview.keys), 'key')} get new raw keys (same id, settings, "
        "usage); each old raw key stops authenticating at once",
        shown,
    )
    for key_id, name in preview.keys[:10]:
        say(f"  {key_id}  {printable(name)}", shown)
    if len(preview.keys) > 10:
        say(f"  ... and {len(preview.keys) - 10} more", shown)
    if preview.skipped:
        say(
            f"  {plural(len(preview.skipped), 'key')} left alone (soft-deleted or not a key)", shown
        )
    if args.dry_run or not preview.keys:
        return 0
    if not _confirm(
        args, confirm, f"Rotate {plural(len(preview.keys), 'key')}?", len(preview.keys)
    ):
        say("nothing rotated", sys.stderr)
        return 1
    with args.stops.write(), args.stops.during_run(True) as cancel:
        outcome = await session.rotate_keys(preview, minter, out, cancel)
    return _report(args, outcome, "rotated")
