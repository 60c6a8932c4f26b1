"""Planning a batch: per key, the exact writes (or why the key is skipped), plus the preview.

A planner is a per-key decision `decide(key_id, current) -> KeyWritePlan | Skip`, so the runner
can re-plan a key whose fields moved between planning and writing (a CAS conflict) with the
same rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from keyops.core.batch.operations import OpType
from keyops.core.batch.requests import (
    AccountAssign,
    AssignTarget,
    BadRequest,
    ConflictMode,
    StatusChange,
    TagAction,
    TagEdit,
)
from keyops.core.errors import BadInput
from keyops.core.schema.accounts import Account
from keyops.core.schema.bindings import BadBinding, Binding, BindingKind, parse_binding
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.damage import record_damage
from keyops.core.schema.encoding import (
    decode_bool,
    decode_tags,
    encode_iso,
    encode_json,
    iso_to_epoch,
)
from keyops.core.schema.platforms import FIELD_RULES, BindingField, Platform
from keyops.core.schema.rows import KeyRow
from keyops.core.schema.writes import (
    FieldWrite,
    KeyChange,
    KeyWritePlan,
    plan_field_writes,
    plan_key_write,
)
from keyops.core.store.key_table import LOAD_CHUNK, read_fields
from keyops.core.wire.chunks import chunked

# What each kind of decision reads from a key (besides a revert's journaled fields).
READ_FIELDS: dict[OpType, tuple[str, ...]] = {
    OpType.TAGS: ("tags", "isDeleted", "updatedAt"),
    OpType.STATUS: ("isActive", "isDeleted", "expiresAt", "updatedAt"),
    OpType.ACCOUNTS: ("isDeleted", "updatedAt", *tuple(BindingField)),
    OpType.REVERT: ("isDeleted", "updatedAt", "isActive"),
    OpType.ROLLBACK: ("isDeleted", "updatedAt", "isActive"),
}


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str
    conflict: bool = False  # bound elsewhere and not allowed to overwrite


Decision = KeyWritePlan | Skip
Decide = Callable[[str, dict[str, str]], Decision]


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
    warnings: list[str] = field(default_factory=list)
    # Names of the keys shown in previews and messages; `name_lookup` (the loaded key table)
    # answers for the rest, so a 100k plan does not hold 100k names.
    names: dict[str, str] = field(default_factory=dict)
    name_lookup: Callable[[str], str] | None = None
    tag_counts: Counter[str] = field(default_factory=Counter)
    reverts: str = ""
    read_fields: tuple[str, ...] = ("isDeleted", "updatedAt")
    # Keys a plan made from the loaded list left to be decided on what Redis holds.
    replan_from_redis: list[str] = field(default_factory=list)

    def decide_on(self, key_id: str, stored: dict[str, str], damaged: str = "damaged") -> Decision:
        """The decision for a key's stored fields; a key whose read fields hold values CRS
        never writes is skipped with the reason, whichever kind of batch this is."""
        damage = record_damage(stored)
        if damage:
            return Skip(f"{damaged}: {damage}")
        return self.decide(key_id, stored)

    def name(self, key_id: str) -> str:
        if key_id in self.names:
            return self.names[key_id]
        return self.name_lookup(key_id) if self.name_lookup is not None else ""

    @property
    def total(self) -> int:
        return len(self.plans) + len(self.unchanged) + len(self.skipped)

    def preview(self, limit: int = 20) -> list[tuple[str, str, str, str]]:
        """(key id, name, before, after) for the first `limit` keys that change."""
        rows = []
        for plan in self.plans[:limit]:
            before, after = describe_change(plan)
            rows.append((plan.key_id, self.name(plan.key_id), before, after))
        return rows


def describe_change(plan: KeyWritePlan) -> tuple[str, str]:
    """A compact before / after of a plan's fields (tags shown as lists, updatedAt left out)."""
    before, after = [], []
    for write in plan.fields:
        if write.field == "updatedAt":
            continue
        if write.field == "tags":
            before.append(", ".join(decode_tags(write.before)) or "(no tags)")
            after.append(", ".join(decode_tags(write.after)) or "(no tags)")
        else:
            before.append(f"{write.field}={write.before if write.before else '∅'}")
            after.append(f"{write.field}={write.after if write.after else '∅'}")
    return "; ".join(before), "; ".join(after)


