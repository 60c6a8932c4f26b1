"""One key's usage figures and limits, as CRS reads them, and how close each limit is.

Figures are kept lean (100,000 keys are loaded at once): what a list, a sort, a query and the
verdict need. Limits are shared between keys that store the same limit strings (most keys
store none). A per-model, per-token-kind breakdown is read for one key on demand (`loader`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from keyops.core.schema.access import ALL, allowed_services, restriction_in_force
from keyops.core.usage.periods import js_parse_int, reset_settings
from keyops.core.usage.values import crs_float

# The fields of `apikey:{id}` the figures and the verdict read, in HMGET order.
STATE_FIELDS: tuple[str, ...] = (
    "isActive",
    "isDeleted",
    "expiresAt",
    "expirationMode",
    "isActivated",
    "activationDays",
    "activationUnit",
    "userId",
    "dailyCostLimit",
    "totalCostLimit",
    "weeklyOpusCostLimit",
    "weeklyResetDay",
    "weeklyResetHour",
    "concurrencyLimit",
    "rateLimitWindow",
    "rateLimitRequests",
    "rateLimitCost",
    "tokenLimit",
    # What the key may use (`perm:`, `model:`, `client:`): read here, beside the limits, so
    # one pass over the keys answers every query on a key's settings.
    "permissions",
    "enableModelRestriction",
    "restrictedModels",
    "enableClientRestriction",
    "allowedClients",
)
LIMIT_FIELDS_START = 3  # the rest is interned per distinct tuple

# Limit names, as `limit:` shows them and `rejected:` takes them (also the verdict's reasons).
DAILY_COST = "daily-cost"
TOTAL_COST = "total-cost"
WEEKLY_COST = "weekly-cost"
WINDOW_REQUESTS = "window-requests"
WINDOW_TOKENS = "window-tokens"
WINDOW_COST = "window-cost"
CONCURRENCY = "concurrency"
LIMIT_NAMES = (
    CONCURRENCY,
    WINDOW_REQUESTS,
    WINDOW_TOKENS,
    WINDOW_COST,
    DAILY_COST,
    TOTAL_COST,
    WEEKLY_COST,
)


def _int_limit(raw: str | None) -> int:
    """`parseInt(x || 0)`: NaN (a non-numeric string) compares false, i.e. no limit."""
    return js_parse_int(raw or "0") or 0


class KeyLimits:
    """A key's limits and lifecycle settings as CRS's request path reads them (0 = off)."""

    __slots__ = (
        "activation_days",
        "activation_pending",
        "activation_unit",
        "clients",
        "concurrency",
        "daily_cost",
        "inert",
        "models",
        "reset_day",
        "reset_hour",
        "services",
        "token_limit",
        "total_cost",
        "user_id",
        "weekly_cost",
        "window_cost",
        "window_minutes",
        "window_requests",
    )

    def __init__(self, raw: tuple[str | None, ...]) -> None:
        (mode, activated, days, unit, user_id, daily, total, weekly, reset_day, reset_hour,
         concurrency, window, requests, cost, tokens, permissions, models_on, models,
         clients_on, clients) = raw  # fmt: skip
        self.activation_pending = mode == "activation" and activated != "true"
        self.activation_days = js_parse_int(days or "30") or 0
        self.activation_unit = "hours" if unit == "hours" else "days"
        self.user_id = user_id or ""
        self.daily_cost = crs_float(daily)
        self.total_cost = crs_float(total)
        self.weekly_cost = crs_float(weekly)
        self.reset_day, self.reset_hour = reset_settings(reset_day, reset_hour)
        self.concurrency = _int_limit(concurrency)
        self.window_minutes = _int_limit(window)
        self.window_requests = _int_limit(requests)
        self.window_cost = crs_float(cost)
        # parseInt(tokenLimit) without a default: '' is NaN, i.e. off.
        self.token_limit = js_parse_int(tokens) or 0
        self.services = allowed_services(permissions)
        self.models = restriction_in_force(models_on, models)  # () when not in force
        self.clients = restriction_in_force(clients_on, clients)
        # Nothing here changes a verdict or a share (no limit, no activation, no user) and
        # the key may use everything: its usage can be the shared empty one.
        self.inert = not (
            self.any or self.activation_pending or self.user_id
            or self.services != ALL or self.models or self.clients
        )  # fmt: skip

    @property
    def window_configured(self) -> bool:
        """CRS keeps a window only with a length and something in it to limit."""
        return self.window_minutes > 0 and (
            self.window_requests > 0 or self.token_limit > 0 or self.window_cost > 0
        )

    @property
    def any(self) -> bool:
        return bool(
            self.daily_cost > 0 or self.total_cost > 0 or self.weekly_cost > 0
            or self.concurrency > 0 or self.window_configured
        )  # fmt: skip


def share_of(used: float, limit: float) -> float:
    """How much of a limit is used. An infinite use of an infinite limit (both stored as
    '1e999' or 'Infinity') is at it: CRS's `used >= limit` holds, where the quotient is NaN."""
    share = used / limit
    return 1.0 if share != share else share


