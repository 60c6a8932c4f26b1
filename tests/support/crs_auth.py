"""CRS's request-time validation of a raw key, in its order (authenticateApiKey ->
validateApiKey, steps 1-9 of the lifecycle notes' section 7), read from Redis without any of
the side effects CRS makes (no activation written, no hash_map repaired).

Used to show what an operator cares about: a key keyops deleted stops authenticating, one it
restored (or a deleted key rolled back) works again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

PREFIX = "cr_"
ENCRYPTION_KEY = "CHANGE-THIS-32-CHARACTER-KEY-NOW"  # config.example.js's default


def key_hash(raw: str, encryption_key: str = ENCRYPTION_KEY) -> str:
    return hashlib.sha256((raw + encryption_key).encode("utf-8")).hexdigest()


def _js_date(text: str) -> datetime | None:
    """new Date(text) for the ISO forms CRS writes; anything else never expires."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


async def crs_accepts(
    client: aioredis.Redis, raw: str, now: datetime | None = None, service: str = "claude"
) -> tuple[int, str]:
    """(status, reason or key id) CRS's middleware would answer for this raw key now."""
    now = now or datetime.now(UTC)
    if not raw:
        return 401, "Missing API key"
    if not 10 <= len(raw) <= 512 or not raw.startswith(PREFIX):
        return 401, "Invalid API key format"
    digest = key_hash(raw)
    key_id = await client.hget("apikey:hash_map", digest)
    if not key_id:
        key_id = await client.hget(f"apikey_hash:{digest}", "id")
    record = await client.hgetall(f"apikey:{key_id}") if key_id else {}
    if not record:
        return 401, "API key not found"
    if record.get("isActive") != "true":
        return 401, "API key is disabled"
    expires = record.get("expiresAt") or ""
    if record.get("expirationMode") == "activation" and record.get("isActivated") != "true":
        days = int(float(record.get("activationDays") or 30))
        span = (
            timedelta(hours=days)
            if record.get("activationUnit") == "hours"
            else timedelta(days=days)
        )
        expires = (now + span).isoformat()
    moment = _js_date(expires) if expires else None
    if moment is not None and now > moment:
        return 401, "API key has expired"
    if record.get("userId"):
        user = await client.get(f"user:{record['userId']}")
        if not user or not json.loads(user).get("isActive"):
            return 401, "User account is disabled"
    permissions = record.get("permissions") or "[]"
    try:
        listed = json.loads(permissions)
    except ValueError:
        listed = [permissions]
    if isinstance(listed, list) and listed and service not in listed:
        return 403, "permission"
    return 200, key_id


async def give_known_secret(client: aioredis.Redis, key_id: str, raw: str) -> None:
    """Make `raw` the key's secret, as CRS's create would have stored it (record and hash_map)."""
    old = await client.hget(f"apikey:{key_id}", "apiKey")
    if old:
        await client.hdel("apikey:hash_map", old)
    digest = key_hash(raw)
    await client.hset(f"apikey:{key_id}", "apiKey", digest)
    await client.hset("apikey:hash_map", digest, key_id)
