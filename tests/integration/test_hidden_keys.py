"""Nothing hides a key: a key record that exists is listed and targeted even when CRS's indexes
are out of step with the records (an id missing from `apikey:idx:all`, no `idx:all` at all, an
index version that is not ready), and the drift is reported where an operator looks: `info`,
the preview of a batch and the console's banner."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession
from tests.integration.test_cli import keyops
from tests.support.redis_server import RedisServer
from tests.tui.conftest import session_app, shown_names, type_filter, wait_for, wait_loaded


async def _team_a(crs: aioredis.Redis) -> list[str]:
    return sorted(await crs.smembers("apikey:tag:team-a"))


async def test_a_key_missing_from_idx_all_is_listed_disabled_and_reported(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    team_a = await _team_a(crs)
    hidden = team_a[0]
    await crs.srem("apikey:idx:all", hidden)
    url = redis_server.url

    listed = keyops("keys", "list", "--where", "tag:team-a", "--json", "--redis-url", url)
    assert listed.returncode == 0, listed.stderr
    assert sorted(key["id"] for key in json.loads(listed.stdout)) == team_a

    info = keyops("info", "--redis-url", url)
    assert info.returncode == 0, info.stderr
    assert "1 key record is missing from apikey:idx:all" in info.stdout
    drift = json.loads(keyops("info", "--json", "--redis-url", url).stdout)["indexDrift"]
    assert drift["notInIdxAll"] == [hidden]

    preview = keyops("status", "disable", "--where", "tag:team-a", "--dry-run", "--redis-url", url)
    assert preview.returncode == 0, preview.stderr
    assert "1 of these keys is missing from apikey:idx:all" in preview.stdout + preview.stderr

    result = keyops("status", "disable", "--where", "tag:team-a", "--yes", "--redis-url", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert await crs.hget(f"apikey:{hidden}", "isActive") == "false"
    assert not await crs.sismember("apikey:set:active", hidden)
    # keyops leaves CRS's index alone: CRS's own rebuild puts the id back.
    assert not await crs.sismember("apikey:idx:all", hidden)


async def test_no_idx_all_and_an_index_not_ready_still_show_every_key(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    url = redis_server.url
    every = ("keys", "list", "--json", "--include-deleted", "--redis-url", url)
    total = len(json.loads(keyops(*every).stdout))
    await crs.delete("apikey:idx:all")
    assert len(json.loads(keyops(*every).stdout)) == total
    info = keyops("info", "--redis-url", url).stdout
    assert f"{total} key records are missing from apikey:idx:all" in info

    await crs.delete("apikey:index:version")
    assert len(json.loads(keyops(*every).stdout)) == total
    assert "not ready" in keyops("info", "--redis-url", url).stdout


async def test_the_console_shows_the_hidden_key_and_says_why(crs: aioredis.Redis) -> None:
    team_a = await _team_a(crs)
    hidden_name = await crs.hget(f"apikey:{team_a[0]}", "name")
    await crs.srem("apikey:idx:all", team_a[0])
    app = session_app(KeyopsSession.from_client(crs, "real redis-server"))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_loaded(pilot)
        banner = app.screen.query_one("#banner")
        await wait_for(
            pilot,
            lambda: "missing from apikey:idx:all" in str(banner.render()),
            "drift in the banner",
        )
        await type_filter(pilot, "tag:team-a")
        assert hidden_name in shown_names(app)
