"""A running batch's state, shared by applying, verifying and rolling back: what was written,
and what failed, and how fast it goes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from keyops.core.batch.locks import KeyLock
from keyops.core.batch.operations import OperationRecord
from keyops.core.batch.planning import BatchPlan
from keyops.core.batch.progress import KeyFailure, Phase, ProgressEvent
from keyops.core.schema.writes import KeyWritePlan
from keyops.core.store.apply import ApplyResult, ApplyStatus, WriteContext


@dataclass(slots=True)
class RunState:
    record: OperationRecord
    plan: BatchPlan
    lock: KeyLock
    context: WriteContext
    written: dict[str, KeyWritePlan] = field(default_factory=dict)
    failures: list[KeyFailure] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    warnings: list[str] = field(default_factory=list)
    not_rolled_back: list[KeyFailure] = field(default_factory=list)
    last_write: float = 0.0
    last_save: float = 0.0
    # (number of keys written, when): verify reads a key once verify_delay has passed since
    # its own chunk was written, so most of a big batch is checked while the rest ages.
    write_marks: list[tuple[int, float]] = field(default_factory=list)
    pending_events: list[KeyFailure] = field(default_factory=list)

    def drain_events(self) -> tuple[KeyFailure, ...]:
        events, self.pending_events = tuple(self.pending_events), []
        return events

    def progress(
        self, phase: Phase, failures: tuple[KeyFailure, ...], message: str = ""
    ) -> ProgressEvent:
        total = len(self.plan.plans)
        elapsed = max(1e-6, time.monotonic() - self.started)
        rate = self.done / elapsed
        eta = (total - self.done) / rate if rate > 0 else None
        return ProgressEvent(
            self.record.id,
            phase,
            self.done,
            total,
            self.record.counts.failed,
            rate,
            eta,
            message,
            failures,
        )

    def failure(self, key_id: str, result: ApplyResult) -> KeyFailure:
        """What a key's apply result means for the operator, and what to do about it."""
        name = self.plan.name(key_id)
        status = result.status
        if status is ApplyStatus.CONFLICT:
            return KeyFailure(
                key_id,
                name,
                f"{result.detail} kept changing while keyops wrote it",
                "CRS or another tool is editing this key; retry when it is quiet",
            )
        if status is ApplyStatus.MISSING:
            return KeyFailure(key_id, name, "the key was deleted meanwhile", "nothing to do")
        if status is ApplyStatus.NOT_HASH:
            return KeyFailure(
                key_id, name, "the key is not a hash", "inspect it; CRS cannot use it either"
            )
        if status is ApplyStatus.AUDIT_FAILED:
            return KeyFailure(
                key_id,
                name,
                f"audit entry could not be written: {result.detail}",
                "free memory or fix permissions for keyops:audit, then retry",
            )
        if status is ApplyStatus.LOCK_LOST:
            return KeyFailure(
                key_id, name, "lock lapsed before this chunk", "run the operation again"
            )
        return KeyFailure(key_id, name, status.value)
