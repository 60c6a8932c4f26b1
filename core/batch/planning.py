"""Planning a batch: per key, the exact writes (or why the key is skipped), plus the preview.

Every kind of edit plans the same way: its `Edit` says what it wants of each key, and the one
write template (`edits.template`) turns that into the key's writes. The plan keeps that
decision (`decide`), so the runner re-plans a key whose fields moved between planning and
writing (a compare-and-set conflict) by the same rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from keyops.core.batch.progress import KeyFailure
from keyops.core.edits.base import (
    Decide,
    Decision,
    Edit,
    EditContext,
    EditRequest,
    Journal,
    Skip,
)
from keyops.core.edits.registry import BY_TYPE, EditKind, OpType, kind_of
from keyops.core.edits.revert import RevertEdit, RevertRequest, RollbackRequest
from keyops.core.edits.template import Outcome, WriteTemplate
from keyops.core.errors import BadInput, KeyopsError
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.damage import record_damage
from keyops.core.schema.encoding import decode_tags
from keyops.core.schema.platforms import BindingField
from keyops.core.schema.rows import KeyRow
from keyops.core.schema.writes import LIFECYCLE, UNJUDGED_FIELDS, FieldWrite, KeyWritePlan
from keyops.core.store.accounts import load_accounts
from keyops.core.store.key_table import LOAD_CHUNK, KeyTable, existing, read_fields
from keyops.core.wire.chunks import chunked

if TYPE_CHECKING:
    from keyops.core.batch.operations import OperationRecord

# Why a key planned is not there any more (a rollback that meets it has nothing to restore).
KEY_GONE = "the key no longer exists"


@dataclass(slots=True)
class BatchPlan:
    op_type: OpType
    summary: str
    params: dict[str, Any]
    atomic: bool
    decide: Decide
    index_ready: bool
    plans: list[KeyWritePlan] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    # (key id, reason, advice) of skips that need the operator's look (`Skip.advice`), e.g.
    # a revert's keys changed since: the outcome lists them by name.
    left_alone: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Names of keys for previews and messages come from the loaded key list, so a 100k plan
    # does not hold 100k names.
    name_lookup: Callable[[str], str] | None = None
    tag_counts: Counter[str] = field(default_factory=Counter)
    reverts: str = ""
    read_fields: tuple[str, ...] = ("isDeleted", "updatedAt")
    # Keys a plan made from the loaded list left to be decided on what Redis holds.
    replan_from_redis: list[str] = field(default_factory=list)
    # The fields whose damage skips a key (`Edit.judged`); None: every read field.
    judged: frozenset[str] | None = None

    def decide_on(self, key_id: str, stored: dict[str, str], damaged: str = "damaged") -> Decision:
        """The decision for a key's stored fields; a key whose judged fields (what this kind
        of decision depends on) hold values CRS never writes is skipped with the reason."""
        damage = record_damage(stored, self.judged)
        if damage:
            return Skip(f"{damaged}: {damage}")
        return self.decide(key_id, stored)

    def name(self, key_id: str) -> str:
        return self.name_lookup(key_id) if self.name_lookup is not None else ""

    def left_alone_keys(self) -> tuple[KeyFailure, ...]:
        """The keys `left_alone` lists, named, for the outcome."""
        return tuple(
            KeyFailure(key_id, self.name(key_id), reason, advice)
            for key_id, reason, advice in self.left_alone
        )

    @property
    def total(self) -> int:
        return len(self.plans) + len(self.unchanged) + len(self.skipped)

    def place(self, key_id: str, decision: Decision) -> None:
        """Files a key's decision: to write, unchanged, or skipped (and why)."""
        if type(decision) is KeyWritePlan:
            if decision.fields:
                self.plans.append(decision)
            else:
                self.unchanged.append(key_id)
            return
        assert isinstance(decision, Skip)
        self.skipped.append((key_id, decision.reason))
        if decision.conflict:
            self.conflicts.append((key_id, decision.reason))
        if decision.advice:
            self.left_alone.append((key_id, decision.reason, decision.advice))

    def preview(self, limit: int = 20) -> list[tuple[str, str, str, str]]:
        """(key id, name, before, after) for the first `limit` keys that change."""
        rows = []
        for plan in self.plans[:limit]:
            before, after = describe_change(plan)
            rows.append((plan.key_id, self.name(plan.key_id), before, after))
        return rows

    def field_changes(self) -> list[tuple[str, str | None, str | None, int]]:
        """(field, before, after, keys) of every transition the plan writes, most keys first,
        tags and updatedAt left out (tags have `tag_counts`): what a limit, rate or expiry
        edit does at a glance, e.g. concurrencyLimit 0 -> 5 on 950 keys, '' -> 5 on 50, and
        which keys an expiry turns active or inactive."""
        # Keys with equal fields share one tuple of writes: count tuples, then their fields.
        tuples: Counter[int] = Counter()
        by_id: dict[int, tuple[FieldWrite, ...]] = {}
        for plan in self.plans:
            tuples[id(plan.fields)] += 1
            by_id[id(plan.fields)] = plan.fields
        counts: Counter[tuple[str, str | None, str | None]] = Counter()
        for ident, keys in tuples.items():
            for write in by_id[ident]:
                if write.field not in ("tags", "updatedAt", LIFECYCLE):
                    counts[(write.field, write.before, write.after)] += keys
        return [(name, before, after, keys) for (name, before, after), keys in counts.most_common()]


