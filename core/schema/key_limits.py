"""A key's limits and lifecycle settings, read from its record as CRS's request path reads
them: the daily/total/weekly cost limits, concurrency, the rate-limit window, activation, the
linked user, and what the key may use (services, models, clients).

The key list reads these fields with the rest of a row, so a usage read only has to read the
counters, and the settings query terms (`limit.daily:`, `perm:`, `model:`, `client:`) need no
usage at all. Equal settings share one object: most of 100,000 keys store the same strings.
"""

from __future__ import annotations

from keyops.core.schema.access import ALL, allowed_services, restriction_in_force
from keyops.core.schema.crs_numbers import crs_float
from keyops.core.schema.js_number import js_parse_int as parse_int

DEFAULT_RESET_DAY = 1  # Monday
DEFAULT_RESET_HOUR = 0

# The fields of `apikey:{id}` a KeyLimits is made from, in this order.
LIMIT_FIELDS: tuple[str, ...] = (
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
    # What the key may use (`perm:`, `model:`, `client:`).
    "permissions",
    "enableModelRestriction",
    "restrictedModels",
    "enableClientRestriction",
    "allowedClients",
)


def js_parse_int(raw: str | None) -> int | None:
    """`parseInt(raw, 10)`, None for NaN (and for a missing field)."""
    return None if raw is None else parse_int(raw)


def reset_settings(day_raw: str | None, hour_raw: str | None) -> tuple[int, int]:
    """A key's weekly reset day and hour as CRS reads them: `parseInt(x || 1)`, `parseInt(x ||
    0)`. CRS's `(currentDay - resetDay + 7) % 7` makes any day up to 8 the ISO day it is equal
    to modulo 7 (0 is Sunday, as JavaScript's getDay counts, and 8 Monday). Past 8 the sum can
    turn negative, where JavaScript's % differs, and a value CRS turns into NaN gives no valid
    period: the defaults are used then."""
    day = js_parse_int(day_raw or "1")
    hour = js_parse_int(hour_raw or "0")
    day = DEFAULT_RESET_DAY if day is None or day > 8 else (day - 1) % 7 + 1
    if hour is None or not 0 <= hour <= 23:
        hour = DEFAULT_RESET_HOUR
    return day, hour


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
        "raw",
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
        self.raw = raw  # the stored strings, in LIMIT_FIELDS order: what equality compares
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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyLimits) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

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


NO_LIMITS = KeyLimits((None,) * len(LIMIT_FIELDS))


class LimitsCache:
    """One KeyLimits per distinct stored tuple, for a read of many keys."""

    __slots__ = ("_known", "_last")

    def __init__(self) -> None:
        self._known: dict[tuple[str | None, ...], KeyLimits] = {}
        self._last = NO_LIMITS

    def get(self, stored: list[str | None]) -> KeyLimits:
        """The KeyLimits of these stored values (LIMIT_FIELDS order)."""
        # Neighbouring keys mostly store the same strings: comparing with the last one is
        # cheaper than hashing twenty fresh strings for the lookup.
        raw = tuple(stored)
        if self._last.raw == raw:
            return self._last
        limits = self._known.get(raw)
        if limits is None:
            limits = self._known[raw] = KeyLimits(raw)
        self._last = limits
        return limits
