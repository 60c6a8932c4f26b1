"""Usage data shaped like what CRS writes for a request (benches, trials): per key, today's
request/token hashes (key total, daily, per model), the cost strings every limit reads, the
weekly Claude cost, the day indexes, and for a few keys an open rate-limit window and a live
concurrency lease, with the limits on the key's record under which CRS keeps them. Names and fields follow the dump of a CRS that served real requests
(tests/fixtures/crs-1.1.314-usage-README.md); values are random but add up as CRS's do."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from keyops.core.schema import layout
from keyops.core.usage import names
from keyops.core.usage.periods import date_part, period_part
from keyops.core.wire.chunks import chunked

# Models and list prices per token (input, output, cache create, cache read), USD.
MODELS: dict[str, tuple[float, float, float, float]] = {
    "claude-sonnet-4-20250514": (3e-6, 15e-6, 3.75e-6, 0.3e-6),
    "claude-3-5-haiku-20241022": (0.8e-6, 4e-6, 1e-6, 0.08e-6),
    "claude-opus-4-1-20250805": (15e-6, 75e-6, 18.75e-6, 1.5e-6),
    "gpt-5": (1.25e-6, 10e-6, 0.0, 0.125e-6),
}
CHUNK = 500


def _requests(rng: random.Random) -> int:
    """Requests per key as in the dump: most keys one, a tail of busy ones."""
    draw = rng.random()
    if draw < 0.62:
        return 1
    if draw < 0.92:
        return rng.randint(2, 5)
    return rng.randint(6, 50)


def _key_usage(pipe: aioredis.client.Pipeline, key_id: str, rng: random.Random,
               today: str, period: str, now_ms: int, index: int) -> None:  # fmt: skip
    model = rng.choice(list(MODELS))
    count = _requests(rng)
    tokens = [0, 0, 0, 0]
    cost = 0.0
    for _ in range(count):
        used = (
            rng.randint(500, 20_000), rng.randint(50, 2_000),
            rng.choice((0, rng.randint(0, 5_000))), rng.choice((0, rng.randint(0, 30_000))),
        )  # fmt: skip
        tokens = [total + part for total, part in zip(tokens, used, strict=True)]
        cost += sum(n * price for n, price in zip(used, MODELS[model], strict=True))
    inp, out, cc, cr = tokens
    counters: dict[Any, Any] = {
        "tokens": inp + out, "inputTokens": inp, "outputTokens": out, "cacheCreateTokens": cc,
        "cacheReadTokens": cr, "allTokens": sum(tokens), "requests": count,
        "ephemeral5mTokens": cc, "ephemeral1hTokens": 0,
    }  # fmt: skip
    pipe.hset(f"usage:{key_id}", mapping={
        "totalTokens": inp + out, "totalInputTokens": inp, "totalOutputTokens": out,
        "totalCacheCreateTokens": cc, "totalCacheReadTokens": cr, "totalAllTokens": sum(tokens),
        "totalEphemeral5mTokens": cc, "totalEphemeral1hTokens": 0, "totalRequests": count,
    })  # fmt: skip
    pipe.hset(names.daily_usage(key_id, today), mapping=counters)
    micro = round(cost * 1e6)
    pipe.hset(
        names.model_daily(key_id, model, today),
        mapping={**{k: v for k, v in counters.items() if k != "tokens"},
                 "realCostMicro": micro, "ratedCostMicro": micro},
    )  # fmt: skip
    text = repr(cost)
    for name in (
        names.daily_cost(key_id, today), names.total_cost(key_id),
        f"usage:cost:real:daily:{key_id}:{today}", f"usage:cost:real:total:{key_id}",
    ):  # fmt: skip
        pipe.set(name, text)
    if model.startswith("claude"):
        pipe.set(names.weekly_cost(key_id, period), text)
        pipe.set(f"usage:opus:total:{key_id}", text)
    pipe.sadd(f"usage:daily:index:{today}", key_id)
    pipe.sadd(names.model_daily_index(today), f"{key_id}:{model}")
    # CRS keeps a window and leases only for a key with those limits: the record gets them.
    if index % 50 == 0:  # an open window, a tenth of its requests used
        pipe.hset(
            layout.api_key(key_id),
            mapping={"rateLimitWindow": "60", "rateLimitRequests": str(count * 10)},
        )
        pipe.set(names.window_start(key_id), now_ms - 600_000)
        pipe.set(names.window_requests(key_id), count)
        pipe.set(names.window_tokens(key_id), sum(tokens))
        pipe.set(names.window_cost(key_id), text)
    if index % 200 == 0:  # a request in flight, its lease five minutes ahead
        pipe.hset(layout.api_key(key_id), "concurrencyLimit", "5")
        pipe.zadd(names.concurrency(key_id), {f"seed-{index}": now_ms + 300_000})


async def seed_usage(
    client: aioredis.Redis,
    key_ids: list[str],
    *,
    now: float,
    offset: int = 8,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Writes today's usage for every key in `key_ids` (keys whose records exist: a few get
    limits written to them); returns how many keys got some."""
    rng = random.Random(seed)
    today = date_part(now, offset)
    period = period_part(1, 0, now, offset)
    now_ms = int(now * 1000)
    done = 0
    for chunk in chunked(key_ids, CHUNK):
        pipe = client.pipeline(transaction=False)
        for key_id in chunk:
            _key_usage(pipe, key_id, rng, today, period, now_ms, done)
            done += 1
        await pipe.execute()
        if progress is not None:
            progress(done)
    return done
