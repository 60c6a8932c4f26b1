from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from keyops.core.schema.encoding import (
    decode_bool,
    decode_json_list,
    decode_number,
    decode_tags,
    encode_bool,
    encode_iso,
    encode_json,
    iso_to_epoch,
    parse_iso,
)


def test_booleans_are_lowercase_js_strings() -> None:
    assert encode_bool(True) == "true"
    assert encode_bool(False) == "false"
    # CRS reads only the exact string 'true' as true.
    assert [decode_bool(raw) for raw in ("true", "True", "1", "", None)] == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_json_is_compact_and_keeps_utf8_literal() -> None:
    assert encode_json(["team-a", "标签"]) == '["team-a","标签"]'
    assert encode_json({"claude": 1.5}) == '{"claude":1.5}'


def test_broken_json_reads_as_empty_like_crs() -> None:
    assert decode_json_list("[broken") == []
    assert decode_json_list('{"a":1}') == []
    assert decode_tags('["a", 3, null, "b"]') == ["a", "b"]


def test_numbers_read_like_parse_float() -> None:
    assert decode_number("1.5") == 1.5
    assert decode_number("12abc") == 12
    assert decode_number("abc") == 0
    assert decode_number(None) == 0


def test_iso_matches_javascript_to_iso_string() -> None:
    moment = datetime(2025, 1, 31, 8, 0, 0, 123456, tzinfo=UTC)
    assert encode_iso(moment) == "2025-01-31T08:00:00.123Z"
    assert parse_iso("2025-01-31T08:00:00.123Z") == datetime(
        2025, 1, 31, 8, 0, 0, 123000, tzinfo=UTC
    )
    assert parse_iso("") is None and parse_iso("not a date") is None


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
    )
)
def test_iso_round_trips_at_millisecond_precision(moment: datetime) -> None:
    truncated = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_iso(encode_iso(moment)) == truncated


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    )
)
def test_a_stored_date_reads_as_the_same_moment_on_the_short_path(moment: datetime) -> None:
    # The key list reads toISOString()'s form on a faster path than other ISO text: both must
    # give the same seconds, to the last bit (a sort or an expiry check compares them).
    stored = encode_iso(moment)
    general = parse_iso(stored)
    assert general is not None and iso_to_epoch(stored) == general.timestamp()


def test_dates_the_short_path_cannot_read_take_the_general_one() -> None:
    assert iso_to_epoch("2024-02-29T12:00:00.000Z") == 1709208000.0
    # Not a day of the calendar, a 24th hour, JavaScript's lowercase z, spaces around it:
    # unreadable or read as before, never a different moment.
    for raw in ("2023-02-29T00:00:00.000Z", "2024-01-01T24:00:00.000Z", "2024-13-01T00:00:00.000Z"):
        assert iso_to_epoch(raw) is None
    assert iso_to_epoch(" 2024-01-01T00:00:00.000Z ") == 1704067200.0
    assert iso_to_epoch("2024-01-01T00:00:00.000+00:00") == 1704067200.0
    assert iso_to_epoch("2024-01-01T00:00:00") == 1704067200.0  # no zone: UTC, as CRS reads it
    assert iso_to_epoch("") is None and iso_to_epoch(None) is None and iso_to_epoch("Z") is None


@given(st.lists(st.text(), max_size=20))
def test_tags_round_trip(tags: list[str]) -> None:
    assert decode_tags(encode_json(tags)) == tags
