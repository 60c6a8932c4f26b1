"""Issue 14's batch edits attacked with stored values CRS never writes and input CRS refuses, on
real redis-server with CRS's dump: a key keyops cannot read the way CRS does is skipped with
the reason (never rewritten into something CRS reads otherwise, never a crash of the batch),
and a typed value CRS's single-key route refuses is refused, one message per problem."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.api import BadInput, BadRequest
from keyops.core.batch.operations import OpStatus
from keyops.core.edits.create import KeysCreate
from keyops.core.edits.expiry import ExpiryChange
from keyops.core.edits.lifecycle import KeysDelete, KeysRestore
from keyops.core.edits.limits import LimitsSet
from keyops.core.edits.rates import RatesSet
from keyops.core.edits.restrictions import ModelsRestrict
from keyops.core.settings import read_env_file
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.engine.test_keys_create import MINTER
from tests.support.crs_actors import read_record, record_usage, update_api_key
from tests.support.invariants import crs_index_problems
from tests.support.sudden_death import DoomedProcess

# Python's json reads these; JavaScript's JSON.parse does not (or, for 1e999, reads a number
# JSON.stringify cannot write back), so CRS reads no rates there.
NOT_JS_JSON = ['{"claude":NaN}', '{"claude":Infinity}', '{"claude":-Infinity}', '{"claude":1e999}']
DEEP = "[" * 30_000 + "]" * 30_000  # parsed by V8; past Python's recursion limit


@pytest.mark.parametrize("stored", [*NOT_JS_JSON, DEEP], ids=[*NOT_JS_JSON, "deep"])
async def test_rates_set_skips_rates_javascript_cannot_read_or_write(
    crs: aioredis.Redis, stored: str
) -> None:
    service = make_service(crs)
    key_id = (await ids_where(service, "tag:team-a"))[0]
    await crs.hset(f"apikey:{key_id}", "serviceRates", stored)
    await service.load(refresh=True)
    before = await crs_state(crs)
    plan = await service.plan([key_id], RatesSet.build(["gemini=2"]))
    assert plan.plans == [] and [key for key, _ in plan.skipped] == [key_id]
    assert await crs_state(crs) == before


@pytest.mark.parametrize(
    "typed", ["٥", "５", "1٠", "৩.5"], ids=["arabic", "fullwidth", "mixed", "bengali"]
)
def test_limits_and_rates_refuse_digits_javascript_does_not_read(typed: str) -> None:
    """Number('٥') is NaN in JavaScript: CRS's route answers 400; so does keyops."""
    with pytest.raises(BadRequest) as limits_error:
        LimitsSet.build({"concurrency": typed, "daily_cost": typed})
    assert len(limits_error.value.problems) == 2
    assert all("is not a number" in problem for problem in limits_error.value.problems)
    with pytest.raises(BadRequest) as rates_error:
        RatesSet.build([f"claude={typed}"])
    assert ["is not a number" in problem for problem in rates_error.value.problems] == [True]


async def test_json_fields_too_deep_for_python_are_listed_damaged_not_crashed_on(
    crs: aioredis.Redis,
) -> None:
    """One key with every JSON field nested past Python's recursion limit: the list loads, the
    key shows as damaged, the settings query terms read it as CRS's broken JSON, and a batch
    that reads those fields skips it."""
    service = make_service(crs)
    key_id = (await ids_where(service, "tag:team-a"))[0]
    await crs.hset(
        f"apikey:{key_id}",
        mapping={
            "tags": DEEP,
            "permissions": DEEP,
            "enableModelRestriction": "true",
            "restrictedModels": DEEP,
            "enableClientRestriction": "true",
            "allowedClients": DEEP,
        },
    )
    await service.load(refresh=True)
    assert "tags is not JSON" in service.table.by_id[key_id].damage
    assert key_id in await service.targets("status:damaged", None)
    await service.targets("perm:claude | perm:gemini", None)  # no crash; no restriction read:
    for query in ("model:x", "client:claude_code"):
        assert key_id not in await service.targets(f"{query} | tag:loop20", None)
    plan = await service.plan([key_id], ModelsRestrict.build("add", ["claude-x"]))
    assert plan.plans == [] and [key for key, _ in plan.skipped] == [key_id]


