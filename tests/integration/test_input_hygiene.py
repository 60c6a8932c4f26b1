"""Input and output at the edges of the CLI: whatever an operator types or pipes, the answer is
one line and a documented exit code, never a traceback; the query language means what it
says; previews and results land where scripts read them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession
from tests.integration.test_cli import assert_one_line_error, keyops
from tests.support.redis_server import RedisServer
from tests.tui.conftest import session_app, static_text, wait_loaded


def _ids(url: str, where: str) -> list[str]:
    result = keyops("keys", "list", "--where", where, "--json", "--redis-url", url)
    assert result.returncode == 0, result.stderr
    return sorted(key["id"] for key in json.loads(result.stdout))


async def test_bad_input_is_one_line_and_a_documented_exit_code(
    fixture_db: str, tmp_path: Path
) -> None:
    binary = tmp_path / "ids.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    cases = [
        (("audit", "export", "-o", str(tmp_path / "missing" / "audit.csv")), 2, "missing"),
        (("tags", "add", "x", "--ids-file", str(binary), "--dry-run"), 2, "not UTF-8"),
        (("keys", "list", "--where", "(" * 3000 + "x" + ")" * 3000), 2, "nested"),
        (("keys", "list", "--where", "-" * 3000 + "x"), 2, "nested"),
        (("keys", "list", "--where", "x " * 50_000), 2, "characters long"),
        (("accounts", "assign", "console=", "--where", "tag:team-a", "--dry-run"), 2, "shared"),
    ]
    for args, code, fragment in cases:
        assert_one_line_error(keyops(*args, "--redis-url", fixture_db), code, fragment)
    # A lower-case operator word is a bad query: its line, then the caret under it.
    lowered = keyops("keys", "list", "--where", "tag:a or tag:b", "--redis-url", fixture_db)
    assert lowered.returncode == 2 and "Traceback" not in lowered.stderr
    assert "write OR (or |)" in lowered.stderr.splitlines()[0]
    # Dates before 1970 are dates: no error at all.
    for args in (
        ("keys", "list", "--where", "created:<1960-01-01"),
        ("audit", "list", "--since", "1960-01-01"),
        ("audit", "list", "--until", "1969-12-31"),
        ("audit", "export", "--since", "1901-01-01"),
    ):
        result = keyops(*args, "--redis-url", fixture_db)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)


def keyops_into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """keyops with its stdout a pipe whose reader is gone, like `| head -1` that has exited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "KEYOPS_"))}
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-m", "keyops", *args],
            stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120, env=env,
        )  # fmt: skip
    finally:
        os.close(writer)


async def test_output_into_a_closed_pipe_is_one_line(fixture_db: str) -> None:
    process = keyops_into_closed_pipe("keys", "list", "--redis-url", fixture_db)
    assert process.returncode == 141, process.stderr
    assert process.stderr.strip().splitlines() == [
        "keyops: the output was closed before it was complete (broken pipe)"
    ]


async def test_upper_case_and_bom_prefixed_ids_name_their_key(
    fixture_db: str, tmp_path: Path
) -> None:
    key_id = _ids(fixture_db, "tag:team-a")[0]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\ufeff" + key_id.upper() + "\r\n", encoding="utf-8")
    for targets in (("--ids", key_id.upper()), ("--ids", "\ufeff" + key_id),
                    ("--ids-file", str(ids_file))):  # fmt: skip
        result = keyops("tags", "add", "x", *targets, "--dry-run", "--json",
                        "--redis-url", fixture_db)  # fmt: skip
        assert result.returncode == 0, (targets, result.stderr)
        assert [key["id"] for key in json.loads(result.stdout)["keys"]] == [key_id]


async def test_the_query_language_reads_as_written(fixture_db: str) -> None:
    url = fixture_db
    assert _ids(url, "tag:team-a OR tag:team-b") == _ids(url, "tag:team-a | tag:team-b")
    assert _ids(url, "tag:team-a AND NOT tag:prod") == _ids(url, "tag:team-a -tag:prod")
    assert _ids(url, '"or"') == []  # quoted, it is the word again
    # `--where -tag:x`, as the docs write it, is the query, not an option.
    result = keyops("keys", "list", "--where", "-tag:loop20", "--json", "--redis-url", url)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == len(_ids(url, "-tag:loop20")) > 0
    preview = keyops("tags", "add", "x", "--where", "-tag:loop20", "--dry-run", "--json",
                     "--redis-url", url)  # fmt: skip
    assert preview.returncode == 0, preview.stderr


async def test_the_console_filter_survives_a_deeply_nested_query(crs: aioredis.Redis) -> None:
    from textual.widgets import Input

    app = session_app(KeyopsSession.from_client(crs, "real redis-server"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "(" * 3000 + "x" + ")" * 3000
        await pilot.pause(0.3)
        assert "nested" in static_text(app, "#filter-error")
        app.screen.query_one("#filter", Input).value = "!" * 3000 + "x"
        await pilot.pause(0.3)
        assert "nested" in static_text(app, "#filter-error")


async def test_status_enable_expires_changes_only_expired_keys(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    expired, later, never = sorted(await crs.smembers("apikey:tag:loop20"))[:3]
    past = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    future = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    await crs.hset(f"apikey:{expired}", mapping={"expiresAt": past, "isActive": "false"})
    await crs.hset(f"apikey:{later}", mapping={"expiresAt": future, "isActive": "false"})
    await crs.hset(f"apikey:{never}", mapping={"expiresAt": "", "isActive": "false"})
    for key_id in (expired, later, never):
        await crs.srem("apikey:set:active", key_id)
    result = keyops("status", "enable", "--ids", f"{expired},{later},{never}",
                    "--expires", "2099-01-01", "--yes", "--redis-url", redis_server.url)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert await crs.hget(f"apikey:{expired}", "expiresAt") == "2099-01-01T00:00:00.000Z"
    assert await crs.hget(f"apikey:{later}", "expiresAt") == future
    assert await crs.hget(f"apikey:{never}", "expiresAt") == ""
    for key_id in (expired, later, never):
        assert await crs.hget(f"apikey:{key_id}", "isActive") == "true"


async def test_previews_and_results_land_where_scripts_read_them(fixture_db: str) -> None:
    url = fixture_db
    preview = keyops("tags", "add", "x", "--where", "tag:team-a", "--dry-run", "--redis-url", url)
    assert preview.returncode == 0 and "7 keys change" in preview.stdout, preview.stdout
    as_json = keyops("tags", "add", "x", "--where", "tag:team-a", "--dry-run", "--json",
                     "--redis-url", url)  # fmt: skip
    names = [key["name"] for key in json.loads(as_json.stdout)["keys"]]
    assert len(names) == 7 and all(names), names
    nothing = keyops("tags", "add", "team-a", "--where", "tag:team-a", "--yes", "--json",
                     "--redis-url", url)  # fmt: skip
    assert nothing.returncode == 0, nothing.stderr
    result = json.loads(nothing.stdout)
    assert result["status"] == "nothing to change" and result["counts"]["unchanged"] == 7
    # `keys list --json` prints an array, and its help says so.
    listing = keyops("keys", "list", "--help").stdout
    help_line = re.search(r"\n\s+--json\s+(.*)", listing)
    assert help_line is not None and "array" in help_line.group(1), listing


async def test_seed_force_never_writes_into_crs_data_it_did_not_seed(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    from tests.support.dump import snapshot

    before = await snapshot(crs)
    forced = keyops("seed", "--keys", "10", "--force", "--redis-url", redis_server.url)
    assert_one_line_error(forced, 2, "keyops did not seed")
    assert await snapshot(crs) == before
