"""Nothing keyops writes during a full run holds a secret: not the Redis password, not a key's
secret (`apiKey` hash), not an account's credential. Logs, CLI output and errors, audit
entries, journals and operation records in Redis, CSV/JSON exports and console screens are all
grepped for every secret the fixture holds."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession
from keyops.core.logs import LOGGER_NAME, setup_file_logging
from keyops.core.settings import resolve_settings
from tests.integration.test_cli import keyops
from tests.support.dump import crs_fixture, load_dump, snapshot
from tests.support.redis_server import RedisServer, start_redis_server
from tests.tui.conftest import add_tag_to_marked, session_app, type_filter, wait_loaded, wait_screen

PASSWORD = "pw-Zq81-never-print-me"
SECRET_FIELD = re.compile(r"(?i)apikey|token|secret|password|credential")


def fixture_secrets() -> set[str]:
    found = {PASSWORD}
    for name, entry in crs_fixture().items():
        if entry["type"] != "hash":
            continue
        for field, value in entry["value"].items():
            if SECRET_FIELD.search(field) and isinstance(value, str) and len(value) >= 12:
                found.add(value)
        if name == "apikey:hash_map":
            found.update(field for field in entry["value"] if len(field) >= 12)  # hashed keys
    return found


@pytest.fixture(scope="module")
def locked_server() -> Iterator[RedisServer]:
    server = start_redis_server(password=PASSWORD)
    yield server
    server.stop()


async def test_a_full_run_writes_no_secret_anywhere(
    locked_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = fixture_secrets()
    assert len(secrets) > 10
    client = aioredis.Redis(port=locked_server.port, password=PASSWORD, decode_responses=True)
    await client.flushall()
    await load_dump(client, crs_fixture())
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    env = {"XDG_STATE_HOME": str(state), "KEYOPS_REDIS_URL": locked_server.url}
    written: list[str] = []

    def run(*args: str, code: int = 0, **extra: str) -> dict[str, Any]:
        result = keyops(*args, env={**env, **extra})
        written.extend([result.stdout, result.stderr])
        assert result.returncode == code, (args, result.stderr)
        return {"code": result.returncode, "out": result.stdout}

    run("info", "--json")
    run("keys", "list", "--json", "--include-deleted")
    run("accounts", "list", "--json")
    op = json.loads(
        run("tags", "add", "grep-me", "--where", "tag:team-a", "--yes", "--json")["out"]
    )
    run("status", "disable", "--where", "tag:team-b", "--yes")
    run(
        "accounts",
        "assign",
        "console=console-loop-shared",
        "--where",
        "tag:team-a",
        "--overwrite-existing",
        "--yes",
    )
    run("ops", "list", "--json")
    run("ops", "show", op["op_id"], "--json")
    run("audit", "list", "--json")
    run("audit", "export", "--format", "csv", "-o", str(tmp_path / "audit.csv"))
    run("audit", "export", "--format", "json", "-o", str(tmp_path / "audit.json"))
    run("ops", "revert", op["op_id"], "--yes")
    # Keys made and rotated: their raw keys go to the files only, never to output, log or audit.
    encryption = {"ENCRYPTION_KEY": "never-print-this-encryption-key"}
    secrets.add(encryption["ENCRYPTION_KEY"])
    made, rotated = tmp_path / "made.tsv", tmp_path / "rotated.tsv"
    run("keys", "create", "--count", "3", "--name", "grep", "--tags", "grep-made",
        "--out", str(made), "--yes", **encryption)  # fmt: skip
    run("keys", "rotate", "--where", "tag:team-c", "--out", str(rotated), "--yes", **encryption)
    for path in (made, rotated):
        secrets.update(line.split("\t")[2] for line in path.read_text().splitlines()[2:]
                       if not line.startswith("#"))  # fmt: skip
    run("keys", "list", "--where", "colour:red", code=2)  # an error
    run("info", code=1, KEYOPS_REDIS_URL=f"redis://:{PASSWORD}x@127.0.0.1:{locked_server.port}/0")
    run("info", code=1, KEYOPS_REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:1/0")  # unreachable

    # The console: a batch, a key's details, the audit screen; every screen as the operator saw it.
    setup_file_logging(state / "keyops" / "console.log")
    request_cleanup = logging.getLogger(LOGGER_NAME)
    session = await KeyopsSession.open(resolve_settings(locked_server.url))
    app = session_app(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        written.append(app.export_screenshot())
        await type_filter(pilot, "tag:team-c")
        await pilot.press("asterisk")
        await add_tag_to_marked(pilot, "console-grep")
        written.append(app.export_screenshot())
        await pilot.press("enter", "enter")
        await wait_screen(pilot, "KeyDetailScreen")
        await pilot.pause(0.5)
        written.append(app.export_screenshot())
        await pilot.press("escape", "o")
        await wait_screen(pilot, "OperationsScreen")
        await pilot.pause(0.5)
        written.append(app.export_screenshot())

    for handler in list(request_cleanup.handlers):  # later tests log nowhere near this run
        request_cleanup.removeHandler(handler)
        handler.close()
    for path in [*state.rglob("*"), tmp_path / "audit.csv", tmp_path / "audit.json"]:
        if path.is_file():
            written.append(path.read_text(encoding="utf-8", errors="replace"))
    assert any("op " in text and "started" in text for text in written), "the log was written"
    keyops_state = {
        name: value
        for name, value in (await snapshot(client)).items()
        if name.startswith("keyops:")
    }
    assert keyops_state, "the audit, journals and op records exist"
    written.append(json.dumps(keyops_state, default=str))
    audit = await client.xrange("keyops:audit")
    written.append(json.dumps(audit))
    await client.aclose()

    everything = "\n".join(written)
    # The grep sees real content: every key id the run listed is in it, next to its secrets.
    key_ids = [
        name.split(":", 1)[1]
        for name in crs_fixture()
        if re.fullmatch(r"apikey:[0-9a-f-]{36}", name)
    ]
    assert all(key_id in everything for key_id in key_ids)
    leaked = sorted(secret[:6] + "…" for secret in secrets if secret in everything)
    assert leaked == [], f"secrets found in keyops's output: {leaked}"
    assert "Traceback" not in everything
