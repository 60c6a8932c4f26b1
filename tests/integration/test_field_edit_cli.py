"""`keyops limits|permissions|rates|expiry` as an operator runs them: the preview's counts,
the writes, one message per problem and nothing written on bad input."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from tests.integration.test_batch_cli import state
from tests.integration.test_cli import keyops


async def _hmget(url: str, key_id: str, fields: list[str]) -> list[str | None]:
    client = aioredis.from_url(url, decode_responses=True)
    try:
        return await client.hmget(f"apikey:{key_id}", fields)
    finally:
        await client.aclose()


def _ids(url: str, where: str) -> list[str]:
    listed = json.loads(
        keyops("keys", "list", "--where", where, "--json", "--redis-url", url).stdout
    )
    return [key["id"] for key in listed]


async def test_limits_set_previews_counts_then_writes(fixture_db: str) -> None:
    before = await state(fixture_db)
    where = ("--where", "tag:team-a", "--redis-url", fixture_db)
    dry = keyops("limits", "set", "--concurrency", "5", "--daily-cost", "2.5", "--dry-run", *where)
    assert dry.returncode == 0, dry.stderr
    assert "limits set: concurrencyLimit=5, dailyCostLimit=2.5" in dry.stdout
    assert "concurrencyLimit: 0 -> 5 on 6 keys, 2 -> 5 on 1 key\n" in dry.stdout, dry.stdout
    assert await state(fixture_db) == before

    result = keyops(
        "limits", "set", "--concurrency", "5", "--weekly-reset", "fri@9", "--yes", *where
    )
    assert result.returncode == 0, result.stderr
    assert "weekly Claude-cost period" in result.stderr  # the back-fill keyops does not do
    for key_id in _ids(fixture_db, "tag:team-a"):
        stored = await _hmget(
            fixture_db, key_id, ["concurrencyLimit", "weeklyResetDay", "weeklyResetHour"]
        )
        assert stored == ["5", "5", "9"]


async def test_bad_limits_exit_2_with_every_problem_and_write_nothing(fixture_db: str) -> None:
    before = await state(fixture_db)
    result = keyops(
        "limits", "set", "--concurrency=-1", "--daily-cost", "lots", "--weekly-reset", "funday@3",
        "--where", "tag:team-a", "--yes", "--redis-url", fixture_db,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for problem in ("--concurrency '-1' is negative", "--daily-cost 'lots' is not a number",
                    "--weekly-reset 'funday@3'"):  # fmt: skip
        assert problem in result.stderr
    assert await state(fixture_db) == before


async def test_permissions_rates_and_expiry_from_the_command_line(fixture_db: str) -> None:
    where = ("--where", "tag:team-a", "--yes", "--redis-url", fixture_db)
    result = keyops("permissions", "set", "claude,droid", *where)
    assert result.returncode == 0, result.stderr
    result = keyops("rates", "set", "claude=1.25,codex=0.5", *where)
    assert result.returncode == 0, result.stderr
    dry = keyops("expiry", "set", "2020-01-01", "--dry-run", "--where", "tag:team-a",
                 "--redis-url", fixture_db)  # fmt: skip
    # The preview says which keys become inactive.
    assert "isActive: true -> false on" in dry.stdout and "in the past" in dry.stdout
    result = keyops("expiry", "extend", "+30d", *where)  # none expires: each is left alone
    assert result.returncode == 0 and "nothing to extend" in result.stderr
    result = keyops("expiry", "set", "2030-01-01T00:00:00Z", *where)
    assert result.returncode == 0, result.stderr
    for key_id in _ids(fixture_db, "tag:team-a"):
        stored = await _hmget(fixture_db, key_id, ["permissions", "serviceRates", "expiresAt"])
        assert stored == ['["claude","droid"]', '{"claude":1.25,"codex":0.5}',
                          "2030-01-01T00:00:00.000Z"]  # fmt: skip


async def test_bad_permissions_rates_and_expiry_exit_2_and_write_nothing(fixture_db: str) -> None:
    before = await state(fixture_db)
    for args, problem in (
        (("permissions", "set", "claude,bard"), "'bard' is not a service"),
        (("rates", "set", "claude=x,gpt=1"), "claude= 'x' is not a number; 'gpt' is not a service"),
        (("expiry", "extend", "soon"), "is not a span"),
    ):
        result = keyops(*args, "--where", "tag:team-a", "--yes", "--redis-url", fixture_db)
        assert result.returncode == 2 and problem in result.stderr, result.stderr
    assert await state(fixture_db) == before


async def test_models_clients_and_description_from_the_command_line(fixture_db: str) -> None:
    before = await state(fixture_db)
    where = ("--where", "tag:team-a", "--redis-url", fixture_db)
    dry = keyops("models", "restrict", "add", "claude-opus-4,claude-3-haiku", "--dry-run", *where)
    assert dry.returncode == 0, dry.stderr
    assert "models restrict add: claude-opus-4, claude-3-haiku" in dry.stdout
    assert "enableModelRestriction: false -> true on 7 keys" in dry.stdout, dry.stdout
    assert "on /openai/gemini only the listed models pass" in dry.stdout + dry.stderr
    assert await state(fixture_db) == before
    # Every problem at once, nothing written.
    bad = keyops("clients", "allow", "add", "claude-code", "cursor", "--yes", *where)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "'claude-code' is not a client CRS knows" in bad.stderr and "'cursor'" in bad.stderr
    bad = keyops("description", "set", "x" * 501, "--yes", *where)
    assert bad.returncode == 2 and "CRS allows 500" in bad.stderr
    assert await state(fixture_db) == before

    for argv in (
        ("models", "restrict", "add", "claude-opus-4"),
        ("clients", "allow", "add", "claude_code", "codex_cli"),
        ("clients", "allow", "remove", "codex_cli"),
        ("description", "set", "  team A: billing  "),
    ):
        result = keyops(*argv, "--yes", *where)
        assert result.returncode == 0, result.stderr
    fields = ["enableModelRestriction", "restrictedModels", "enableClientRestriction",
              "allowedClients", "description"]  # fmt: skip
    for key_id in _ids(fixture_db, "tag:team-a"):
        assert await _hmget(fixture_db, key_id, fields) == [
            "true", '["claude-opus-4"]', "true", '["claude_code"]', "team A: billing",
        ]  # fmt: skip
    # The new query terms find them.
    assert len(_ids(fixture_db, "model:claude-opus-4 client:claude_code")) == 7