def test_expiry_dates_at_the_edges_of_the_calendar() -> None:
    """toISOString pads the year to four digits (CRS reads '999-01-01T…' as no date, so the key
    would never expire); a date that is before year 1 in UTC is refused, not a traceback."""
    assert ExpiryChange.build("set", "0999-01-01").expires_at == "0999-01-01T00:00:00.000Z"
    with pytest.raises(BadRequest) as caught:
        ExpiryChange.build("set", "0001-01-01T00:00+01:00")
    assert len(caught.value.problems) == 1 and "not a date" in caught.value.problems[0]


async def test_expiry_extend_past_year_9999_skips_the_key(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    far, near = (await ids_where(service, "tag:team-a"))[:2]
    await crs.hset(f"apikey:{far}", "expiresAt", "9999-12-30T00:00:00.000Z")
    await crs.hset(f"apikey:{near}", "expiresAt", "2030-01-01T00:00:00.000Z")
    await service.load(refresh=True)
    plan = await service.plan([far, near], ExpiryChange.build("extend", "+2w"))
    assert [p.key_id for p in plan.plans] == [near]
    assert [key for key, _ in plan.skipped] == [far] and "9999" in plan.skipped[0][1]


@pytest.mark.parametrize("word", ["cost", "daily", "model", "index"])
async def test_purge_of_a_key_named_like_crs_words_leaves_other_keys_usage(
    crs: aioredis.Redis, word: str
) -> None:
    """A soft-deleted record `apikey:cost` (any id is a record to CRS) must not take with it
    every `rate_limit:cost:{id}` or `usage:cost:…` of the other keys: purge removes a name
    only where CRS's naming puts the key's id, and nothing can be rolled back."""
    service = make_service(crs)
    other = (await ids_where(service, "tag:team-a"))[0]
    await crs.hset(f"apikey:{word}", mapping={"name": word, "isDeleted": "true", "tags": "[]"})
    others = [
        f"rate_limit:cost:{other}",
        f"usage:cost:daily:{other}:2026-12-01",
        f"usage:daily:{other}:2026-12-01",
        f"usage:{other}:model:daily:claude-x:2026-12-01",
        f"usage:{other}:model:alltime:{word}",
        "usage:daily:index:2026-12-01",
        "usage:model:daily:index:2026-12-01",
    ]
    own = [f"rate_limit:requests:{word}", f"usage:records:{word}", f"concurrency:queue:{word}"]
    for name in others + own:
        await crs.set(name, "1")
    await service.load(refresh=True)
    preview = await service.purge_preview([word])
    assert [t.key_id for t in preview.targets] == [word]
    assert sorted(preview.targets[0].usage_keys) == sorted(own)
    assert await service.purge(preview) == {word: "purged"}
    assert await crs.exists(*others) == len(others) and await crs.exists(*own) == 0


async def test_restore_never_takes_over_another_keys_hash_map_entry(crs: aioredis.Redis) -> None:
    """Two records holding one hash (a record copied by hand, a buggy import): restoring the
    deleted one must not point the live key's entry at it, which would serve the live key's
    clients as the restored key (its limits, its bill). The entry stays; a rollback is exact."""
    service = make_service(crs)
    deleted, live = (await ids_where(service, "tag:team-a"))[:2]
    outcome, _ = await run(service, await service.plan([deleted], KeysDelete()))
    assert outcome.status is OpStatus.DONE
    digest = await crs.hget(f"apikey:{deleted}", "apiKey")
    live_digest = await crs.hget(f"apikey:{live}", "apiKey")
    await crs.hset(f"apikey:{live}", "apiKey", digest)
    await crs.hdel("apikey:hash_map", live_digest)
    await crs.hset("apikey:hash_map", digest, live)
    await service.load(refresh=True)
    before = await crs_state(crs)
    outcome, _ = await run(service, await service.plan([deleted], KeysRestore()))
    assert await crs.hget("apikey:hash_map", digest) == live
    revert, _ = await run(service, await service.plan_revert(outcome.op_id))
    assert revert.status is OpStatus.DONE
    # As before the restore, but for updatedAt, which a revert stamps like any edit.
    after = await crs_state(crs)
    assert after.keys() == before.keys()
    for name, (kind, value) in before.items():
        if kind == "hash" and name == f"apikey:{deleted}":
            value = {**value, "updatedAt": after[name][1]["updatedAt"]}
        assert after[name] == (kind, value), name


async def test_a_full_disk_while_writing_the_key_file_leaves_no_file_and_no_key(
    crs: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while the raw keys are written: one BadInput line, no half file of raw keys left
    behind (which would also block the rerun as 'already exists'), nothing in Redis."""
    service = make_service(crs)
    before = await crs_state(crs)
    out = tmp_path / "keys.tsv"

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("keyops.core.secret_file.os.fsync", full)
    with pytest.raises(BadInput, match="No space left on device"):
        await service.create_keys(KeysCreate.build(3, "disk"), MINTER, out)
    assert not out.exists()
    assert await crs_state(crs) == before


async def test_rotating_a_key_whose_stored_name_is_not_utf8_writes_the_file(
    crs: aioredis.Redis, tmp_path: Path
) -> None:
    """A name with bytes that are not UTF-8 (which CRS's batch route stores as given) is written
    to the key file escaped; it used to stop the rotation with a UnicodeEncodeError after the
    file was half written."""
    service = make_service(crs)
    key_id = (await ids_where(service, "tag:team-a"))[0]
    raw_client = aioredis.Redis(port=crs.connection_pool.connection_kwargs["port"])
    await raw_client.hset(f"apikey:{key_id}", "name", b"bad-\xff-name\tx")
    await raw_client.aclose()
    await service.load(refresh=True)
    preview = await service.rotate_preview([key_id])
    out = tmp_path / "rotated.tsv"
    outcome = await service.rotate_keys(preview, MINTER, out)
    assert outcome.done == 1 and not outcome.rolled_back
    line = out.read_text(encoding="utf-8").splitlines()[2].split("\t")
    assert line[0] == key_id and line[1] == "bad-\\udcff-name x"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("mon@0", ("1", "0")),
        ("Sunday@23", ("7", "23")),
        ("wed@14", ("3", "14")),
        ("3@1.0", ("3", "1")),
    ],
)
def test_weekly_reset_reads_day_names_and_numbers(typed: str, stored: tuple[str, str]) -> None:
    request = LimitsSet.build({}, typed)
    assert (request.values["weeklyResetDay"], request.values["weeklyResetHour"]) == stored


@pytest.mark.parametrize("typed", ["monkey@0", "sunny@3", "mo@0", "８@0", "1@٣"])
def test_weekly_reset_refuses_what_is_not_a_day(typed: str) -> None:
    with pytest.raises(BadRequest) as caught:
        LimitsSet.build({}, typed)
    assert len(caught.value.problems) == 1 and "--weekly-reset" in caught.value.problems[0]


def _killable_request(kind: str) -> Any:
    return {
        "delete": KeysDelete(),
        "limits": LimitsSet.build({"concurrency": "9", "daily_cost": "0.5"}, "fri@6"),
        "expiry": ExpiryChange.build("set", "2031-05-05"),
        "models": ModelsRestrict.build("add", ["claude-killed"]),
    }[kind]


@pytest.mark.parametrize("action", ["rollback", "resume"])
@pytest.mark.parametrize("kind", ["delete", "limits", "expiry", "models"])
async def test_sigkill_mid_batch_then_ops_recover(
    crs: aioredis.Redis, kind: str, action: str
) -> None:
    """keyops SIGKILLed after two chunks of a new kind's batch: `ops recover --rollback` puts
    every byte back (a delete's hash_map entry and cost ranks included); `--resume` finishes it
    under the same op, each target holding the change once."""
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    request = _killable_request(kind)
    planned = await service.plan(targets, request)
    before = await crs_state(crs)
    port = crs.connection_pool.connection_kwargs["port"]
    process = DoomedProcess(port, 0)
    seen: list[Any] = []

    async def work(death: asyncio.Event) -> None:
        async def before_chunk(index: int) -> None:
            if index == 2:
                death.set()
                await asyncio.Event().wait()  # never runs again, as after SIGKILL

        doomed = make_service(process.client, chunk_size=5, before_chunk=before_chunk)
        await doomed.load()
        async for event in doomed.run(await doomed.plan(targets, request)):
            seen.append(event)

    _, died = await asyncio.to_thread(process.run, work)
    assert died
    await process.kill(crs)
    op_id = seen[0].op_id
    await crs.delete(f"keyops:lease:{op_id}")  # its lease lapsed
    assert len(await service.op_journal(op_id)) == 10
    await service.load(refresh=True)
    plan, resume = await service.plan_recovery(op_id, action)
    events = [event async for event in service.run_recovery(plan, resume)]
    outcome = events[-1].outcome
    assert outcome is not None and outcome.status in (OpStatus.ROLLED_BACK, OpStatus.DONE)
    await asyncio.to_thread(process.dispose)
    if action == "rollback":
        assert await crs_state(crs) == before
    else:
        again = await service.plan(targets, request)
        assert again.plans == [] and len(await service.op_journal(op_id)) == len(planned.plans)
    assert await crs_index_problems(crs) == []


async def test_a_deleted_key_a_stale_crs_write_made_live_again_is_deleted_again(
    crs: aioredis.Redis,
) -> None:
    """CRS's request path read two keys before keyops deleted them and writes them back whole
    after (isActive 'true' again, hash_map entry back, isDeleted still 'true'): the key
    authenticates again. The verify step must delete it again, not call it 'already
    soft-deleted'; and a later `keys delete` of such a key (also what CRS's batch edit
    leaves when it enables a deleted key) finishes the delete."""
    service = make_service(crs)
    targets = (await ids_where(service, "tag:loop20"))[:10]
    stale = {key_id: await read_record(crs, key_id) for key_id in targets[:2]}

    async def crs_writes_back(index: int) -> None:
        if index == 1:
            for key_id, old in stale.items():
                await record_usage(crs, key_id, {**old, "isDeleted": "true"})

    racing = make_service(crs, chunk_size=5, before_chunk=crs_writes_back, verify_delay=0.2)
    await racing.load()
    outcome, _ = await run(racing, await racing.plan(targets, KeysDelete()))
    assert outcome.status is OpStatus.DONE and outcome.counts.reapplied == 2, outcome.message
    for key_id in targets:
        digest = await crs.hget(f"apikey:{key_id}", "apiKey")
        assert await crs.hget(f"apikey:{key_id}", "isActive") == "false"
        assert await crs.hget("apikey:hash_map", digest) is None

    # CRS's batch edit enables a deleted key: isActive 'true', hash_map entry back.
    again = targets[0]
    await update_api_key(crs, again, {"isActive": True})
    await service.load(refresh=True)
    plan = await service.plan([again], KeysDelete())
    assert [p.key_id for p in plan.plans] == [again]
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    digest = await crs.hget(f"apikey:{again}", "apiKey")
    assert await crs.hget("apikey:hash_map", digest) is None
    assert await crs.hget(f"apikey:{again}", "isActive") == "false"
    assert await crs_index_problems(crs) == []


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("ENCRYPTION_KEY=abc#def", "abc"),  # '#' starts a comment even without a space
        ('ENCRYPTION_KEY="abc" # the key', "abc"),
        ("ENCRYPTION_KEY='a#b c'", "a#b c"),
        ("export   ENCRYPTION_KEY =  abc  ", "abc"),
        ("ENCRYPTION_KEY=`x 'y'`", "x 'y'"),
        ("ENCRYPTION_KEY: abc", "abc"),
        ('ENCRYPTION_KEY="a\\nb"', "a\nb"),  # double quotes expand \n
        ("ENCRYPTION_KEY='a\\nb'", "a\\nb"),
        ("ENCRYPTION_KEY=", ""),
    ],
)
def test_crs_env_is_read_as_crs_dotenv_reads_it(tmp_path: Path, line: str, value: str) -> None:
    """The key hash is sha256(raw + ENCRYPTION_KEY): a value read otherwise than CRS's dotenv
    reads it makes every created or rotated key fail to authenticate, silently."""
    env = tmp_path / ".env"
    env.write_text(f"# CRS\r\nREDIS_HOST=127.0.0.1\r\n{line}\r\nOTHER=1\r\n", encoding="utf-8")
    values = read_env_file(env)
    assert values.get("ENCRYPTION_KEY") == value and values["OTHER"] == "1"


async def test_keys_delete_can_name_a_deleted_key_that_is_live_again(crs: aioredis.Redis) -> None:
    """Such a key (isDeleted 'true', isActive 'true': it authenticates) can be named by id for
    `keys delete`, which finishes its delete; a deleted key that is not live stays an error."""
    service = make_service(crs)
    live_again, dead = (await ids_where(service, "tag:loop20"))[:2]
    outcome, _ = await run(service, await service.plan([live_again, dead], KeysDelete()))
    assert outcome.status is OpStatus.DONE
    await update_api_key(crs, live_again, {"isActive": True})
    await service.load(refresh=True)
    assert await service.targets(None, [live_again]) == [live_again]
    with pytest.raises(BadInput, match="is soft-deleted"):
        await service.targets(None, [dead])
