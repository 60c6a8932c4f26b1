"""CRS's time zone: the dates, hours, months and weekly periods in its usage key names.

The offset is CRS's `TIMEZONE_OFFSET` as CRS reads it (`settings.crs_offset`: whole hours, and
0 means +8). Every date part of a key name is the wall clock at that offset, whatever the
server's own time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyops.core.schema.js_number import js_parse_int as parse_int

DEFAULT_RESET_DAY = 1  # Monday
DEFAULT_RESET_HOUR = 0


def js_parse_int(raw: str | None) -> int | None:
    """JavaScript's parseInt(raw, 10): leading digits after optional space and sign; None for
    NaN. '5.5' is 5, '8h' is 8, '' and 'x' are NaN, and so are digits of other scripts ('٣')."""
    return None if raw is None else parse_int(raw)


def local_clock(now: float, offset: int) -> datetime:
    """The naive wall clock in CRS's time zone at `now` (seconds since the epoch)."""
    return (datetime.fromtimestamp(now, UTC) + timedelta(hours=offset)).replace(tzinfo=None)


def date_part(now: float, offset: int) -> str:
    """`YYYY-MM-DD`: CRS's "today", in every daily key name."""
    return local_clock(now, offset).strftime("%Y-%m-%d")


def hour_part(now: float, offset: int) -> str:
    """`YYYY-MM-DD:HH` (a colon before the hour), in every hourly key name."""
    return local_clock(now, offset).strftime("%Y-%m-%d:%H")


def month_part(now: float, offset: int) -> str:
    return local_clock(now, offset).strftime("%Y-%m")


def period_start(reset_day: int, reset_hour: int, now: float, offset: int) -> datetime:
    """The local start of the key's current weekly period (CRS's getPeriodString): the last
    `reset_day` (ISO weekday, Monday 1) at `reset_hour`, a full week back when that is later
    today."""
    clock = local_clock(now, offset)
    days = (clock.isoweekday() - reset_day + 7) % 7
    if days == 0 and clock.hour < reset_hour:
        days = 7
    return (clock - timedelta(days=days)).replace(
        hour=reset_hour, minute=0, second=0, microsecond=0
    )


def period_part(reset_day: int, reset_hour: int, now: float, offset: int) -> str:
    """`YYYY-MM-DDTHH`: the weekly Claude cost key's period."""
    return period_start(reset_day, reset_hour, now, offset).strftime("%Y-%m-%dT%H")


def next_reset(reset_day: int, reset_hour: int, now: float, offset: int) -> float:
    """The real instant (seconds since the epoch) the current weekly period ends."""
    start = period_start(reset_day, reset_hour, now, offset) + timedelta(days=7)
    return (start - timedelta(hours=offset)).replace(tzinfo=UTC).timestamp()


def day_end(now: float, offset: int) -> float:
    """The real instant CRS's "today" ends: local midnight at the offset. (CRS's daily 402
    names the server's own midnight instead; the cost key changes at this one.)"""
    clock = local_clock(now, offset)
    midnight = clock.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return (midnight - timedelta(hours=offset)).replace(tzinfo=UTC).timestamp()


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
