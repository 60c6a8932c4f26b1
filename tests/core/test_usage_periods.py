"""CRS's time-zone dates and weekly periods, against the vectors produced by CRS's own JS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyops.core.errors import BadInput
from keyops.core.schema.key_limits import reset_settings
from keyops.core.settings import crs_offset, resolve_timezone_offset
from keyops.core.usage.periods import (
    date_part,
    day_end,
    hour_part,
    month_part,
    next_reset,
    period_part,
)


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


# UTC instant, today, hour key, month, period(1,0), period(3,14), period(1,9) at offset 8.
VECTORS = [
    ("2026-11-27T17:30:00Z", "2026-11-28", "2026-11-28:01", "2026-11", "2026-11-23T00",
     "2026-11-25T14", "2026-11-23T09"),
    ("2026-12-31T16:05:00Z", "2027-01-01", "2027-01-01:00", "2027-01", "2026-12-28T00",
     "2026-12-30T14", "2026-12-28T09"),
    ("2026-11-30T00:59:00Z", "2026-11-30", "2026-11-30:08", "2026-11", "2026-11-30T00",
     "2026-11-25T14", "2026-11-23T09"),
]  # fmt: skip


@pytest.mark.parametrize(("instant", "today", "hour", "month", "p10", "p314", "p19"), VECTORS)
def test_dates_and_periods_match_crs(
    instant: str, today: str, hour: str, month: str, p10: str, p314: str, p19: str
) -> None:
    now = at(instant)
    assert date_part(now, 8) == today
    assert hour_part(now, 8) == hour
    assert month_part(now, 8) == month
    assert period_part(1, 0, now, 8) == p10
    assert period_part(3, 14, now, 8) == p314
    assert period_part(1, 9, now, 8) == p19


def test_the_fixture_dump_instant_falls_in_the_periods_its_readme_names() -> None:
    now = at("2026-12-02T04:22:26.603Z")
    assert date_part(now, 8) == "2026-12-02"
    assert period_part(1, 0, now, 8) == "2026-11-30T00"
    assert period_part(3, 9, now, 8) == "2026-12-02T09"


def test_a_negative_offset_moves_the_day_back() -> None:
    assert date_part(at("2026-12-02T03:00:00Z"), -5) == "2026-12-01"


def test_the_day_and_week_end_at_local_midnight_and_reset_hour() -> None:
    now = at("2026-12-02T04:22:26Z")
    assert day_end(now, 8) == at("2026-12-02T16:00:00Z")
    # Wednesday 09:00 local is 01:00 UTC; the next one is a week after today's.
    assert next_reset(3, 9, now, 8) == at("2026-12-09T01:00:00Z")


@pytest.mark.parametrize(
    ("raw", "offset"),
    [(None, 8), ("", 8), ("0", 8), ("x", 8), ("5.5", 5), ("+8", 8), ("8h", 8), ("-5", -5),
     ("14.5", 14), ("-13", -13), (" \u00a09", 9),
     # Digits of other scripts and Python-only white space: NaN to JavaScript, so 8.
     ("\u0663", 8), ("\uff15", 8), ("\x1c5", 8)],
)  # fmt: skip
def test_the_offset_is_read_as_crs_reads_it(raw: str | None, offset: int) -> None:
    assert crs_offset(raw) == offset


def test_the_offset_comes_from_the_flag_then_environment_then_env_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env_file = tmp_path / ".env"
    env_file.write_text("TIMEZONE_OFFSET=-3\n")
    assert resolve_timezone_offset("2", env_file, {"TIMEZONE_OFFSET": "4"}) == (
        2,
        "--timezone-offset",
    )
    assert resolve_timezone_offset(None, env_file, {"TIMEZONE_OFFSET": "4"}) == (4, "environment")
    assert resolve_timezone_offset(None, env_file, {}) == (-3, str(env_file))
    assert resolve_timezone_offset(None, None, {}) == (8, "default")
    with pytest.raises(BadInput, match="whole number of hours"):
        resolve_timezone_offset("\u0663", None, {})


def test_reset_settings_out_of_range_fall_back_to_monday_midnight() -> None:
    assert reset_settings(None, None) == (1, 0)
    assert reset_settings("3", "9") == (3, 9)
    assert reset_settings("9", "25") == (1, 0)
    # parseInt reads no digits of other scripts: NaN, so CRS's defaults.
    assert reset_settings("\u0663", "\u0669") == (1, 0)


def test_a_reset_day_of_0_is_sunday_as_crs_period_arithmetic_makes_it() -> None:
    """`(currentDay - resetDay + 7) % 7` makes 0 the same day as 7 (Sunday: JavaScript's
    getDay numbering, an easy hand edit) and 8 the same as 1: keyops read Monday's weekly key
    while CRS counted Sunday's."""
    assert reset_settings("0", "6") == (7, 6)
    assert reset_settings("8", None) == (1, 0)
    assert reset_settings("-1", None) == (6, 0)
    now = at("2026-12-02T04:22:26Z")
    assert period_part(*reset_settings("0", None), now, 8) == "2026-11-29T00"  # a Sunday
