"""Reading usage for many keys: four pipelined commands per key, then a short second pass for
the few keys that need one more read (a non-default weekly reset, a linked user).

Per key: HMGET of the record's state and limit fields, HMGET of today's `usage:daily` hash,
one MGET of the cost strings (today, total, this week's Claude cost at the default reset) and
the four window counters, and ZCOUNT of the concurrency leases that have not expired. That is
what the key list, a sort, a query and the verdict need; `load_breakdown` reads one key's
per-model figures for a detail view.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from keyops.core.schema import layout
from keyops.core.schema.encoding import iso_to_epoch
from keyops.core.schema.js_text import js_json_loads
from keyops.core.usage import names
from keyops.core.usage.figures import (
    LIMIT_FIELDS_START,
    STATE_FIELDS,
    KeyLimits,
    KeyUsage,
    UsageTable,
)
from keyops.core.usage.periods import (
    DEFAULT_RESET_DAY,
    DEFAULT_RESET_HOUR,
    date_part,
    period_part,
)
from keyops.core.usage.values import crs_float, crs_int
from keyops.core.wire.chunks import chunked
from keyops.core.wire.pipelined import read_chunks
from keyops.core.wire.raw_script import WIRE_ERRORS, Arg, resp_command

CHUNK = 1000
DAILY_FIELDS = ("requests", "inputTokens", "outputTokens", "cacheCreateTokens", "cacheReadTokens")
REPLIES_PER_KEY = 4


# Costs and counters as CRS's parseFloat/parseInt read them (see values.py).
_float = crs_float
_int = crs_int


class _Encoder:
    """The four commands of each key in a chunk, as RESP bytes.

    Only the key id differs between keys, at fixed places: the RESP text for one key is built
    once per id length with a marker where the id goes, and split there, so a key's commands
    are `key_id.join(parts)`: one C call instead of encoding 30 arguments (which cost more
    than Redis's work and the reply parsing together)."""

    def __init__(self, today: str, period: str, now_ms: int) -> None:
        self.today = today
        self.period = period
        self.min_score = f"({now_ms}"
        self._parts: dict[int, list[str]] = {}

    def commands(self, key_id: str) -> list[list[Arg]]:
        today = self.today
        return [
            ["HMGET", layout.api_key(key_id), *STATE_FIELDS],
            ["HMGET", names.daily_usage(key_id, today), *DAILY_FIELDS],
            [
                "MGET",
                names.daily_cost(key_id, today),
                names.total_cost(key_id),
                names.weekly_cost(key_id, self.period),
                names.window_start(key_id),
                names.window_requests(key_id),
                names.window_tokens(key_id),
                names.window_cost(key_id),
            ],
            ["ZCOUNT", names.concurrency(key_id), self.min_score, "+inf"],
        ]

    def _template(self, length: int) -> list[str]:
        parts = self._parts.get(length)
        if parts is None:
            # A stand-in id of the same length frames every length header right.
            stand_in = "\x01" * length
            text = b"".join(resp_command(c) for c in self.commands(stand_in)).decode()
            parts = self._parts[length] = text.split(stand_in)
        return parts

    def __call__(self, chunk: list[str]) -> tuple[bytes, int]:
        pieces: list[str] = []
        for key_id in chunk:
            if key_id.isascii() and "\x01" not in key_id:
                pieces.append(key_id.join(self._template(len(key_id))))
            else:  # a byte length differs from the character count: encode it in full
                command = b"".join(resp_command(c) for c in self.commands(key_id))
                pieces.append(command.decode("utf-8", WIRE_ERRORS))
        return "".join(pieces).encode("utf-8", WIRE_ERRORS), len(chunk) * REPLIES_PER_KEY


class _Builder:
    """Turns one key's four replies into its figures; limits shared between equal settings."""

    def __init__(self, period: str) -> None:
        self.period = period
        self.limits: dict[tuple[str | None, ...], KeyLimits] = {}

    def build(self, replies: list[Any]) -> KeyUsage | None:
        """None for a key with nothing to say (active, no expiry, no limits, no usage): such
        keys share the empty figures, most of 100,000 keys in a big CRS."""
        state, daily, strings, leases = replies
        if isinstance(state, ResponseError) or state.count(None) == len(state):
            state = [None] * len(STATE_FIELDS)
            gone = True  # no record: CRS answers "API key not found"
        else:
            gone = False
        raw_limits = tuple(state[LIMIT_FIELDS_START:])
        limits = self.limits.get(raw_limits)
        if limits is None:
            limits = self.limits[raw_limits] = KeyLimits(raw_limits)
        daily_ok = not isinstance(daily, ResponseError) and daily.count(None) < len(daily)
        strings_ok = not isinstance(strings, ResponseError) and strings.count(None) < len(strings)
        active, deleted, expires = state[0] == "true", gone or state[1] == "true", state[2]
        if (
            not (daily_ok or strings_ok or leases or expires or deleted)
            and active
            and (limits.inert)
        ):
            return None
        requests = tokens = 0
        if daily_ok:
            requests = _int(daily[0])
            tokens = _int(daily[1]) + _int(daily[2]) + _int(daily[3]) + _int(daily[4])
        if strings_ok:
            start = strings[3]
            return KeyUsage(
                requests, tokens, _float(strings[0]), _float(strings[1]), _float(strings[2]),
                self.period, leases if isinstance(leases, int) else 0,
                _int(start) if start is not None else None,
                _int(strings[4]), _int(strings[5]), _float(strings[6]),
                limits, active, deleted, iso_to_epoch(expires) if expires else None,
            )  # fmt: skip
        return KeyUsage(
            requests, tokens, 0.0, 0.0, 0.0, self.period,
            leases if isinstance(leases, int) else 0, None, 0, 0, 0.0,
            limits, active, deleted, iso_to_epoch(expires) if expires else None,
        )  # fmt: skip


async def load_usage(
    client: aioredis.Redis, key_ids: list[str], *, now: float, offset: int
) -> UsageTable:
    """Usage of these keys at `now` (seconds since the epoch), dates in CRS's time zone."""
    today = date_part(now, offset)
    period = period_part(DEFAULT_RESET_DAY, DEFAULT_RESET_HOUR, now, offset)
    table = UsageTable(now=now, offset=offset, today=today)
    builder = _Builder(period)
    encoder = _Encoder(today, period, math.floor(now * 1000))
    by_id = table.by_id
    # The few keys the second pass reads for, noted here: three passes over 100,000 figures
    # after the read held a console's event loop in one go.
    reset_keys: list[tuple[str, KeyUsage]] = []
    user_keys: list[KeyUsage] = []
    default_reset = (DEFAULT_RESET_DAY, DEFAULT_RESET_HOUR)
    async for chunk, replies in read_chunks(client, list(chunked(key_ids, CHUNK)), encoder):
        for index, key_id in enumerate(chunk):
            start = index * REPLIES_PER_KEY
            usage = builder.build(replies[start : start + REPLIES_PER_KEY])
            if usage is not None:
                by_id[key_id] = usage
                limits = usage.limits
                if (limits.reset_day, limits.reset_hour) != default_reset:
                    reset_keys.append((key_id, usage))
                if limits.user_id:
                    user_keys.append(usage)
        # Replies already buffered are read without yielding: one turn of the event loop per
        # chunk keeps a console reading 100,000 keys in the background responsive.
        await asyncio.sleep(0)
    await _second_pass(client, table, reset_keys, user_keys)
    return table


async def _second_pass(
    client: aioredis.Redis,
    table: UsageTable,
    reset_keys: list[tuple[str, KeyUsage]],
    user_keys: list[KeyUsage],
) -> None:
    """The weekly cost of keys with their own reset day/hour, and whether linked users are on."""
    user_ids = sorted({usage.limits.user_id for usage in user_keys})
    for chunk in chunked(reset_keys, CHUNK):
        pipe = client.pipeline(transaction=False)
        for key_id, usage in chunk:
            usage.week_period = period_part(
                usage.limits.reset_day, usage.limits.reset_hour, table.now, table.offset
            )
            pipe.get(names.weekly_cost(key_id, usage.week_period))
        for (_, usage), raw in zip(
            chunk, await pipe.execute(raise_on_error=False), strict=True
        ):  # fmt: skip
            usage.cost_week = _float(raw) if isinstance(raw, str) else 0.0
    users: dict[str, bool] = {}
    for user_chunk in chunked(user_ids, CHUNK):
        pipe = client.pipeline(transaction=False)
        for user_id in user_chunk:
            pipe.get(names.user(user_id))
        for user_id, raw in zip(
            user_chunk, await pipe.execute(raise_on_error=False), strict=True
        ):  # fmt: skip
            users[user_id] = _user_active(raw)
    for usage in user_keys:
        usage.user_ok = users.get(usage.limits.user_id, False)


def _user_active(raw: object) -> bool:
    """CRS's check: the user's JSON exists and its isActive is truthy (a read error fails)."""
    if not isinstance(raw, str):
        return False
    try:
        user = js_json_loads(raw)
    except ValueError:
        return False
    return isinstance(user, dict) and bool(user.get("isActive"))


# -- one key's breakdown --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One model's use by one key today. `cost` is None for a legacy hash without CRS's
    micro-dollar fields (CRS prices those with its own table)."""

    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_create_tokens: int
    cache_read_tokens: int
    cost: float | None
    real_cost: float | None

    @property
    def tokens(self) -> int:
        return (
            self.input_tokens + self.output_tokens
            + self.cache_create_tokens + self.cache_read_tokens
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class UsageBreakdown:
    """A key's use today per model, as CRS's key list adds it up (its usage column)."""

    key_id: str
    today: str
    models: list[ModelUsage] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(model.requests for model in self.models)

    @property
    def tokens(self) -> int:
        return sum(model.tokens for model in self.models)

    def total(self, attribute: str) -> int:
        return sum(cast(int, getattr(model, attribute)) for model in self.models)

    @property
    def cost(self) -> float:
        """Σ ratedCostMicro / 1e6, CRS's usage column (limits use `usage:cost:daily`)."""
        return sum(model.cost or 0.0 for model in self.models)


async def _model_fields(client: aioredis.Redis, name: str) -> dict[str, str]:
    """One model's hash; nothing for a key of another type (one bad key costs its own line,
    not the breakdown and the verdict shown beside it)."""
    try:
        return cast(dict[str, str], await client.hgetall(name))
    except ResponseError:
        return {}


def _first_int(fields: dict[str, str], total_name: str, name: str) -> int:
    """`parseInt(total<X>) || parseInt(<x>) || 0`, as CRS's key list reads a model hash."""
    return _int(fields.get(total_name)) or _int(fields.get(name))


async def load_breakdown(
    client: aioredis.Redis, key_id: str, *, now: float, offset: int
) -> UsageBreakdown:
    """The key's per-model use today, from CRS's `{keyId}:{model}` day index (SCAN of the key's
    model hashes when that index is missing)."""
    today = date_part(now, offset)
    prefix = f"{key_id}:"
    models: list[str] = []
    index = names.model_daily_index(today)
    # Anything but a set there (a hand edit) is no index: the key's own hashes are found.
    if await client.type(index) == "set":
        async for member in client.sscan_iter(index, match=names.glob_escape(prefix) + "*"):
            models.append(cast(str, member)[len(prefix) :])
    else:
        pattern = names.glob_escape(f"usage:{key_id}:model:daily:") + "*:" + today
        head, tail = len(f"usage:{key_id}:model:daily:"), len(today) + 1
        async for name in client.scan_iter(match=pattern, count=1000):
            models.append(cast(str, name)[head:-tail])
    breakdown = UsageBreakdown(key_id, today)
    for model in sorted(set(models)):
        raw = await _model_fields(client, names.model_daily(key_id, model, today))
        if not raw:
            continue
        micro = "ratedCostMicro" in raw or "realCostMicro" in raw
        breakdown.models.append(
            ModelUsage(
                model=model,
                requests=_first_int(raw, "totalRequests", "requests"),
                input_tokens=_first_int(raw, "totalInputTokens", "inputTokens"),
                output_tokens=_first_int(raw, "totalOutputTokens", "outputTokens"),
                cache_create_tokens=_first_int(raw, "totalCacheCreateTokens", "cacheCreateTokens"),
                cache_read_tokens=_first_int(raw, "totalCacheReadTokens", "cacheReadTokens"),
                cost=_int(raw.get("ratedCostMicro")) / 1e6 if micro else None,
                real_cost=_int(raw.get("realCostMicro")) / 1e6 if micro else None,
            )
        )
    return breakdown
