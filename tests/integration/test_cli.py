"""The headless CLI as an operator runs it: a subprocess, real redis-server, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer, free_port, start_redis_server


def keyops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "KEYOPS_"))}
    return subprocess.run(
        [sys.executable, "-m", "keyops", *args],
        capture_output=True, text=True, timeout=120, env={**clean_env, **(env or {})},
    )  # fmt: skip


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, fragment: str
) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keyops: ") and fragment in lines[0], (
        result.stderr
    )


@pytest.fixture(scope="module")
def password_server() -> Iterator[RedisServer]:
    server = start_redis_server(password="correct-horse")
    yield server
    server.stop()


async def test_keys_list_json_has_every_key_with_its_bindings(fixture_db: str) -> None:
    result = keyops("keys", "list", "--json", "--redis-url", fixture_db)
    assert result.returncode == 0, result.stderr
    keys = json.loads(result.stdout)
    assert len(keys) == 1043
    by_name = {key["name"]: key for key in keys}
    multi = by_name["epsilon-multi"]
    assert multi["geminiAccountId"] == "api:541082f5-ad9a-41c6-9394-acd18fb2dda4"
    assert multi["openaiAccountId"] == "responses:bbe431a5-29e2-4c59-8605-b4c017122acb"
    assert multi["tags"] == ["team-e", "multi"] and multi["status"] == "active"
    assert by_name["lambda-to-disable"]["status"] == "disabled"
    assert "apiKey" not in result.stdout  # the secret hash never leaves Redis


async def test_keys_list_where_filters_and_text_output_names_accounts(fixture_db: str) -> None:
    result = keyops("keys", "list", "--where", "bound:console -tag:dev", "--redis-url", fixture_db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].endswith("of 1043 keys")
    assert any(
        "alpha-console-1" in line and "console=console-loop-dedicated" in line for line in lines
    )
    assert not any("alpha-console-2" in line for line in lines)  # carries tag dev


async def test_keys_list_columns_line_up_after_wide_characters(fixture_db: str) -> None:
    # The fixture's kappa key is named "kappa-Unicode-名字" and tagged "标签": each of those
    # characters takes two terminal cells.
    result = keyops("keys", "list", "--where", "kappa | name:alpha*", "--redis-url", fixture_db)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.strip().splitlines()[:-1]
    assert any("名字" in row for row in rows) and len(rows) > 1

    def cells(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    for column in ("STATUS", "BINDINGS", "LAST USED"):
        start = cells(header[: header.index(column)])
        for row in rows:
            # The column's text begins at the same cell in every row, after the gap.
            index = next(i for i in range(len(row) + 1) if cells(row[:i]) >= start)
            assert cells(row[:index]) == start, (column, row)
            assert row[index - 2 : index] == "  " and row[index] != " ", (column, row)


async def test_a_bad_query_exits_2_and_points_at_the_token(fixture_db: str) -> None:
    result = keyops("keys", "list", "--where", "tag:a colour:red", "--redis-url", fixture_db)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown filter 'colour:'" in result.stderr
    assert "      ^^^^^^^" in result.stderr


async def test_accounts_and_info(fixture_db: str) -> None:
    accounts = json.loads(keyops("accounts", "list", "--json", "--redis-url", fixture_db).stdout)
    assert sum(1 for entry in accounts if entry["kind"] == "account") == 8
    assert {entry["name"] for entry in accounts if entry["kind"] == "group"} == {
        "grp-claude-loop", "grp-gemini-empty", "grp-openai-loop",
    }  # fmt: skip
    info = json.loads(keyops("info", "--json", "--redis-url", fixture_db).stdout)
    assert info["keyTotal"] == 1043 and info["indexVersion"] == 2
    assert info["keys"]["disabled"] == 1 and info["groups"] == 3
    assert info["server"].startswith("redis 7")


async def test_crs_settings_from_a_dotenv_file(
    fixture_db: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"REDIS_HOST=127.0.0.1\nREDIS_PORT={redis_server.port}\nREDIS_DB=0\n")
    result = keyops("info", "--json", "--crs-env", str(env_file))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["keyTotal"] == 1043


def test_unreachable_host_is_one_line() -> None:
    result = keyops("keys", "list", "--redis-url", f"redis://127.0.0.1:{free_port()}/0")
    assert_one_line_error(result, 1, "cannot reach Redis at redis://127.0.0.1:")


def test_wrong_password_is_one_line_and_never_echoes_it(password_server: RedisServer) -> None:
    result = keyops(
        "info", "--redis-url", f"redis://:wrong-battery@127.0.0.1:{password_server.port}/0"
    )
    assert_one_line_error(result, 1, "rejected the credentials")
    assert "wrong-battery" not in result.stderr


def test_missing_password_says_how_to_give_one(password_server: RedisServer) -> None:
    result = keyops("info", env={"REDIS_PORT": str(password_server.port)})
    assert_one_line_error(result, 1, "requires a password")


def test_bad_url_exits_2() -> None:
    assert_one_line_error(keyops("info", "--redis-url", "http://x"), 2, "scheme must be redis://")


async def test_a_db_without_crs_data_is_named(redis_server: RedisServer) -> None:
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    await client.flushall()
    await client.aclose()
    result = keyops("keys", "list", "--redis-url", f"redis://127.0.0.1:{redis_server.port}/5")
    assert_one_line_error(result, 1, "no CRS data in redis://127.0.0.1:")


async def test_seed_writes_consistent_crs_data_and_refuses_to_seed_twice(
    redis_server: RedisServer,
) -> None:
    client = aioredis.Redis(port=redis_server.port, db=3, decode_responses=True)
    await client.flushdb()
    url = f"redis://127.0.0.1:{redis_server.port}/3"
    result = keyops("seed", "--redis-url", url, "--keys", "600")
    assert result.returncode == 0, result.stderr
    assert await crs_index_problems(client) == []
    listed = json.loads(
        keyops("keys", "list", "--json", "--include-deleted", "--redis-url", url).stdout
    )
    assert len(listed) == 600
    again = keyops("seed", "--redis-url", url, "--keys", "10")
    assert_one_line_error(again, 2, "already holds CRS data")
    forced = keyops("seed", "--redis-url", url, "--keys", "10", "--force", "--seed", "8")
    assert forced.returncode == 0, forced.stderr
    await client.aclose()