async def build_plan(
    client: aioredis.Redis,
    key_ids: list[str],
    plan: BatchPlan,
    *,
    extra_fields: tuple[str, ...] = (),
) -> BatchPlan:
    """Read each target's fields (only those the decision needs), chunk by chunk, and decide.

    Nothing but the decisions is kept: at 100,000 keys the stored current values alone would
    exceed the memory a batch may add.
    """
    fields = tuple(dict.fromkeys((*plan.read_fields, *extra_fields)))
    plan.read_fields = fields
    counting_tags = "tags" in fields
    # Equal stored values (tag lists, bindings) become one shared string: plans keep their
    # before-values, and at 100,000 keys the duplicates alone were several MB.
    shared: dict[str, str] = {}
    tag_lists: Counter[str] = Counter()  # decoded once per distinct stored list, at the end
    sharing = tuple(name != "updatedAt" for name in fields)
    skipped, plans, unchanged, decide_on = plan.skipped, plan.plans, plan.unchanged, plan.decide_on
    async for chunk, replies in read_fields(client, list(chunked(key_ids, LOAD_CHUNK)), fields):
        for key_id, reply in zip(chunk, replies, strict=True):
            if isinstance(reply, ResponseError) or reply.count(None) == len(reply):
                skipped.append((key_id, "the key no longer exists (or is not a hash)"))
                continue
            stored = {
                name: shared.setdefault(value, value) if share else value
                for name, value, share in zip(fields, reply, sharing, strict=True)
                if value is not None
            }
            if counting_tags:
                tag_lists[stored.get("tags", "[]")] += 1
            decision = decide_on(key_id, stored)
            if type(decision) is KeyWritePlan:
                if decision.fields:
                    plans.append(decision)
                else:
                    unchanged.append(key_id)
            else:
                assert isinstance(decision, Skip)
                skipped.append((key_id, decision.reason))
                if decision.conflict:
                    plan.conflicts.append((key_id, decision.reason))
    for raw, count in tag_lists.items():
        for tag in decode_tags(raw):
            plan.tag_counts[tag] += count
    return plan


def _new_plan(
    op_type: OpType,
    request: TagEdit | StatusChange | AccountAssign,
    decide: Decide,
    index_ready: bool,
    **extra: Any,
) -> BatchPlan:
    return BatchPlan(
        op_type=op_type,
        summary=request.summary,
        params=request.model_dump(mode="json"),
        atomic=request.atomic,
        decide=decide,
        index_ready=index_ready,
        read_fields=READ_FIELDS[op_type],
        **extra,
    )


class TagsDecider:
    """The per-key decision of a tag edit. Keys share tag lists, so each distinct stored list
    is worked out once, and keys with the same list share one (immutable) tuple of writes."""

    def __init__(self, request: TagEdit, now: datetime, index_ready: bool) -> None:
        self.request = request
        self.given = list(request.tags)
        self.given_set = set(self.given)
        self.removed = set(request.remove)
        self.index_ready = index_ready
        self.stamp = FieldWrite(
            "updatedAt", None, encode_iso(now)
        )  # the script journals the old one
        self.outcomes: dict[str, tuple[FieldWrite, ...] | Skip | None] = {}

    def _new_tags(self, raw: str) -> str | Skip | None:
        """The new stored list, a Skip, or None when the list stays as it is."""
        request, given, given_set = self.request, self.given, self.given_set
        old = decode_tags(raw)
        stripped = {tag.strip() for tag in old}
        if request.action is TagAction.REPLACE:
            new = given
        elif request.action is TagAction.REMOVE:
            new = [tag for tag in old if tag.strip() not in given_set]
        elif request.conflict is ConflictMode.SKIP and given_set & stripped:
            return Skip("already carries " + ", ".join(sorted(given_set & stripped)))
        elif request.conflict is ConflictMode.REPLACE:
            new = given
        else:
            # Existing tags are kept as stored; CRS matches tags after trimming, so rewriting
            # them here would be a change nobody asked for.
            if self.removed:
                old_kept = [tag for tag in old if tag.strip() not in self.removed]
                stripped = {tag.strip() for tag in old_kept}
            else:
                old_kept = old
            new = old_kept + [tag for tag in given if tag not in stripped]
        return None if new == old else encode_json(new)

    def outcome(self, raw: str | None) -> tuple[FieldWrite, ...] | Skip | None:
        """The writes for a key whose stored list is `raw` (None: the field is absent)."""
        key = raw if raw is not None else "\0absent"
        if key not in self.outcomes:
            new = self._new_tags(raw or "[]")
            if isinstance(new, str):
                self.outcomes[key] = (FieldWrite("tags", raw, new), self.stamp)
            else:
                self.outcomes[key] = new
        return self.outcomes[key]

    def plan(self, key_id: str, outcome: tuple[FieldWrite, ...] | Skip | None) -> Decision:
        if outcome is None:
            return KeyWritePlan(key_id)
        if isinstance(outcome, Skip):
            return outcome
        return KeyWritePlan(key_id, outcome, self.index_ready, False)

    def __call__(self, key_id: str, current: dict[str, str]) -> Decision:
        if current.get("isDeleted") == "true":
            return Skip("soft-deleted")
        return self.plan(key_id, self.outcome(current.get("tags")))


