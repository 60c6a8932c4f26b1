"""Headless batch commands: tags, accounts assign, status, ops, audit.

Every mutating command previews first (`--dry-run` stops there), asks before writing unless
`--yes`, streams progress to stderr and ends with a summary. Exit codes: 0 done, 1 failed or
rolled back, 2 bad input, 3 refused by a lock, 128 + N stopped by signal N (130 Ctrl+C,
129 SIGHUP, 143 SIGTERM; cli/interrupts.py says what a signal does to a running batch).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import Path
from typing import Any

from keyops.cli.interrupts import Stops
from keyops.cli.output import say
from keyops.cli.text import clip, pad, plural
from keyops.core.api import (
    TYPED_CONFIRM_ABOVE,
    AuditFilter,
    BadInput,
    BatchConfig,
    BatchPlan,
    KeyopsError,
    KeyopsSession,
    OperationRecord,
    OpStatus,
    Outcome,
    Phase,
    ProgressEvent,
    RunnerSettings,
    clean_id,
    json_text,
    parse_moment,
    printable,
    read_ids_file,
    settings_from_args,
    utc_text,
)

Handler = Callable[[KeyopsSession, argparse.Namespace], Coroutine[Any, Any, int]]

log = logging.getLogger("keyops.cli")


def run_batch_command(args: argparse.Namespace) -> int:
    check_output_path(getattr(args, "output", None))
    if getattr(args, "audit_retention_days", None) is not None:
        raise BadInput(
            "--audit-retention-days is gone: a batch no longer trims the audit trail, which is "
            "every operator's history; trim it with 'keyops audit trim --older-than DAYS' "
            "(previewed and audited)"
        )

    async def main() -> int:
        config = BatchConfig(RunnerSettings(audit_policy=getattr(args, "audit_failure", "block")))
        session = await KeyopsSession.open(settings_from_args(args), config)
        try:
            await warn_about_interrupted(session, args)
            handler: Handler = globals()[args.batch_handler]  # named by cli/parser.py
            return await handler(session, args)
        finally:
            await session.aclose()

    stops = args.stops = Stops()  # preview_and_run turns signals into the batch's cancel
    try:
        with stops.armed():
            return asyncio.run(main())
    except KeyboardInterrupt:
        # Connecting, planning or at the prompt (no batch had started), or a command's own write.
        line = (
            f"keyops: {stops.words}: stopped before writing anything; nothing was written"
            if stops.nothing_written
            else f"keyops: {stops.words}: stopped while writing; see what was done with "
            "'keyops audit list --limit 5'"
        )
        log.warning("%s", line)
        say(line)
        return stops.exit_code


async def warn_about_interrupted(session: KeyopsSession, args: argparse.Namespace) -> None:
    if getattr(args, "command", "") == "ops" and getattr(args, "action", "") == "recover":
        return
    # A user kept out of keyops's own keys hears of none: the batch's access check says what
    # is missing.
    for recovery in await session.recoveries():
        record = recovery.record
        print(
            f"keyops: operation {record.id} ({printable(record.summary)}) by "
            f"{printable(record.operator.label)} was interrupted ({_written(record)}); "
            f"{printable(recovery.advice)}",
            file=sys.stderr,
        )


def _written(record: OperationRecord) -> str:
    """How far an interrupted op got: the keys its journal holds, of those it planned."""
    return f"{record.counts.applied} of {plural(record.counts.planned, 'key')} written"


def _ids(args: argparse.Namespace) -> list[str] | None:
    ids: list[str] | None = None
    if args.ids:
        ids = [
            key_id for chunk in args.ids for part in chunk.split(",") if (key_id := clean_id(part))
        ]
    if args.ids_file:
        ids = (ids or []) + read_ids_file(args.ids_file)
    return ids


async def cmd_edit(session: KeyopsSession, args: argparse.Namespace) -> int:
    """Any edit kind: its request from the arguments (checked before a key is read), then
    the targets, the plan and the run."""
    request = args.edit_request(vars(args))
    deleted = getattr(args, "targets_deleted", False)
    where, ids = args.where, _ids(args)
    if where is None and ids is None and getattr(request, "everywhere", False):
        where = ""  # a tag rename or delete: every key, as CRS's tag routes
    targets = await session.targets(where, ids, deleted=deleted)
    return await preview_and_run(session, await session.plan(targets, request), args)


async def cmd_keys_purge(session: KeyopsSession, args: argparse.Namespace) -> int:
    """Purge cannot be undone, so it never runs on --yes: the operator types the count its
    preview shows (--confirm-purge N, or at the prompt 'purge N')."""
    targets = await session.targets(args.where, _ids(args), deleted=True)
    preview = await session.purge_preview(targets)
    count = len(preview.targets)
    if args.json and args.dry_run:
        listing = [{"id": t.key_id, "name": t.name, "usage_keys": len(t.usage_keys)}
                   for t in preview.targets]  # fmt: skip
        print(json_text({"purge": listing, "not_deleted": preview.refused}, indent=1))
        return 0
    out = sys.stdout if args.dry_run else sys.stderr
    say(
        f"keys purge: {plural(count, 'soft-deleted key')} and "
        f"{plural(preview.usage_keys, 'usage, rate-limit or concurrency key')} would be removed "
        "for good. A purge cannot be rolled back or reverted.",
        out,
    )
    for target in preview.targets[:10]:
        say(f"  {target.key_id}  {printable(target.name)}", out)
    if count > 10:
        say(f"  ... and {count - 10} more", out)
    if preview.refused:
        say(
            f"{plural(len(preview.refused), 'key')} not soft-deleted: left alone "
            "(purge removes only soft-deleted keys; keyops keys delete first)",
            out,
        )
    if args.dry_run:
        return 0
    if not count:
        say("nothing to purge", sys.stderr)
        return 0
    if args.confirm_purge is not None:
        if args.confirm_purge != count:
            raise BadInput(
                f"--confirm-purge {args.confirm_purge} does not match the {count} keys this "
                "purge removes: nothing purged"
            )
    elif not sys.stdin.isatty():
        raise BadInput(
            f"a purge cannot be undone: confirm it with --confirm-purge {count} (the number of "
            "keys it removes); --yes is not enough"
        )
    elif not typed_purge(count):
        say("nothing purged", sys.stderr)
        return 1
    with args.stops.write():
        outcome = await session.purge(preview)
    left = {key_id: status for key_id, status in outcome.items() if status != "purged"}
    if args.json:
        print(json_text({"purged": count - len(left), "left_alone": left}))
    else:
        print(f"purged {plural(count - len(left), 'key')}")
        for key_id, status in left.items():
            say(f"  left alone {key_id}: {status.replace('-', ' ')} since the preview", sys.stderr)
    return 0 if not left else 1


async def cmd_ops_revert(session: KeyopsSession, args: argparse.Namespace) -> int:
    return await preview_and_run(session, await session.plan_revert(args.op_id), args)


async def cmd_ops_recover(session: KeyopsSession, args: argparse.Namespace) -> int:
    if args.op_id is None:
        recoveries = await session.recoveries()
        if not recoveries:
            print("no interrupted operations")
            return 0
        for recovery in recoveries:
            record = recovery.record
            print(f"{record.id}  {printable(record.summary)}  by {printable(record.operator.label)}  "
                  f"({_written(record)})\n  {printable(recovery.advice)}")  # fmt: skip
        return 0
    if not (args.rollback or args.resume):
        raise BadInput("say how: --rollback (undo what it wrote) or --resume (finish it)")
    plan, resume = await session.plan_recovery(
        args.op_id, "rollback" if args.rollback else "resume"
    )
    # Closing the operation is a write of its own: it runs even with no key to write.
    return await preview_and_run(session, plan, args, resume=resume, closes=args.op_id)


async def cmd_ops_break_lock(session: KeyopsSession, args: argparse.Namespace) -> int:
    record = await session.op(args.op_id)
    if not args.yes and not confirm(
        f"break the lock of {record.id} ({printable(record.summary)}, "
        f"{printable(record.operator.label)})?",
        1,
    ):
        return 1
    with args.stops.write():
        broken = await session.break_lock(args.op_id)
    print(
        f"lock of {args.op_id} {'broken' if broken else 'was already gone'}; recorded in the audit trail"
    )
    if record.status is OpStatus.RUNNING:
        print(
            f"operation {args.op_id} is now interrupted: its keys stay locked until "
            f"'keyops ops recover {args.op_id} --rollback' undoes what it wrote or '--resume' "
            "finishes it"
        )
    return 0


async def cmd_ops_list(session: KeyopsSession, args: argparse.Namespace) -> int:
    records = await session.recent_ops(args.limit)
    if args.json:
        print(json_text([json.loads(r.model_dump_json()) for r in records], indent=1))
        return 0
    for record in records:
        who = printable(f"{record.operator.os_user}@{record.operator.host}")
        print(f"{record.id}  {_when(record.started_at)}  {record.status.value:<11}  {record.type.value:<8} "
              f"{record.counts.applied:>6} {'key ' if record.counts.applied == 1 else 'keys'}  {who}  {printable(record.summary)}")  # fmt: skip
    return 0


async def cmd_ops_show(session: KeyopsSession, args: argparse.Namespace) -> int:
    record = await session.op(args.op_id)
    journal = await session.op_journal(args.op_id)
    if args.json:
        print(json_text({"op": json.loads(record.model_dump_json()), "keys": journal}, indent=1))
        return 0
    print(_describe_op(record))
    for key_id, changes in sorted(journal.items()):
        for field, (before, after) in changes.items():
            if field != "updatedAt":
                print(f"  {printable(key_id)}  {printable(field)}: {before!r} -> {after!r}")
    return 0


async def cmd_audit_list(session: KeyopsSession, args: argparse.Namespace) -> int:
    shown = 0
    async for entry in session.audit_entries(_audit_filter(args)):
        if args.json:
            print(json_text({"entry_id": entry.entry_id, "time": _when(entry.time), "op_id": entry.op_id,
                             "event": entry.event, "key_id": entry.key_id, "changes": entry.changes,
                             "detail": entry.detail}))  # fmt: skip
        else:
            changes = ", ".join(
                f"{printable(f)}: {b!r} -> {a!r}"
                for f, (b, a) in entry.changes.items()
                if f != "updatedAt"
            )
            print(
                f"{_when(entry.time)}  {printable(entry.op_id)}  {printable(entry.event):<11} "
                f"{printable(entry.key_id) or '-'}  {changes}"
            )
        shown += 1
        if shown >= args.limit:
            break
    return 0


def check_output_path(path: Path | None) -> None:
    """Refuse an output file keyops cannot create before anything is read or written."""
    if path is None:
        return
    folder = path.parent
    if not folder.is_dir():
        raise BadInput(
            f"cannot write {printable(str(path))}: folder {printable(str(folder))} is missing"
        )


async def cmd_audit_export(session: KeyopsSession, args: argparse.Namespace) -> int:
    filters = _audit_filter(args)
    if args.output is None:
        count = await session.export_audit(sys.stdout, args.format, filters)
    else:
        temporary = args.output.with_name(args.output.name + ".partial")
        try:
            with temporary.open("w", encoding="utf-8", newline="") as out:
                count = await session.export_audit(out, args.format, filters)
            temporary.replace(args.output)  # no half-written export is left under the real name
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise BadInput(
                f"cannot write {printable(str(args.output))}: {error.strerror or error}"
            ) from None
    print(f"exported {plural(count, 'audit entry', 'audit entries')}", file=sys.stderr)
    return 0


async def cmd_audit_trim(session: KeyopsSession, args: argparse.Namespace) -> int:
    preview = await session.audit_trim_preview(args.older_than)
    cutoff = utc_text(preview.cutoff)
    if not preview.count:
        print(f"no audit entries are older than {args.older_than} days (before {cutoff} UTC)")
        return 0
    oldest = _when(preview.oldest) if preview.oldest is not None else "?"
    print(
        f"{plural(preview.count, 'audit entry', 'audit entries')} "
        f"{'is' if preview.count == 1 else 'are'} older than {args.older_than} days (before "
        f"{cutoff} UTC; the oldest from {oldest}); trimming removes them for every operator, "
        "and records who did it in the trail"
    )
    if args.dry_run:
        return 0
    if not args.yes and not confirm(
        f"Remove {plural(preview.count, 'audit entry', 'audit entries')}?", preview.count
    ):
        print("nothing removed", file=sys.stderr)
        return 1
    with args.stops.write():
        removed = await session.audit_trim(preview)
    print(f"removed {plural(removed, 'audit entry', 'audit entries')}")
    return 0


def _audit_filter(args: argparse.Namespace) -> AuditFilter:
    return AuditFilter(
        op_types=set(args.type or ()), since=_date(args.since, "--since"), until=_date(args.until, "--until"),
        key_id=args.key, operator=args.operator, op_id=args.op,
    )  # fmt: skip


def _date(text: str | None, option: str) -> float | None:
    return None if text is None else parse_moment(text, option)


def _when(epoch: float) -> str:
    return utc_text(epoch)


def _describe_op(record: OperationRecord) -> str:
    counts = record.counts
    return (
        f"{record.id}  {record.type.value}: {printable(record.summary)}\n"
        f"  by {printable(record.operator.label)}, {_when(record.started_at)} UTC, status {record.status.value}\n"
        f"  planned {counts.planned}, applied {counts.applied}, already {counts.already}, failed {counts.failed}, "
        f"skipped {counts.skipped}, rolled back {counts.rolled_back}, re-applied {counts.reapplied}, "
        f"drifting {counts.drifting}"
        + (f"\n  {printable(record.message)}" if record.message else "")
    )


def print_preview(plan: BatchPlan, out: Any = sys.stderr) -> None:
    print(f"{printable(plan.summary)}", file=out)
    change = f"{plural(len(plan.plans), 'key')} {'changes' if len(plan.plans) == 1 else 'change'}"
    print(f"  {change}, {len(plan.unchanged)} unchanged, {len(plan.skipped)} skipped"
          f" ({'all or nothing' if plan.atomic else 'best effort'})", file=out)  # fmt: skip
    if plan.tag_counts:
        common = ", ".join(f"{tag} ({n})" for tag, n in plan.tag_counts.most_common(12))
        print(f"  tags on these keys now: {printable(common)}", file=out)
    print_field_changes(plan, out)
    for key_id, name, before, after in plan.preview(10):
        shown = pad(clip(printable(name), 30), 30)
        print(f"  {printable(key_id[:8])} {shown} {printable(before)}  ->  {printable(after)}",
              file=out)  # fmt: skip
    if len(plan.plans) > 10:
        print(f"  … and {len(plan.plans) - 10} more", file=out)
    reasons: dict[str, int] = {}
    for _, reason in plan.skipped:
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1])[:10]:
        print(f"  skipped {count}: {printable(reason)}", file=out)
    for failure in plan.left_alone_keys()[:10]:
        print(_failure_line("left alone", failure), file=out)
    if len(plan.left_alone) > 10:
        print(f"  … and {len(plan.left_alone) - 10} more left alone", file=out)
    for warning in plan.warnings:
        print(f"  warning: {printable(warning)}", file=out)


def print_field_changes(plan: BatchPlan, out: Any, limit: int = 12) -> None:
    """Each field's transitions with their key counts, one line per field (most keys first)."""
    lines: dict[str, list[str]] = {}
    for name, before, after, keys in plan.field_changes():
        parts = lines.setdefault(name, [])
        if len(parts) < 4:
            parts.append(f"{_shown(before)} -> {_shown(after)} on {plural(keys, 'key')}")
        elif len(parts) == 4:
            parts.append("…")
    for name, parts in list(lines.items())[:limit]:
        print(f"  {printable(name)}: {printable(', '.join(parts))}", file=out)


