"""`keyops keys delete|restore` as an operator runs them: the preview, the key stops (and
starts again) authenticating, deleted keys are targeted only by the commands for them, and
the secret never reaches the output or the audit trail."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from tests.integration.test_batch_cli import state
from tests.integration.test_cli import keyops
from tests.support.crs_auth import crs_accepts, give_known_secret

RAW = "cr_" + "fedcba9876543210" * 4


def _ids(url: str, where: str) -> list[str]:
    listed = json.loads(
        keyops("keys", "list", "--where", where, "--json", "--redis-url", url).stdout
    )
    return [key["id"] for key in listed]


async def test_keys_delete_then_restore_from_the_command_line(fixture_db: str) -> None:
    client = aioredis.from_url(fixture_db, decode_responses=True)
    try:
        targets = _ids(fixture_db, "tag:team-a")
        await give_known_secret(client, targets[0], RAW)
        digest = await client.hget(f"apikey:{targets[0]}", "apiKey")
        before = await state(fixture_db)
        where = ("--where", "tag:team-a", "--redis-url", fixture_db)
        dry = keyops("keys", "delete", "--dry-run", *where)
        assert dry.returncode == 0, dry.stderr
        assert "soft delete" in dry.stdout and "isActive: true -> false" in dry.stdout, dry.stdout
        assert await state(fixture_db) == before

        deleted = keyops("keys", "delete", "--yes", *where)
        assert deleted.returncode == 0, deleted.stderr
        assert await crs_accepts(client, RAW) == (401, "API key not found")
        assert _ids(fixture_db, "tag:team-a") == []  # hidden from queries, as CRS's list does
        # Only restore targets deleted keys, by query or by id.
        refused = keyops(
            "status", "enable", "--ids", targets[0], "--yes", "--redis-url", fixture_db
        )
        assert refused.returncode != 0 and "soft-deleted" in refused.stderr

        restored = keyops(
            "keys", "restore", "--ids", targets[0], "--yes", "--redis-url", fixture_db
        )
        assert restored.returncode == 0, restored.stderr
        assert await crs_accepts(client, RAW) == (200, targets[0])
        rest = keyops("keys", "restore", "--yes", *where)
        assert rest.returncode == 0, rest.stderr
        assert sorted(_ids(fixture_db, "tag:team-a")) == sorted(targets)

        audit = keyops("audit", "export", "--format", "json", "--redis-url", fixture_db).stdout
        assert targets[0] in audit
        for output in (dry, deleted, restored, rest):
            assert digest not in output.stdout + output.stderr
        assert digest not in audit and RAW not in audit
        # Nor in keyops's own bookkeeping (journals, operation records, the audit stream).
        bookkeeping = {
            k: v for k, v in (await state(fixture_db)).items() if k.startswith("keyops:")
        }
        assert bookkeeping and digest not in json.dumps(bookkeeping)
    finally:
        await client.aclose()


async def test_tags_rename_and_delete_act_on_every_key_without_a_query(fixture_db: str) -> None:
    carrying = sorted(_ids(fixture_db, "tag:team-c"))
    url = ("--redis-url", fixture_db)
    renamed = keyops("tags", "rename", "team-c", "crew", "--yes", *url)
    assert renamed.returncode == 0, renamed.stderr
    assert _ids(fixture_db, "tag:team-c") == [] and sorted(_ids(fixture_db, "tag:crew")) == carrying
    bad = keyops("tags", "rename", "crew", "  ", "--yes", *url)
    assert bad.returncode == 2 and "new tag: empty tag" in bad.stderr
    deleted = keyops("tags", "delete", "crew", "--yes", *url)
    assert deleted.returncode == 0, deleted.stderr
    assert _ids(fixture_db, "tag:crew") == []
