"""`keys top`, usage in `keys list --json`, and usage queries in a batch's --where, as an
operator runs them: a subprocess against real redis-server holding CRS's dump, with usage
written under today's CRS date (the CLI reads the real clock)."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from keyops.core.usage import names
from keyops.core.usage.periods import date_part
from tests.integration.test_cli import assert_one_line_error, keyops

HOT = "alpha-console-1"
OVER = "zeta-unbound-1"


async def _write_usage(url: str) -> dict[str, str]:
    """Today's cost for two keys: one burning money, one over its daily limit of $0.25."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        ids: dict[str, str] = {}
        async for name in client.scan_iter(match="apikey:*", count=1000):
            if name.count(":") != 1 or await client.type(name) != "hash":
                continue
            key_name = await client.hget(name, "name")
            if key_name in (HOT, OVER):
                ids[key_name] = name.split(":", 1)[1]
        today = date_part(time.time(), 8)
        await client.set(names.daily_cost(ids[HOT], today), "42.5")
        await client.set(names.total_cost(ids[HOT]), "99.25")
        await client.hset(names.daily_usage(ids[HOT], today), mapping={"requests": 1234})
        await client.set(names.daily_cost(ids[OVER], today), "0.3")
        await client.hset(f"apikey:{ids[OVER]}", "dailyCostLimit", "0.25")
        return ids
    finally:
        await client.aclose()


async def test_keys_top_by_cost_today_puts_the_burning_key_first(fixture_db: str) -> None:
    ids = await _write_usage(fixture_db)
    result = keyops("keys", "top", "--by", "cost.today", "-n", "2", "--json",
                    "--redis-url", fixture_db)  # fmt: skip
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)
    assert [key["id"] for key in top] == [ids[HOT], ids[OVER]]
    usage = top[0]["usage"]
    assert usage["costToday"] == 42.5 and usage["costTotal"] == 99.25
    assert usage["requestsToday"] == 1234 and usage["accepted"] is True
    assert top[1]["usage"]["rejectedBecause"] == "daily-cost"
    assert top[1]["usage"]["topLimit"] == {"limit": "daily-cost", "percent": 120.0}


