"""A stateful property test on real redis-server (issue 11, "Done means").

Hypothesis interleaves, on a 30-key copy of the CRS fixture (tests/support/state_steps.py
holds the steps and the fixture):
- keyops batches through `KeyopsSession` (tags add/remove/replace, enable/disable, account
  assignment; atomic and best effort; over queries and id lists; planned from a fresh or a stale
  key list), reverts of finished operations, recoveries (roll back or resume) of interrupted ones;
- the operator's Ctrl+C mid-batch, and SIGKILL mid-batch (tests/support/sudden_death.py: the
  process stops dead, its lease then lapses, its record stays `running`);
- CRS itself (tests/support/crs_actors.py), alone or racing a batch between its chunks:
  whole-hash rewrites from requests that read the key before keyops wrote it, admin edits,
  soft delete and restore; index drift (a key dropped from `apikey:idx:all`, `idx:all` gone)
  and CRS's index rebuild; odd values (an unpaired surrogate, control characters, a 70-char
  tag, a damaged or past `expiresAt`) and hand edits of a Claude binding.

After every step, `KeyopsMachine.everything_holds` checks what must always hold:
- CRS's index invariants (tests/support/invariants.py, the independent checker), except for
  CRS's own drift until its rebuild, and for keys CRS rewrote during a run that was then killed
  (keyops never got to verify them) until that run is recovered;
- no soft-deleted key is active;
- keyops never leaves a key bound to both `claudeAccountId` and `claudeConsoleAccountId`;
- journal = audit: each operation's journal lists exactly the keys its `applied` audit entries
  list, each once;
- every change keyops made is in the audit trail, exactly: replaying the step's audit entries
  on the state before it gives the state after it, field for field (keys CRS wrote during the
  step aside);
- no finished operation still claims keys; `interrupted_operations` lists exactly the
  operations that were killed (or could not finish their rollback) and not yet recovered;
- a finished operation's count of keys written (`applied`) equals its journal.
Rules check what belongs to one step: a batch never writes keys of an interrupted operation
(it is refused, naming it); a forward edit never writes a key CRS soft-deleted before its chunk
went out; a best-effort disable disables every live key it targets; a revert of a change that
spans fields (a binding and its partner) restores all of them or leaves the key alone; a
recovery closes its operation (a rollback that closes it leaves no key holding its change); a
fresh key list shows every key record.

Runs: `KEYOPS_STATEFUL_EXAMPLES` (default 20) examples of up to `KEYOPS_STATEFUL_STEPS`
(default 25) steps: the same examples every run, or another set for each `--hypothesis-seed N`
(the same set for the same N). `KEYOPS_STATEFUL_SHRINK=1` shrinks a failure to its fewest
steps (minutes). The test prints "N examples, M steps" and what they exercised, and records
both numbers in the test report (`record_property`). `KEYOPS_STATEFUL_SKIP=class,...` turns off
the checks of named failure classes (`KNOWN_CLASSES`) to look past a known one.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from keyops.core.api import (
    BatchConfig,
    BatchPlan,
    KeyopsError,
    KeyopsSession,
    OperationRecord,
    OpStatus,
    OpType,
    ProgressEvent,
    RunnerSettings,
)
from tests.support.dump import load_dump
from tests.support.invariants import as_node_writes, crs_index_problems
from tests.support.redis_server import RedisServer
from tests.support.state_steps import (
    CHUNK,
    FIXTURE,
    GROUP_CLAUDE,
    HAND_TYPED_CLAUDE_ACCOUNT,
    Assign,
    Cancel,
    Crash,
    CrsAct,
    Drift,
    Ids,
    Racer,
    Request,
    Status,
    Tags,
    Where,
    aim,
    crs_acts,
    deleted_before_written,
    drifts,
    racers,
    requests,
    selections,
    stops,
    stored_tags,
)
from tests.support.sudden_death import DoomedProcess

T = TypeVar("T")

EXAMPLES = int(os.environ.get("KEYOPS_STATEFUL_EXAMPLES", "20"))
STEPS = int(os.environ.get("KEYOPS_STATEFUL_STEPS", "25"))
SHRINK = os.environ.get("KEYOPS_STATEFUL_SHRINK", "") not in ("", "0")
# Failure classes of issue 11 being fixed on other branches. Each check says which class it
# guards; KEYOPS_STATEFUL_SKIP=class,class turns those checks off, to look past a known failure
# for others. With nothing skipped (the default) every check is on.
KNOWN_CLASSES = {
    "stale-read": "a write guarded only by what was read at planning (deleted key enabled)",
    "rollback-index": "a rollback under CRS's whole-hash rewrites leaves tag index entries",
    "half-revert": "a revert restores some fields of a key changed since, not all or none",
    "protect": "an interrupted op's keys are not protected from another batch",
    "close": "ops recover does not close an op (claims left, still listed) or counts wrong",
    # Found by this test: keys a killed run wrote are never verified again, so a CRS rewrite
    # that put one back before the kill stays (the record lacks the change, the index has it).
    "unverified-resume": "a resume does not verify the keys the killed run wrote",
}
SKIP = {name for name in os.environ.get("KEYOPS_STATEFUL_SKIP", "").split(",") if name}
assert not SKIP - set(KNOWN_CLASSES), (
    f"KEYOPS_STATEFUL_SKIP: known classes are {sorted(KNOWN_CLASSES)}"
)


def checked(failure_class: str) -> bool:
    return failure_class not in SKIP


DB = 7  # its own database: FLUSHDB between examples touches nothing else

# The checker's lines about one tag set (a tag may hold spaces).
TAG_SET_LINE = re.compile(
    r"^apikey:tag:(.*) (?:holds \d+ ids, records say \d+|lists ids but no record)"
)

# keyops's own bookkeeping (the facade does not hand these out).
AUDIT_STREAM = "keyops:audit"
KEY_LOCKS = "keyops:keylocks"
OPS_INDEX = "keyops:ops"

# How many examples and steps ran (all tests in this module).
RUN: Counter[str] = Counter()


# -- the machine ---------------------------------------------------------------------------


def _protected_by(interrupted: dict[str, set[str]], skip: set[str]) -> dict[str, str]:
    """key id -> the interrupted op whose journal holds it (ops in `skip` left out)."""
    return {key: op for op, written in interrupted.items() if op not in skip for key in written}


@dataclass
class StepLog:
    touched: set[str] = field(default_factory=set)  # keys CRS wrote during the step
    deleted_before_written: set[str] = field(default_factory=set)


class KeyopsMachine(RuleBasedStateMachine):
    port = 0

    def __init__(self) -> None:
        super().__init__()
        RUN["examples"] += 1
        self.loop = asyncio.Runner()
        self.client = aioredis.Redis(
            port=self.port, db=DB, decode_responses=True, encoding_errors="surrogateescape"
        )
        self.session = KeyopsSession.from_client(self.client, "state machine", self._config())
        self.doomed: list[DoomedProcess] = []
        # Op ids in the order they were made: choices among ops must not depend on op ids
        # (random) or start times (equal within a millisecond), or a replay would differ.
        self.ops_made: list[str] = []
        self.interrupted: dict[str, set[str]] = {}  # op id -> keys its journal holds
        self.recovers: dict[str, str] = {}  # rollback op id -> the op it rolls back
        # Keys CRS rewrote while a run that was then killed had them: keyops's verify never
        # ran, so the record may lack a change keyops's index update already made. Owed by
        # the recovery; until then not counted against keyops. op id -> keys.
        self.unverified: dict[str, set[str]] = {}
        # Keys such a recovery left unrepaired, by the class the failure belongs to.
        self.left_by: dict[str, set[str]] = {}
        self.drift = False
        self.step = StepLog()
        self.audit_cursor = "0-0"
        self.applied: dict[str, Counter[str]] = {}
        self.before: dict[str, dict[str, str]] = {}
        self._run(self._reset())

    # -- plumbing ---------------------------------------------------------------------------

    def _run(self, work: Awaitable[T]) -> T:
        return self.loop.run(work)  # type: ignore[arg-type]

    def _config(self, hook: Any = None) -> BatchConfig:
        return BatchConfig(RunnerSettings(chunk_size=CHUNK, verify_delay=0.0, before_chunk=hook))

    async def _reset(self) -> None:
        await self.client.flushdb()
        await load_dump(self.client, FIXTURE)
        await self.session.load(refresh=True)
        self.before = await self._records()

    def teardown(self) -> None:
        for process in self.doomed:
            process.dispose()
        self._run(self.client.aclose())
        self.loop.close()

    async def _records(self) -> dict[str, dict[str, str]]:
        """Every key record, found as CRS's two-part rule finds them (no index trusted)."""
        ids = [
            name.split(":")[1]
            async for name in self.client.scan_iter(match="apikey:*", count=1000, _type="hash")
            if name.count(":") == 1 and name != "apikey:hash_map"
        ]
        pipe = self.client.pipeline(transaction=False)
        for key_id in ids:
            pipe.hgetall(f"apikey:{key_id}")
        return {
            key_id: dict(fields) for key_id, fields in zip(ids, await pipe.execute(), strict=True)
        }

    async def _operations(self) -> dict[str, tuple[OperationRecord, set[str]]]:
        """Every operation record with the keys its journal holds."""
        ids = await self.client.zrange(OPS_INDEX, 0, -1)
        pipe = self.client.pipeline(transaction=False)
        for op_id in ids:
            pipe.hgetall(f"keyops:op:{op_id}")
            pipe.hkeys(f"keyops:op:{op_id}:journal")
        replies = await pipe.execute()
        return {
            op_id: (OperationRecord.from_redis(replies[2 * n]), set(replies[2 * n + 1]))
            for n, op_id in enumerate(ids)
        }

    def _begin(self) -> None:
        RUN["steps"] += 1
        self.step = StepLog()

    def _hook(
        self,
        client: aioredis.Redis,
        racing: list[tuple[Racer, str]],
        stop: Cancel | Crash | None,
        cancel: asyncio.Event | None,
        death: asyncio.Event | None,
    ) -> Any:
        stale: dict[str, dict[str, str]] = {}
        touched = self.step.touched

        async def before_chunk(index: int) -> None:
            if isinstance(stop, Crash) and index == stop.at and death is not None:
                death.set()
                await asyncio.Event().wait()  # SIGKILL: nothing of this process runs again
            for one, key in racing:
                await one.act(client, index, key, stale, touched)
            if isinstance(stop, Cancel) and index == stop.at and cancel is not None:
                cancel.set()

        return before_chunk, stale

    def _execute(
        self,
        plan: BatchPlan,
        racing: list[Racer],
        stop: Cancel | Crash | None,
        resume: OperationRecord | None = None,
        recovery: bool = False,
    ) -> tuple[str, ProgressEvent | None]:
        """Runs a plan as the operator would (Ctrl+C, or killed, as `stop` says); returns its
        op id and last event (None when the process was killed)."""
        aimed = aim(racing, plan)
        self.step.deleted_before_written = deleted_before_written(aimed, plan)
        if isinstance(stop, Crash):
            return self._execute_and_die(plan, aimed, stop, resume, recovery)
        return self._run(self._execute_here(plan, aimed, stop, resume, recovery))

    async def _execute_here(
        self,
        plan: BatchPlan,
        racing: list[tuple[Racer, str]],
        stop: Cancel | None,
        resume: OperationRecord | None,
        recovery: bool,
    ) -> tuple[str, ProgressEvent | None]:
        cancel = asyncio.Event()
        hook, stale = self._hook(self.client, racing, stop, cancel, None)
        for one, key in racing:
            await one.act(self.client, -1, key, stale, self.step.touched)
        self.session.config = self._config(hook)
        events = (
            self.session.run_recovery(plan, resume, cancel)
            if recovery
            else self.session.run(plan, cancel)
        )
        seen = [event async for event in events]
        self.session.config = self._config()
        return (seen[0].op_id if seen else ""), seen[-1]

    def _execute_and_die(
        self,
        plan: BatchPlan,
        racing: list[tuple[Racer, str]],
        stop: Crash,
        resume: OperationRecord | None,
        recovery: bool,
    ) -> tuple[str, ProgressEvent | None]:
        """The same run in another keyops process, SIGKILLed before chunk `stop.at`."""
        process = DoomedProcess(self.port, DB)
        self.doomed.append(process)
        seen: list[ProgressEvent] = []

        async def work(death: asyncio.Event) -> None:
            hook, stale = self._hook(process.client, racing, stop, None, death)
            for one, key in racing:
                await one.act(process.client, -1, key, stale, self.step.touched)
            session = KeyopsSession.from_client(process.client, "doomed", self._config(hook))
            events = session.run_recovery(plan, resume) if recovery else session.run(plan)
            async for event in events:
                seen.append(event)

        _, died = process.run(work)
        op_id = seen[0].op_id if seen else ""
        RUN[f"killed mid-run: {died}"] += 1
        if not died:
            process.close()
            self.doomed.remove(process)
            return op_id, seen[-1]
        self._run(process.kill(self.client))
        if op_id:
            self._run(self.client.delete(f"keyops:lease:{op_id}"))  # its lease lapsed
        return op_id, None

    async def _journal_keys(self, op_id: str) -> set[str]:
        return set(await self.session.op_journal(op_id))

    async def _after_run(
        self,
        op_id: str,
        last: ProgressEvent | None,
        plan: BatchPlan,
        own: frozenset[str] = frozenset(),
    ) -> None:
        """What any run must respect, and the model's view of interrupted operations."""
        planned = {p.key_id for p in plan.plans}
        plan_type = plan.op_type.value
        protected = _protected_by(self.interrupted, skip=set(own))
        overlap = {key: protected[key] for key in planned if key in protected}
        outcome = last.outcome if last is not None else None
        if overlap and op_id and checked("protect"):
            holders = sorted(set(overlap.values()))
            written = await self._journal_keys(op_id)
            assert not (written & set(overlap)), (
                f"op {op_id} wrote {len(written & set(overlap))} keys of interrupted "
                f"operation(s) {holders} (it should have been refused, naming them)"
            )
            if outcome is not None:
                assert outcome.status is OpStatus.REFUSED and all(
                    holder in (outcome.message or "") for holder in holders
                ), (
                    f"op {op_id} on keys of interrupted {holders}: {outcome.status} {outcome.message!r}"
                )
        RUN[f"{plan_type}: {outcome.status.value if outcome else 'killed'}"] += 1
        if outcome is not None:
            RUN["keys re-applied after a CRS rewrite"] += outcome.counts.reapplied
            RUN["keys failed"] += outcome.counts.failed
            RUN["keys rolled back"] += outcome.counts.rolled_back
        if not op_id:
            return
        if op_id not in self.ops_made:
            self.ops_made.append(op_id)
        forward = plan.op_type in (OpType.TAGS, OpType.STATUS, OpType.ACCOUNTS)
        if forward and self.step.deleted_before_written and checked("stale-read"):
            wrote = await self._journal_keys(op_id) & self.step.deleted_before_written
            assert not wrote, (
                f"op {op_id} ({plan.summary}) wrote {sorted(wrote)} after CRS soft-deleted them"
            )
        if last is None or (outcome is not None and outcome.status is OpStatus.RUNNING):
            self.interrupted[op_id] = await self._journal_keys(op_id)
        if last is None:
            raced = self.step.touched & self.interrupted[op_id]
            self.unverified.setdefault(op_id, set()).update(raced)

    # -- keyops -----------------------------------------------------------------------------

    @rule(request=requests, selection=selections, refresh=st.booleans())
    def batch(self, request: Request, selection: Where | Ids, refresh: bool) -> None:
        self._batch(request, selection, refresh, [], None)

    @rule(
        request=requests,
        selection=selections,
        refresh=st.booleans(),
        racing=racers.filter(bool),
        stop=stops,
    )
    def batch_racing_crs(
        self,
        request: Request,
        selection: Where | Ids,
        refresh: bool,
        racing: list[Racer],
        stop: Cancel | Crash | None,
    ) -> None:
        self._batch(request, selection, refresh, racing, stop)

    @rule(
        request=requests,
        selection=selections,
        refresh=st.booleans(),
        stop=st.one_of(st.builds(Cancel, st.integers(0, 4)), st.builds(Crash, st.integers(0, 4))),
    )
    def batch_interrupted(
        self, request: Request, selection: Where | Ids, refresh: bool, stop: Cancel | Crash
    ) -> None:
        self._batch(request, selection, refresh, [], stop)

    def _batch(
        self,
        request: Request,
        selection: Where | Ids,
        refresh: bool,
        racing: list[Racer],
        stop: Cancel | Crash | None,
    ) -> None:
        self._begin()
        planned = self._run(self._plan_batch(request, selection, refresh))
        if planned is None:
            return  # refused up front (nothing matches, a target it will not bind...)
        ids, plan = planned
        RUN[f"batch writes {min(len(plan.plans), 8) // 4 * 4}+ keys"] += 1
        op_id, last = self._execute(plan, racing, stop)
        self._run(self._after_run(op_id, last, plan))
        outcome = last.outcome if last is not None else None
        if (
            isinstance(request, Status)
            and not request.enable
            and stop is None
            and outcome is not None
            and outcome.status is not OpStatus.REFUSED
        ):
            after = self._run(self._records())
            live = [
                key for key in ids
                if key not in self.step.touched and key in after
                and after[key].get("isDeleted") != "true" and after[key].get("isActive") != "false"
            ]  # fmt: skip
            if request.atomic:
                failed = outcome.status is not OpStatus.DONE
                assert failed or not live, f"atomic disable done, {live} still active"
            else:
                assert not live, (
                    f"best-effort disable left {len(live)} targeted keys active: {live}"
                )

    async def _plan_batch(
        self, request: Request, selection: Where | Ids, refresh: bool
    ) -> tuple[list[str], BatchPlan] | None:
        table, _ = await self.session.load(refresh=refresh)
        if refresh:
            records = set(await self._records())
            hidden = records - set(table.by_id)
            assert not hidden, (
                f"{len(hidden)} key records missing from a fresh key list: {sorted(hidden)}"
            )
        try:
            if isinstance(selection, Where):
                # Sorted: the order the key list loads in is Redis's SCAN order, which its
                # rehashing can change between runs; chunks, races and kills follow this order.
                ids = sorted(await self.session.targets(selection.query, None))
            else:
                ids = list(selection.ids)
            return ids, await self.session.plan(ids, request.build())
        except KeyopsError:
            return None

    @rule(which=st.integers(0, 50), racing=racers, stop=stops)
    def revert(self, which: int, racing: list[Racer], stop: Cancel | Crash | None) -> None:
        self._begin()
        planned = self._run(self._plan_revert(which))
        if planned is None:
            return
        reverted, journal, plan = planned
        before = self._run(self._records())
        op_id, last = self._execute(plan, racing, stop)
        self._run(self._after_run(op_id, last, plan))
        if not op_id:
            return
        after = self._run(self._records())
        written = self._run(self._journal_keys(op_id))
        for key, entry in journal.items():
            # All or nothing for a key whose change spans fields (a binding and its partner,
            # a status and an expiry). Tags are left out: a revert may judge their intent
            # (the tag it added) rather than the whole list.
            fields = {name: values for name, values in entry.items() if name != "updatedAt"}
            if len(fields) < 2 or "tags" in fields or key in self.step.touched:
                continue
            now = before.get(key, {})
            moved = sorted(
                name for name, (was, wrote) in fields.items() if now.get(name) not in (was, wrote)
            )
            not_back = sorted(
                name for name, (was, _) in fields.items() if after.get(key, {}).get(name) != was
            )
            if key in written and checked("half-revert"):
                assert not moved, (
                    f"revert {op_id} of {reverted} wrote {key} although {moved} changed since"
                )
                assert not not_back, (
                    f"revert {op_id} of {reverted} half-reverted {key}: {not_back} not restored"
                )

    async def _plan_revert(
        self, which: int
    ) -> tuple[str, dict[str, dict[str, list[str | None]]], BatchPlan] | None:
        records = [await self.session.op(op_id) for op_id in self.ops_made]
        finished = [
            record for record in records
            if record.status.finished and record.status is not OpStatus.REFUSED
        ]  # fmt: skip
        if not finished:
            return None
        record = finished[which % len(finished)]
        try:
            plan = await self.session.plan_revert(record.id)
        except KeyopsError:
            return None  # it wrote nothing
        return record.id, await self.session.op_journal(record.id), plan

    @precondition(lambda self: bool(self.interrupted))
    @rule(
        which=st.integers(0, 50),
        action=st.sampled_from(["rollback", "resume"]),
        racing=racers,
        stop=stops,
    )
    def recover(
        self, which: int, action: str, racing: list[Racer], stop: Cancel | Crash | None
    ) -> None:
        self._begin()
        op = list(self.interrupted)[which % len(self.interrupted)]
        record = self._run(self.session.op(op))
        try:
            plan, resume = self._run(self.session.plan_recovery(op, action))
        except KeyopsError as error:
            assert action == "resume" or not checked("close"), (
                f"ops recover {op} --rollback refused: {error}"
            )
            return  # not resumable: the operator rolls it back
        family = self._family(op)
        recovery_id, last = self._execute(plan, racing, stop, resume, recovery=True)
        if recovery_id and recovery_id != op:
            self.recovers[recovery_id] = op
        self._run(self._after_run(recovery_id, last, plan, own=family | {recovery_id}))
        if last is None:
            return  # killed again: still to recover
        for member in family | {recovery_id}:
            # An interrupted rollback finished by this run is closed whatever became of the op
            # it undoes (cancelled here, it leaves that op open, undoing, for --rollback).
            record_now = self._run(self.session.op(member)) if member else None
            if record_now is not None and record_now.status.finished and member != op:
                self.interrupted.pop(member, None)
        outcome = last.outcome
        assert outcome is not None
        if outcome.status is OpStatus.REFUSED and outcome.refused_by_lock:
            others = [other for other in self.interrupted if other not in family]
            assert any(other in (outcome.message or "") for other in others) or not checked(
                "close"
            ), f"ops recover {op} --{action} refused by its own recoveries: {outcome.message!r}"
            return  # another interrupted op holds some of its keys: recover that one first
        closed = self._run(self.session.op(op))
        if not closed.status.finished:
            # Still open is right only when the operator stopped the recovery, or when the
            # rollback could not finish (it says so).
            assert (
                isinstance(stop, Cancel)
                or outcome.status is OpStatus.RUNNING
                or not checked("close")
            ), (
                f"ops recover {op} --{action} ended {outcome.status.value} "
                f"({outcome.message!r}) but {record.type.value} op {op} is still open"
            )
            return
        if action == "rollback" and checked("close"):
            still = self._run(self._still_changed(op))
            assert not still, (
                f"ops recover {op} --rollback ended {outcome.status.value}: {op} is "
                f"{closed.status.value}, yet {still} still hold exactly what it wrote"
            )
        self.interrupted.pop(op, None)
        failure_class = "unverified-resume" if action == "resume" else "rollback-index"
        for member in self._family(op):
            if member not in self.interrupted:
                owed = self.unverified.pop(member, set())
                self.left_by.setdefault(failure_class, set()).update(owed)

    async def _still_changed(self, op: str) -> list[str]:
        """Keys (CRS left them alone this step) holding every value `op` wrote."""
        journal = await self.session.op_journal(op)
        after = await self._records()
        return sorted(
            key
            for key, entry in journal.items()
            if key not in self.step.touched
            and any(name != "updatedAt" for name in entry)
            and all(
                after.get(key, {}).get(name) == wrote
                for name, (_, wrote) in entry.items()
                if name != "updatedAt"
            )
        )

    def _family(self, op: str) -> frozenset[str]:
        """The op and every rollback of it, or of its rollbacks, and what it rolls back: they
        hold the same keys, and recovering one must not be refused by another."""
        family, frontier = {op}, [op]
        while frontier:
            current = frontier.pop()
            linked = {r for r, target in self.recovers.items() if target == current}
            if current in self.recovers:
                linked.add(self.recovers[current])
            frontier += list(linked - family)
            family |= linked
        return frozenset(family)

    # -- CRS and the people around it ------------------------------------------------------

    @rule(act=crs_acts)
    def crs(self, act: CrsAct) -> None:
        self._begin()
        self.step.touched.add(act.key)
        self._run(act.do(self.client))

    @rule(drift=drifts)
    def index_drift(self, drift: Drift) -> None:
        self._begin()
        self.drift = drift.kind != "rebuild"
        self._run(drift.do(self.client))

    # -- what always holds ----------------------------------------------------------------

    @invariant()
    def everything_holds(self) -> None:
        self._run(self._check())

    async def _check(self) -> None:
        after = await self._records()
        problems: list[str] = []
        problems += await self._index_problems(after)
        for key, fields in after.items():
            deleted_active = fields.get("isDeleted") == "true" and fields.get("isActive") == "true"
            if deleted_active and checked("stale-read"):
                problems.append(f"{key}: soft-deleted and active")
            was = self.before.get(key, {})
            both = bool(fields.get("claudeAccountId")) and bool(
                fields.get("claudeConsoleAccountId")
            )
            had_both = bool(was.get("claudeAccountId")) and bool(was.get("claudeConsoleAccountId"))
            if both and not had_both and key not in self.step.touched and checked("half-revert"):
                problems.append(
                    f"{key}: keyops left both claudeAccountId={fields['claudeAccountId']!r} and "
                    f"claudeConsoleAccountId={fields['claudeConsoleAccountId']!r}"
                )
        operations = await self._operations()
        problems += await self._audit_problems(after, operations)
        problems += await self._operation_problems(operations)
        self.before = after
        assert not problems, "\n".join(problems)

    async def _index_problems(self, after: dict[str, dict[str, str]]) -> list[str]:
        found = await crs_index_problems(self.client)
        if self.drift:  # CRS's own drift, kept until its index rebuild
            found = [line for line in found if not line.startswith("idx:all differs")]
        owed = {key for keys in self.unverified.values() for key in keys}
        kept = []
        for line in found:
            about = await self._keys_of(line, after)
            if about and about <= owed:
                continue  # CRS's race with a killed run: its recovery owes the repair
            if checked(self._class_of(line, about)):
                kept.append(line)
        return kept

    def _class_of(self, line: str, about: set[str]) -> str:
        """The failure class an index problem belongs to, as far as can be told."""
        for failure_class, keys in self.left_by.items():
            if about and about <= keys:
                return failure_class
        if ": set:active disagrees" in line or ": set:deleted disagrees" in line:
            return "stale-read"
        if line.startswith(("apikey:tag:", "tags:all")):
            return "rollback-index"
        return ""

    async def _keys_of(self, line: str, after: dict[str, dict[str, str]]) -> set[str]:
        """The keys an index problem is about (empty if it cannot tell)."""
        head = line.split(":", 1)[0]
        if head in after:
            return {head}
        carriers: dict[str, set[str]] = {}
        for key, fields in after.items():
            for tag in stored_tags(fields.get("tags")):
                carriers.setdefault(as_node_writes(tag), set()).add(key)
        tag_set = TAG_SET_LINE.match(line)
        if tag_set:
            stored = set(await self.client.smembers(f"apikey:tag:{tag_set[1]}"))
            return stored ^ carriers.get(tag_set[1], set())
        if line.startswith("tags:all lacks "):
            lacking = ast.literal_eval(line[len("tags:all lacks ") :])
            return {key for tag in lacking for key in carriers.get(tag, set())}
        return set()

    async def _audit_problems(
        self,
        after: dict[str, dict[str, str]],
        operations: dict[str, tuple[OperationRecord, set[str]]],
    ) -> list[str]:
        """The step's audit entries, replayed on the state before it, give the state after it;
        each op's `applied` keys are its journal's keys, each once."""
        problems: list[str] = []
        entries = await self.client.xrange(AUDIT_STREAM, f"({self.audit_cursor}", "+")
        replay = {key: dict(fields) for key, fields in self.before.items()}
        audited: set[str] = set()
        for entry_id, raw in entries:
            self.audit_cursor = entry_id
            if "keys" not in raw:
                continue
            op_id, event = raw.get("op", ""), raw.get("event", "")
            for item in json.loads(raw["keys"]):
                key, changes = item["key"], item["changes"]
                if event == "applied":
                    self.applied.setdefault(op_id, Counter())[key] += 1
                if key in self.step.touched:
                    continue
                audited.add(key)
                state = replay.setdefault(key, {})
                for name, (was, now) in changes.items():
                    if state.get(name) != was:
                        problems.append(
                            f"{key}: {event} entry of {op_id} says {name} was {was!r}, "
                            f"it held {state.get(name)!r}"
                        )
                    if now is None:
                        state.pop(name, None)
                    else:
                        state[name] = now
        for key in set(after) | set(self.before):
            if key in self.step.touched:
                continue
            expected, actual = replay.get(key, {}), after.get(key, {})
            if expected != actual:
                fields = sorted(
                    n for n in set(expected) | set(actual) if expected.get(n) != actual.get(n)
                )
                source = "audited" if key in audited else "unaudited"
                problems.append(
                    f"{key}: {source} change of {fields} does not match the audit trail"
                )
        for op_id, counts in self.applied.items():
            twice = sorted(key for key, count in counts.items() if count > 1)
            if twice:
                problems.append(f"op {op_id}: applied twice by the audit trail: {twice}")
        for op_id, (_, journal) in operations.items():
            listed = set(self.applied.get(op_id, ()))
            if journal != listed:
                problems.append(
                    f"op {op_id}: journal holds {len(journal)} keys, audit 'applied' lists "
                    f"{len(listed)} (journal only: {sorted(journal - listed)}, "
                    f"audit only: {sorted(listed - journal)})"
                )
        return problems

    async def _operation_problems(
        self, operations: dict[str, tuple[OperationRecord, set[str]]]
    ) -> list[str]:
        problems: list[str] = []
        records = {op_id: record for op_id, (record, _) in operations.items()}
        claims = await self.client.hgetall(KEY_LOCKS)
        held = Counter(claims.values())
        for op_id, count in held.items():
            record = records.get(op_id)
            if record is not None and record.status.finished and checked("close"):
                problems.append(
                    f"op {op_id} is {record.status.value} but still claims {count} keys"
                )
        listed = {record.id for record in await self.session.interrupted_operations()}
        if listed != set(self.interrupted) and checked("close"):
            problems.append(
                f"interrupted_operations lists {sorted(listed)}, the ops left interrupted are "
                f"{sorted(self.interrupted)}"
            )
        for op_id, (record, journal) in operations.items():
            # What the CLI reports as "N of M written" is `applied`: it must be the journal.
            if (
                record.status.finished
                and record.counts.applied != len(journal)
                and checked("close")
            ):
                problems.append(
                    f"op {op_id} ({record.summary}, {record.status.value}) says "
                    f"{record.counts.applied} keys written, its journal holds {len(journal)}"
                )
        return problems


