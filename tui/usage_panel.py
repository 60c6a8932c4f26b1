"""The key detail's usage part: CRS's answer to the key's next request, its figures, each limit
as a bar (used / limit and the percent), and its use today per model. Rich renderables over
the core's figures; stored text (model names) goes through `shown`."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from keyops.core.api import KeyUsage, UsageBreakdown, verdict
from keyops.tui.shown import shown
from keyops.tui.usage_columns import NEAR_SHARE, money, rate_text

BAR_WIDTH = 20
LIMIT_WORDS = {
    "concurrency": "concurrency",
    "window-requests": "window requests",
    "window-tokens": "window tokens",
    "window-cost": "window cost",
    "daily-cost": "daily cost",
    "total-cost": "total cost",
    "weekly-cost": "weekly Claude cost",
}
MONEY_LIMITS = {"window-cost", "daily-cost", "total-cost", "weekly-cost"}


def _amount(name: str, value: float) -> str:
    return money(value) if name in MONEY_LIMITS else f"{value:,.0f}"


def bar(share: float, width: int = BAR_WIDTH) -> Text:
    """A bar filled to the share (full at 100 %, and over it), coloured near and over."""
    filled = min(width, max(0, round(min(share, 1.0) * width)))
    style = "bold red" if share >= 1 else "yellow" if share >= NEAR_SHARE else "green"
    text = Text("█" * filled, style=style)
    text.append("░" * (width - filled), style="dim")
    return text


def verdict_line(usage: KeyUsage, now: float) -> Text:
    answer = verdict(usage, now)
    line = Text("CRS would answer: ", style="bold")
    line.append(answer.answer, style="green" if answer.accepted else "bold red")
    return line


def figures_line(usage: KeyUsage, today: str, offset: int, rate: float) -> Text:
    return Text(
        f"today ({today}, UTC{offset:+d}): {usage.requests:,} requests · {usage.tokens:,} tokens"
        f" · {money(usage.cost_today)} · this week {money(usage.cost_week)} · in all "
        f"{money(usage.cost_total)} · {usage.concurrency} in flight · $/min {rate_text(rate)}"
    )


def limits_table(usage: KeyUsage, now: float) -> RenderableType:
    uses = usage.uses(now)
    if not uses:
        return Text("no limits: CRS refuses this key only for its status or expiry", style="dim")
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for name, used, limit, share in uses:
        table.add_row(
            LIMIT_WORDS[name],
            f"{_amount(name, used)} / {_amount(name, limit)}",
            bar(share),
            f"{share * 100:.0f}%",
        )
    return table


def models_table(breakdown: UsageBreakdown) -> RenderableType:
    if not breakdown.models:
        return Text("no requests today", style="dim")
    costs = [
        money(model.cost) if model.cost is not None else "(CRS prices it)"
        for model in breakdown.models
    ]
    # The cost beside the model, never cut: which model burns the money is what the lines are
    # read for. At 80 columns the token counts on the right give way ('$28.…' was cut before).
    table = Table(box=None, padding=(0, 0, 0, 1), show_edge=False, header_style="bold")
    table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=30)
    table.add_column("cost", justify="right", no_wrap=True, min_width=max(map(len, costs)))
    for title in ("req", "input", "output", "cache wr", "cache rd"):
        table.add_column(title, justify="right", no_wrap=True)
    for model, cost in zip(breakdown.models, costs, strict=True):
        table.add_row(
            shown(model.model),
            cost,
            f"{model.requests:,}",
            f"{model.input_tokens:,}",
            f"{model.output_tokens:,}",
            f"{model.cache_create_tokens:,}",
            f"{model.cache_read_tokens:,}",
        )
    return table


def usage_panel(
    usage: KeyUsage, breakdown: UsageBreakdown, *, now: float, offset: int, rate: float
) -> RenderableType:
    return Group(
        verdict_line(usage, now),
        figures_line(usage, breakdown.today, offset, rate),
        Text("limits", style="bold"),
        limits_table(usage, now),
        Text("per model today", style="bold"),
        models_table(breakdown),
        Text(""),
    )
