"""Reading usage for many keys: the counters CRS writes, with each key's limits and state
taken from its row when the key list has read it (the row's HMGET reads the limit fields too),
or read first, one HMGET per key, when it has not (`keys top`, a key the list does not hold).

Per key: HMGET of today's `usage:daily` hash and one MGET of the cost strings (today, total,
this weekly period's Claude cost at the key's own reset day and hour), with the four window
counters in the same MGET when the key has a rate-limit window, and ZCOUNT of the concurrency
leases that have not expired when it has a concurrency limit (CRS keeps neither otherwise).
The few keys that name a user get one more read (whether that user is on). `load_breakdown`
reads one key's per-model figures for a detail view.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from keyops.core.schema import layout
from keyops.core.schema.crs_numbers import crs_float, crs_int
from keyops.core.schema.encoding import iso_to_epoch
from keyops.core.schema.js_text import js_json_loads
from keyops.core.schema.key_limits import NO_LIMITS, KeyLimits, LimitsCache
from keyops.core.usage import names
from keyops.core.usage.figures import LIMIT_FIELDS_START, STATE_FIELDS, KeyUsage, UsageTable
from keyops.core.usage.periods import date_part, period_part
from keyops.core.wire.chunks import chunked
from keyops.core.wire.pipelined import read_chunks
from keyops.core.wire.resp_text import WIRE_ERRORS, Arg, IdTemplate, resp_text

CHUNK = 1000
DAILY_FIELDS = ("requests", "inputTokens", "outputTokens", "cacheCreateTokens", "cacheReadTokens")


class KnownState(Protocol):
    """What a usage read takes from a key's row (KeyRow has these)."""

    @property
    def limits(self) -> KeyLimits: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def is_deleted(self) -> bool: ...
    @property
    def expires_at(self) -> float | None: ...


# A key's state as the counters read uses it: limits, active, deleted, expiry (epoch s).
_State = tuple[KeyLimits, bool, bool, float | None]
_GONE: _State = (NO_LIMITS, False, True, None)  # no record: CRS answers "API key not found"


# -- the state of keys the key list has not read ---------------------------------------------


def _encode_state(chunk: list[str]) -> tuple[bytes, int]:
    text = "".join(resp_text(["HMGET", layout.api_key(key_id), *STATE_FIELDS]) for key_id in chunk)
    return text.encode("utf-8", WIRE_ERRORS), len(chunk)


async def _read_states(client: aioredis.Redis, key_ids: list[str]) -> dict[str, _State]:
    states: dict[str, _State] = {}
    cache = LimitsCache()
    async for chunk, replies in read_chunks(client, list(chunked(key_ids, CHUNK)), _encode_state):
        for key_id, state in zip(chunk, replies, strict=True):
            if isinstance(state, ResponseError) or state.count(None) == len(state):
                states[key_id] = _GONE
                continue
            expires = state[2]
            states[key_id] = (
                cache.get(state[LIMIT_FIELDS_START:]),
                state[0] == "true",
                state[1] == "true",
                iso_to_epoch(expires) if expires else None,
            )
        await asyncio.sleep(0)
    return states


# -- the counters ----------------------------------------------------------------------------


class _Shape:
    """What the read of a key with these limits looks like: its weekly period, whether its
    window counters and leases are read, and its commands' RESP text (framed once per id
    length: only the key id differs between keys of one shape)."""

    __slots__ = ("leases", "min_score", "period", "replies", "text", "today", "window")

    def __init__(self, limits: KeyLimits, period: str, today: str, min_score: str) -> None:
        self.period = period
        self.today = today
        self.min_score = min_score
        # CRS keeps window counters only with a window length, leases only with a limit.
        self.window = limits.window_minutes > 0
        self.leases = limits.concurrency > 0
        self.replies = 3 if self.leases else 2
        self.text = IdTemplate(lambda key_id: "".join(map(resp_text, self.commands(key_id))))

    def commands(self, key_id: str) -> list[list[Arg]]:
        strings: list[Arg] = [
            "MGET",
            names.daily_cost(key_id, self.today),
            names.total_cost(key_id),
            names.weekly_cost(key_id, self.period),
        ]
        if self.window:
            strings += [
                names.window_start(key_id),
                names.window_requests(key_id),
                names.window_tokens(key_id),
                names.window_cost(key_id),
            ]
        commands: list[list[Arg]] = [
            ["HMGET", names.daily_usage(key_id, self.today), *DAILY_FIELDS],
            strings,
        ]
        if self.leases:
            commands.append(["ZCOUNT", names.concurrency(key_id), self.min_score, "+inf"])
        return commands