def plan_tags_from_rows(rows: list[KeyRow], request: TagEdit, *, index_ready: bool) -> BatchPlan:
    """A tag edit planned from the loaded key list, without reading every key again.

    Each key's stored tag list is taken to be the canonical JSON of the tags the list shows
    (CRS stores JSON.stringify output, which is exactly that). The write compare-and-sets the
    stored list, so a key edited since it was loaded, or stored in another spelling, is re-read
    and re-planned from Redis instead of overwritten. Skipping the read is what keeps a
    100,000-key tag edit within twice the time of a plain HSET of the same fields.
    """
    decider = TagsDecider(request, datetime.now(UTC), index_ready)
    plan = _new_plan(OpType.TAGS, request, decider, index_ready)
    outcomes: dict[tuple[str, ...], tuple[FieldWrite, ...] | Skip | None] = {}
    tag_lists: Counter[tuple[str, ...]] = Counter()
    plans, unchanged, skipped = plan.plans, plan.unchanged, plan.skipped
    unknown_rows = plan.replan_from_redis
    for row in rows:
        tags = row.tags
        tag_lists[tags] += 1
        if row.damage:
            # The list shows only a key's first problem: decide on what Redis holds, which
            # skips the key only if its tags themselves are damaged.
            unknown_rows.append(row.id)
            continue
        if row.is_deleted:
            skipped.append((row.id, "soft-deleted"))
            continue
        if tags in outcomes:
            outcome = outcomes[tags]
        else:
            outcome = outcomes[tags] = decider.outcome(encode_json(list(tags)))
        if outcome is None:
            unchanged.append(row.id)
        elif isinstance(outcome, Skip):
            skipped.append((row.id, outcome.reason))
        else:
            plans.append(KeyWritePlan(row.id, outcome, index_ready, False))
    for tags, count in tag_lists.items():
        for tag in tags:
            plan.tag_counts[tag] += count
    return plan


async def plan_tags(
    client: aioredis.Redis,
    key_ids: list[str],
    request: TagEdit,
    *,
    index_ready: bool,
    into: BatchPlan | None = None,
) -> BatchPlan:
    """A tag edit planned on what Redis holds now (`into`: add the keys to an existing plan)."""
    plan = into or _new_plan(
        OpType.TAGS, request, TagsDecider(request, datetime.now(UTC), index_ready), index_ready
    )
    return await build_plan(client, key_ids, plan)


def status_decider(request: StatusChange, now: datetime, index_ready: bool) -> Decide:
    def decide(key_id: str, current: dict[str, str]) -> Decision:
        deleted = decode_bool(current.get("isDeleted"))
        if request.enable:
            if deleted:
                return Skip("soft-deleted: keyops never enables a deleted key")
            expires = iso_to_epoch(current.get("expiresAt"))
            if request.expires_at is None and expires is not None and expires <= now.timestamp():
                return Skip(
                    f"expired at {current.get('expiresAt')}: CRS's hourly job would disable it "
                    "again; give a new expiry (--expires DATE or never)"
                )
        change = KeyChange(is_active=request.enable, expires_at=request.expires_at)
        return plan_key_write(key_id, current, change, now=now, index_ready=index_ready)

    return decide


async def plan_status(
    client: aioredis.Redis, key_ids: list[str], request: StatusChange, *, index_ready: bool
) -> BatchPlan:
    plan = _new_plan(
        OpType.STATUS, request, status_decider(request, datetime.now(UTC), index_ready), index_ready
    )
    return await build_plan(client, key_ids, plan)


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    binding: Binding
    label: str
    account: Account | None = None


