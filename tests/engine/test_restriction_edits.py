"""Model and client restrictions and the description on the CRS fixture, on real redis-server:
keyops's writes compared key by key with a transliteration of what CRS's page does for the same
change (its single-key edit route for restrictions; `updateApiKey` behind its create route's
check for the description, which no route edits), the index invariants after, a rollback byte
for byte, and a revert."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.batch.operations import OpStatus
from keyops.core.edits.description import DescriptionSet
from keyops.core.edits.restrictions import ClientsAllow, ListChange, ModelsRestrict
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.engine.test_field_edits import (
    _without_updated_at,
    assert_revert_restores,
    assert_rollback_is_exact,
)
from tests.support.crs_reference import CrsRefused, crs_description_update, crs_single_edit
from tests.support.invariants import crs_index_problems

State = dict[str, Any]


def _page_body(request: ListChange, fields: dict[str, str]) -> dict[str, Any]:
    """What CRS's edit form sends to reach the state the request asks for: the whole list and
    the flag, as booleans and an array (the form always sends both)."""
    spec = request.SPEC
    old = json.loads(fields.get(spec.field) or "[]")
    on = fields.get(spec.flag) == "true"
    if request.action.value == "add":
        new, on = old + [name for name in request.names if name not in old], True
    elif request.action.value == "remove":
        new = [name for name in old if name not in request.names]
        on = on and bool(new)
    else:
        new, on = [], False
    return {spec.flag: on, spec.field: new}


async def _seed(crs: aioredis.Redis, targets: list[str]) -> str:
    """Some keys restricted already, one with a list stored another way, one soft-deleted."""
    await crs.hset(
        f"apikey:{targets[1]}",
        mapping={"enableModelRestriction": "true", "restrictedModels": '["claude-opus-4"]'},
    )
    await crs.hset(
        f"apikey:{targets[2]}",
        mapping={
            "enableClientRestriction": "true",
            "allowedClients": '["gemini_cli", "droid_cli"]',
        },
    )
    await crs.hdel(f"apikey:{targets[3]}", "restrictedModels", "allowedClients")
    deleted = targets[0]
    await crs.hset(f"apikey:{deleted}", mapping={"isDeleted": "true", "isActive": "false"})
    await crs.srem("apikey:set:active", deleted)
    await crs.sadd("apikey:set:deleted", deleted)
    return deleted


async def _compare_with_crs(
    crs: aioredis.Redis, request: ListChange, where: str
) -> tuple[list[str], State]:
    service = make_service(crs)
    targets = await ids_where(service, where)
    deleted = await _seed(crs, targets)
    await service.load(refresh=True)
    before = await crs_state(crs)
    plan = await service.plan(targets, request)
    assert plan.skipped == [(deleted, "soft-deleted")]
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE, outcome.message
    expected = dict(before)
    now = datetime.now(UTC)
    written = {p.key_id for p in plan.plans if p.fields}
    for key_id in written:
        _, fields = before[f"apikey:{key_id}"]
        crs_single_edit(expected, key_id, _page_body(request, fields), now)
    actual = await crs_state(crs)
    assert _without_updated_at(actual, written) == _without_updated_at(expected, written)
    assert await crs_index_problems(crs) == []
    return targets, actual


async def test_models_restrict_add_writes_what_crs_edit_form_writes(crs: aioredis.Redis) -> None:
    request = ModelsRestrict.build("add", ["claude-opus-4", "claude-3-haiku"])
    targets, after = await _compare_with_crs(crs, request, "tag:team-a | tag:loop20")
    _, record = after[f"apikey:{targets[1]}"]
    assert record["restrictedModels"] == '["claude-opus-4","claude-3-haiku"]'
    assert record["enableModelRestriction"] == "true"
    # The legacy key without the list field gets one.
    _, legacy = after[f"apikey:{targets[3]}"]
    assert legacy["restrictedModels"] == '["claude-opus-4","claude-3-haiku"]'


async def test_clients_allow_remove_and_clear_write_what_crs_edit_form_writes(
    crs: aioredis.Redis,
) -> None:
    request = ClientsAllow.build("remove", ["droid_cli"])
    targets, after = await _compare_with_crs(crs, request, "tag:team-a | tag:loop20")
    _, record = after[f"apikey:{targets[2]}"]
    assert record["allowedClients"] == '["gemini_cli"]'
    assert record["enableClientRestriction"] == "true"


async def test_models_restrict_clear_writes_what_crs_edit_form_writes(crs: aioredis.Redis) -> None:
    request = ModelsRestrict.build("clear", [])
    targets, after = await _compare_with_crs(crs, request, "tag:team-a | tag:loop20")
    _, record = after[f"apikey:{targets[1]}"]
    assert record["restrictedModels"] == "[]" and record["enableModelRestriction"] == "false"


async def test_description_set_writes_what_crs_update_writes(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:team-a | tag:loop20")
    before = await crs_state(crs)
    text = "  Billing — team A\n(rotated yearly) 🚀 "
    request = DescriptionSet.build(text)
    plan = await service.plan(targets, request)
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    expected = dict(before)
    for key_id in targets:
        crs_description_update(expected, key_id, text.strip(), datetime.now(UTC))
    written = set(targets)
    assert _without_updated_at(await crs_state(crs), written) == _without_updated_at(
        expected, written
    )
    assert await crs_index_problems(crs) == []
    # CRS would refuse what keyops refuses before reading a key.
    with pytest.raises(CrsRefused):
        crs_description_update(dict(before), targets[0], "x" * 501, datetime.now(UTC))


@pytest.mark.parametrize(
    "request_",
    [
        ModelsRestrict.build("add", ["claude-opus-4"]),
        ClientsAllow.build("add", ["claude_code"]),
        DescriptionSet.build("rolled back"),
    ],
    ids=lambda request: type(request).__name__,
)
async def test_a_failed_run_rolls_back_byte_for_byte_and_a_done_one_reverts(
    crs: aioredis.Redis, request_: Any
) -> None:
    service = make_service(crs)
    targets = (await ids_where(service, "tag:team-a | tag:loop20"))[:12]
    await assert_rollback_is_exact(crs, targets, request_)
    await service.load(refresh=True)
    await assert_revert_restores(crs, service, targets, request_)
