"""Query terms on a key's settings: `limit.NAME`, `expires:`, `perm:`, `model:`, `client:` and
the bare words `deleted` and `expired`, read as CRS reads the stored strings (missing fields,
'', non-numbers and legacy encodings included)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyops.core.query import QueryContext, QueryError, compile_query
from keyops.core.schema.rows import ROW_FIELDS, KeyRow, RowBuilder

NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# name -> (the row's fields, the record's settings fields)
KEYS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "plain": ({}, {}),
    "daily": ({"expiresAt": iso(NOW + 3 * DAY)},
              {"dailyCostLimit": "2.5", "concurrencyLimit": "5", "permissions": '["claude"]'}),
    "junk": ({"expiresAt": iso(NOW + 40 * DAY)},
             {"dailyCostLimit": "lots", "concurrencyLimit": "", "tokenLimit": "1e3",
              "permissions": "claude,openai"}),
    "legacy": ({"expiresAt": iso(NOW - DAY)},
               {"permissions": "all", "enableModelRestriction": "true",
                "restrictedModels": '["claude-opus-4","gemini-2.5-pro"]'}),
    "off": ({}, {"enableModelRestriction": "false", "restrictedModels": '["claude-opus-4"]',
                 "enableClientRestriction": "True", "allowedClients": '["claude_code"]'}),
    "clients": ({}, {"enableClientRestriction": "true", "allowedClients": '["claude_code"]',
                     "permissions": "gemini", "weeklyOpusCostLimit": "10",
                     "rateLimitWindow": "60", "rateLimitRequests": "100", "rateLimitCost": "0.5"}),
    "broken": ({}, {"enableModelRestriction": "true", "restrictedModels": '"claude-opus-4"',
                    "enableClientRestriction": "true", "allowedClients": "[claude_code"}),
    "gone": ({"isDeleted": "true", "isActive": "false"}, {"dailyCostLimit": "1"}),
}  # fmt: skip


def _row(name: str, fields: dict[str, str]) -> KeyRow:
    values = {"name": name, "tags": "[]", "isActive": "true", **fields}
    return RowBuilder().build(name, [values.get(f) for f in ROW_FIELDS])


# The settings are read with the row: these terms filter without any usage read.
ROWS = [_row(name, {**fields, **settings}) for name, (fields, settings) in KEYS.items()]


def names(query: str) -> list[str]:
    compiled = compile_query(query, QueryContext(now=NOW, usage=None))
    assert not compiled.needs_usage
    return [row.name for row in compiled.filter(ROWS)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("limit.daily:>0", ["daily"]),  # 'lots' reads as 0 (parseFloat), as CRS reads it
        ("limit.daily:>=2.5", ["daily"]),
        ("limit.concurrency:=5", ["daily"]),
        ("-limit.concurrency:>0", ["plain", "junk", "legacy", "off", "clients", "broken"]),
        ("limit.tokens:>0", ["junk"]),  # parseInt('1e3') is 1
        ("limit.tokens:=1", ["junk"]),
        ("limit.weekly-opus:>5", ["clients"]),
        ("limit.rate-window:60 limit.rate-requests:>=100 limit.rate-cost:<1", ["clients"]),
        ("limit.total:>0", []),
        ("perm:claude", ["plain", "daily", "junk", "legacy", "off", "broken"]),
        ("perm:openai", ["plain", "junk", "legacy", "off", "broken"]),
        ("perm:all", ["plain", "legacy", "off", "broken"]),
        ("-perm:claude", ["clients"]),
        ("model:claude-opus-4", ["legacy"]),  # 'off' keeps a list that is not in force
        ('model:"gemini-*"', []),  # quoted: the literal text
        ("model:gemini-*", ["legacy"]),
        ("model:*", ["legacy"]),  # a bare JSON string is no list
        ("client:claude_code", ["clients"]),  # 'True' is not 'true'; broken JSON is no list
        ("client:*", ["clients"]),
        ("expires:<7d", ["daily"]),  # 'legacy' expired already: that is `expired`
        ("expires:>7d", ["junk"]),
        ("expires:none", ["plain", "off", "clients", "broken"]),
        ("expires:<2026-06-10", ["daily", "legacy"]),
        ("expired", ["legacy"]),
        ('"expired"', []),  # quoted: searched for as text
        ("deleted", ["gone"]),
        ("deleted limit.daily:>0", ["gone"]),
    ],
)
def test_settings_terms(query: str, expected: list[str]) -> None:
    assert names(query) == expected


def test_settings_terms_need_no_usage_read_and_bare_filter_words_are_no_text_search() -> None:
    for query in ("limit.daily:>0", "perm:claude", "model:x", "client:claude_code", "expires:<7d"):
        assert not compile_query(query, QueryContext(now=NOW)).needs_usage
    assert compile_query("cost.today:>0 perm:claude", QueryContext(now=NOW)).needs_usage
    assert compile_query("deleted", QueryContext(now=NOW)).needle is None
    assert compile_query("deleted", QueryContext(now=NOW)).mentions_deleted


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit.daily:>lots", "limit.daily: needs a number"),
        ("limit.daily:>nan", "limit.daily: needs a number"),
        ("perm:azure", "perm: takes one of all, claude, gemini, openai, droid"),
        ("expires:<soon", "neither a date"),
        ("expires:<", "expires: needs a span"),
        ("limit.hourly:>0", "unknown filter 'limit.hourly:'"),
    ],
)
def test_bad_settings_terms_name_the_problem(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        compile_query(query, QueryContext(now=NOW))