def resolve_assignment(
    field_name: BindingField, target: AssignTarget, catalog: AccountCatalog, force: bool
) -> tuple[ResolvedTarget | None, list[str], list[str]]:
    """The binding a target means for a field, with problems (refusals) and warnings."""
    rule = FIELD_RULES[field_name]
    problems: list[str] = []
    warnings: list[str] = []
    if target.kind == "shared":
        return ResolvedTarget(Binding.shared(field_name), "shared pool"), problems, warnings
    if target.kind == "group":
        if rule.group_platform is None:
            return None, [f"{field_name.value}: groups cannot be bound in this field"], warnings
        groups = [
            g
            for g in catalog.groups.values()
            if target.ref in (g.id,) or g.name.casefold() == target.ref.casefold()
        ]
        if not groups:
            return None, [f"{field_name.value}: no account group {target.ref!r}"], warnings
        if len(groups) > 1:
            return (
                None,
                [f"{field_name.value}: {len(groups)} groups are named {target.ref!r}; use the id"],
                warnings,
            )
        group = groups[0]
        if group.platform is not rule.group_platform:
            platform = group.platform.value if group.platform else "an unknown platform"
            return (
                None,
                [
                    f"{field_name.value}: group {group.name!r} serves {platform}; this field takes "
                    f"{rule.group_platform.value} groups"
                ],
                warnings,
            )
        if not group.member_ids:
            warnings.append(
                f"group {group.name!r} has no members: requests through it will find no account"
            )
        binding = Binding(field_name, BindingKind.GROUP, group.platform, group.id)
        return ResolvedTarget(binding, f"group {group.name}"), problems, warnings

    allowed = [p for p in (rule.native, *rule.prefixed.values()) if p is not None]
    matches = [
        account for account in catalog.accounts.values()
        if account.id == target.ref or account.name.casefold() == target.ref.casefold()
    ]  # fmt: skip
    fitting = [account for account in matches if account.platform in allowed]
    if not fitting:
        if matches:
            other = matches[0]
            return (
                None,
                [
                    f"{field_name.value}: {other.name!r} is a {other.platform.value} account; this field "
                    f"takes {', '.join(p.value for p in allowed)} accounts"
                ],
                warnings,
            )
        return (
            None,
            [
                f"{field_name.value}: no {' or '.join(p.value for p in allowed)} account {target.ref!r}"
            ],
            warnings,
        )
    if len(fitting) > 1:
        return (
            None,
            [f"{field_name.value}: {len(fitting)} accounts are named {target.ref!r}; use the id"],
            warnings,
        )
    account = fitting[0]
    binding = Binding(field_name, BindingKind.ACCOUNT, account.platform, account.id)
    bad = account_trouble(account)
    if bad:
        message = f"{field_name.value}: account {account.name!r} is {bad}"
        if account.fails_hard_when_unhealthy and not force:
            problems.append(
                message + f"; CRS fails {account.platform.value} requests on such an account "
                "instead of falling back (use --force to bind anyway)"
            )
        else:
            warnings.append(
                message
                + (
                    ""
                    if account.fails_hard_when_unhealthy
                    else "; CRS falls back to the shared pool"
                )
            )
    return ResolvedTarget(binding, account.name, account), problems, warnings


def account_trouble(account: Account) -> str:
    """Why CRS would not schedule an account ('' when it would)."""
    if not account.is_active:
        return "inactive"
    if not account.healthy:
        return f"unhealthy (status {account.status})"
    if not account.schedulable:
        return "not schedulable"
    return ""


def accounts_decider(
    request: AccountAssign,
    resolved: dict[BindingField, ResolvedTarget],
    catalog: AccountCatalog,
    now: datetime,
    index_ready: bool,
) -> Decide:
    def label(field_name: BindingField, raw: str) -> str:
        try:
            return catalog.describe(parse_binding(field_name, raw))
        except BadBinding:
            return f"damaged value {raw!r}"

    def decide(key_id: str, current: dict[str, str]) -> Decision:
        if decode_bool(current.get("isDeleted")):
            return Skip("soft-deleted")
        bindings: dict[BindingField, Binding] = {}
        for field_name, target in resolved.items():
            wanted = target.binding.encode()
            stored = current.get(field_name, "")
            touched = [field_name]
            partner = _partner(field_name)
            if (
                partner is not None
                and target.binding.kind is not BindingKind.SHARED
                and partner not in resolved
            ):
                touched.append(partner)
            for name in touched:
                existing = current.get(name, "")
                goal = wanted if name is field_name else ""
                if existing and existing != goal and not request.overwrite_existing:
                    return Skip(
                        f"{name.value} is bound to {label(name, existing)}; use --overwrite-existing",
                        conflict=True,
                    )
            if stored != wanted or any(current.get(p, "") for p in touched[1:]):
                bindings[field_name] = target.binding
        if not bindings:
            return KeyWritePlan(key_id)
        return plan_key_write(
            key_id, current, KeyChange(bindings=bindings), now=now, index_ready=index_ready
        )

    return decide


