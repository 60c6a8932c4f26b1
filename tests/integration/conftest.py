"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.support.dump import crs_fixture, load_dump
from tests.support.redis_server import RedisServer


@pytest.fixture
async def fixture_db(redis_server: RedisServer) -> AsyncIterator[str]:
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    await client.flushall()
    await load_dump(client, crs_fixture())
    await client.aclose()
    yield redis_server.url
