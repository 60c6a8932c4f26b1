"""Marked keys: a set of key ids that outlives filters, sorts and reloads.

Marks are held by id, not by position, so a new filter or a reload after a batch never
moves them to other keys. Plain Python: the screens drive it, tests exercise it directly.
"""

from __future__ import annotations

from collections.abc import Container, Iterable


class Selection:
    def __init__(self) -> None:
        self.marked: set[str] = set()
        self.anchor: int | None = None  # start row of a range `v` began, in the shown list

    def __len__(self) -> int:
        return len(self.marked)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.marked

    def toggle(self, key_id: str) -> bool:
        """Flips one key; returns whether it is marked now."""
        if key_id in self.marked:
            self.marked.discard(key_id)
            return False
        self.marked.add(key_id)
        return True

    def mark_all(self, key_ids: Iterable[str]) -> int:
        """Marks every given key; returns how many were not marked before."""
        before = len(self.marked)
        self.marked.update(key_ids)
        return len(self.marked) - before

    def clear(self) -> int:
        count = len(self.marked)
        self.marked.clear()
        self.anchor = None
        return count

    def range_bounds(self, cursor: int) -> tuple[int, int] | None:
        if self.anchor is None:
            return None
        return min(self.anchor, cursor), max(self.anchor, cursor)

    def keep_only(self, existing: Container[str]) -> int:
        """Drops marks of keys that no longer exist (gone from Redis); returns how many."""
        # Each mark looked up (not every existing key walked: 100,000 of them took ~9 ms).
        alive = {key_id for key_id in self.marked if key_id in existing}
        dropped = len(self.marked) - len(alive)
        self.marked = alive
        return dropped
