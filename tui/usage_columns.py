"""The key list's usage columns: what each is called, how wide it is, and how a key's figures
read in it. Pure formatting over the core's `KeyUsage`: no widget, no Redis."""

from __future__ import annotations

from dataclasses import dataclass

from keyops.core.api import REASONS, KeyUsage, Verdict, figure, verdict

# How a cell is drawn beside its text: "" plain, "near" (90 % of a limit or more), "over"
# (at or over a limit, or CRS refuses the key), "burning" (its cost rose since the last read).
NEAR, OVER, BURNING = "near", "over", "burning"
NEAR_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class UsageColumn:
    name: str  # as the config and the picker name it (the figure's name where there is one)
    title: str  # the header
    width: int
    sort_words: str  # "Sort by <words>", and the status line's "sort: <words>"
    about: str  # the picker's line
    numeric: bool = True  # right-aligned


USAGE_COLUMN_SPECS: dict[str, UsageColumn] = {
    column.name: column
    for column in (
        UsageColumn("requests.today", "req today", 9, "requests today", "requests today"),
        UsageColumn("cost.today", "$ today", 9, "cost today", "cost today (the daily limit's)"),
        UsageColumn("cost.week", "$ week", 9, "cost this week", "Claude cost this weekly period"),
        UsageColumn("cost.total", "$ total", 9, "total cost", "cost in all (the total limit's)"),
        UsageColumn("concurrency", "conc", 4, "concurrency", "requests in flight now"),
        UsageColumn(
            "limit", "limit", 12, "limit share", "highest share of any limit, and which", False
        ),
        UsageColumn("verdict", "verdict", 15, "verdict", "would CRS accept it now; why not", False),
        UsageColumn("rate", "$/min", 7, "$/min", "cost per minute since the last usage read"),
    )
}

# A limit's name in a 12-cell column ("126% daily").
SHORT_LIMITS = {
    "concurrency": "conc",
    "window-requests": "win req",
    "window-tokens": "win tok",
    "window-cost": "win $",
    "daily-cost": "daily",
    "total-cost": "total",
    "weekly-cost": "weekly",
}
# The verdict's reasons ranked for a sort: the first check CRS fails ranks highest, so a
# descending verdict sort lists refused keys first, in CRS's check order.
_REASON_RANK = {reason: len(REASONS) - index for index, reason in enumerate(REASONS)}


# Above a million dollars a figure is shown in millions, billions, trillions, then with an
# exponent: "$1,234,568" is wider than a cost column, which cut it to "$1,234,5…".
_LARGE_UNITS = (("M", 1e6), ("B", 1e9), ("T", 1e12))


def money(value: float) -> str:
    """Dollars in a cost column (9 cells at most): cents below $10,000, whole dollars below a
    million, then "$1.23M", "$45.6B", "$789T", "$1e+18"; "-" for nothing."""
    if value <= 0:
        return "-"
    if value < 0.005:
        return "<$0.01"
    if value < 10_000:
        return f"${value:,.2f}"
    if value < 999_999.5:  # rounds to $999,999 at most
        return f"${value:,.0f}"
    for unit, size in _LARGE_UNITS:
        if value < size * 1000:
            scaled = value / size
            places = 2 if scaled < 10 else 1 if scaled < 100 else 0
            return f"${scaled:.{places}f}{unit}"
    return "$∞" if value == float("inf") else f"${value:.0e}"


def rate_text(rate: float) -> str:
    """Dollars a minute; the ▲ marks a key whose cost rose since the last read."""
    if rate <= 0:
        return "-"
    return f"▲{rate:.2f}" if rate < 100 else f"▲{rate:,.0f}"


def limit_text(usage: KeyUsage, now: float) -> tuple[str, str]:
    top = usage.top_share(now)
    if top is None:
        return "-", ""
    name, share = top
    level = OVER if share >= 1 else NEAR if share >= NEAR_SHARE else ""
    return f"{share * 100:.0f}% {SHORT_LIMITS[name]}", level


def verdict_text(answer: Verdict) -> tuple[str, str]:
    if answer.reason is None:
        return "accepted", ""
    return answer.reason, OVER


def cell(name: str, usage: KeyUsage, rate: float, now: float) -> tuple[str, str]:
    """A usage column's text for one key and how to draw it."""
    if name == "cost.today":
        return money(usage.cost_today), BURNING if rate > 0 else ""
    if name == "rate":
        return rate_text(rate), BURNING if rate > 0 else ""
    if name == "limit":
        return limit_text(usage, now)
    if name == "verdict":
        return verdict_text(verdict(usage, now))
    if name == "cost.week":
        return money(usage.cost_week), ""
    if name == "cost.total":
        return money(usage.cost_total), ""
    if name == "requests.today":
        return (f"{usage.requests:,}" if usage.requests else "-"), ""
    if name == "concurrency":
        return (str(usage.concurrency) if usage.concurrency else "-"), ""
    raise ValueError(f"unknown usage column {name!r}")


def sort_value(name: str, usage: KeyUsage, rate: float, now: float) -> float:
    """What a usage sort orders by (highest first unless reversed): the console's own `$/min`
    and verdict rank, else the core's figure of that name."""
    if name == "rate":
        return rate
    if name == "verdict":
        reason = verdict(usage, now).reason
        return 0 if reason is None else _REASON_RANK[reason]
    if name not in USAGE_COLUMN_SPECS:
        raise ValueError(f"unknown usage column {name!r}")
    return figure(usage, name, now)
