"""Would CRS accept a request with this key right now, and if not, why.

The checks run in CRS's own order (its auth middleware, then the limit checks): the first
that fails is the answer, as it is the one CRS would answer with. The route-level checks that
depend on the request itself (client restrictions, permissions per service, model
restrictions, which account is free) are not judged here; the weekly Claude cost limit only
refuses Claude-family models, which the verdict says in its note.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyops.core.timestamps import CLOCK, utc_text
from keyops.core.usage.figures import (
    CONCURRENCY,
    DAILY_COST,
    TOTAL_COST,
    WEEKLY_COST,
    WINDOW_COST,
    WINDOW_REQUESTS,
    WINDOW_TOKENS,
    KeyUsage,
)

DELETED = "deleted"
DISABLED = "disabled"
EXPIRED = "expired"
USER_DISABLED = "user-disabled"

# Every reason in check order, with what CRS answers (`rejected:` takes these names).
REASONS: dict[str, str] = {
    DELETED: "401 API key not found (soft-deleted)",
    DISABLED: "401 API key is disabled",
    EXPIRED: "401 API key has expired",
    USER_DISABLED: "401 User account is disabled",
    CONCURRENCY: "429 Concurrency limit exceeded",
    WINDOW_REQUESTS: "429 window request limit reached",
    WINDOW_TOKENS: "429 window token limit reached",
    WINDOW_COST: "429 window cost limit reached",
    DAILY_COST: "402 daily_cost_limit_exceeded",
    TOTAL_COST: "402 total_cost_limit_exceeded",
    WEEKLY_COST: "402 weekly_opus_cost_limit_exceeded (Claude models)",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """`reason` is None when CRS would accept; `note` says what else an operator should know."""

    reason: str | None = None
    note: str = ""

    @property
    def accepted(self) -> bool:
        return self.reason is None

    @property
    def answer(self) -> str:
        """What CRS answers, as an operator reads it."""
        if self.reason is None:
            return "accepted" + (f" ({self.note})" if self.note else "")
        return REASONS[self.reason] + (f" ({self.note})" if self.note else "")


ACCEPTED = Verdict()
_PLAIN = {reason: Verdict(reason) for reason in REASONS}


def verdict(usage: KeyUsage, now: float) -> Verdict:
    """CRS's answer to the key's next request at `now` (seconds since the epoch)."""
    limits = usage.limits
    # CRS never reads isDeleted: a soft delete removes the key's hash_map entry and sets
    # isActive to false, and either refuses it.
    if usage.is_deleted:
        return _PLAIN[DELETED]
    if not usage.is_active:
        return _PLAIN[DISABLED]
    note = ""
    if limits.activation_pending:
        # The first request activates the key and starts its term from now: accepted.
        note = f"not activated yet: its first request starts {limits.activation_days} " + (
            limits.activation_unit
        )
    elif usage.expires_at is not None and now > usage.expires_at:
        return _PLAIN[EXPIRED]
    if limits.user_id and usage.user_ok is False:
        return _PLAIN[USER_DISABLED]
    if limits.concurrency > 0 and usage.concurrency >= limits.concurrency:
        return Verdict(CONCURRENCY, f"{usage.concurrency}/{limits.concurrency} in flight")
    if limits.window_configured and usage.window_active(now):
        if limits.window_requests > 0 and usage.window_requests >= limits.window_requests:
            return Verdict(WINDOW_REQUESTS, _window_note(usage))
        if limits.token_limit > 0:
            if usage.window_tokens >= limits.token_limit:
                return Verdict(WINDOW_TOKENS, _window_note(usage))
        elif limits.window_cost > 0 and usage.window_cost >= limits.window_cost:
            return Verdict(WINDOW_COST, _window_note(usage))
    if limits.daily_cost > 0 and usage.cost_today >= limits.daily_cost:
        return Verdict(DAILY_COST, f"${usage.cost_today:.2f} of ${limits.daily_cost:g}")
    if limits.total_cost > 0 and usage.cost_total >= limits.total_cost:
        return Verdict(TOTAL_COST, f"${usage.cost_total:.2f} of ${limits.total_cost:g}")
    if limits.weekly_cost > 0 and usage.cost_week >= limits.weekly_cost:
        return Verdict(WEEKLY_COST, "other models are still accepted")
    return Verdict(None, note) if note else ACCEPTED


def _window_note(usage: KeyUsage) -> str:
    end = usage.window_end()
    if end is None:
        return ""
    return f"window ends {utc_text(end, CLOCK)}"
