"""What a running batch reports: phases, counts, rate, ETA, failures as they happen, outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from keyops.core.batch.operations import OpCounts, OpStatus


class Phase(StrEnum):
    PLANNED = "planned"
    LOCKING = "locking"
    APPLYING = "applying"
    VERIFYING = "verifying"
    ROLLING_BACK = "rolling back"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class KeyFailure:
    key_id: str
    name: str
    reason: str
    advice: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    op_id: str
    status: OpStatus
    counts: OpCounts
    failures: tuple[KeyFailure, ...] = ()
    drifting: tuple[KeyFailure, ...] = ()
    not_rolled_back: tuple[KeyFailure, ...] = ()
    message: str = ""
    refused_by_lock: bool = False
    warnings: tuple[str, ...] = ()
    # Keys deliberately left as they are that need a look (a revert's keys changed since).
    left_alone: tuple[KeyFailure, ...] = ()

    @property
    def exit_code(self) -> int:
        """CLI exit code: 0 done, 1 failed or rolled back, 3 refused by a lock."""
        if self.refused_by_lock:
            return 3
        return 0 if self.status is OpStatus.DONE else 1


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    op_id: str
    phase: Phase
    done: int = 0
    total: int = 0
    failed: int = 0
    keys_per_second: float = 0.0
    eta_seconds: float | None = None
    message: str = ""
    failures: tuple[KeyFailure, ...] = field(default=())
    outcome: Outcome | None = None

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0
