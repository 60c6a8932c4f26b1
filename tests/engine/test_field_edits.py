"""Limits, permissions, rates and expiry on the CRS fixture, on real redis-server: keyops's writes
compared key by key with a transliteration of CRS's single-key edit route for the same change,
the index invariants after, a rollback byte for byte, and a revert."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.api import BadRequest, BatchPlan, KeyopsSession
from keyops.core.batch.operations import OpStatus
from keyops.core.edits.base import EditRequest
from keyops.core.edits.expiry import ExpiryChange
from keyops.core.edits.limits import LimitsSet
from keyops.core.edits.permissions import PermissionsSet
from keyops.core.edits.rates import RatesSet
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.support.crs_reference import crs_single_edit
from tests.support.invariants import crs_index_problems

State = dict[str, Any]


class InjectedFault(Exception):
    pass


def _without_updated_at(state: State, keys: set[str]) -> State:
    cleaned = {}
    for name, (kind, value) in state.items():
        if kind == "hash" and name.removeprefix("apikey:") in keys:
            value = {k: v for k, v in value.items() if k != "updatedAt"}
        cleaned[name] = (kind, value)
    return cleaned


async def assert_writes_match_crs(
    crs: aioredis.Redis,
    before: State,
    plan: BatchPlan,
    body: dict[str, Any],
    now: datetime,
) -> None:
    """Runs the plan, then CRS's route with `body` on a copy of `before` for every key keyops
    wrote, and compares the two states key by key (updatedAt aside: both stamp their own now)."""
    service_outcome, _ = await run(make_service(crs), plan)
    assert service_outcome.status is OpStatus.DONE, service_outcome.message
    written = {p.key_id for p in plan.plans}
    expected = {name: (kind, value) for name, (kind, value) in before.items()}
    for key_id in written:
        crs_single_edit(expected, key_id, body, now)
    actual = await crs_state(crs)
    assert _without_updated_at(actual, written) == _without_updated_at(expected, written)
    assert await crs_index_problems(crs) == []


async def assert_rollback_is_exact(
    crs: aioredis.Redis, targets: list[str], request: EditRequest
) -> None:
    """A failure at the second chunk rolls the first back: every byte as before."""
    before = await crs_state(crs)

    async def fail_at_second(index: int) -> None:
        if index == 1:
            raise InjectedFault("disk on fire")

    service = make_service(crs, chunk_size=5, before_chunk=fail_at_second)
    await service.load(refresh=True)
    outcome, _ = await run(service, await service.plan(targets, request))
    assert outcome.status is OpStatus.ROLLED_BACK and outcome.counts.rolled_back == 5
    assert await crs_state(crs) == before


async def assert_revert_restores(
    crs: aioredis.Redis, service: KeyopsSession, targets: list[str], request: EditRequest
) -> None:
    """Run, then revert: every field the op wrote is back (updatedAt is restamped, as CRS
    does on any edit), indexes included."""
    before = await crs_state(crs)
    outcome, _ = await run(service, await service.plan(targets, request))
    assert outcome.status is OpStatus.DONE and outcome.counts.applied > 0
    revert, _ = await run(service, await service.plan_revert(outcome.op_id))
    assert revert.status is OpStatus.DONE and revert.counts.applied == outcome.counts.applied
    written = set(targets)
    assert _without_updated_at(await crs_state(crs), written) == _without_updated_at(
        before, written
    )
    assert await crs_index_problems(crs) == []


# --- limits ---------------------------------------------------------------------------------

LIMIT_TEXT = {
    "token_limit": "0x10",  # CRS's Number(): stored '16'
    "concurrency": " 7 ",
    "rate_window": "60",
    "rate_requests": "5.0",  # a whole number written with a point: '5'
    "rate_cost": "0.5",
    "daily_cost": "2.50",
    "total_cost": "1e21",  # JS writes '1e+21'
    "weekly_opus_cost": "0",
}
LIMIT_BODY = {
    "tokenLimit": "0x10",
    "concurrencyLimit": " 7 ",
    "rateLimitWindow": "60",
    "rateLimitRequests": "5.0",
    "rateLimitCost": "0.5",
    "dailyCostLimit": "2.50",
    "totalCostLimit": "1e21",
    "weeklyOpusCostLimit": "0",
    "weeklyResetDay": "3",
    "weeklyResetHour": "14",
}


async def test_limits_set_writes_what_crs_single_key_route_writes(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:team-a | tag:loop20")
    # One key soft-deleted: CRS's routes would edit it (and let it authenticate again); keyops
    # leaves it alone.
    deleted = targets[0]
    await crs.hset(f"apikey:{deleted}", mapping={"isDeleted": "true", "isActive": "false"})
    await crs.srem("apikey:set:active", deleted)
    await crs.sadd("apikey:set:deleted", deleted)
    await service.load(refresh=True)
    before = await crs_state(crs)
    request = LimitsSet.build(LIMIT_TEXT, "wed@14")
    assert request.values["totalCostLimit"] == "1e+21" and request.values["tokenLimit"] == "16"
    plan = await service.plan(targets, request)
    assert plan.skipped == [(deleted, "soft-deleted")]
    assert len(plan.plans) == len(targets) - 1
    assert any("weekly Claude-cost period" in warning for warning in plan.warnings)
    changes = {(f, b, a): n for f, b, a, n in plan.field_changes()}
    to_seven = {b: n for (f, b, a), n in changes.items() if f == "concurrencyLimit" and a == "7"}
    assert sum(to_seven.values()) == len(targets) - 1 and to_seven["0"] >= 20
    assert ("weeklyOpusCostLimit", "0", "0") not in changes  # already 0: not written
    await assert_writes_match_crs(crs, before, plan, LIMIT_BODY, datetime.now(UTC))
    stored = await crs.hmget(
        f"apikey:{targets[1]}", ["tokenLimit", "rateLimitRequests", "weeklyResetDay"]
    )
    assert stored == ["16", "5", "3"]


async def test_limits_set_rolls_back_byte_for_byte_and_reverts(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    request = LimitsSet.build({"concurrency": "3", "daily_cost": "12.5"}, "sun@23")
    await assert_rollback_is_exact(crs, targets, request)
    await assert_revert_restores(crs, service, targets, request)


def test_limits_set_reports_every_problem_at_once() -> None:
    with pytest.raises(BadRequest) as caught:
        LimitsSet.build(
            {"concurrency": "-1", "token_limit": "1.5", "daily_cost": "abc", "total_cost": "Infinity",
             "rate_cost": ""},
            "8@25",
        )  # fmt: skip
    assert caught.value.problems == [
        "--token-limit '1.5' is not a whole number",
        "--concurrency '-1' is negative; 0 means no limit",
        "--rate-cost needs a value (0 = no limit)",
        "--daily-cost 'abc' is not a number",
        "--total-cost 'Infinity' is not a finite number",
        "--weekly-reset '8@25': expected DAY@HOUR, DAY 1-7 (Mon-Sun) or mon..sun, HOUR 0-23, "
        "e.g. mon@0 or 3@14",
    ]
    with pytest.raises(BadRequest, match="needs at least one limit"):
        LimitsSet.build({})


# --- permissions ----------------------------------------------------------------------------


async def test_permissions_set_matches_crs_and_leaves_keys_that_already_mean_it(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    # Stored as older CRS versions and its readers allow: a comma list meaning the same.
    same, other = targets[0], targets[1]
    await crs.hset(f"apikey:{same}", "permissions", "openai,claude")
    await crs.hset(f"apikey:{other}", "permissions", '["gemini"]')
    await service.load(refresh=True)
    before = await crs_state(crs)
    request = PermissionsSet.build("openai, claude")
    assert request.services == ("claude", "openai")
    plan = await service.plan(targets, request)
    assert plan.unchanged == [same] and len(plan.plans) == len(targets) - 1
    await assert_writes_match_crs(
        crs, before, plan, {"permissions": ["claude", "openai"]}, datetime.now(UTC)
    )
    assert await crs.hget(f"apikey:{other}", "permissions") == '["claude","openai"]'

    before = await crs_state(crs)
    await service.load(refresh=True)
    plan = await service.plan(targets, PermissionsSet.build("all"))
    await assert_writes_match_crs(crs, before, plan, {"permissions": "all"}, datetime.now(UTC))
    assert await crs.hget(f"apikey:{other}", "permissions") == "[]"


async def test_permissions_set_rolls_back_byte_for_byte_and_reverts(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    await assert_rollback_is_exact(crs, targets, PermissionsSet.build("droid"))
    await assert_revert_restores(crs, service, targets, PermissionsSet.build("claude,gemini"))


def test_permissions_set_reports_every_problem_at_once() -> None:
    with pytest.raises(BadRequest) as caught:
        PermissionsSet.build("claude,azure,all,Gemini")
    assert caught.value.problems == [
        "'azure' is not a service: all, or any of claude, gemini, openai, droid",
        "'all' stands alone: it already allows every service",
        "'Gemini' is not a service: all, or any of claude, gemini, openai, droid",
    ]


# --- rates ----------------------------------------------------------------------------------


async def test_rates_set_merges_as_crs_page_would_send_and_matches_its_writes(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    mixed, same, broken = targets[0], targets[1], targets[2]
    await crs.hset(f"apikey:{mixed}", "serviceRates", '{"gemini":0.8,"claude":2}')
    await crs.hset(f"apikey:{same}", "serviceRates", '{"claude":"1.5","codex":1e-7}')
    await crs.hset(f"apikey:{broken}", "serviceRates", "not json")
    await service.load(refresh=True)
    before = await crs_state(crs)
    request = RatesSet.build(["claude=1.50,codex=0.0000001", "gemini=default"])
    plan = await service.plan(targets, request)
    assert plan.unchanged == [same]  # "1.5" as a string is the same rate to CRS
    assert [k for k, _ in plan.skipped] == [broken] and "use --replace" in plan.skipped[0][1]
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    # What CRS's page sends for each key: its rates with the change made, as numbers.
    expected = dict(before)
    now = datetime.now(UTC)
    for p in plan.plans:
        old = json.loads(before[f"apikey:{p.key_id}"][1]["serviceRates"])
        old.pop("gemini", None)
        crs_single_edit(
            expected, p.key_id, {"serviceRates": {**old, "claude": 1.5, "codex": 1e-7}}, now
        )
    written = {p.key_id for p in plan.plans}
    assert _without_updated_at(await crs_state(crs), written) == _without_updated_at(
        expected, written
    )
    assert await crs.hget(f"apikey:{mixed}", "serviceRates") == '{"claude":1.5,"codex":1e-7}'
    assert await crs_index_problems(crs) == []

    await service.load(refresh=True)
    plan = await service.plan([broken], RatesSet.build(["bedrock=0"], replace=True))
    outcome, _ = await run(service, plan)
    assert await crs.hget(f"apikey:{broken}", "serviceRates") == '{"bedrock":0}'


async def test_rates_set_rolls_back_byte_for_byte_and_reverts(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    await assert_rollback_is_exact(crs, targets, RatesSet.build(["claude=0"]))
    await assert_revert_restores(crs, service, targets, RatesSet.build(["ccr=2.5"]))


def test_rates_set_reports_every_problem_at_once() -> None:
    with pytest.raises(BadRequest) as caught:
        RatesSet.build(["claude=-1,openai=2", "gemini", "codex=", "droid=1,droid=2"])
    assert caught.value.problems == [
        "claude= '-1' is negative; 0 means free",
        "'openai' is not a service CRS rates: claude, codex, gemini, droid, bedrock, azure, ccr",
        "'gemini': expected SERVICE=RATE, e.g. claude=1.5",
        "codex= needs a value (0 = free)",
        "droid is given twice",
    ]


# --- expiry ---------------------------------------------------------------------------------


async def _expiring(crs: aioredis.Redis, service: KeyopsSession) -> dict[str, str]:
    """Loop keys given every kind of expiry a CRS database holds; returns name -> id."""
    keys = await ids_where(service, "tag:loop20")
    roles = {
        "future": {"expiresAt": "2030-05-01T00:00:00.000Z"},
        "past": {"expiresAt": "2020-01-01T00:00:00.000Z", "isActive": "false"},
        "disabled-by-hand": {"expiresAt": "2031-01-01T00:00:00.000Z", "isActive": "false"},
        "date-only": {"expiresAt": "2030-02-01"},
        "local-time": {"expiresAt": "2030-02-01T10:00:00"},
        "never": {"expiresAt": ""},
        "unused-activation": {
            "expirationMode": "activation",
            "isActivated": "false",
            "activatedAt": "",
            "activationDays": "30",
        },
    }
    named = dict(zip(roles, keys, strict=False))
    for role, key_id in named.items():
        await crs.hset(f"apikey:{key_id}", mapping=roles[role])
        if roles[role].get("isActive") == "false":
            await crs.srem("apikey:set:active", key_id)
    await service.load(refresh=True)
    return named


async def test_expiry_set_and_clear_flip_is_active_as_crs_route_does(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    named = await _expiring(crs, service)
    targets = list(named.values())
    before = await crs_state(crs)
    plan = await service.plan(targets, ExpiryChange.build("set", "2029-12-31T23:00:00+01:00"))
    assert plan.skipped == [(named["unused-activation"], plan.skipped[0][1])]
    assert "activation-mode key not used yet" in plan.skipped[0][1]
    changes = {(f, b, a): n for f, b, a, n in plan.field_changes()}
    assert changes[("isActive", "false", "true")] == 2  # the expired and the disabled key
    await assert_writes_match_crs(
        crs, before, plan, {"expiresAt": "2029-12-31T22:00:00.000Z"}, datetime.now(UTC)
    )

    await service.load(refresh=True)
    before = await crs_state(crs)
    past = await service.plan(targets, ExpiryChange.build("set", "2021-06-01"))
    assert any("in the past" in warning for warning in past.warnings)
    await assert_writes_match_crs(
        crs, before, past, {"expiresAt": "2021-06-01T00:00:00.000Z"}, datetime.now(UTC)
    )
    active = await crs.smembers("apikey:set:active")
    assert set(targets) & active == {named["unused-activation"]}  # left alone, still active

    await service.load(refresh=True)
    before = await crs_state(crs)
    cleared = await service.plan(targets, ExpiryChange.build("clear"))
    await assert_writes_match_crs(crs, before, cleared, {"expiresAt": None}, datetime.now(UTC))
    assert await crs.hmget(f"apikey:{named['past']}", ["expiresAt", "isActive"]) == ["", "true"]


async def test_expiry_extend_starts_from_the_later_of_now_and_the_expiry(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    named = await _expiring(crs, service)
    before = await crs_state(crs)
    plan = await service.plan(list(named.values()), ExpiryChange.build("extend", "+30d"))
    reasons = {key_id: reason for key_id, reason in plan.skipped}
    assert "nothing to extend" in reasons[named["never"]]
    assert "server's local time" in reasons[named["local-time"]]
    assert named["unused-activation"] in reasons
    now = datetime.now(UTC)
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    expected = dict(before)
    renewed = {"future": "2030-05-31T00:00:00.000Z", "disabled-by-hand": "2031-01-31T00:00:00.000Z",
               "date-only": "2030-03-03T00:00:00.000Z"}  # fmt: skip
    for role, iso in renewed.items():
        crs_single_edit(expected, named[role], {"expiresAt": iso}, now)
    # The expired key is extended from now: what CRS's renew dialog sends for it.
    past_new = await crs.hget(f"apikey:{named['past']}", "expiresAt")
    assert past_new is not None
    delta = datetime.fromisoformat(past_new.replace("Z", "+00:00")) - now
    assert abs(delta.total_seconds() - 30 * 86400) < 60
    crs_single_edit(expected, named["past"], {"expiresAt": past_new}, now)
    written = {p.key_id for p in plan.plans}
    assert written == {named[role] for role in (*renewed, "past")}
    assert _without_updated_at(await crs_state(crs), written) == _without_updated_at(
        expected, written
    )
    assert await crs_index_problems(crs) == []


async def test_expiry_keep_status_writes_the_date_alone(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    named = await _expiring(crs, service)
    plan = await service.plan(
        [named["past"]], ExpiryChange.build("extend", "+2w", keep_status=True)
    )
    assert [w.field for w in plan.plans[0].fields] == ["expiresAt", "updatedAt"]
    await run(service, plan)
    assert await crs.hget(f"apikey:{named['past']}", "isActive") == "false"


async def test_expiry_rolls_back_byte_for_byte_and_reverts(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    await assert_rollback_is_exact(crs, targets, ExpiryChange.build("set", "2020-01-01"))
    await assert_revert_restores(crs, service, targets, ExpiryChange.build("set", "2020-01-01"))


def test_expiry_requests_are_checked_up_front() -> None:
    for args, message in (
        (("set", "tomorrow"), "expiry set 'tomorrow' is not a date"),
        (("extend", "30"), "expiry extend '30' is not a span: +30d, +12h or +2w"),
        (("extend", "+0d"), "is not a span"),
        (("clear", "2027-01-01"), "expiry clear takes no value"),
    ):
        with pytest.raises(BadRequest, match=re.escape(message)):
            ExpiryChange.build(*args)
    assert ExpiryChange.build("extend", "12h").summary == "expiry extend +12h"