def _shown(value: str | None) -> str:
    return clip(value, 40) if value else "∅"


def typed_purge(count: int) -> bool:
    """The operator types 'purge N' at the prompt (a purge never runs on y or --yes)."""
    return input(f"Type 'purge {count}' to remove them for good: ").strip() == f"purge {count}"


def confirm(question: str, count: int) -> bool:
    if not sys.stdin.isatty():
        raise BadInput("refusing to write without --yes: standard input is not a terminal")
    if count > TYPED_CONFIRM_ABOVE:
        answer = input(f"{question} Type {count} to confirm: ")
        return answer.strip() == str(count)
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


async def preview_and_run(
    session: KeyopsSession,
    plan: BatchPlan,
    args: argparse.Namespace,
    resume: OperationRecord | None = None,
    closes: str = "",
) -> int:
    """`closes`: the interrupted operation running this plan closes (it runs even when no
    key changes)."""
    if args.json and args.dry_run:
        print(json_text(_plan_json(plan), indent=1))
        return 0
    # A dry run's preview is its output (stdout); before a write it is the prompt's context.
    print_preview(plan, sys.stdout if args.dry_run else sys.stderr)
    if args.dry_run:
        return 0
    if not plan.plans and not closes:
        print("nothing to change", file=sys.stderr)
        if args.json:
            print(json_text(_nothing_json(plan), indent=1))
        return 0
    question = (
        f"Write {plural(len(plan.plans), 'key')}?"
        if plan.plans
        else f"No key to write: close operation {closes}?"
    )
    if not args.yes and not confirm(question, len(plan.plans)):
        print("nothing written", file=sys.stderr)
        return 1
    stops: Stops = args.stops
    # From here until the outcome is printed, a signal cancels the batch instead of the process.
    with stops.during_run(plan.atomic) as cancel:
        events: AsyncGenerator[ProgressEvent, None] = (
            session.run_recovery(plan, resume, cancel) if resume else session.run(plan, cancel)
        )
        outcome = await follow(events, stops)
        if outcome is None:
            return await report_left_open(session, stops, args)
        stopped = {"stopped_by": stops.first.name} if stops.first is not None else {}
        if args.json:
            say(json_text({**_outcome_json(outcome), **stopped}, indent=1), sys.stdout)
        else:
            print_outcome(outcome)
        if stops.first is None:
            return outcome.exit_code
        if outcome.status in (OpStatus.DONE, OpStatus.PARTIAL):
            stops.report(f"keyops: {stops.words} came after the last chunk was written: operation "
                         f"{outcome.op_id} finished ({outcome.status.value})")  # fmt: skip
            return outcome.exit_code
        # A cancelled op's message says what it did; any other end is named first.
        state = STATE_WORDS.get(outcome.status, "")
        state = f" {state}" if state else ""
        stops.report(f"keyops: stopped by {stops.words}: operation {outcome.op_id}{state}: "
                     f"{printable(outcome.message)}")  # fmt: skip
        return stops.exit_code


