"""`keys rotate` on the CRS fixture, on real redis-server: a rotated key keeps its id, settings
and indexes, its old raw key fails CRS's request-time validation at once and the new one passes;
a rollback (failure, lost reply, cancel) puts every byte back; no secret, old or new, reaches
the audit trail or stays in keyops's own keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.batch.rotation import run_rotate
from keyops.core.store.rotate import KeyRotator
from tests.engine.conftest import crs_state, ids_where, make_service
from tests.engine.test_keys_create import MINTER, read_keys
from tests.support.crs_auth import crs_accepts, give_known_secret
from tests.support.dump import snapshot
from tests.support.invariants import crs_index_problems

RAW = "cr_" + "0123456789abcdef" * 4


async def _targets(crs: aioredis.Redis) -> tuple[Any, list[str]]:
    """loop20 keys, the first with a known secret and a legacy `apikey_hash:{hash}` copy (which
    CRS's auth falls back to), one soft-deleted."""
    service = make_service(crs)
    targets = await ids_where(service, "tag:loop20")
    await give_known_secret(crs, targets[0], RAW)
    digest = MINTER.digest(RAW)
    await crs.hset(f"apikey_hash:{digest}", mapping={"id": targets[0], "name": "n"})
    deleted = f"apikey:{targets[1]}"
    await crs.hset(deleted, mapping={"isDeleted": "true", "isActive": "false"})
    await crs.hdel("apikey:hash_map", await crs.hget(deleted, "apiKey"))
    await crs.smove("apikey:set:active", "apikey:set:deleted", targets[1])
    return service, targets


async def test_a_rotated_key_keeps_everything_but_its_secret(
    crs: aioredis.Redis, tmp_path: Path
) -> None:
    service, targets = await _targets(crs)
    assert await crs_accepts(crs, RAW) == (200, targets[0])
    before = await crs_state(crs)
    preview = await service.rotate_preview(targets)
    assert targets[1] in preview.skipped and len(preview.keys) == len(targets) - 1
    out = tmp_path / "rotated.tsv"
    outcome = await service.rotate_keys(preview, MINTER, out)
    assert outcome.done == len(targets) - 1 and not outcome.rolled_back
    rows = read_keys(out)
    assert [key_id for key_id, _, _ in rows] == [key_id for key_id, _ in preview.keys]
    after = await crs_state(crs)
    assert await crs_accepts(crs, RAW) == (401, "API key not found")
    for key_id, _, raw in rows:
        assert await crs_accepts(crs, raw) == (200, key_id)
        old, new = before[f"apikey:{key_id}"][1], after[f"apikey:{key_id}"][1]
        assert new["apiKey"] == MINTER.digest(raw) != old["apiKey"]
        changed = {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
        assert changed == {"apiKey", "updatedAt"}
    # The hash_map: each old entry gone, each new one there; nothing else changed.
    old_map, new_map = before["apikey:hash_map"][1], after["apikey:hash_map"][1]
    rotated = {key_id for key_id, _, _ in rows}
    assert {h: i for h, i in old_map.items() if i not in rotated} == {
        h: i for h, i in new_map.items() if i not in rotated
    }
    assert sorted(i for i in new_map.values() if i in rotated) == sorted(rotated)
    assert f"apikey_hash:{MINTER.digest(RAW)}" not in after
    untouched = {k for k in before if not k.startswith(("apikey:", "apikey_hash:"))}
    assert all(before[k] == after[k] for k in untouched - {"apikey:hash_map"})
    assert await crs_index_problems(crs) == []
    everything = await snapshot(crs)
    assert not [name for name in everything if name.startswith("keyops:rotate:")]
    text = str(everything)
    audit = str(await crs.xrange("keyops:audit"))
    for key_id, _, raw in rows:
        assert raw not in text and raw not in audit
        assert before[f"apikey:{key_id}"][1]["apiKey"] not in audit
        assert MINTER.digest(raw) not in audit


@pytest.mark.parametrize("how", ["failure", "reply-lost", "cancel"])
async def test_a_failed_rotation_puts_every_old_secret_back(
    crs: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    service, targets = await _targets(crs)
    before = await crs_state(crs)
    preview = await service.rotate_preview(targets)
    real = KeyRotator.rotate
    calls = 0
    cancel = asyncio.Event()

    async def flaky(self: KeyRotator, keys: Any) -> list[str]:
        nonlocal calls
        calls += 1
        if how == "failure" and calls == 3:
            raise ConnectionError("disk on fire")
        replies = await real(self, keys)
        if how == "reply-lost" and calls == 3:
            raise TimeoutError("reply lost")
        if how == "cancel" and calls == 2:
            cancel.set()
        return replies

    monkeypatch.setattr(KeyRotator, "rotate", flaky)
    out = tmp_path / "rotated.tsv"
    outcome = await run_rotate(
        crs, service._audit, {}, preview, MINTER, out, datetime.now(UTC), cancel, 4
    )
    assert outcome.rolled_back
    assert await crs_state(crs) == before
    assert await crs_accepts(crs, RAW) == (200, targets[0])
    assert "rolled back" in out.read_text().splitlines()[-1]
    for _, _, raw in read_keys(out):
        assert (await crs_accepts(crs, raw))[0] == 401
    assert not [name async for name in crs.scan_iter("keyops:rotate:*")]
