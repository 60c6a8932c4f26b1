"""The one retry policy for calls that are safe to send again: reads, and write chunks whose
compare-and-set turns a resend of what already landed into `already`.

A few retries, each waiting twice as long as the one before (capped), with jitter so clients
that failed together do not come back together. Writes through redis-py never retry at all
(see connection.py): only the batch engine resends a chunk, because only it can tell.
"""

from __future__ import annotations

import random

RETRIES = 3
BASE_SECONDS = 0.1
CAP_SECONDS = 2.0


def backoff_seconds(retry: int) -> float:
    """How long to wait before retry number `retry` (0 for the first)."""
    return min(CAP_SECONDS, BASE_SECONDS * 2.0**retry) * (0.5 + random.random())