# The shortest runs found for each failure class (by this test, shrunk and tidied by hand):
# each must pass once its class is fixed.
ALPHA_CONSOLE_1 = "a67e9406-3e87-476a-8922-685dcf54b83b"
THETA_PERM_OPENAI = "45ec77d1-8c4e-4517-a793-b85b74707405"  # no Claude or Console binding
Step = tuple[str, tuple[Any, ...]]
PROGRAMS: dict[str, list[Step]] = {
    "stale-read: a tag added to a key CRS deleted after planning": [
        ("batch_racing_crs", (Tags("add", ("incident",), "merge", False), Where(""), False,
                              [Racer("delete", 0, 0)], None)),
    ],
    "stale-read: a key CRS deleted after planning enabled again": [
        ("batch", (Status(False), Where(""), True)),
        ("batch_racing_crs", (Status(True), Where("status:disabled"), True,
                              [Racer("delete", 0, 0)], None)),
    ],
    "rollback-index: Ctrl+C after CRS put a key back leaves its tag set entry": [
        ("batch_racing_crs", (Tags("add", ("prod",), "merge", True), Where(""), True,
                              [Racer("usage", 5, 0, 3)], Cancel(5))),
    ],
    "half-revert: a hand-changed Claude binding, then a revert of the assignment": [
        ("batch", (Assign(f"claude=group:{GROUP_CLAUDE}", True, True), Ids((ALPHA_CONSOLE_1,)),
                   True)),
        ("crs", (CrsAct("binding", ALPHA_CONSOLE_1, ("claudeAccountId", HAND_TYPED_CLAUDE_ACCOUNT)),)),
        ("revert", (0, [], None)),
    ],
    "half-revert: undoing a revert binds Claude again beside a Console binding": [
        ("batch", (Assign(f"claude=group:{GROUP_CLAUDE}", True, True), Ids((THETA_PERM_OPENAI,)),
                   True)),
        ("revert", (0, [], None)),
        ("batch", (Assign("console=console-loop-shared", True, True), Ids((THETA_PERM_OPENAI,)),
                   True)),
        ("revert", (1, [], None)),
    ],
    "protect: a second batch on a killed op's keys": [
        ("batch_interrupted", (Tags("add", ("team-a",), "merge", False), Where(""), True, Crash(1))),
        ("batch", (Tags("add", ("incident",), "merge", False), Where(""), True)),
    ],
    "close: rolling back an op killed before it wrote": [
        ("batch_interrupted", (Tags("add", ("team-a",), "merge", False), Where(""), True, Crash(0))),
        ("recover", (0, "rollback", [], None)),
    ],
    "close: Ctrl+C during ops recover --rollback": [
        ("batch_interrupted", (Tags("add", ("incident",), "merge", True), Where(""), True, Crash(3))),
        ("recover", (0, "rollback", [], Cancel(1))),
    ],
    "close: a resumed op's claims and counts": [
        ("batch_interrupted", (Tags("add", ("incident",), "merge", False), Where(""), True, Crash(3))),
        ("recover", (0, "resume", [], None)),
    ],
    "unverified-resume: CRS put a key back before the kill": [
        ("batch_racing_crs", (Tags("add", ("crs-tag",), "merge", False), Where(""), False,
                              [Racer("usage", 0, 0, 2)], Crash(7))),
        ("recover", (0, "resume", [], None)),
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_the_shortest_known_failures(
    name: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run checked for its own class alone, so it passes as soon as that class is fixed
    (the full property test above checks them all)."""
    failure_class = name.split(":", 1)[0]
    monkeypatch.setattr(f"{__name__}.SKIP", set(KNOWN_CLASSES) - {failure_class})
    KeyopsMachine.port = redis_server.port
    machine = KeyopsMachine()
    try:
        machine.everything_holds()
        for rule_name, args in PROGRAMS[name]:
            getattr(machine, rule_name)(*args)
            machine.everything_holds()
    finally:
        machine.teardown()


def test_keyops_keeps_every_key_right_whatever_happens_around_it(
    redis_server: RedisServer,
    request: pytest.FixtureRequest,
    record_property: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    KeyopsMachine.port = redis_server.port
    RUN.clear()
    # The same examples every run unless a seed is given (`--hypothesis-seed N`: another run,
    # the same one for the same N). A failure is shown as generated; shrinking it to the
    # fewest steps takes minutes (KEYOPS_STATEFUL_SHRINK=1).
    seeded = request.config.getoption("--hypothesis-seed", None) is not None
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if SHRINK:
        phases += [Phase.shrink, Phase.explain]
    try:
        run_state_machine_as_test(
            KeyopsMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                derandomize=not seeded,
                phases=phases,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        record_property("examples", RUN["examples"])
        record_property("steps", RUN["steps"])
        exercised = ", ".join(
            f"{name} {count}"
            for name, count in sorted(RUN.items())
            if name not in ("examples", "steps")
        )
        with capsys.disabled():
            print(f"\nstate machine: {RUN['examples']} examples, {RUN['steps']} steps")
            print(f"exercised: {exercised}")
