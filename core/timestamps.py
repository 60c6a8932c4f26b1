"""Moments as text, always in UTC: the ISO form CRS stores (`Date.toISOString()`) and the
shorter forms command output and screens show. One module, so every place that prints a time
prints it the same way."""

from __future__ import annotations

from datetime import UTC, datetime

SECOND = "%Y-%m-%d %H:%M:%S"
MINUTE = "%Y-%m-%d %H:%M"
DAY = "%Y-%m-%d"
CLOCK = "%H:%M:%S UTC"


def iso_utc(moment: datetime | float) -> str:
    """Date.toISOString(): UTC, milliseconds, 'Z' (a datetime, or seconds since the epoch)."""
    if isinstance(moment, datetime):
        utc = moment.astimezone(UTC)
    else:
        utc = datetime.fromtimestamp(moment, UTC)
    # The year by hand: strftime's %Y gives '999' where toISOString writes '0999'.
    return f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def utc_text(epoch: float | None, layout: str = SECOND, missing: str = "") -> str:
    """Seconds since the epoch in one of the layouts above; `missing` when there is none."""
    if epoch is None:
        return missing
    return datetime.fromtimestamp(epoch, UTC).strftime(layout)
