"""Usage figures, limit shares and verdicts against the dump of a CRS that served 534
requests, compared with what CRS's own admin API reported for the same keys (the fixture
README's expected values), with the clock frozen at the dump instant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession, verdict
from tests.support.dump import load_dump, usage_expected, usage_fixture
from tests.support.redis_server import RedisServer

EXPECTED = usage_expected()
NOW = (
    datetime.fromisoformat(EXPECTED["dump_utc"].replace("Z", "+00:00")).astimezone(UTC).timestamp()
)
KEYS: dict[str, dict[str, Any]] = EXPECTED["keys"]
IDS = {name: entry["id"] for name, entry in KEYS.items()}


# One load of the 3 MB dump for the module: every test only reads it.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def usage_session(redis_server: RedisServer) -> AsyncIterator[KeyopsSession]:
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    await client.flushall()
    await load_dump(client, usage_fixture())
    session = KeyopsSession.from_client(client, "usage fixture")
    assert session.timezone_offset == EXPECTED["timezone_offset"]
    await session.load()
    await session.usage(now=NOW)
    yield session
    await session.aclose()


def cents(value: float) -> int:
    return round(value * 100)


@pytest.mark.parametrize("name", sorted(KEYS))
async def test_figures_equal_what_crs_reported(usage_session: KeyopsSession, name: str) -> None:
    expected = KEYS[name]
    table = usage_session.usage_table
    assert table is not None and table.today == EXPECTED["today"]
    usage = table.get(expected["id"])
    assert usage.requests == expected["requests"]
    assert usage.tokens == expected["tokens"]
    assert usage.cost_total == expected["allTimeCost"]
    if "costToday" in expected:
        assert usage.cost_today == expected["costToday"]
    # CRS's usage column adds micro-dollars; limits read the float: the same to the cent.
    assert cents(usage.cost_today) == cents(expected["cost"])
    if "weeklyClaudeCost" in expected:
        assert usage.cost_week == (expected["weeklyClaudeCost"] or 0.0)
    if "weeklyPeriod" in expected:
        assert usage.week_period == expected["weeklyPeriod"]
    assert usage.concurrency == expected.get("concurrency", 0)
    window = expected.get("window")
    if window is not None:
        assert usage.window_start == window["start"]
        assert usage.window_end() == window["end"] / 1000
        assert usage.window_figures(NOW) == (window["requests"], window["tokens"], window["cost"])


@pytest.mark.parametrize("name", sorted(KEYS))
async def test_the_per_model_breakdown_adds_up_as_crs_key_list_does(
    usage_session: KeyopsSession, name: str
) -> None:
    expected = KEYS[name]
    breakdown = await usage_session.usage_breakdown(expected["id"], now=NOW)
    assert breakdown.requests == expected["requests"]
    assert breakdown.tokens == expected["tokens"]
    assert round(breakdown.cost, 6) == round(expected["cost"], 6)
    for field, attribute in (
        ("inputTokens", "input_tokens"),
        ("outputTokens", "output_tokens"),
        ("cacheCreateTokens", "cache_create_tokens"),
        ("cacheReadTokens", "cache_read_tokens"),
    ):
        if field in expected:
            assert breakdown.total(attribute) == expected[field]


async def test_a_model_name_with_glob_characters_is_found(usage_session: KeyopsSession) -> None:
    # `claude-sonnet-4-20250514[1m]` is in one key's model names: SSCAN MATCH must escape it.
    client = usage_session.clients.read
    members = await client.smembers(f"usage:keymodel:daily:index:{EXPECTED['today']}")
    key_id, model = next(m.split(":", 1) for m in members if m.endswith("[1m]"))
    breakdown = await usage_session.usage_breakdown(key_id, now=NOW)
    assert model in [entry.model for entry in breakdown.models]


@pytest.mark.parametrize(
    ("name", "limit", "percent"),
    [
        ("beta-claude-group-2", "daily-cost", 91.2),
        ("zeta-unbound-1", "daily-cost", 126.0),
        ("alpha-console-2", "weekly-cost", 73.66),
        ("theta-perm-claude", "window-cost", 87.75),
        ("alpha-console-3", "concurrency", 50.0),
        ("mu-ci-bot", "window-tokens", 128.0),
        ("eta-limited", "window-requests", 100.0),
    ],
)
async def test_the_highest_share_names_the_limit(
    usage_session: KeyopsSession, name: str, limit: str, percent: float
) -> None:
    table = usage_session.usage_table
    assert table is not None
    top = table.get(IDS[name]).top_share(NOW)
    assert top is not None
    assert top[0] == limit
    assert round(top[1] * 100, 2) == percent


async def test_keys_without_limits_have_no_share(usage_session: KeyopsSession) -> None:
    table = usage_session.usage_table
    assert table is not None
    assert table.get(IDS["alpha-console-1"]).top_share(NOW) is None


# What CRS answered (or would answer) for each key at the dump instant.
VERDICTS = {
    "zeta-unbound-1": "daily-cost",  # 402 daily_cost_limit_exceeded
    "mu-ci-bot": "window-tokens",  # 429 token limit
    "eta-limited": "window-requests",  # 429 request limit
    "tau-expires-soon": "expired",  # 401 API key has expired
    "xi-expired-past": "expired",
    "sigma-used-then-deleted": "deleted",  # 401 API key not found
    "nu-soft-deleted": "deleted",
    "lambda-to-disable": "disabled",  # 401 API key is disabled
    "alpha-console-3": None,  # 1 of 2 streams in flight: a second one is admitted
    "beta-claude-group-2": None,  # 91.2 % of the daily limit
    "theta-perm-claude": None,  # 30/40 requests, 87.75 % of the window cost
    "alpha-console-2": None,  # 73.7 % of the weekly limit
    "rho-activation-unused": None,  # its first request activates it
    "pi-activation-used": None,
    "alpha-console-1": None,
}


def _id_by_name(session: KeyopsSession, name: str) -> str:
    return next(row.id for row in session.table.rows if row.name == name)


@pytest.mark.parametrize(("name", "reason"), sorted(VERDICTS.items()))
async def test_the_verdict_matches_what_crs_answered(
    usage_session: KeyopsSession, name: str, reason: str | None
) -> None:
    table = usage_session.usage_table
    assert table is not None
    found = verdict(table.get(_id_by_name(usage_session, name)), NOW)
    assert found.reason == reason, found.answer


async def test_an_unactivated_key_is_accepted_with_a_note(usage_session: KeyopsSession) -> None:
    table = usage_session.usage_table
    assert table is not None
    found = verdict(table.get(_id_by_name(usage_session, "rho-activation-unused")), NOW)
    assert found.accepted and "not activated yet" in found.note


async def test_a_blocked_window_reopens_when_it_ends(usage_session: KeyopsSession) -> None:
    table = usage_session.usage_table
    assert table is not None
    eta = table.get(IDS["eta-limited"])
    end = eta.window_end()
    assert end is not None
    assert verdict(eta, end - 0.001).reason == "window-requests"
    assert verdict(eta, end + 0.001).accepted


QUERIES = {
    "cost.today:>5": {"alpha-console-1", "alpha-console-2"},
    "cost.week:>7": {"alpha-console-1", "alpha-console-2"},
    "cost.total:>1.7 cost.total:<2": {"theta-perm-claude", "bulk-p1_153"},
    "requests.today:>=48": {"alpha-console-1", "bulk-p1_153"},
    "limit:>90%": {"beta-claude-group-2", "zeta-unbound-1", "mu-ci-bot", "eta-limited"},
    "limit:>=100%": {"zeta-unbound-1", "mu-ci-bot", "eta-limited"},
    "concurrency:>0": {"alpha-console-3"},
    "rejected:daily-cost": {"zeta-unbound-1"},
    "rejected:window-tokens | rejected:window-requests": {"mu-ci-bot", "eta-limited"},
    "rejected:deleted": {"nu-soft-deleted", "sigma-used-then-deleted"},
    "rejected": {"zeta-unbound-1", "mu-ci-bot", "eta-limited", "tau-expires-soon",
                 "xi-expired-past", "lambda-to-disable"},
}  # fmt: skip


@pytest.mark.parametrize(("text", "names"), sorted(QUERIES.items()))
async def test_usage_queries_find_the_keys(
    usage_session: KeyopsSession, text: str, names: set[str]
) -> None:
    query = await usage_session.select(text, now=NOW)
    assert query.needs_usage
    found = {row.name for row in query.filter(usage_session.table.rows)}
    assert found == names


async def test_top_by_cost_today_puts_the_hot_key_first(usage_session: KeyopsSession) -> None:
    table = usage_session.usage_table
    assert table is not None
    top = table.top([row.id for row in usage_session.table.rows], "cost.today", 3)
    assert top[:2] == [IDS["alpha-console-1"], IDS["alpha-console-2"]]


async def test_top_of_every_key_skips_the_key_list_and_agrees_with_a_query(
    usage_session: KeyopsSession,
) -> None:
    fresh = KeyopsSession.from_client(usage_session.clients.read, "usage fixture")
    every = await fresh.top("cost.today", 5, now=NOW)
    assert fresh.table.rows == []  # no key list was loaded
    queried = await usage_session.top("cost.today", 5, where="-no-such-text", now=NOW)
    assert [row.id for row in every.rows] == [row.id for row in queried.rows]
    assert every.rows[0].name == "alpha-console-1" and every.rows[1].name == "alpha-console-2"
    assert every.ranked == queried.ranked == 1025  # the two soft-deleted keys are left out
    with_deleted = await fresh.top("requests.today", 1025 + 2, include_deleted=True, now=NOW)
    assert with_deleted.ranked == 1027