class _Encoder:
    """The commands of each key in a chunk, as RESP bytes, and the state and shape each key
    was read with (kept by chunk: a row refreshed meanwhile must not change how its replies
    are taken apart)."""

    def __init__(
        self,
        today: str,
        now: float,
        offset: int,
        rows: Mapping[str, KnownState],
        read: Mapping[str, _State],
    ) -> None:
        self.today = today
        self.now = now
        self.offset = offset
        self.min_score = f"({math.floor(now * 1000)}"
        self.rows = rows
        self.read = read
        self.plans: dict[int, list[tuple[_State, _Shape]]] = {}  # by id() of the chunk
        self._periods: dict[tuple[int, int], str] = {}
        # By id() of the shared KeyLimits, kept alive beside its shape so the id stays its own.
        self._shapes: dict[int, tuple[KeyLimits, _Shape]] = {}

    def state(self, key_id: str) -> _State:
        row = self.rows.get(key_id)
        if row is None:
            return self.read[key_id]
        return row.limits, row.is_active, row.is_deleted, row.expires_at

    def shape(self, limits: KeyLimits) -> _Shape:
        known = self._shapes.get(id(limits))
        if known is not None:
            return known[1]
        reset = (limits.reset_day, limits.reset_hour)
        period = self._periods.get(reset)
        if period is None:
            period = self._periods[reset] = period_part(*reset, self.now, self.offset)
        shape = _Shape(limits, period, self.today, self.min_score)
        self._shapes[id(limits)] = (limits, shape)
        return shape

    def __call__(self, chunk: list[str]) -> tuple[bytes, int]:
        pieces: list[str] = []
        replies = 0
        plan: list[tuple[_State, _Shape]] = []
        for key_id in chunk:
            state = self.state(key_id)
            shape = self.shape(state[0])
            plan.append((state, shape))
            replies += shape.replies
            pieces.append(shape.text(key_id))
        self.plans[id(chunk)] = plan
        return "".join(pieces).encode("utf-8", WIRE_ERRORS), replies


def _counts(daily: list[str | None]) -> tuple[int, int]:
    """Requests and tokens (input + output + cache create + cache read) of a daily hash."""
    return crs_int(daily[0]), sum(map(crs_int, daily[1:5]))


def _costs(strings: list[str | None]) -> tuple[float, float, float]:
    """Cost today, in total and this week."""
    return crs_float(strings[0]), crs_float(strings[1]), crs_float(strings[2])


def _build(state: _State, period: str, daily: Any, strings: Any, leases: Any) -> KeyUsage | None:
    """One key's figures from its replies. None for a key with nothing to say (active, no
    expiry, no limits, no usage): such keys share the empty figures, most of 100,000 keys in a
    big CRS."""
    limits, active, deleted, expires = state
    daily_ok = not isinstance(daily, ResponseError) and daily.count(None) < len(daily)
    strings_ok = not isinstance(strings, ResponseError) and strings.count(None) < len(strings)
    leases = leases if isinstance(leases, int) else 0
    if not (daily_ok or strings_ok or leases or expires or deleted) and active and limits.inert:
        return None
    requests, tokens = _counts(daily) if daily_ok else (0, 0)
    if strings_ok:
        today, total, week = _costs(strings)
        if len(strings) > 3:  # the window counters were read
            start = strings[3]
            return KeyUsage(
                requests, tokens, today, total, week, period, leases,
                crs_int(start) if start is not None else None,
                crs_int(strings[4]), crs_int(strings[5]), crs_float(strings[6]),
                limits, active, deleted, expires,
            )  # fmt: skip
        return KeyUsage(
            requests, tokens, today, total, week, period, leases, None, 0, 0, 0.0,
            limits, active, deleted, expires,
        )  # fmt: skip
    return KeyUsage(
        requests, tokens, 0.0, 0.0, 0.0, period, leases, None, 0, 0, 0.0,
        limits, active, deleted, expires,
    )  # fmt: skip


async def load_usage(
    client: aioredis.Redis,
    key_ids: list[str],
    *,
    now: float,
    offset: int,
    rows: Mapping[str, KnownState] | None = None,
) -> UsageTable:
    """Usage of these keys at `now` (seconds since the epoch), dates in CRS's time zone. A key
    in `rows` takes its limits and state from there; the others' are read first."""
    today = date_part(now, offset)
    table = UsageTable(now=now, offset=offset, today=today)
    known = rows or {}
    unknown = [key_id for key_id in key_ids if key_id not in known]
    read = await _read_states(client, unknown) if unknown else {}
    encoder = _Encoder(today, now, offset, known, read)
    by_id = table.by_id
    # The few keys the second read is for, noted here: a pass over 100,000 figures after the
    # read held a console's event loop in one go.
    user_keys: list[KeyUsage] = []
    async for chunk, replies in read_chunks(client, list(chunked(key_ids, CHUNK)), encoder):
        at = 0
        for key_id, (state, shape) in zip(chunk, encoder.plans.pop(id(chunk)), strict=True):
            leases = replies[at + 2] if shape.leases else 0
            usage = _build(state, shape.period, replies[at], replies[at + 1], leases)
            at += shape.replies
            if usage is not None:
                by_id[key_id] = usage
                if usage.limits.user_id:
                    user_keys.append(usage)
        # Replies already buffered are read without yielding: one turn of the event loop per
        # chunk keeps a console reading 100,000 keys in the background responsive.
        await asyncio.sleep(0)
    await _read_users(client, user_keys)
    return table


async def _read_users(client: aioredis.Redis, user_keys: list[KeyUsage]) -> None:
    """Whether the users linked keys name are on (CRS refuses a key whose user is not)."""
    user_ids = sorted({usage.limits.user_id for usage in user_keys})
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
    return crs_int(fields.get(total_name)) or crs_int(fields.get(name))


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
                cost=crs_int(raw.get("ratedCostMicro")) / 1e6 if micro else None,
                real_cost=crs_int(raw.get("realCostMicro")) / 1e6 if micro else None,
            )
        )
    return breakdown