async def test_keys_top_text_says_which_key_crs_refuses(fixture_db: str) -> None:
    await _write_usage(fixture_db)
    result = keyops("keys", "top", "--by", "limit", "-n", "1", "--redis-url", fixture_db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert OVER in lines[1] and "120% daily-cost" in lines[1]
    assert "REJECTED daily-cost" in lines[1]
    assert lines[-1].startswith("top 1 of") and "by limit" in lines[-1]


async def test_keys_list_json_carries_usage_and_filters_on_it(fixture_db: str) -> None:
    ids = await _write_usage(fixture_db)
    result = keyops("keys", "list", "--where", "cost.today:>5", "--json",
                    "--redis-url", fixture_db)  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [key["id"] for key in listed] == [ids[HOT]]
    assert listed[0]["usage"]["costToday"] == 42.5
    bare = keyops("keys", "list", "--where", "rejected:daily-cost", "--json", "--no-usage",
                  "--redis-url", fixture_db)  # fmt: skip
    assert [key["id"] for key in json.loads(bare.stdout)] == [ids[OVER]]
    assert "usage" not in json.loads(bare.stdout)[0]


async def test_a_batch_targets_the_keys_a_usage_query_finds(fixture_db: str) -> None:
    ids = await _write_usage(fixture_db)
    result = keyops("status", "disable", "--where", "cost.today:>5 | rejected", "--dry-run",
                    "--json", "--redis-url", fixture_db)  # fmt: skip
    assert result.returncode == 0, result.stderr
    preview = json.loads(result.stdout)
    planned = {key["id"] for key in preview["keys"]}
    assert {ids[HOT], ids[OVER]} <= planned


async def test_a_bad_usage_figure_is_refused_with_the_query_pointed_at(fixture_db: str) -> None:
    result = keyops("keys", "top", "--where", "cost.today:>lots", "--redis-url", fixture_db)
    assert result.returncode == 2
    assert "cost.today: needs a number after '>'" in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_top_offers_every_figure_the_core_ranks_by() -> None:
    from keyops.cli.parser import TOP_FIGURES
    from keyops.core.api import FIGURES

    assert TOP_FIGURES == FIGURES


async def test_the_timezone_offset_picks_which_day_is_today(fixture_db: str) -> None:
    ids = await _write_usage(fixture_db)
    client = aioredis.Redis.from_url(fixture_db, decode_responses=True)
    try:  # UTC+13 and UTC-11 are always on different dates
        await client.set(names.daily_cost(ids[HOT], date_part(time.time(), 13)), "7.5")
    finally:
        await client.aclose()
    ahead = keyops("keys", "top", "-n", "1", "--json", "--timezone-offset", "13",
                   "--redis-url", fixture_db)  # fmt: skip
    behind = keyops("keys", "top", "-n", "1", "--json", "--redis-url", fixture_db,
                    env={"TIMEZONE_OFFSET": "-11"})  # fmt: skip
    assert json.loads(ahead.stdout)[0]["usage"]["costToday"] == 7.5
    assert json.loads(behind.stdout)[0]["usage"]["costToday"] != 7.5
    footer = keyops("keys", "top", "--redis-url", fixture_db, env={"TIMEZONE_OFFSET": "0"})
    assert "(UTC+8)" in footer.stdout.splitlines()[-1]  # 0 means +8, as in CRS


def _strict_json(text: str) -> object:
    """JSON as every other parser reads it: Python's json takes NaN and Infinity, which are
    not JSON (jq, JavaScript's JSON.parse and Go refuse the whole document)."""

    def refuse(constant: str) -> object:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


async def test_json_stays_json_when_a_figure_is_infinite(fixture_db: str) -> None:
    """A cost stored as 'Infinity' under a limit of '1e999' (both infinite to CRS, which
    answers 402: Infinity >= Infinity) and a daily limit of 1e-320 (any cost is a share past
    every float): the output still parses, and still says rejected."""
    ids = await _write_usage(fixture_db)
    client = aioredis.Redis.from_url(fixture_db, decode_responses=True)
    try:
        today = date_part(time.time(), 8)
        await client.set(names.daily_cost(ids[HOT], today), "Infinity")
        await client.hset(f"apikey:{ids[HOT]}", "dailyCostLimit", "1e999")
        await client.hset(f"apikey:{ids[OVER]}", "dailyCostLimit", "1e-320")
    finally:
        await client.aclose()
    for command in (("keys", "top", "-n", "2"), ("keys", "list", "--where", "rejected")):
        result = keyops(*command, "--json", "--redis-url", fixture_db)
        assert result.returncode == 0, result.stderr
        listed = _strict_json(result.stdout)
        assert isinstance(listed, list)
        by_id = {key["id"]: key["usage"] for key in listed}
        assert by_id[ids[HOT]]["rejectedBecause"] == "daily-cost"
        assert by_id[ids[HOT]]["costToday"] > 1e300
        assert by_id[ids[HOT]]["topLimit"] == {"limit": "daily-cost", "percent": 100.0}
        assert by_id[ids[OVER]]["rejectedBecause"] == "daily-cost"
        assert by_id[ids[OVER]]["topLimit"]["percent"] > 1e300


async def test_an_offset_past_any_calendar_is_one_line_naming_where_it_came_from(
    fixture_db: str,
) -> None:
    """CRS takes any whole number of hours; one that puts "today" past year 9999 (a typo, a
    pasted timestamp) is refused in one line, never a traceback."""
    env = keyops("keys", "top", "--redis-url", fixture_db, env={"TIMEZONE_OFFSET": "100000000"})
    assert_one_line_error(env, 2, "TIMEZONE_OFFSET=100000000 (environment)")
    flag = keyops("keys", "list", "--json", "--timezone-offset", "99999999999999",
                  "--redis-url", fixture_db)  # fmt: skip
    assert_one_line_error(flag, 2, "--timezone-offset")
    # Odd but CRS-readable values still work as CRS reads them: '14.5' is 14, '-13' is -13.
    for raw in ("14.5", "-13"):
        result = keyops("keys", "top", "-n", "1", "--redis-url", fixture_db,
                        env={"TIMEZONE_OFFSET": raw})  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"(UTC{int(float(raw)):+d})" in result.stdout


async def test_a_huge_cost_keeps_the_keys_top_table_readable(fixture_db: str) -> None:
    """A cost of 1e300 (a buggy writer) was printed with its 300 digits, which pushed every
    column after it off any terminal."""
    ids = await _write_usage(fixture_db)
    client = aioredis.Redis.from_url(fixture_db, decode_responses=True)
    try:
        await client.set(names.total_cost(ids[HOT]), "1e300")
    finally:
        await client.aclose()
    result = keyops("keys", "top", "--by", "cost.total", "-n", "2", "--redis-url", fixture_db)
    assert result.returncode == 0, result.stderr
    header, first = result.stdout.splitlines()[:2]
    assert HOT in first and "1e+300" in first
    assert len(first) <= len(header) + 10
