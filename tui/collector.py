"""Full garbage collections held off while the console makes 100,000 long-lived rows, and
100,000 of them let go of a slice at a time.

Each full collection walks every tracked object not frozen; while a load builds rows, the
collector's own thresholds start one every few tens of thousands of rows, and each held the
event loop 130-260 ms at 100,000 keys (the longest stall of a background reload). Young
collections still run (they walk only what was made since the last one), so garbage cycles
made meanwhile by other work are still freed; the rows are frozen once built.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

# Far more young collections than any load makes.
_NEVER = 1_000_000_000
T = TypeVar("T")

# Objects freed per event-loop turn by `free_gently` (a few ms of work).
FREE_SLICE = 10_000

_holding = 0  # nested holds (a reload may start while another is being cancelled)
_threshold = gc.get_threshold()


@contextmanager
def no_full_collections() -> Iterator[None]:
    global _holding, _threshold
    if _holding == 0:
        _threshold = gc.get_threshold()
        gc.set_threshold(_threshold[0], _threshold[1], _NEVER)
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if _holding == 0:
            gc.set_threshold(*_threshold)


_closed_screens = False  # a screen was closed since the last reload's collection


def note_closed_screen() -> None:
    """A screen closed: it may leave cycles holding a 100,000-key plan (a preview, a confirm,
    a progress screen), for the next reload to free before it makes its rows."""
    global _closed_screens
    _closed_screens = True


def collect_closed_screens() -> bool:
    """A full collection if a screen closed since the last one (True when it ran). A reload
    with nothing closed skips it: the collection walks everything Textual made since the last
    freeze, and held the event loop ~100 ms of a background reload at 100,000 keys."""
    global _closed_screens
    if not _closed_screens:
        return False
    _closed_screens = False
    gc.collect()
    return True


async def free_gently(held: list[T]) -> None:
    """Lets go of `held` a slice per event-loop turn. Given the last references to 100,000
    rows or usage figures (what a reload replaced), it frees them a slice at a time: all at
    once, where the last list holding them was dropped, they held the loop 20-80 ms."""
    while held:
        del held[-FREE_SLICE:]
        await asyncio.sleep(0)