# How a batch a signal stopped can end besides cancelled (whose message says it all).
STATE_WORDS = {
    OpStatus.RUNNING: "is still open",
    OpStatus.ROLLED_BACK: "was rolled back",
    OpStatus.REFUSED: "was refused",
}


async def report_left_open(session: KeyopsSession, stops: Stops, args: argparse.Namespace) -> int:
    """The operator stopped following the run at once: the op stays open (runner.py records
    how far it got and how to recover it)."""
    message = f"run 'keyops ops recover {stops.op_id} --rollback' or '--resume'"
    with contextlib.suppress(KeyopsError):
        message = (await session.op(stops.op_id)).message or message
    stops.report(f"keyops: stopped at once by {stops.words}: operation {stops.op_id} is still "
                 f"open: {printable(message)}")  # fmt: skip
    if args.json:
        left = {"op_id": stops.op_id, "status": OpStatus.RUNNING.value, "message": message}
        stopped_by = stops.first.name if stops.first is not None else ""
        say(json_text({**left, "stopped_by": stopped_by}, indent=1), sys.stdout)
    return stops.exit_code


async def follow(events: AsyncGenerator[ProgressEvent, None], stops: Stops) -> Outcome | None:
    """Progress on stderr until the outcome; None when the operator stopped following."""
    tty = sys.stderr.isatty()
    last_print, last_phase = 0.0, Phase.PLANNED
    outcome: Outcome | None = None
    async with contextlib.aclosing(events):  # leaving early closes the run (runner.py)
        async for event in events:
            stops.seen(event)
            for failure in event.failures:
                say(f"\nfailed {printable(failure.key_id[:8]) or '-'} {printable(failure.name)}: "
                    f"{printable(failure.reason)}")  # fmt: skip
            if event.outcome is not None:
                outcome = event.outcome
                continue
            if stops.force:
                return None
            now = time.monotonic()
            steady = event.phase is last_phase and event.phase in STEADY_PHASES
            if steady and now - last_print < (0.2 if tty else 5.0):
                continue
            last_print, last_phase = now, event.phase
            eta = f", ETA {event.eta_seconds:.0f} s" if event.eta_seconds is not None else ""
            line = (f"{event.phase.value}: {event.done}/{event.total} ({event.percent:.0f}%), "
                    f"{event.keys_per_second:,.0f} keys/s{eta}, {event.failed} failed")  # fmt: skip
            say(("\r" + line) if tty else line, end="" if tty else "\n")
    if tty:
        say("")
    assert outcome is not None
    return outcome