def describe_change(plan: KeyWritePlan) -> tuple[str, str]:
    """A compact before / after of a plan's fields (tags shown as lists, updatedAt left out)."""
    before, after = [], []
    for write in plan.fields:
        if write.field in UNJUDGED_FIELDS:
            continue
        if write.field == "tags":
            before.append(", ".join(decode_tags(write.before)) or "(no tags)")
            after.append(", ".join(decode_tags(write.after)) or "(no tags)")
        else:
            before.append(f"{write.field}={write.before if write.before else '∅'}")
            after.append(f"{write.field}={write.after if write.after else '∅'}")
    return "; ".join(before), "; ".join(after)


def new_plan(
    kind: EditKind, request: EditRequest, edit: Edit, context: EditContext, **extra: Any
) -> BatchPlan:
    """An empty plan for a prepared edit: every key is decided by the one write template."""
    return BatchPlan(
        op_type=kind.op_type,
        # An edit that knows names (accounts) words its summary itself; ids otherwise.
        summary=getattr(edit, "summary", "") or request.summary,
        params=request.model_dump(mode="json"),
        atomic=request.atomic,
        decide=WriteTemplate(edit, now=context.now, index_ready=context.index_ready),
        index_ready=context.index_ready,
        read_fields=edit.reads,
        judged=edit.judged,
        warnings=list(edit.warnings),
        **extra,
    )


async def read_and_decide(client: aioredis.Redis, key_ids: list[str], plan: BatchPlan) -> BatchPlan:
    """Read each target's fields (only those the decision needs), chunk by chunk, and decide.

    Nothing but the decisions is kept: at 100,000 keys the stored current values alone would
    exceed the memory a batch may add.
    """
    fields = plan.read_fields
    counting_tags = "tags" in fields
    # Equal stored values (tag lists, bindings) become one shared string: plans keep their
    # before-values, and at 100,000 keys the duplicates alone were several MB.
    shared: dict[str, str] = {}
    tag_lists: Counter[str] = Counter()  # decoded once per distinct stored list, at the end
    sharing = tuple(name != "updatedAt" for name in fields)
    skipped, place, decide_on = plan.skipped, plan.place, plan.decide_on

    def decide(key_id: str, stored: dict[str, str]) -> None:
        if counting_tags:
            tag_lists[stored.get("tags", "[]")] += 1
        place(key_id, decide_on(key_id, stored))

    empty: list[str] = []
    async for chunk, replies in read_fields(client, list(chunked(key_ids, LOAD_CHUNK)), fields):
        for key_id, reply in zip(chunk, replies, strict=True):
            if isinstance(reply, ResponseError):
                skipped.append((key_id, "the key is not a hash"))
            elif reply.count(None) == len(reply):
                empty.append(key_id)
            else:
                decide(key_id, {
                    name: shared.setdefault(value, value) if share else value
                    for name, value, share in zip(fields, reply, sharing, strict=True)
                    if value is not None
                })  # fmt: skip
    # None of the read fields: gone, or a record without them (older CRS wrote no `tags`,
    # `isDeleted` or `updatedAt`), which is decided on like any other.
    present = await existing(client, empty)
    for key_id in empty:
        if key_id in present:
            decide(key_id, {})
        else:
            skipped.append((key_id, KEY_GONE))
    for raw, count in tag_lists.items():
        for tag in decode_tags(raw):
            plan.tag_counts[tag] += count
    return plan


def decide_from_rows(rows: list[KeyRow], plan: BatchPlan, kind: EditKind) -> None:
    """Decide on the loaded list instead of reading every key again (`EditKind.rows`).

    Each distinct row value is decided once. Damaged rows are left to `replan_from_redis`:
    the list shows only a key's first problem, and what Redis holds decides whether the
    damage is in a field this edit reads.
    """
    reading = kind.rows
    template = plan.decide
    assert reading is not None and isinstance(template, WriteTemplate)
    outcomes: tuple[dict[Hashable, Outcome], dict[Hashable, Outcome]] = ({}, {})
    counting_tags = "tags" in plan.read_fields
    tag_lists: Counter[tuple[str, ...]] = Counter()
    row_key, row_fields, outcome_for = reading.key, reading.fields, template.outcome
    plans, unchanged, skipped, conflicts = plan.plans, plan.unchanged, plan.skipped, plan.conflicts
    unknown, index_ready = plan.replan_from_redis, plan.index_ready
    # The loop runs once per key of a 100,000-key batch: it files each decision itself
    # (what `BatchPlan.place` and `WriteTemplate.plan` do) instead of calling them.
    for row in rows:
        if counting_tags:
            tag_lists[row.tags] += 1
        if row.damage:
            unknown.append(row.id)
            continue
        key = row_key(row)
        seen = outcomes[row.is_deleted]
        if key in seen:
            outcome = seen[key]
        else:
            outcome = seen[key] = outcome_for(row.id, row_fields(key, row.is_deleted))
        if outcome is None:
            unchanged.append(row.id)
        elif isinstance(outcome, Skip):
            skipped.append((row.id, outcome.reason))
            if outcome.conflict:
                conflicts.append((row.id, outcome.reason))
            if outcome.advice:
                plan.left_alone.append((row.id, outcome.reason, outcome.advice))
        else:
            writes, is_deleted, guards = outcome
            plans.append(KeyWritePlan(row.id, writes, index_ready, is_deleted, guards))
    for tags, count in tag_lists.items():
        for tag in tags:
            plan.tag_counts[tag] += count


