"""Usage figures and CRS's verdict in CLI output: the `usage` object of `keys list --json` and
`keys top`, and the `keys top` table."""

from __future__ import annotations

import sys
from typing import Any

from keyops.cli.text import plural
from keyops.core.api import KeyRow, KeyUsage, UsageTable, iso_utc, printable, verdict


def _finite(value: float) -> float:
    """JSON has no Infinity: an infinite figure (a cost stored as 'Infinity', a share of a
    limit of 1e-320) is written as the largest number JSON parsers read, which still sorts
    and compares above every other."""
    return max(-sys.float_info.max, min(value, sys.float_info.max))


def _money(value: float) -> float:
    # Micro-dollars, as CRS counts them: the float sums' last binary digits mean nothing.
    return _finite(round(value, 6))


def _share_percent(share: float) -> float:
    return _finite(round(share * 100, 2))


def usage_json(usage: KeyUsage, now: float) -> dict[str, Any]:
    requests, tokens, cost = usage.window_figures(now)
    end = usage.window_end()
    window = (
        {"requests": requests, "tokens": tokens, "cost": _money(cost), "endsAt": iso_utc(end)}
        if usage.window_active(now) and end is not None
        else None
    )
    top = usage.top_share(now)
    answer = verdict(usage, now)
    return {
        "costToday": _money(usage.cost_today),
        "costWeek": _money(usage.cost_week),
        "weekPeriod": usage.week_period,
        "costTotal": _money(usage.cost_total),
        "requestsToday": usage.requests,
        "tokensToday": usage.tokens,
        "concurrency": usage.concurrency,
        "window": window,
        "limits": {name: _share_percent(share) for name, share in usage.shares(now)},
        "topLimit": None if top is None else {"limit": top[0], "percent": _share_percent(top[1])},
        "accepted": answer.accepted,
        "rejectedBecause": answer.reason,
        "verdict": answer.answer,
    }


def _percent(usage: KeyUsage, now: float) -> str:
    top = usage.top_share(now)
    return "" if top is None else f"{top[1] * 100:.0f}% {top[0]}"


def _dollars(value: float) -> str:
    """Cents, up to a trillion dollars; past that three digits and an exponent ('1e+300'
    printed in full is 300 digits wide)."""
    return f"{value:.2f}" if abs(value) < 1e12 else f"{value:.3g}"


def top_rows(rows: list[KeyRow], table: UsageTable) -> list[list[str]]:
    """The `keys top` table body: one line per key, figures as an operator reads them."""
    now = table.now
    body = []
    for row in rows:
        usage = table.get(row.id)
        answer = verdict(usage, now)
        body.append(
            [
                printable(row.id[:8]),
                printable(row.name),
                _dollars(usage.cost_today),
                _dollars(usage.cost_week),
                _dollars(usage.cost_total),
                f"{usage.requests:,}",
                _percent(usage, now),
                "ok" if answer.accepted else f"REJECTED {answer.reason}",
            ]
        )
    return body


TOP_HEADERS = ["ID", "NAME", "$ TODAY", "$ WEEK", "$ TOTAL", "REQ TODAY", "CLOSEST LIMIT", "CRS"]


def top_footer(shown: int, matched: int, by: str, table: UsageTable) -> str:
    return (
        f"top {shown} of {plural(matched, 'key')} by {by}; CRS day {table.today} "
        f"(UTC{table.offset:+d}), read {iso_utc(table.now)}"
    )