def _partner(field_name: BindingField) -> BindingField | None:
    return {
        BindingField.CLAUDE: BindingField.CLAUDE_CONSOLE,
        BindingField.CLAUDE_CONSOLE: BindingField.CLAUDE,
    }.get(field_name)


async def plan_accounts(
    client: aioredis.Redis,
    key_ids: list[str],
    request: AccountAssign,
    catalog: AccountCatalog,
    *,
    index_ready: bool,
    bound_elsewhere: Counter[tuple[Platform, str]] | None = None,
) -> BatchPlan:
    """`bound_elsewhere`: how many keys outside the selection use each account (dedicated check)."""
    problems: list[str] = []
    warnings: list[str] = []
    resolved: dict[BindingField, ResolvedTarget] = {}
    for field_name, target in request.assignments.items():
        result, field_problems, field_warnings = resolve_assignment(
            field_name, target, catalog, request.force
        )
        problems += field_problems
        warnings += field_warnings
        if result is not None:
            resolved[field_name] = result
    if problems:
        raise BadRequest(problems)
    decide = accounts_decider(request, resolved, catalog, datetime.now(UTC), index_ready)
    plan = _new_plan(OpType.ACCOUNTS, request, decide, index_ready, warnings=warnings)
    await build_plan(client, key_ids, plan)
    for resolved_target in resolved.values():
        account = resolved_target.account
        if account is None or not account.dedicated:
            continue
        keys_after = len(plan.plans) + len(plan.unchanged)
        elsewhere = (bound_elsewhere or Counter())[(account.platform, account.id)]
        if keys_after + elsewhere > 1:
            plan.warnings.append(
                f"dedicated account {account.name!r} will be bound to {keys_after + elsewhere} keys"
            )
    return plan


def revert_decider(
    journal: dict[str, dict[str, list[str | None]]], now: datetime, index_ready: bool, exact: bool
) -> Decide:
    """Put back the before-value of every field that still holds what the op wrote.

    `exact` (rollback of a failed or cancelled op): fields that did not exist are deleted again
    and `updatedAt` gets its old value, so the record is restored byte for byte. Otherwise
    (revert of a finished op) the undo is a new change and stamps `updatedAt` like CRS does.
    """

    def decide(key_id: str, current: dict[str, str]) -> Decision:
        entry = journal.get(key_id)
        if entry is None:
            return KeyWritePlan(key_id)
        wanted: dict[str, str | None] = {}
        moved: list[str] = []
        for name, (before, after) in entry.items():
            if name == "updatedAt":
                continue
            if current.get(name) == after:
                wanted[name] = before
            elif current.get(name) != before:
                moved.append(name)
        if decode_bool(current.get("isDeleted")) and wanted.get("isActive") == "true":
            return Skip("soft-deleted since: keyops never enables a deleted key")
        if not wanted and moved:
            return Skip("changed since: " + ", ".join(moved))
        if exact and "updatedAt" in entry:
            wanted["updatedAt"] = entry["updatedAt"][0]
        return plan_field_writes(
            key_id, current, wanted, now=now, index_ready=index_ready, stamp_updated_at=not exact
        )

    return decide


async def plan_revert(
    client: aioredis.Redis,
    op_id: str,
    journal: dict[str, dict[str, list[str | None]]],
    *,
    index_ready: bool,
    op_type: OpType = OpType.REVERT,
    atomic: bool = False,
    exact: bool = False,
) -> BatchPlan:
    if not journal:
        raise BadInput(f"operation {op_id} wrote nothing: there is nothing to revert")
    now = datetime.now(UTC)
    fields = tuple(sorted({name for entry in journal.values() for name in entry}))
    # The fields a decision reads must be fetched too, or a moved one would look absent.
    plan = BatchPlan(
        op_type=op_type,
        summary=f"{op_type.value} of {op_id}",
        params={"op": op_id},
        atomic=atomic,
        decide=revert_decider(journal, now, index_ready, exact),
        index_ready=index_ready,
        reverts=op_id,
        read_fields=READ_FIELDS[op_type],
    )
    return await build_plan(client, sorted(journal), plan, extra_fields=fields)
