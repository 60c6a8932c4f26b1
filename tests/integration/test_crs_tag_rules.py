"""Tags follow CRS's own rules exactly: JavaScript's `trim()` (U+FEFF is white space to it,
U+001C is not), no control characters in a new tag (C1 included), any tag CRS let in can be
taken off again whatever its length or content, and a quoted query value is literal."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from tests.integration.test_cli import keyops
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer


async def _give_tags(crs: aioredis.Redis, key_id: str, tags: list[str]) -> None:
    """Store tags the way CRS's batch route does (verbatim, indexed by the raw string)."""
    old = json.loads(await crs.hget(f"apikey:{key_id}", "tags") or "[]")
    for tag in old:
        await crs.srem(f"apikey:tag:{tag}", key_id)
    await crs.hset(
        f"apikey:{key_id}", "tags", json.dumps(tags, ensure_ascii=False, separators=(",", ":"))
    )
    for tag in tags:
        await crs.sadd(f"apikey:tag:{tag}", key_id)
        await crs.sadd("apikey:tags:all", tag)
    for tag in old:
        if not await crs.scard(f"apikey:tag:{tag}"):
            await crs.srem("apikey:tags:all", tag)


def _ids(url: str, where: str) -> set[str]:
    result = keyops("keys", "list", "--where", where, "--json", "--redis-url", url)
    assert result.returncode == 0, result.stderr
    return {key["id"] for key in json.loads(result.stdout)}


async def test_tags_are_trimmed_and_matched_as_javascript_trims_them(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    url = redis_server.url
    first, second, third = sorted(await crs.smembers("apikey:tag:loop20"))[:3]
    await _give_tags(crs, first, ["ops\ufeff"])  # CRS's trim() drops a trailing BOM
    await _give_tags(crs, second, ["\x1cops"])  # ... but keeps U+001C, which Python strips
    assert _ids(url, "tag:ops") == {first}

    added = keyops("tags", "add", "\ufeffnew\u3000", "--ids", third, "--yes", "--redis-url", url)
    assert added.returncode == 0, added.stdout + added.stderr
    assert json.loads(await crs.hget(f"apikey:{third}", "tags"))[-1] == "new"

    removed = keyops("tags", "remove", "ops", "--ids", f"{first},{second}", "--yes",
                     "--json", "--redis-url", url)  # fmt: skip
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert await crs.hget(f"apikey:{first}", "tags") == "[]"
    assert json.loads(await crs.hget(f"apikey:{second}", "tags")) == ["\x1cops"]
    assert await crs_index_problems(crs) == []


async def test_a_new_tag_with_a_c1_control_character_is_refused(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    key_id = sorted(await crs.smembers("apikey:tag:loop20"))[0]
    before = await crs.hget(f"apikey:{key_id}", "tags")
    for tag in ("csi\x9b31m", "nel\x85", "\x85padded"):
        result = keyops(
            "tags", "add", tag, "--ids", key_id, "--yes", "--redis-url", redis_server.url
        )
        assert result.returncode == 2, (tag, result.stdout + result.stderr)
        assert "control character" in result.stderr
    assert await crs.hget(f"apikey:{key_id}", "tags") == before


async def test_any_tag_crs_let_in_can_be_removed(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    """CRS's batch route stores any tag; keyops's own limits are for tags it adds."""
    long_tag, tab_tag = "x" * 70, "a\tb"
    key_id = sorted(await crs.smembers("apikey:tag:loop20"))[0]
    await _give_tags(crs, key_id, ["loop20", long_tag, tab_tag])
    for tag in (long_tag, tab_tag):
        result = keyops("tags", "remove", tag, "--ids", key_id, "--yes", "--redis-url",
                        redis_server.url)  # fmt: skip
        assert result.returncode == 0, (tag, result.stdout + result.stderr)
    assert json.loads(await crs.hget(f"apikey:{key_id}", "tags")) == ["loop20"]
    assert await crs_index_problems(crs) == []
    # Adding one is still refused: keyops writes only tags it can show and CRS's UI can edit.
    refused = keyops("tags", "add", long_tag, "--ids", key_id, "--yes", "--redis-url",
                     redis_server.url)  # fmt: skip
    assert refused.returncode == 2 and "at most 64" in refused.stderr


async def test_a_quoted_query_value_is_literal(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    url = redis_server.url
    star, other = sorted(await crs.smembers("apikey:tag:loop20"))[:2]
    await _give_tags(crs, star, ["*"])
    await crs.hset(f"apikey:{other}", "name", "literal-[x]-name")
    assert _ids(url, 'tag:"*"') == {star}
    assert len(_ids(url, "tag:*")) > 100  # unquoted, it is a wildcard
    assert _ids(url, 'name:"literal-[x]"') == {other}
    assert _ids(url, 'name:"*"') == set()