NO_LIMITS = KeyLimits((None,) * (len(STATE_FIELDS) - LIMIT_FIELDS_START))


class KeyUsage:
    """What CRS recorded for one key, read at one instant."""

    __slots__ = (
        "concurrency",
        "cost_today",
        "cost_total",
        "cost_week",
        "expires_at",
        "is_active",
        "is_deleted",
        "limits",
        "requests",
        "tokens",
        "user_ok",
        "week_period",
        "window_cost",
        "window_requests",
        "window_start",
        "window_tokens",
    )

    def __init__(
        self,
        requests: int = 0,
        tokens: int = 0,
        cost_today: float = 0.0,
        cost_total: float = 0.0,
        cost_week: float = 0.0,
        week_period: str = "",
        concurrency: int = 0,
        window_start: int | None = None,
        window_requests: int = 0,
        window_tokens: int = 0,
        window_cost: float = 0.0,
        limits: KeyLimits = NO_LIMITS,
        is_active: bool = True,
        is_deleted: bool = False,
        expires_at: float | None = None,
        user_ok: bool | None = None,
    ) -> None:
        # Positional in the loader: 100,000 keys are built at once.
        self.requests = requests  # today, CRS's time zone
        self.tokens = tokens  # today: input + output + cache create + cache read
        self.cost_today = cost_today  # rated USD, `usage:cost:daily` (the daily limit's)
        self.cost_total = cost_total
        self.cost_week = cost_week  # rated USD on Claude-family models, this weekly period
        self.week_period = week_period
        self.concurrency = concurrency  # requests holding a live lease
        self.window_start = window_start  # epoch ms
        self.window_requests = window_requests
        self.window_tokens = window_tokens
        self.window_cost = window_cost
        self.limits = limits
        self.is_active = is_active
        self.is_deleted = is_deleted
        self.expires_at = expires_at
        self.user_ok = user_ok  # None: the key names no user

    def window_active(self, now: float) -> bool:
        """Whether the fixed window is still open (CRS resets it on the next request if not)."""
        minutes = self.limits.window_minutes
        start = self.window_start
        return minutes > 0 and start is not None and now * 1000 - start < minutes * 60_000

    def window_end(self) -> float | None:
        if self.window_start is None or self.limits.window_minutes <= 0:
            return None
        return (self.window_start + self.limits.window_minutes * 60_000) / 1000

    def window_figures(self, now: float) -> tuple[int, int, float]:
        """Requests, tokens and cost in the open window; zeros once it has run out."""
        if not self.window_active(now):
            return 0, 0, 0.0
        return self.window_requests, self.window_tokens, self.window_cost

    def shares(self, now: float) -> list[tuple[str, float]]:
        """Each limit CRS enforces on this key with how much of it is used (1.0 = at it)."""
        limits = self.limits
        shares: list[tuple[str, float]] = []
        if limits.concurrency > 0:
            shares.append((CONCURRENCY, share_of(self.concurrency, limits.concurrency)))
        if limits.window_configured:
            requests, tokens, cost = self.window_figures(now)
            if limits.window_requests > 0:
                shares.append((WINDOW_REQUESTS, share_of(requests, limits.window_requests)))
            # A token limit replaces the window cost check in CRS.
            if limits.token_limit > 0:
                shares.append((WINDOW_TOKENS, share_of(tokens, limits.token_limit)))
            elif limits.window_cost > 0:
                shares.append((WINDOW_COST, share_of(cost, limits.window_cost)))
        if limits.daily_cost > 0:
            shares.append((DAILY_COST, share_of(self.cost_today, limits.daily_cost)))
        if limits.total_cost > 0:
            shares.append((TOTAL_COST, share_of(self.cost_total, limits.total_cost)))
        if limits.weekly_cost > 0:
            shares.append((WEEKLY_COST, share_of(self.cost_week, limits.weekly_cost)))
        return shares

    def uses(self, now: float) -> list[tuple[str, float, float, float]]:
        """Each limit CRS enforces on this key as (name, used, limit, share), in `shares`
        order: what a detail view draws as bars."""
        limits = self.limits
        requests, tokens, cost = self.window_figures(now)
        used = {
            CONCURRENCY: (self.concurrency, limits.concurrency),
            WINDOW_REQUESTS: (requests, limits.window_requests),
            WINDOW_TOKENS: (tokens, limits.token_limit),
            WINDOW_COST: (cost, limits.window_cost),
            DAILY_COST: (self.cost_today, limits.daily_cost),
            TOTAL_COST: (self.cost_total, limits.total_cost),
            WEEKLY_COST: (self.cost_week, limits.weekly_cost),
        }
        return [(name, *used[name], share) for name, share in self.shares(now)]

    def top_share(self, now: float) -> tuple[str, float] | None:
        """The limit this key is closest to (or furthest over), None without limits."""
        shares = self.shares(now)
        return max(shares, key=lambda pair: pair[1]) if shares else None


