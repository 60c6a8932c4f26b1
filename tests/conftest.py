"""Shared fixtures: a real redis-server for the whole run, fresh clients per test, fakeredis."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import fakeredis
import pytest
import redis.asyncio as aioredis

from tests.support.dump import crs_fixture, load_dump
from tests.support.redis_server import RedisServer, RedisServerMissing, start_redis_server


@pytest.fixture(scope="session", autouse=True)
def private_xdg_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """keyops's log and console config go to the test run's own directories (subprocesses
    inherit them), never to the developer's home."""
    saved = {name: os.environ.get(name) for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME")}
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = start_redis_server()
    except RedisServerMissing as error:
        # Never skip the real-Redis tests: fail the run with the one line that says how to fix it.
        pytest.exit(str(error), returncode=1)
    yield server
    server.stop()


@pytest.fixture
async def real_redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def fake_redis() -> AsyncIterator[aioredis.Redis]:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(params=["real", "fake"])
async def any_redis(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[aioredis.Redis]:
    """The same test against real redis-server and against fakeredis."""
    if request.param == "real":
        client = aioredis.Redis(port=redis_server.port, decode_responses=True)
        await client.flushall()
    else:
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def crs(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """The real redis-server holding CRS's own dump, fresh for each test (decoding as keyops's
    own clients do, so a test's service sees what a real session would)."""
    client = aioredis.Redis(
        port=redis_server.port, decode_responses=True, encoding_errors="surrogateescape"
    )
    await client.flushall()
    await load_dump(client, crs_fixture())
    yield client
    await client.aclose()
