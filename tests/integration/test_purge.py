"""`keyops keys purge` on the dump of a CRS that served real requests: the keys it removes
compared with a transliteration of CRS's permanentDeleteApiKey, plus exactly the per-key usage,
rate-limit and concurrency keys CRS's purge leaves behind; the index invariants after; only
soft-deleted keys; a typed count, never --yes; the audit names what went, never a secret."""

from __future__ import annotations

import json
import re
from typing import Any

import redis.asyncio as aioredis

from keyops.core.edits.lifecycle import KeysDelete
from tests.engine.conftest import crs_state, make_service, run
from tests.integration.test_cli import keyops
from tests.support.crs_reference import crs_purge
from tests.support.dump import FIXTURES, load_dump
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _left_by_crs(name: str, ids: set[str]) -> bool:
    """The per-key keys CRS's purge glob misses, as docs/batch-operations.md lists them."""
    parts = name.split(":")
    if not ids & set(parts):
        return False
    return (
        (parts[0] == "usage" and parts[1] in ids)  # usage:{id}, usage:{id}:model:*
        or parts[0] in ("rate_limit", "concurrency")
    )


async def test_purge_removes_what_crs_does_and_what_it_leaves(redis_server: RedisServer) -> None:
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    try:
        await client.flushall()
        entries: dict[str, Any] = json.loads(
            (FIXTURES / "crs-1.1.314-usage-redis.json").read_text(encoding="utf-8")
        )["keys"]
        await load_dump(client, entries)
        used = sorted(
            {n.split(":")[1] for n in entries if re.fullmatch(r"usage:" + UUID.pattern, n)}
        )
        limited = sorted({n.split(":")[-1] for n in entries if n.startswith(("rate_limit:", "concurrency:"))})  # fmt: skip
        targets = list(
            dict.fromkeys([*used[:5], *[i for i in limited if f"apikey:{i}" in entries][:3]])
        )
        live = used[5]
        service = make_service(client)
        await service.load()
        outcome, _ = await run(service, await service.plan(targets, KeysDelete()))
        assert outcome.counts.applied == len(targets)
        digests = [await client.hget(f"apikey:{i}", "apiKey") for i in targets]
        before = await crs_state(client)

        url = ("--redis-url", redis_server.url)
        ids = ("--ids", ",".join([*targets, live]))
        dry = keyops("keys", "purge", *ids, "--dry-run", *url)
        assert dry.returncode == 0, dry.stderr
        assert f"keys purge: {len(targets)} soft-deleted keys" in dry.stdout
        assert "cannot be rolled back" in dry.stdout and "1 key not soft-deleted" in dry.stdout
        refused = keyops("keys", "purge", *ids, "--yes", *url)
        assert refused.returncode == 2  # argparse: purge has no --yes
        wrong = keyops("keys", "purge", *ids, "--confirm-purge", str(len(targets) + 1), *url)
        assert wrong.returncode == 2 and "does not match" in wrong.stderr
        unconfirmed = keyops("keys", "purge", *ids, *url)
        assert (
            unconfirmed.returncode == 2 and f"--confirm-purge {len(targets)}" in unconfirmed.stderr
        )
        assert await crs_state(client) == before

        done = keyops("keys", "purge", *ids, "--confirm-purge", str(len(targets)), *url)
        assert done.returncode == 0, done.stderr
        assert f"purged {len(targets)} keys" in done.stdout
        after = await crs_state(client)
        expected = dict(before)
        for key_id in targets:
            crs_purge(expected, key_id)
        left = {name for name in expected if _left_by_crs(name, set(targets))}
        assert any(name.startswith("usage:") for name in left)
        assert any(name.startswith(("rate_limit:", "concurrency:")) for name in left)
        assert after == {name: value for name, value in expected.items() if name not in left}
        assert f"apikey:{live}" in after
        assert await crs_index_problems(client) == []

        audit = keyops("audit", "export", "--format", "json", *url).stdout
        assert all(key_id in audit for key_id in targets) and "keys-purge" in audit
        for digest in digests:
            assert digest and digest not in audit
    finally:
        await client.aclose()
