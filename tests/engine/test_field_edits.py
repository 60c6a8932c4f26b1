"""Limits, permissions, rates and expiry on the CRS fixture, on real redis-server: keyops's writes
compared key by key with a transliteration of CRS's single-key edit route for the same change,
the index invariants after, a rollback byte for byte, and a revert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.api import BadRequest, BatchPlan, KeyopsSession
from keyops.core.batch.operations import OpStatus
from keyops.core.edits.base import EditRequest
from keyops.core.edits.limits import LimitsSet
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