# Phases that report every chunk: shown at most every 0.2 s on a terminal, 5 s in a log.
STEADY_PHASES = (Phase.APPLYING, Phase.ROLLING_BACK)


def _failure_line(kind: str, failure: Any) -> str:
    line = f"  {kind} {printable(failure.key_id) or '-'} {printable(failure.name)}: "
    line += printable(failure.reason)
    if failure.advice:
        line += f" ({printable(failure.advice)})"
    return line


def print_outcome(outcome: Outcome) -> None:
    say("\n".join(outcome_lines(outcome)), sys.stdout)


def outcome_lines(outcome: Outcome) -> list[str]:
    counts = outcome.counts
    if not outcome.op_id:  # refused before an operation was started
        return [f"batch {outcome.status.value}: {printable(outcome.message)}"]
    lines = [
        f"operation {outcome.op_id}: {outcome.status.value}",
        f"  applied {counts.applied}, already {counts.already}, failed {counts.failed}, skipped {counts.skipped}, "
        f"rolled back {counts.rolled_back}, re-applied after CRS rewrote them {counts.reapplied}",
    ]  # fmt: skip
    if outcome.message:
        lines.append(f"  {printable(outcome.message)}")
    lines += [_failure_line("failed", failure) for failure in outcome.failures[:20]]
    lines += [_failure_line("drifting", failure) for failure in outcome.drifting[:20]]
    lines += [_failure_line("NOT rolled back", failure) for failure in outcome.not_rolled_back[:20]]
    lines += [_failure_line("left alone", failure) for failure in outcome.left_alone[:20]]
    if len(outcome.left_alone) > 20:
        lines.append(
            f"  … and {len(outcome.left_alone) - 20} more left alone (--json lists every one)"
        )
    lines += [f"  warning: {printable(warning)}" for warning in outcome.warnings[:20]]
    if counts.applied and (
        outcome.status in (OpStatus.DONE, OpStatus.PARTIAL)
        or (outcome.status is OpStatus.CANCELLED and not counts.rolled_back)
    ):
        lines.append(f"  undo with: keyops ops revert {outcome.op_id}")
    if outcome.status is OpStatus.RUNNING:
        lines.append(
            f"  still open: keyops ops recover {outcome.op_id} --rollback (undo) | --resume (finish)"
        )
    return lines


