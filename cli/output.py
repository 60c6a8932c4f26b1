"""Writing to a terminal that may be gone.

After the SSH link drops, every write to the terminal fails (EIO); after a reader closes a
pipe, every write to it does (EPIPE). While a batch runs, neither may stop it: an exception out
of a progress line would end the run mid-way, rollback included. So batch output goes through
`say`, which points a stream that failed at /dev/null and goes on; the log keeps the line.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

log = logging.getLogger("keyops.cli")


def say(text: str, stream: TextIO | None = None, end: str = "\n") -> None:
    """Writes and flushes `text`; a stream that cannot take it is muted, the line logged."""
    out = sys.stderr if stream is None else stream
    try:
        out.write(text + end)
        out.flush()
    except (OSError, ValueError) as error:  # ValueError: the stream was closed
        mute(out)
        log.warning("output lost (%s): %s", error, text.strip())


def mute(stream: TextIO) -> None:
    """Points the stream's descriptor at /dev/null, so later writes (and the flush at exit)
    succeed."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):
        return
    mute_descriptor(descriptor)


def mute_descriptor(descriptor: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)