def edit_context(
    table: KeyTable, catalog: AccountCatalog, journal: Journal | None = None
) -> EditContext:
    return EditContext(datetime.now(UTC), table.index_ready, catalog, journal or {})


async def plan_edit(
    client: aioredis.Redis,
    key_ids: list[str],
    request: EditRequest,
    table: KeyTable,
    catalog: AccountCatalog,
) -> BatchPlan:
    """A batch of any kind over `key_ids`, decided on the loaded list where the kind allows
    it and on what Redis holds otherwise (keys missing from the list included)."""
    kind = kind_of(request)
    context = edit_context(table, catalog)
    edit = kind.prepare(request, context)
    plan = new_plan(kind, request, edit, context)
    if kind.rows is not None:
        rows = [table.by_id[key_id] for key_id in key_ids if key_id in table.by_id]
        decide_from_rows(rows, plan, kind)
        unknown = [key_id for key_id in key_ids if key_id not in table.by_id]
        unknown += plan.replan_from_redis
        if unknown:  # not in the loaded list: decide on what Redis holds
            await read_and_decide(client, unknown, plan)
    else:
        await read_and_decide(client, key_ids, plan)
    plan.warnings += edit.review(len(plan.plans) + len(plan.unchanged), table.rows, key_ids)
    return plan


def _nothing_to_roll_back(key_id: str, current: dict[str, str]) -> Skip:
    return Skip("nothing to roll back")


def plan_nothing_to_roll_back(op_id: str, index_ready: bool) -> BatchPlan:
    """The rollback of an op that stopped before writing anything: running it closes the op,
    and the audit trail says so."""
    return BatchPlan(
        op_type=OpType.ROLLBACK, summary=f"rollback of {op_id} (it wrote nothing)",
        params={"reverts": op_id}, atomic=True, decide=_nothing_to_roll_back,
        index_ready=index_ready, reverts=op_id,
    )  # fmt: skip


async def plan_undo(
    client: aioredis.Redis,
    op_id: str,
    journal: Journal,
    *,
    index_ready: bool,
    rollback: bool,
    catalog: AccountCatalog | None = None,
    only: Collection[str] | None = None,
) -> BatchPlan:
    """Revert (a finished op) or roll back (exactly, an unfinished one) what `op_id` wrote.

    `only`: the keys to plan (all the journal's by default). The edit still knows the whole
    journal: verify decides again any key its run answers for, and a key planned earlier
    (by a rollback killed before it verified) must be undone again if CRS put the op's change
    back, not judged "nothing to undo".

    Bindings put back are checked against `catalog` as an assignment would be; without one it
    is read from Redis when the journal holds a binding."""
    if not journal:
        raise BadInput(f"operation {op_id} wrote nothing: there is nothing to revert")
    if catalog is None:
        catalog = await _catalog_for(client, journal)
    request = RollbackRequest(op=op_id) if rollback else RevertRequest(op=op_id)
    kind = kind_of(request)
    context = EditContext(datetime.now(UTC), index_ready, catalog, journal)
    edit = kind.prepare(request, context)
    assert isinstance(edit, RevertEdit)
    plan = new_plan(kind, request, edit, context, reverts=op_id)
    targets = edit.targets if only is None else sorted(only)
    await read_and_decide(client, targets, plan)
    plan.warnings += edit.review(len(plan.plans) + len(plan.unchanged), (), targets)
    return plan


async def _catalog_for(client: aioredis.Redis, journal: Journal) -> AccountCatalog:
    """The accounts and groups, when the journal holds a binding an undo may put back."""
    bindings = set(BindingField)
    if any(not bindings.isdisjoint(entry) for entry in journal.values()):
        return await load_accounts(client)
    return AccountCatalog()


async def plan_resume(
    client: aioredis.Redis,
    record: OperationRecord,
    key_ids: list[str],
    table: KeyTable,
    catalog: AccountCatalog,
) -> BatchPlan:
    """The rest of an interrupted op: its own request again, over the keys it did not reach."""
    kind = BY_TYPE[record.type]
    if not kind.resumable:
        raise KeyopsError(
            f"operation {record.id} ({record.type.value}) cannot be resumed; roll it back"
        )
    request = kind.request_from(record.params)
    context = edit_context(table, catalog)
    plan = new_plan(kind, request, kind.prepare(request, context), context)
    plan.summary, plan.params, plan.atomic = record.summary, record.params, record.atomic
    return await read_and_decide(client, key_ids, plan)
