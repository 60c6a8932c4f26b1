"""The batch services the CLI and the TUI drive: plan, run, operations, recovery, audit."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from keyops.core.batch import names
from keyops.core.batch.audit import DEFAULT_RETENTION_DAYS, AuditEntry, AuditFilter, AuditLog
from keyops.core.batch.identity import OperatorIdentity, current_identity
from keyops.core.batch.locks import break_lock
from keyops.core.batch.operations import OpCounts, OperationRecord, OperationStore, OpStatus, OpType
from keyops.core.batch.planning import (
    READ_FIELDS,
    BatchPlan,
    Decide,
    Skip,
    TagsDecider,
    accounts_decider,
    build_plan,
    plan_accounts,
    plan_revert,
    plan_status,
    plan_tags,
    plan_tags_from_rows,
    resolve_assignment,
    status_decider,
)
from keyops.core.batch.progress import Outcome, Phase, ProgressEvent
from keyops.core.batch.requests import AccountAssign, BadRequest, StatusChange, TagEdit
from keyops.core.batch.runner import BatchRunner, RunnerSettings
from keyops.core.batch.targets import resolve_targets
from keyops.core.errors import BadInput, KeyopsError
from keyops.core.schema.bindings import BadBinding, BindingKind, parse_binding
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.platforms import BindingField, Platform
from keyops.core.session import CrsSession
from keyops.core.store.key_table import KeyTable


def _nothing_to_write(key_id: str, current: dict[str, str]) -> Skip:
    return Skip("nothing to roll back")


@dataclass(frozen=True, slots=True)
class BatchConfig:
    runner: RunnerSettings
    audit_retention_days: int = DEFAULT_RETENTION_DAYS


class BatchService:
    def __init__(self, session: CrsSession, config: BatchConfig | None = None) -> None:
        self.session = session
        self.config = config or BatchConfig(RunnerSettings())
        self.client = session.clients.write
        self.audit = AuditLog(self.client, self.config.audit_retention_days)
        self.ops = OperationStore(self.client)
        self._identity: OperatorIdentity | None = None
        self.table: KeyTable | None = None
        self.catalog: AccountCatalog | None = None

    async def identity(self) -> OperatorIdentity:
        if self._identity is None:
            self._identity = await current_identity(self.client)
        return self._identity

    async def load(self, *, refresh: bool = False) -> tuple[KeyTable, AccountCatalog]:
        if self.table is None or self.catalog is None or refresh:
            self.table = await self.session.load_keys()
            self.catalog = await self.session.load_accounts()
        return self.table, self.catalog

    async def targets(self, where: str | None, ids: list[str] | None) -> list[str]:
        table, catalog = await self.load()
        return resolve_targets(table, catalog, where=where, ids=ids)

    async def plan_tags(self, key_ids: list[str], request: TagEdit) -> BatchPlan:
        table, _ = await self.load()
        rows = [table.by_id[key_id] for key_id in key_ids if key_id in table.by_id]
        plan = plan_tags_from_rows(rows, request, index_ready=table.index_ready)
        unknown = [key_id for key_id in key_ids if key_id not in table.by_id]
        unknown += plan.replan_from_redis
        if unknown:  # not in the loaded list: decide on what Redis holds
            await plan_tags(self.client, unknown, request, index_ready=table.index_ready, into=plan)
        return self._named(plan)

    async def plan_status(self, key_ids: list[str], request: StatusChange) -> BatchPlan:
        table, _ = await self.load()
        return self._named(
            await plan_status(self.client, key_ids, request, index_ready=table.index_ready)
        )

    async def plan_accounts(self, key_ids: list[str], request: AccountAssign) -> BatchPlan:
        table, catalog = await self.load()
        selected = set(key_ids)
        elsewhere: Counter[tuple[Platform, str]] = Counter()
        for row in table:
            if row.id in selected or row.is_deleted:
                continue
            for field in BindingField:
                raw = row.binding(field)
                if not raw:
                    continue
                try:
                    binding = parse_binding(field, raw)
                except BadBinding:
                    continue
                if binding.kind is BindingKind.ACCOUNT and isinstance(binding.platform, Platform):
                    elsewhere[(binding.platform, binding.target_id)] += 1
        return self._named(
            await plan_accounts(
                self.client,
                key_ids,
                request,
                catalog,
                index_ready=table.index_ready,
                bound_elsewhere=elsewhere,
            )
        )

    async def plan_revert(self, op_id: str) -> BatchPlan:
        record = await self.ops.get(op_id)
        if record is None:
            raise BadInput(f"no operation {op_id}")
        if record.status is OpStatus.RUNNING:
            raise BadInput(f"operation {op_id} is still running (or interrupted: use ops recover)")
        table, _ = await self.load()
        return self._named(
            await plan_revert(
                self.client, op_id, await self.ops.journal(op_id), index_ready=table.index_ready
            )
        )

    def _named(self, plan: BatchPlan) -> BatchPlan:
        table = self.table

        def name_of(key_id: str) -> str:
            row = table.by_id.get(key_id) if table is not None else None
            return row.name if row is not None else ""

        plan.name_lookup = name_of
        return plan

    async def access_refusal(self) -> ProgressEvent | None:
        """A refused outcome when this Redis user may not run what a batch needs: found before
        anything is written, never as a half-applied batch."""
        access = await self.session.check_access()
        if not access.refused:
            return None
        counts = OpCounts()
        outcome = Outcome(
            "", OpStatus.REFUSED, counts, message=access.describe() + "; nothing was written"
        )
        return ProgressEvent("", Phase.FINISHED, message=outcome.message, outcome=outcome)

    async def run(
        self, plan: BatchPlan, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[ProgressEvent]:
        refusal = await self.access_refusal()
        if refusal is not None:
            yield refusal
            return
        runner = BatchRunner(self.client, await self.identity(), self.audit, self.config.runner)
        async for event in runner.execute(plan, cancel):
            yield event
        if plan.reverts and plan.op_type is OpType.ROLLBACK:
            original = await self.ops.get(plan.reverts)
            if original is not None and original.status is OpStatus.RUNNING:
                original.status = OpStatus.ROLLED_BACK
                original.message = "interrupted, then rolled back"
                await self.ops.save(original)

    # -- operations and recovery ----------------------------------------------------------------

    async def recent_ops(self, limit: int = 50) -> list[OperationRecord]:
        return await self.ops.recent(limit)

    async def op(self, op_id: str) -> OperationRecord:
        record = await self.ops.get(op_id)
        if record is None:
            raise BadInput(f"no operation {op_id}")
        return record

    async def unfinished(self) -> list[OperationRecord]:
        return await self.ops.unfinished()

    async def plan_recovery(
        self, op_id: str, action: str
    ) -> tuple[BatchPlan, OperationRecord | None]:
        """A plan that rolls an interrupted op back, or finishes it (resume, same op id)."""
        record = await self.op(op_id)
        if record.status is not OpStatus.RUNNING:
            raise BadInput(f"operation {op_id} is not interrupted (it is {record.status.value})")
        if await self.client.exists(names.lease(op_id)):
            raise BadInput(f"operation {op_id} is still running: its lock is alive")
        table, catalog = await self.load()
        journal = await self.ops.journal(op_id)
        if action == "rollback" and not journal:
            # Stopped before writing anything: an empty rollback closes it, and is audited.
            plan = BatchPlan(
                op_type=OpType.ROLLBACK, summary=f"rollback of {op_id} (it wrote nothing)",
                params={"reverts": op_id}, atomic=True, decide=_nothing_to_write,
                index_ready=table.index_ready, reverts=op_id,
            )  # fmt: skip
            return self._named(plan), None
        if action == "rollback":
            plan = await plan_revert(
                self.client,
                op_id,
                journal,
                index_ready=table.index_ready,
                op_type=OpType.ROLLBACK,
                exact=True,
            )
            return self._named(plan), None
        if action != "resume":
            raise BadInput("recover takes --rollback or --resume")
        remaining = sorted((await self.ops.targets(op_id)) - set(journal))
        plan = BatchPlan(
            op_type=record.type, summary=record.summary, params=record.params, atomic=record.atomic,
            decide=self._decider_for(record, catalog, table.index_ready),
            read_fields=READ_FIELDS[record.type], index_ready=table.index_ready,
        )  # fmt: skip
        await build_plan(self.client, remaining, plan)
        return self._named(plan), record

    async def run_recovery(
        self, plan: BatchPlan, resume: OperationRecord | None, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[ProgressEvent]:
        if resume is None:
            async for event in self.run(plan, cancel):
                yield event
            return
        refusal = await self.access_refusal()
        if refusal is not None:
            yield refusal
            return
        runner = BatchRunner(self.client, await self.identity(), self.audit, self.config.runner)
        async for event in runner.execute(plan, cancel, resume=resume):
            yield event

    def _decider_for(
        self, record: OperationRecord, catalog: AccountCatalog, index_ready: bool
    ) -> Decide:
        now = datetime.now(UTC)
        if record.type is OpType.TAGS:
            return TagsDecider(TagEdit.model_validate(record.params), now, index_ready)
        if record.type is OpType.STATUS:
            return status_decider(StatusChange.model_validate(record.params), now, index_ready)
        if record.type is OpType.ACCOUNTS:
            request = AccountAssign.model_validate(record.params)
            resolved = {}
            for field, target in request.assignments.items():
                result, problems, _ = resolve_assignment(field, target, catalog, request.force)
                if problems or result is None:
                    raise BadRequest(problems)
                resolved[field] = result
            return accounts_decider(request, resolved, catalog, now, index_ready)
        raise KeyopsError(
            f"operation {record.id} ({record.type.value}) cannot be resumed; roll it back"
        )

    async def break_lock(self, op_id: str) -> bool:
        broken = await break_lock(self.client, op_id)
        identity = await self.identity()
        await self.audit.op_event(
            op_id, "lock-break", {"by": identity.model_dump(), "had_lease": broken}
        )
        return broken

    # -- audit ---------------------------------------------------------------------------------

    def audit_entries(self, filters: AuditFilter | None = None) -> AsyncIterator[AuditEntry]:
        return self.audit.entries(filters)

    async def export_audit(self, out: TextIO, fmt: str, filters: AuditFilter | None = None) -> int:
        if fmt not in ("csv", "json"):
            raise BadInput(f"export format must be csv or json, not {fmt!r}")
        return await self.audit.export(out, fmt, filters)
