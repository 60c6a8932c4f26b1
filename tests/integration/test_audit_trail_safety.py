"""The audit trail cannot be lost or abused: no batch trims anyone's history, trimming is an
explicit admin command with a preview that is itself audited, no value can make audit writes
fail (so `--audit-failure warn` never lets a change through unaudited because of a setting),
a CSV export is safe to open in a spreadsheet, and the operator is not whoever $USER claims."""

from __future__ import annotations

import csv
import io
import json
import os
import pwd
import time
from pathlib import Path

import redis.asyncio as aioredis

from tests.integration.test_cli import keyops
from tests.support.redis_server import RedisServer

AUDIT = "keyops:audit"
YEAR_MS = 365 * 86_400_000


async def _old_history(crs: aioredis.Redis, entries: int = 600) -> None:
    """Another team's operations from a year ago (more than one stream node, so an
    approximate trim would drop whole nodes of it)."""
    start = int(time.time() * 1000) - YEAR_MS
    pipe = crs.pipeline(transaction=False)
    for number in range(entries):
        pipe.xadd(AUDIT, {"op": "20251101-000000-aaaaaa", "event": "op-start", "detail": "{}"},
                  id=f"{start + number}-0")  # fmt: skip
    await pipe.execute()


async def test_a_batch_trims_nobodys_history(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    await _old_history(crs)
    result = keyops("tags", "add", "t1", "--where", "tag:team-a", "--yes",
                    "--redis-url", redis_server.url)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    old = await crs.xrange(AUDIT, max=str(int(time.time() * 1000) - YEAR_MS + 1000))
    assert len(old) == 600


async def test_retention_is_no_batch_option_and_no_value_breaks_audit_writes(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    url = redis_server.url
    before = await crs.hget("apikey:" + sorted(await crs.smembers("apikey:tag:team-a"))[0], "tags")
    for days in ("1", "30000"):
        result = keyops("tags", "add", "t2", "--where", "tag:team-a", "--yes",
                        "--audit-failure", "warn", "--audit-retention-days", days,
                        "--redis-url", url)  # fmt: skip
        assert result.returncode == 2, result.stdout + result.stderr
        assert "keyops audit trim" in result.stderr and "Traceback" not in result.stderr
    assert await crs.hget("apikey:" + sorted(await crs.smembers("apikey:tag:team-a"))[0],
                          "tags") == before  # fmt: skip
    # A trim far past the epoch trims nothing and breaks nothing.
    huge = keyops("audit", "trim", "--older-than", "30000", "--yes", "--redis-url", url)
    assert huge.returncode == 0, huge.stdout + huge.stderr
    audited = keyops("tags", "add", "t2", "--where", "tag:team-a", "--yes", "--json",
                     "--redis-url", url)  # fmt: skip
    op_id = json.loads(audited.stdout)["op_id"]
    entries = await crs.xrange(AUDIT)
    assert any(fields.get("op") == op_id and "keys" in fields for _, fields in entries)


async def test_audit_trim_previews_then_trims_and_is_audited(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    url = redis_server.url
    await _old_history(crs, 50)
    keyops("tags", "add", "recent", "--where", "tag:team-a", "--yes", "--redis-url", url)
    total = await crs.xlen(AUDIT)

    preview = keyops("audit", "trim", "--older-than", "180", "--dry-run", "--redis-url", url)
    assert preview.returncode == 0, preview.stderr
    assert "50 audit entries" in preview.stdout and await crs.xlen(AUDIT) == total
    refused = keyops("audit", "trim", "--older-than", "180", "--redis-url", url)
    assert refused.returncode == 2 and await crs.xlen(AUDIT) == total  # no terminal, no --yes

    trimmed = keyops("audit", "trim", "--older-than", "180", "--yes", "--redis-url", url)
    assert trimmed.returncode == 0, trimmed.stdout + trimmed.stderr
    entries = await crs.xrange(AUDIT)
    assert len(entries) == total - 50 + 1
    _, record = entries[-1]
    assert record["event"] == "audit-trim"
    detail = json.loads(record["detail"])
    assert detail["removed"] == 50 and detail["older_than_days"] == 180
    assert detail["by"]["os_user"] == pwd.getpwuid(os.getuid()).pw_name

    for bad in ("0", "-3", "x"):
        result = keyops("audit", "trim", "--older-than", bad, "--yes", "--redis-url", url)
        assert result.returncode == 2 and "Traceback" not in result.stderr


async def test_a_csv_export_cannot_carry_a_formula(
    crs: aioredis.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_server.url
    healthy = await crs.hgetall("apikey:" + sorted(await crs.smembers("apikey:tag:loop20"))[0])
    hostile_ids = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(1)"]
    for key_id in hostile_ids:
        await crs.hset(f"apikey:{key_id}", mapping={**healthy, "id": key_id, "tags": "[]"})
        await crs.sadd("apikey:idx:all", key_id)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(hostile_ids) + "\n")
    result = keyops("tags", "add", "=cmd|'/C calc'!A0", "--ids-file", str(ids_file), "--yes",
                    "--json", "--redis-url", url)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    op_id = json.loads(result.stdout)["op_id"]

    exported = keyops("audit", "export", "--op", op_id, "--format", "csv", "--redis-url", url)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.reader(io.StringIO(exported.stdout)))
    cells = [cell for row in rows[1:] for cell in row]
    assert cells and not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    key_cells = {row[6] for row in rows[1:] if row[6]}
    assert key_cells == {"'" + key_id for key_id in hostile_ids}  # neutralised, still readable


async def test_the_operator_is_the_account_not_what_user_claims(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    claimed = {"USER": "mallory", "LOGNAME": "mallory", "LNAME": "mallory", "USERNAME": "mallory"}
    result = keyops("tags", "add", "who", "--where", "tag:team-a", "--yes", "--json",
                    "--redis-url", redis_server.url, env=claimed)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    op_id = json.loads(result.stdout)["op_id"]
    shown = json.loads(
        keyops("ops", "show", op_id, "--json", "--redis-url", redis_server.url).stdout
    )
    operator = shown["op"]["operator"]
    assert operator["os_user"] == pwd.getpwuid(os.getuid()).pw_name
    assert operator["uid"] == os.getuid()
    assert operator["env_user"] == "mallory"  # kept, as what the environment claimed