def _plan_json(plan: BatchPlan) -> dict[str, Any]:
    return {
        "summary": plan.summary, "atomic": plan.atomic, "change": len(plan.plans),
        "unchanged": len(plan.unchanged), "skipped": [{"id": k, "reason": r} for k, r in plan.skipped],
        "conflicts": [{"id": k, "reason": r} for k, r in plan.conflicts],
        "left_alone": [{"id": k, "name": plan.name(k), "reason": r, "advice": a}
                       for k, r, a in plan.left_alone],
        "warnings": plan.warnings, "tags_now": dict(plan.tag_counts.most_common()),
        "field_changes": [{"field": f, "before": b, "after": a, "keys": n}
                          for f, b, a, n in plan.field_changes()],
        "keys": [
            {"id": p.key_id, "name": plan.name(p.key_id),
             "changes": {w.field: [w.before, w.after] for w in p.fields if w.field != "updatedAt"}}
            for p in plan.plans
        ],
    }  # fmt: skip


def _nothing_json(plan: BatchPlan) -> dict[str, Any]:
    """The result of a run that had nothing to write: the shape of an outcome, no operation."""
    return {
        "op_id": "", "status": "nothing to change",
        "counts": {"planned": 0, "applied": 0, "unchanged": len(plan.unchanged),
                   "skipped": len(plan.skipped)},
        "message": "nothing to change: every key already is as asked",
        "skipped": [{"id": k, "reason": r} for k, r in plan.skipped], "warnings": plan.warnings,
    }  # fmt: skip


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    def failures(items: tuple[Any, ...]) -> list[dict[str, str]]:
        return [
            {"id": f.key_id, "name": f.name, "reason": f.reason, "advice": f.advice} for f in items
        ]

    return {
        "op_id": outcome.op_id, "status": outcome.status.value, "counts": outcome.counts.model_dump(),
        "message": outcome.message, "failures": failures(outcome.failures),
        "drifting": failures(outcome.drifting), "not_rolled_back": failures(outcome.not_rolled_back),
        "left_alone": failures(outcome.left_alone), "warnings": list(outcome.warnings),
    }  # fmt: skip


async def cmd_keys_create(session: KeyopsSession, args: argparse.Namespace) -> int:
    from keyops.cli.secret_commands import cmd_keys_create as run

    return await run(session, args, confirm)


async def cmd_keys_rotate(session: KeyopsSession, args: argparse.Namespace) -> int:
    from keyops.cli.secret_commands import cmd_keys_rotate as run

    return await run(session, args, confirm, _ids)