EMPTY = KeyUsage()


# The figures `keys top --by`, sorts and JSON output know.
FIGURES: tuple[str, ...] = (
    "cost.today",
    "cost.week",
    "cost.total",
    "requests.today",
    "tokens.today",
    "concurrency",
    "limit",
    "window.requests",
    "window.tokens",
    "window.cost",
)


def figure(usage: KeyUsage, name: str, now: float) -> float:
    """One figure by name (`limit` is the highest share of any limit, 0 without limits)."""
    if name == "cost.today":
        return usage.cost_today
    if name == "cost.week":
        return usage.cost_week
    if name == "cost.total":
        return usage.cost_total
    if name == "requests.today":
        return usage.requests
    if name == "tokens.today":
        return usage.tokens
    if name == "concurrency":
        return usage.concurrency
    if name == "limit":
        top = usage.top_share(now)
        return top[1] if top is not None else 0.0
    window = usage.window_figures(now)
    if name == "window.requests":
        return window[0]
    if name == "window.tokens":
        return window[1]
    if name == "window.cost":
        return window[2]
    raise ValueError(f"unknown figure {name!r}; one of: {', '.join(FIGURES)}")


@dataclass(slots=True)
class UsageTable:
    """Usage of many keys read at one instant (`now`), with the CRS dates it read."""

    now: float
    offset: int
    today: str
    by_id: dict[str, KeyUsage] = field(default_factory=dict)

    def get(self, key_id: str) -> KeyUsage:
        """A key's usage; the empty figures for a key with none (or not read)."""
        return self.by_id.get(key_id, EMPTY)

    def figure(self, key_id: str, name: str) -> float:
        return figure(self.get(key_id), name, self.now)

    def top(self, key_ids: Iterable[str], by: str, count: int) -> list[str]:
        """The `count` keys with the highest `by`, highest first (ties by id, for stable output)."""
        figure(EMPTY, by, self.now)  # an unknown name fails before any work
        get, now = self.by_id.get, self.now
        return heapq.nsmallest(
            count, key_ids, key=lambda key_id: (-figure(get(key_id, EMPTY), by, now), key_id)
        )

    def merge(self, newer: UsageTable) -> None:
        """Takes `newer`'s figures and instant (a refresh of some keys)."""
        self.by_id.update(newer.by_id)
        self.now, self.offset, self.today = newer.now, newer.offset, newer.today
