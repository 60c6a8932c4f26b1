"""The Redis key names CRS writes a key's usage, cost, concurrency and window counters under.

Every date part comes from `periods` (CRS's time zone, not the server's)."""

from __future__ import annotations


def daily_usage(key_id: str, date: str) -> str:
    return f"usage:daily:{key_id}:{date}"


def daily_cost(key_id: str, date: str) -> str:
    """Rated USD spent today: what the daily limit compares."""
    return f"usage:cost:daily:{key_id}:{date}"


def total_cost(key_id: str) -> str:
    return f"usage:cost:total:{key_id}"


def weekly_cost(key_id: str, period: str) -> str:
    """Rated USD on Claude-family models this weekly period (the "opus" name is historical)."""
    return f"usage:opus:weekly:{key_id}:{period}"


def concurrency(key_id: str) -> str:
    return f"concurrency:{key_id}"


def window_start(key_id: str) -> str:
    return f"rate_limit:window_start:{key_id}"


def window_requests(key_id: str) -> str:
    return f"rate_limit:requests:{key_id}"


def window_tokens(key_id: str) -> str:
    return f"rate_limit:tokens:{key_id}"


def window_cost(key_id: str) -> str:
    return f"rate_limit:cost:{key_id}"


def model_daily_index(date: str) -> str:
    """The set of `{keyId}:{model}` pairs with usage that day."""
    return f"usage:keymodel:daily:index:{date}"


def model_daily(key_id: str, model: str, date: str) -> str:
    return f"usage:{key_id}:model:daily:{model}:{date}"


def user(user_id: str) -> str:
    return f"user:{user_id}"


def glob_escape(text: str) -> str:
    """Text made literal in a SCAN/SSCAN MATCH pattern (model names may hold `[1m]`)."""
    return "".join("\\" + char if char in "[]*?\\" else char for char in text)
