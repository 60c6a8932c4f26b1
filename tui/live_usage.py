"""Usage as the console last read it, and how fast each key's cost rose since the read before.

The key list reads every loaded key's usage in the background (first when a usage column, a
usage sort or a usage query needs it, then every `refresh_usage_seconds`); each read replaces
the one before, and the cost a key added in between, per minute of the operator's clock
(monotonic, so a frozen data clock or a clock step never makes a rate), is its $/min: a key
burning money stands out before it reaches any limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from keyops.core.api import KeyRow, KeyUsage, UsageTable
from keyops.tui.collector import free_gently
from keyops.tui.usage_columns import cell, sort_value

# Keys compared per event-loop turn when a new read arrives (a few ms each at 100,000 keys).
RATE_SLICE = 25_000
# A cost that moved by less than this between two reads is the float noise of INCRBYFLOAT.
MIN_DELTA = 1e-7


class LiveUsage:
    def __init__(self) -> None:
        self.table: UsageTable | None = None
        self.read_at = 0.0  # monotonic seconds of the last read
        self.rates: dict[str, float] = {}  # $/min since the read before; only keys that rose
        self.reads = 0  # how many reads arrived (a test or a bench waits on it)
        self.reading = False  # a read is on its way

    @property
    def loaded(self) -> bool:
        return self.table is not None

    def clear(self) -> None:
        """Forgets everything read (another Redis, or usage no longer shown)."""
        self.table = None
        self.rates = {}

    async def take(self, fresh: UsageTable, at: float) -> None:
        """A new read of every key: rates from the cost each added since the previous one.

        Compared a slice per event-loop turn; a new day (CRS's daily counters start again at
        local midnight) gives no rates for that read rather than negative ones."""
        previous, minutes = self.table, (at - self.read_at) / 60
        rates: dict[str, float] = {}
        if previous is not None and previous.today == fresh.today and minutes > 0:
            before, items = previous.by_id, list(fresh.by_id.items())
            for start in range(0, len(items), RATE_SLICE):
                await asyncio.sleep(0)  # the read's own last step came just before
                for key_id, usage in items[start : start + RATE_SLICE]:
                    old = before.get(key_id)
                    delta = usage.cost_today - (old.cost_today if old is not None else 0.0)
                    if delta > MIN_DELTA:
                        rates[key_id] = delta / minutes
            del before, items
        self.table, self.read_at, self.rates = fresh, at, rates
        self.reads += 1
        if previous is not None:
            # The figures read before, freed a slice per turn (all at once: ~10 ms at 100,000
            # keys, in the step that also ended the read).
            replaced: list[KeyUsage] = list(previous.by_id.values())
            del previous
            await free_gently(replaced)

    def usage(self, key_id: str) -> KeyUsage | None:
        """The key's figures as last read; None before the first read."""
        return self.table.get(key_id) if self.table is not None else None

    def cell(self, row: KeyRow, name: str) -> tuple[str, str]:
        """A usage column's text for this key, and how to draw it ("…" until read)."""
        table = self.table
        if table is None:
            return "…", ""
        return cell(name, table.get(row.id), self.rates.get(row.id, 0.0), table.now)

    def sort_key(self, name: str) -> Callable[[KeyRow], float]:
        """The figure a usage sort orders rows by (0 for every key before the first read)."""
        table = self.table
        if table is None:
            return lambda row: 0.0
        get, rates, now = table.get, self.rates, table.now
        if name == "cost.today":  # the sort an incident starts from: kept lean at 100,000 keys
            return lambda row: get(row.id).cost_today
        if name == "rate":
            return lambda row: rates.get(row.id, 0.0)
        return lambda row: sort_value(name, get(row.id), rates.get(row.id, 0.0), now)
