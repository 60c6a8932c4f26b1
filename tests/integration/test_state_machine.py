"""A stateful property test on real redis-server (issue 11, "Done means").

Hypothesis interleaves, on a 30-key copy of the CRS fixture:
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
- CRS's index invariants (tests/support/invariants.py, the independent checker);
- no soft-deleted key is active;
- keyops never leaves a key bound to both `claudeAccountId` and `claudeConsoleAccountId`;
- journal = audit: each operation's journal lists exactly the keys its `applied` audit entries
  list, each once;
- every change keyops made is in the audit trail, exactly: replaying the step's audit entries
  on the state before it gives the state after it, field for field (keys CRS wrote during the
  step aside);
- no finished operation still claims keys; `interrupted_operations` lists exactly the
  operations that were killed (or could not finish their rollback) and not yet recovered;
- a finished operation's count of keys written equals its journal.
Rules check what belongs to one step: a batch never writes keys of an interrupted operation
(it is refused, naming it), a best-effort disable disables every live key it targets, a revert
either restores every field of a key or leaves the key alone, a recovery closes its operation,
and a fresh key list shows every key record.

Runs: `KEYOPS_STATEFUL_EXAMPLES` (default 12) examples of up to `KEYOPS_STATEFUL_STEPS`
(default 25) steps; the same `--hypothesis-seed` gives the same run. The test prints
"N examples, M steps" and records both in the test report.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.control import note
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from keyops.core.api import (
    AccountAssign,
    BatchConfig,
    BatchPlan,
    KeyopsError,
    KeyopsSession,
    OperationRecord,
    OpStatus,
    OpType,
    ProgressEvent,
    RunnerSettings,
    StatusChange,
    TagEdit,
)
from tests.support import crs_actors
from tests.support.dump import crs_fixture_subset, load_dump
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer
from tests.support.sudden_death import DoomedProcess

T = TypeVar("T")

EXAMPLES = int(os.environ.get("KEYOPS_STATEFUL_EXAMPLES", "12"))
STEPS = int(os.environ.get("KEYOPS_STATEFUL_STEPS", "25"))
# Failure classes of issue 11 being fixed on other branches. Each check says which class it
# guards; KEYOPS_STATEFUL_SKIP=class,class turns those checks off, to look past a known failure
# for others. With nothing skipped (the default) every check is on.
KNOWN_CLASSES = {
    "stale-read": "a write guarded only by what was read at planning (deleted key enabled)",
    "rollback-index": "a rollback under CRS's whole-hash rewrites leaves tag index entries",
    "half-revert": "a revert restores some fields of a key changed since, not all or none",
    "protect": "an interrupted op's keys are not protected from another batch",
    "close": "ops recover does not close an op (claims left, still listed) or counts wrong",
}
SKIP = {name for name in os.environ.get("KEYOPS_STATEFUL_SKIP", "").split(",") if name}
assert not SKIP - set(KNOWN_CLASSES), (
    f"KEYOPS_STATEFUL_SKIP: known classes are {sorted(KNOWN_CLASSES)}"
)


def checked(failure_class: str) -> bool:
    return failure_class not in SKIP


DB = 7  # its own database: FLUSHDB between examples touches nothing else
CHUNK = 4  # 30 keys make up to 8 chunks, so a crash or a race can land between any two

# keyops's own bookkeeping (the facade does not hand these out).
AUDIT_STREAM = "keyops:audit"
KEY_LOCKS = "keyops:keylocks"
OPS_INDEX = "keyops:ops"

_SAMPLED = {
    "bulk-p1_1", "bulk-p1_2", "bulk-p2_1", "bulk-p2_2", "crs-client-20261127022019-0000",
    *(f"loop-20261127021931-000{n}" for n in range(4)),
}  # fmt: skip


def _small(key_id: str, fields: dict[str, str]) -> bool:
    """The 21 hand-made keys and 9 of the generated ones."""
    name = fields.get("name", "")
    return not name.startswith(("bulk-p", "loop-", "crs-client-")) or name in _SAMPLED


FIXTURE = crs_fixture_subset(_small)
IDS = sorted(
    name.split(":", 1)[1]
    for name, entry in FIXTURE.items()
    if name.count(":") == 1 and name.startswith("apikey:") and entry["type"] == "hash"
    and name != "apikey:hash_map"
)  # fmt: skip
GROUP_CLAUDE = next(
    name.split(":", 1)[1]
    for name, entry in FIXTURE.items()
    if name.startswith("account_group:") and entry["value"].get("platform") == "claude"
)
CONSOLE_ACCOUNTS = sorted(
    name.split(":", 1)[1]
    for name, entry in FIXTURE.items()
    if name.startswith("claude_console_account:") and entry["type"] == "hash"
)

# How many examples and steps ran (all tests in this module).
RUN: Counter[str] = Counter()


# -- what a step does, as values hypothesis shows when it reports a failing run --------------


@dataclass(frozen=True)
class Tags:
    action: str
    tags: tuple[str, ...]
    conflict: str = "merge"
    atomic: bool = True

    def build(self) -> TagEdit:
        return TagEdit.build(self.action, list(self.tags), self.conflict, self.atomic)


@dataclass(frozen=True)
class Status:
    enable: bool
    expires: str | None = None
    atomic: bool = False

    def build(self) -> StatusChange:
        return StatusChange.build(self.enable, self.expires, atomic=self.atomic)


@dataclass(frozen=True)
class Assign:
    pair: str
    overwrite: bool = False
    atomic: bool = True

    def build(self) -> AccountAssign:
        return AccountAssign.build(
            [self.pair], overwrite_existing=self.overwrite, atomic=self.atomic
        )


Request = Tags | Status | Assign


@dataclass(frozen=True)
class Where:
    query: str


@dataclass(frozen=True)
class Ids:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Cancel:
    """The operator presses Ctrl+C before chunk `at` is written."""

    at: int


@dataclass(frozen=True)
class Crash:
    """SIGKILL before chunk `at` is written."""

    at: int


@dataclass(frozen=True)
class Racer:
    """CRS acting while keyops runs. `at` is the chunk before which it acts (-1: after the
    plan was made, before the run). The rewrites (`usage`: a relayed request's `recordUsage`;
    `admin`: an admin edit of the description) read the key at `at` and write their stale
    copy back before chunk `until`; the others act at once. `pick` chooses the key among
    those keyops writes in that window (`aim`), so the race lands on a key the batch touches."""

    kind: str  # usage | admin | delete | restore | crs-tag
    pick: int
    at: int
    until: int = 0

    def candidates(self, planned: list[str]) -> list[str]:
        if self.kind == "restore":
            return IDS  # a key soft-deleted earlier comes back mid-batch
        first = max(self.at, 0) * CHUNK  # not yet sent when the racer reads or acts
        if self.kind in ("usage", "admin"):
            # Written and settled before the write-back lands: at chunk `until`, the chunk
            # before it may still be on the wire.
            return planned[first : (self.until - 1) * CHUNK]
        return planned[first:]

    async def act(
        self,
        client: aioredis.Redis,
        index: int,
        key: str,
        stale: dict[str, dict[str, str]],
        touched: set[str],
    ) -> None:
        if self.kind in ("usage", "admin"):
            if index == self.at:
                stale[key] = await crs_actors.read_record(client, key)
            elif index == self.until and key in stale:
                touched.add(key)
                old = stale.pop(key)
                if self.kind == "usage":
                    await crs_actors.record_usage(client, key, old)
                else:
                    await crs_actors.update_api_key(
                        client, key, {"description": "edited mid-batch"}, old
                    )
            return
        if index != self.at:
            return
        touched.add(key)
        if self.kind == "delete":
            await crs_actors.soft_delete(client, key)
        elif self.kind == "restore":
            await crs_actors.restore(client, key)
        else:
            current = await crs_actors.read_record(client, key)
            tags = _tags(current.get("tags"))
            if current and "crs-tag" not in tags:
                await crs_actors.update_api_key(client, key, {"tags": [*tags, "crs-tag"]})


def aim(racing: list[Racer], plan: BatchPlan) -> list[tuple[Racer, str]]:
    """Each racer with its key: one the batch writes in the racer's window if there is one,
    a key of the fixture otherwise; never two racers on one key (CRS racing CRS is not
    keyops's doing)."""
    planned = [p.key_id for p in plan.plans]
    aimed: list[tuple[Racer, str]] = []
    taken: set[str] = set()
    for one in racing:
        window = [k for k in one.candidates(planned) if k not in taken]
        pool = window or [k for k in IDS if k not in taken]
        key = pool[one.pick % len(pool)]
        taken.add(key)
        aimed.append((one, key))
        note(f"{one} acts on {key}{'' if window else ' (outside the batch)'}")
    return aimed


def deleted_before_written(aimed: list[tuple[Racer, str]], plan: BatchPlan) -> set[str]:
    """Keys CRS soft-deleted before keyops's chunk holding them was sent."""
    planned = [p.key_id for p in plan.plans]
    return {
        key for one, key in aimed
        if one.kind == "delete" and key in one.candidates(planned)
    }  # fmt: skip


def _tags(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [tag for tag in value if isinstance(tag, str)] if isinstance(value, list) else []


TAG_POOL = ("team-a", "incident", "bulk", "prod", "crs-tag")
keys = st.sampled_from(IDS)
requests = st.one_of(
    st.builds(
        Tags,
        action=st.sampled_from(["add", "add", "add", "remove", "replace"]),
        tags=st.lists(st.sampled_from(TAG_POOL), min_size=1, max_size=2, unique=True).map(tuple),
        conflict=st.sampled_from(["merge", "merge", "replace", "skip"]),
        atomic=st.booleans(),
    ),
    st.builds(
        Status,
        enable=st.booleans(),
        expires=st.sampled_from([None, None, "never"]),
        atomic=st.booleans(),
    ),
    st.builds(
        Assign,
        pair=st.sampled_from(
            [
                f"claude=group:{GROUP_CLAUDE}",
                "console=console-loop-shared",
                "console=shared",
                "claude=shared",
                "console=console-loop-group",
            ]
        ),
        overwrite=st.booleans(),
        atomic=st.booleans(),
    ),
)
selections = st.one_of(
    st.builds(
        Where,
        st.sampled_from(
            [
                "",
                "",
                "",
                "status:active",
                "status:active",
                "tag:team-a",
                "status:disabled",
                "tag:incident",
                "tag:bulk",
                "status:deleted",
                "tag:crs-tag",
                "bound:claude",
                "bound:console",
            ]
        ),
    ),
    st.builds(Ids, st.lists(keys, min_size=3, max_size=20, unique=True).map(tuple)),
)
stops = st.one_of(
    st.none(),
    st.builds(Cancel, st.integers(0, 7)),
    st.builds(Crash, st.integers(0, 7)),
)


@st.composite
def racer(draw: st.DrawFn) -> Racer:
    kind = draw(st.sampled_from(["usage", "usage", "admin", "delete", "restore", "crs-tag"]))
    at = draw(st.integers(-1, 5))
    until = at + draw(st.integers(2, 3)) if kind in ("usage", "admin") else 0
    return Racer(kind, draw(st.integers(0, 63)), at, until)


racers = st.lists(racer(), max_size=3)
ODD_TAGS = (
    "cut\ud83d",  # Node's JSON.stringify of a tag cut inside an emoji
    "bell\x07",
    "tab\there",
    "c1\x85",
    "x" * 70,
    " padded ",
    "\ufeffbom",
)


@dataclass(frozen=True)
class CrsAct:
    """One thing CRS (or a person at redis-cli) does to a key between keyops's steps."""

    kind: str  # delete | restore | request | tags | odd-tag | expiry | binding
    key: str
    arg: tuple[str, ...] = ()

    async def do(self, client: aioredis.Redis) -> None:
        key = self.key
        if self.kind == "delete":
            await crs_actors.soft_delete(client, key)
        elif self.kind == "restore":
            await crs_actors.restore(client, key)
        elif self.kind == "request":
            await crs_actors.record_usage(client, key)
        elif self.kind == "expiry":
            await crs_actors.update_api_key(client, key, {"expiresAt": self.arg[0]})
        elif self.kind == "binding":  # by hand: no updatedAt, no index
            await client.hset(f"apikey:{key}", self.arg[0], self.arg[1])
        else:  # an admin's tag edit (tags: add or remove; odd-tag: add)
            current = await crs_actors.read_record(client, key)
            if not current:
                return
            tag, tags = self.arg[0], _tags(current.get("tags"))
            add = self.kind == "odd-tag" or self.arg[1] == "add"
            new = [*tags, tag] if add and tag not in tags else [t for t in tags if t != tag]
            await crs_actors.update_api_key(client, key, {"tags": new}, current)


@dataclass(frozen=True)
class Drift:
    """CRS's indexes out of step with its records, or its rebuild putting them right."""

    kind: str  # dropped (the key leaves idx:all) | gone (idx:all deleted) | rebuild
    key: str = ""

    async def do(self, client: aioredis.Redis) -> None:
        if self.kind == "dropped":
            await client.srem("apikey:idx:all", self.key)
        elif self.kind == "gone":
            await client.delete("apikey:idx:all")
        else:
            await crs_actors.rebuild_indexes(client)


BINDINGS = (
    ("claudeAccountId", f"group:{GROUP_CLAUDE}"),
    ("claudeAccountId", ""),
    *(("claudeConsoleAccountId", account) for account in CONSOLE_ACCOUNTS),
    ("claudeConsoleAccountId", ""),
)
crs_acts = st.one_of(
    st.builds(CrsAct, st.sampled_from(["delete", "restore", "request"]), keys),
    st.builds(
        CrsAct,
        st.just("tags"),
        keys,
        st.tuples(st.sampled_from(TAG_POOL), st.sampled_from(["add", "remove"])),
    ),
    st.builds(CrsAct, st.just("odd-tag"), keys, st.tuples(st.sampled_from(ODD_TAGS))),
    st.builds(
        CrsAct,
        st.just("expiry"),
        keys,
        st.tuples(st.sampled_from(["not a date", "2020-01-01T00:00:00.000Z", "2026-13-45", ""])),
    ),
    st.builds(CrsAct, st.just("binding"), keys, st.sampled_from(BINDINGS)),
)
drifts = st.one_of(
    st.builds(Drift, st.just("dropped"), keys),
    st.builds(Drift, st.sampled_from(["gone", "rebuild"])),
)


# -- the machine ---------------------------------------------------------------------------


def _protected_by(interrupted: dict[str, set[str]], skip: str = "") -> dict[str, str]:
    """key id -> the interrupted op whose journal holds it."""
    return {key: op for op, written in interrupted.items() if op != skip for key in written}


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
        self.interrupted: dict[str, set[str]] = {}  # op id -> keys its journal holds
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
        self, op_id: str, last: ProgressEvent | None, plan: BatchPlan, own: str = ""
    ) -> None:
        """What any run must respect, and the model's view of interrupted operations."""
        planned = {p.key_id for p in plan.plans}
        plan_type = plan.op_type.value
        protected = _protected_by(self.interrupted, skip=own)
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
        forward = plan.op_type in (OpType.TAGS, OpType.STATUS, OpType.ACCOUNTS)
        if forward and self.step.deleted_before_written and checked("stale-read"):
            wrote = await self._journal_keys(op_id) & self.step.deleted_before_written
            assert not wrote, (
                f"op {op_id} ({plan.summary}) wrote {sorted(wrote)} after CRS soft-deleted them"
            )
        if last is None or (outcome is not None and outcome.status is OpStatus.RUNNING):
            self.interrupted[op_id] = await self._journal_keys(op_id)

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
                ids = await self.session.targets(selection.query, None)
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
        for key in written - self.step.touched:
            entry = journal.get(key, {})
            moved = {
                name for name, (_, after_value) in entry.items()
                if name != "updatedAt" and before.get(key, {}).get(name) != after_value
            }  # fmt: skip
            not_back = sorted(
                name for name, (before_value, _) in entry.items()
                if name != "updatedAt" and after.get(key, {}).get(name) != before_value
            )  # fmt: skip
            assert not not_back or not checked("half-revert"), (
                f"revert {op_id} of {reverted} half-reverted {key}: {not_back} not restored "
                f"(fields changed since the op: {sorted(moved)})"
            )

    async def _plan_revert(
        self, which: int
    ) -> tuple[str, dict[str, dict[str, list[str | None]]], BatchPlan] | None:
        finished = [
            record for record in await self.session.recent_ops(200)
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
        op = sorted(self.interrupted)[which % len(self.interrupted)]
        record = self._run(self.session.op(op))
        try:
            plan, resume = self._run(self.session.plan_recovery(op, action))
        except KeyopsError as error:
            assert action == "resume" or not checked("close"), (
                f"ops recover {op} --rollback refused: {error}"
            )
            return  # not resumable: the operator rolls it back
        recovery_id, last = self._execute(plan, racing, stop, resume, recovery=True)
        self._run(self._after_run(recovery_id, last, plan, own=op))
        if last is None or isinstance(stop, Cancel):
            return  # killed (or cancelled) again: still to recover
        outcome = last.outcome
        assert outcome is not None
        if outcome.status is OpStatus.REFUSED and outcome.refused_by_lock:
            return  # another interrupted op holds some of its keys: recover that one first
        if outcome.status is OpStatus.RUNNING:
            return  # the rollback could not finish; it says so and stays listed
        closed = self._run(self.session.op(op))
        assert closed.status.finished or not checked("close"), (
            f"ops recover {op} --{action} ended {outcome.status.value} ({outcome.message!r}) but "
            f"{record.type.value} op {op} is still {closed.status.value}"
        )
        self.interrupted.pop(op, None)

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
        problems += await self._index_problems()
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

    async def _index_problems(self) -> list[str]:
        found = await crs_index_problems(self.client)
        if self.drift:  # CRS's own drift, kept until its index rebuild
            found = [line for line in found if not line.startswith("idx:all differs")]
        if not checked("stale-read"):
            found = [line for line in found if ": set:active disagrees" not in line]
            found = [line for line in found if ": set:deleted disagrees" not in line]
        if not checked("rollback-index"):
            found = [line for line in found if not line.startswith(("apikey:tag:", "tags:all"))]
        return found

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
            if record.status.finished and record.type is not OpType.ROLLBACK and checked("close"):
                written = len(journal)
                counted = record.counts.applied + record.counts.already
                if counted != written:
                    problems.append(
                        f"op {op_id} ({record.summary}, {record.status.value}) counts "
                        f"{record.counts.applied} applied + {record.counts.already} already, "
                        f"its journal holds {written} keys"
                    )
        return problems


def test_keyops_keeps_every_key_right_whatever_happens_around_it(
    redis_server: RedisServer, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    KeyopsMachine.port = redis_server.port
    RUN.clear()
    try:
        run_state_machine_as_test(
            KeyopsMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        record_property("examples", RUN["examples"])
        record_property("steps", RUN["steps"])
        with capsys.disabled():
            print(f"\nstate machine: {RUN['examples']} examples, {RUN['steps']} steps")
            print(sorted(RUN.items()))
