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


@given(st.lists(st.text(), max_size=20))
def test_tags_round_trip(tags: list[str]) -> None:
    assert decode_tags(encode_json(tags)) == tags
