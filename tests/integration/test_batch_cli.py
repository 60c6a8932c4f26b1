"""The batch commands as an operator runs them: preview, writes, exit codes 0/1/2/3."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import redis.asyncio as aioredis

from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.locks import KeyLock
from keyops.core.batch.operations import OperationRecord, OperationStore
from keyops.core.edits.registry import OpType
from tests.integration.test_cli import keyops
from tests.support.dump import snapshot


async def state(url: str) -> dict:  # type: ignore[type-arg]
    client = aioredis.from_url(url, decode_responses=True)
    try:
        return await snapshot(client)
    finally:
        await client.aclose()


async def test_dry_run_previews_as_json_and_writes_nothing(fixture_db: str) -> None:
    before = await state(fixture_db)
    result = keyops(
        "tags",
        "add",
        "ops-x",
        "--where",
        "tag:team-a",
        "--dry-run",
        "--json",
        "--redis-url",
        fixture_db,
    )
    assert result.returncode == 0, result.stderr
    preview = json.loads(result.stdout)
    assert preview["change"] == 7 and preview["tags_now"]["team-a"] == 7
    assert all(key["changes"]["tags"][1].endswith('"ops-x"]') for key in preview["keys"])
    assert await state(fixture_db) == before


async def test_a_batch_runs_reports_json_and_can_be_reverted(
    fixture_db: str, tmp_path: Path
) -> None:
    ids_file = tmp_path / "ids.txt"
    listed = json.loads(
        keyops("keys", "list", "--where", "tag:loop20", "--json", "--redis-url", fixture_db).stdout
    )
    ids_file.write_text("# loop keys\n" + "\n".join(key["id"] for key in listed[:5]) + "\n")
    result = keyops(
        "status",
        "disable",
        "--ids-file",
        str(ids_file),
        "--yes",
        "--json",
        "--redis-url",
        fixture_db,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "done" and outcome["counts"]["applied"] == 5

    shown = json.loads(
        keyops("ops", "show", outcome["op_id"], "--json", "--redis-url", fixture_db).stdout
    )
    assert len(shown["keys"]) == 5 and shown["op"]["type"] == "status"

    exported = keyops("audit", "export", "--op", outcome["op_id"], "--redis-url", fixture_db)
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sorted(r["after"] for r in rows if r["field"] == "isActive") == ["false"] * 5

    reverted = keyops(
        "ops", "revert", outcome["op_id"], "--yes", "--json", "--redis-url", fixture_db
    )
    assert reverted.returncode == 0, reverted.stderr
    after = json.loads(
        keyops("keys", "list", "--where", "tag:loop20", "--json", "--redis-url", fixture_db).stdout
    )
    assert all(key["status"] == "active" for key in after)


async def test_a_revert_names_each_key_it_left_alone_and_how_to_see_who_changed_it(
    fixture_db: str,
) -> None:
    added = keyops(
        "tags", "add", "oops", "--where", "tag:team-a", "--yes", "--json", "--redis-url", fixture_db
    )
    assert added.returncode == 0, added.stderr
    op_id = json.loads(added.stdout)["op_id"]
    listed = json.loads(
        keyops("keys", "list", "--where", "tag:oops", "--json", "--redis-url", fixture_db).stdout
    )
    edited = listed[0]
    client = aioredis.from_url(fixture_db, decode_responses=True)
    try:
        await client.hset(f"apikey:{edited['id']}", "tags", '["edited-by-hand"]')
    finally:
        await client.aclose()

    reverted = keyops("ops", "revert", op_id, "--yes", "--redis-url", fixture_db)
    assert reverted.returncode == 0, reverted.stderr
    assert (
        f"  left alone {edited['id']} {edited['name']}: changed since: tags "
        f"(see who changed it: keyops audit list --key {edited['id']})"
    ) in reverted.stdout.splitlines()
    remaining = json.loads(
        keyops("keys", "list", "--where", "tag:oops", "--json", "--redis-url", fixture_db).stdout
    )
    assert remaining == []


async def test_the_preview_counts_in_words_and_aligns_wide_names(fixture_db: str) -> None:
    result = keyops("tags", "add", "x", "--where", "kappa", "--dry-run", "--redis-url", fixture_db)
    assert result.returncode == 0, result.stderr
    # A dry run's preview is its output: on stdout.
    assert "  1 key changes, 0 unchanged" in result.stdout
    kappa = next(line for line in result.stdout.splitlines() if "名字" in line)
    # The 30-cell name column: "kappa-Unicode-名字" is 18 cells, padded to 30 (not 16 characters).
    assert "kappa-Unicode-名字" + " " * 12 + " i18n, 标签  ->" in kappa


async def test_bad_input_exits_2_and_writes_nothing(fixture_db: str) -> None:
    before = await state(fixture_db)
    for args in (
        ("tags", "add", "", "--where", "tag:team-a", "--yes"),
        ("tags", "add", "x", "--ids", "not-a-key", "--yes"),
        ("accounts", "assign", "openai=group:grp-claude-loop", "--where", "tag:team-a", "--yes"),
        ("tags", "add", "x", "--yes"),
        ("tags", "add", "x", "--where", "tag:team-a", "--yes", "--audit-retention-days", "0"),
    ):
        result = keyops(*args, "--redis-url", fixture_db)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert await state(fixture_db) == before


async def test_without_yes_and_no_terminal_nothing_is_written(fixture_db: str) -> None:
    before = await state(fixture_db)
    result = keyops("status", "disable", "--where", "tag:team-a", "--redis-url", fixture_db)
    assert result.returncode == 2 and "refusing to write without --yes" in result.stderr
    assert await state(fixture_db) == before


async def test_keys_held_by_another_operator_exit_3(fixture_db: str) -> None:
    client = aioredis.from_url(fixture_db, decode_responses=True)
    listed = json.loads(
        keyops("keys", "list", "--where", "tag:team-a", "--json", "--redis-url", fixture_db).stdout
    )
    ops = OperationStore(client)
    other = OperationRecord(
        id="20261127-000000-abcdef", type=OpType.TAGS, summary="tags add (merge): theirs",
        operator=OperatorIdentity(os_user="alice", host="bastion", pid=42, ssh_client="10.1.2.3"),
    )  # fmt: skip
    await ops.save(other)
    lock = KeyLock(client, other.id, ttl_ms=60_000)
    await lock.acquire([key["id"] for key in listed], ops)
    result = keyops(
        "tags",
        "add",
        "mine",
        "--where",
        "tag:team-a | tag:loop20",
        "--yes",
        "--redis-url",
        fixture_db,
    )
    assert result.returncode == 3, result.stderr
    assert "alice@bastion (from 10.1.2.3)" in result.stdout and "7 of these keys" in result.stdout
    await lock.release()
    await client.aclose()
