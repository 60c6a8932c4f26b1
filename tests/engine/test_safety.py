"""Rollback, cancel, locks, concurrent writers, audit policy and revert, on real redis-server."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
import redis.asyncio as aioredis

from keyops.core.api import StatusChange, TagEdit
from keyops.core.batch.audit import AuditFilter
from keyops.core.batch.operations import OpStatus
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.support.invariants import crs_index_problems


class InjectedFault(Exception):
    pass


class Pause:
    """A before_chunk hook that stops the batch at its first chunk until released."""

    def __init__(self) -> None:
        self.holding, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self, index: int) -> None:
        self.holding.set()
        await self.release.wait()


async def test_a_failure_at_chunk_k_rolls_earlier_chunks_back_byte_for_byte(
    crs: aioredis.Redis,
) -> None:
    before = await crs_state(crs)

    async def fail_at_third(index: int) -> None:
        if index == 2:
            raise InjectedFault("disk on fire")

    service = make_service(crs, chunk_size=100, before_chunk=fail_at_third)
    targets = await ids_where(service, "tag:bulk")
    plan = await service.plan(targets, TagEdit.build("add", ["brand-new-tag"]))
    outcome, events = await run(service, plan)
    assert outcome.status is OpStatus.ROLLED_BACK
    assert outcome.counts.applied == 200 and outcome.counts.rolled_back == 200
    assert "chunk 3 failed before writing: disk on fire" in outcome.failures[0].reason
    assert "rolling back" in [e.phase.value for e in events]
    assert await crs_state(crs) == before  # updatedAt, tags, tag sets, tags:all: all as before
    entries = [e async for e in service.audit_entries(AuditFilter(op_id=outcome.op_id))]
    assert sum(e.event == "applied" for e in entries) == 200
    assert sum(e.event == "rolled-back" for e in entries) == 200


async def test_cancel_atomic_rolls_back_and_cancel_best_effort_keeps_what_is_done(
    crs: aioredis.Redis,
) -> None:
    before = await crs_state(crs)
    cancel = asyncio.Event()

    async def cancel_at_second(index: int) -> None:
        if index == 1:
            cancel.set()

    service = make_service(crs, chunk_size=100, before_chunk=cancel_at_second)
    targets = await ids_where(service, "tag:bulk")
    outcome, _ = await run(
        service, await service.plan(targets, TagEdit.build("add", ["c"])), cancel
    )
    assert outcome.status is OpStatus.CANCELLED and outcome.counts.rolled_back == 200
    assert await crs_state(crs) == before

    cancel.clear()
    outcome, _ = await run(service, await service.plan(targets, StatusChange.build(False)), cancel)
    assert outcome.status is OpStatus.CANCELLED
    disabled = [k for k in targets if await crs.hget(f"apikey:{k}", "isActive") == "false"]
    assert len(disabled) == outcome.counts.applied == 200  # two chunks kept, nothing rolled back
    assert await crs_index_problems(crs) == []


async def test_overlapping_operations_are_refused_and_disjoint_ones_both_succeed(
    crs: aioredis.Redis,
) -> None:
    pause = Pause()
    first = make_service(crs, before_chunk=pause)
    team_a = await ids_where(first, "tag:team-a")
    task = asyncio.create_task(
        run(first, await first.plan(team_a, TagEdit.build("add", ["first"])))
    )
    await asyncio.wait_for(pause.holding.wait(), 10)

    second = make_service(crs)
    overlap = await ids_where(second, "tag:team-a | tag:team-b")
    outcome, _ = await run(second, await second.plan(overlap, TagEdit.build("add", ["second"])))
    assert outcome.refused_by_lock and outcome.exit_code == 3 and outcome.status is OpStatus.REFUSED
    assert "held by operation" in outcome.message and "tags add (merge): first" in outcome.message
    assert "@" in outcome.message and "since" in outcome.message
    assert not await crs.exists("apikey:tag:second")

    disjoint = await ids_where(second, "tag:loop20")
    outcome, _ = await run(second, await second.plan(disjoint, TagEdit.build("add", ["third"])))
    assert outcome.status is OpStatus.DONE

    pause.release.set()
    first_outcome, _ = await task
    assert first_outcome.status is OpStatus.DONE
    assert await crs.smembers("apikey:tag:first") == set(team_a)


async def test_a_crs_style_whole_hash_rewrite_is_caught_by_verify_and_reapplied(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs, verify_delay=0.3)
    targets = await ids_where(service, "tag:loop20")
    stale = {
        k: await crs.hgetall(f"apikey:{k}") for k in targets[:5]
    }  # requests read these earlier
    plan = await service.plan(targets, TagEdit.build("add", ["verified"]))

    async def crs_writes_back() -> None:
        async for event in service.run(plan):
            if event.phase.value == "verifying":
                for key_id, fields in stale.items():  # recordUsage: HSET of the whole old hash
                    await crs.hset(f"apikey:{key_id}", mapping=fields)
            if event.outcome is not None:
                outcome_box.append(event.outcome)

    outcome_box: list = []  # type: ignore[type-arg]
    await crs_writes_back()
    outcome = outcome_box[0]
    assert outcome.status is OpStatus.DONE and outcome.counts.reapplied == 5
    for key_id in targets:
        assert "verified" in json.loads(await crs.hget(f"apikey:{key_id}", "tags"))
    assert await crs_index_problems(crs) == []


async def test_a_writer_of_other_fields_causes_no_conflict_and_loses_nothing(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs, chunk_size=50)
    targets = await ids_where(service, "tag:bulk")

    async def usage_traffic(index: int) -> None:
        for key_id in targets[index * 50 : index * 50 + 120]:  # this chunk and the next
            await crs.hset(
                f"apikey:{key_id}", "lastUsedAt", f"2026-11-27T05:00:{index % 60:02d}.000Z"
            )

    service.config.runner.before_chunk = usage_traffic
    plan = await service.plan(targets, TagEdit.build("add", ["busy"]))
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE and outcome.counts.failed == 0
    assert outcome.counts.applied == len(targets)
    used = [await crs.hget(f"apikey:{k}", "lastUsedAt") for k in targets[:5]]
    assert all(value.startswith("2026-11-27T05:00:") for value in used)


@pytest.mark.parametrize("policy", ["block", "warn"])
async def test_audit_failure_policies(crs: aioredis.Redis, policy: str) -> None:
    await crs.set("keyops:audit", "not a stream")  # XADD now fails with WRONGTYPE
    before = await crs_state(crs)
    service = make_service(crs, audit_policy=policy)
    targets = await ids_where(service, "tag:loop20")
    outcome, _ = await run(service, await service.plan(targets, TagEdit.build("add", ["audited"])))
    if policy == "block":
        assert outcome.status is OpStatus.REFUSED
        assert "audit trail cannot be written" in outcome.message
        assert await crs_state(crs) == before
    else:
        assert outcome.status is OpStatus.DONE and outcome.counts.applied == 20
        assert await crs.smembers("apikey:tag:audited") == set(targets)


async def test_revert_puts_back_only_what_still_holds_the_ops_values(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    original = {k: await crs.hget(f"apikey:{k}", "tags") for k in targets}
    outcome, _ = await run(service, await service.plan(targets, TagEdit.build("add", ["oops"])))
    await crs.hset(f"apikey:{targets[0]}", "tags", '["edited-by-hand"]')

    plan = await service.plan_revert(outcome.op_id)
    assert plan.skipped == [(targets[0], "changed since: tags")]
    revert_outcome, _ = await run(service, plan)
    assert revert_outcome.status is OpStatus.DONE
    for key_id in targets[1:]:
        assert await crs.hget(f"apikey:{key_id}", "tags") == original[key_id]
    assert await crs.hget(f"apikey:{targets[0]}", "tags") == '["edited-by-hand"]'
    assert await crs.smembers("apikey:tag:oops") == {targets[0]} or not await crs.exists(
        "apikey:tag:oops"
    )


async def test_audit_filters_and_exports_parse_back(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    loop = await ids_where(service, "tag:loop20")
    tags_op, _ = await run(service, await service.plan(loop, TagEdit.build("add", ["x"])))
    status_op, _ = await run(service, await service.plan(loop[:3], StatusChange.build(False)))

    by_type = [e async for e in service.audit_entries(AuditFilter(op_types={"status"}))]
    assert {e.op_id for e in by_type} == {status_op.op_id}
    by_key = [e async for e in service.audit_entries(AuditFilter(key_id=loop[0]))]
    assert {e.op_id for e in by_key} == {tags_op.op_id, status_op.op_id}
    nobody = [e async for e in service.audit_entries(AuditFilter(operator="no-such-operator"))]
    assert nobody == []

    out = io.StringIO()
    count = await service.export_audit(out, "csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert count == 2 + 20 + 2 + 3
    tag_rows = [r for r in rows if r["op_id"] == tags_op.op_id and r["field"] == "tags"]
    assert len(tag_rows) == 20 and all('"x"' in r["after"] for r in tag_rows)
    assert all(r["op_type"] in ("tags", "status") and r["operator"] for r in rows)

    out = io.StringIO()
    await service.export_audit(out, "json", AuditFilter(op_id=status_op.op_id))
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["event"] for d in documents] == [
        "op-start",
        "applied",
        "applied",
        "applied",
        "op-end",
    ]
    assert documents[1]["changes"]["isActive"] == ["true", "false"]
    assert "apiKey" not in out.getvalue()


async def test_breaking_a_lock_by_hand_is_audited_and_the_keys_wait_for_the_ops_recovery(
    crs: aioredis.Redis,
) -> None:
    pause = Pause()
    stuck = make_service(crs, before_chunk=pause)
    loop = await ids_where(stuck, "tag:loop20")
    task = asyncio.create_task(run(stuck, await stuck.plan(loop, TagEdit.build("add", ["stuck"]))))
    await asyncio.wait_for(pause.holding.wait(), 10)
    (stuck_op,) = [r for r in await stuck.recent_ops() if r.status is OpStatus.RUNNING]

    rescuer = make_service(crs)
    assert await rescuer.break_lock(stuck_op.id) is True
    # Without its lease the op is interrupted, not finished: its keys wait for its recovery.
    assert [r.id for r in await rescuer.interrupted_operations()] == [stuck_op.id]
    refused, _ = await run(rescuer, await rescuer.plan(loop, TagEdit.build("add", ["rescued"])))
    assert refused.refused_by_lock and stuck_op.id in refused.message
    assert "interrupted" in refused.message and "ops recover" in refused.message
    plan, _ = await rescuer.plan_recovery(stuck_op.id, "rollback")
    recovered, _ = await run(rescuer, plan)
    assert recovered.status is OpStatus.DONE
    outcome, _ = await run(rescuer, await rescuer.plan(loop, TagEdit.build("add", ["rescued"])))
    assert outcome.status is OpStatus.DONE  # recovered, the op no longer holds them
    breaks = [
        e
        async for e in rescuer.audit_entries(AuditFilter(op_id=stuck_op.id))
        if e.event == "lock-break"
    ]
    assert len(breaks) == 1 and breaks[0].detail["had_lease"] is True
    assert breaks[0].detail["by"]["os_user"]

    pause.release.set()
    stuck_outcome, _ = await task
    # Its lease is gone, so the fence stops it before it writes a single chunk.
    assert stuck_outcome.status is not OpStatus.DONE
    assert not await crs.exists("apikey:tag:stuck")
