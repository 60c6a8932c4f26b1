"""CRS's time zone: the dates, hours, months and weekly periods in its usage key names.

The offset is CRS's `TIMEZONE_OFFSET` as CRS reads it (`settings.crs_offset`: whole hours, and
0 means +8). Every date part of a key name is the wall clock at that offset, whatever the
server's own time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


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
