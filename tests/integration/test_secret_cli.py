"""`keyops keys create|rotate` as an operator runs them: raw keys go to a new 0600 file only
(or stdout when asked with `--out -`), an existing file is refused, the keys authenticate as
CRS checks them, the old raw key of a rotated key stops at once, and neither a raw key nor a
hash reaches the output, the log, the audit trail or keyops's own keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import redis.asyncio as aioredis

from tests.engine.test_keys_create import MINTER, read_keys
from tests.integration.test_cli import assert_one_line_error, keyops
from tests.support.crs_auth import ENCRYPTION_KEY, crs_accepts, give_known_secret
from tests.support.dump import snapshot

RAW = "cr_" + "fedcba9876543210" * 4


async def test_create_then_rotate_from_the_command_line(fixture_db: str, tmp_path: Path) -> None:
    client = aioredis.from_url(fixture_db, decode_responses=True)
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state)}
    crs_env = tmp_path / ".env"
    crs_env.write_text(f"ENCRYPTION_KEY={ENCRYPTION_KEY}\n")
    common = ("--redis-url", fixture_db, "--crs-env", str(crs_env))
    written: list[str] = []
    try:
        unset = keyops("keys", "create", "--count", "2", "--name", "x", "--out",
                       str(tmp_path / "never.tsv"), "--yes", "--redis-url", fixture_db, env=env)  # fmt: skip
        assert_one_line_error(unset, 2, "ENCRYPTION_KEY is not set")
        assert not (tmp_path / "never.tsv").exists()

        out = tmp_path / "new.tsv"
        create = ("keys", "create", "--count", "30", "--name", "ci", "--tags", "ci-made",
                  "--concurrency", "2", "--out", str(out), *common)  # fmt: skip
        dry = keyops(*create, "--dry-run", env=env)
        assert dry.returncode == 0 and "create 30 keys named ci" in dry.stdout, dry.stderr
        assert not out.exists()
        made = keyops(*create, "--yes", "--json", env=env)
        assert made.returncode == 0, made.stderr
        written += [made.stdout, made.stderr, dry.stdout, dry.stderr]
        assert json.loads(made.stdout)["created"] == 30
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        rows = read_keys(out)
        for key_id, _, raw in rows:
            assert await crs_accepts(client, raw) == (200, key_id)

        again = keyops(*create, "--yes", env=env)
        assert_one_line_error(again, 2, "already exists")
        assert len(read_keys(out)) == 30  # untouched

        # --out - is the one way to see raw keys on stdout.
        shown = keyops("keys", "create", "--count", "1", "--name", "one", "--out", "-", "--yes",
                       *common, env=env)  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        raw_shown = shown.stdout.strip().splitlines()[2].split("\t")[2]
        assert (await crs_accepts(client, raw_shown))[0] == 200
        assert raw_shown not in shown.stderr

        await give_known_secret(client, rows[0][0], RAW)
        old_hashes = {
            key_id: await client.hget(f"apikey:{key_id}", "apiKey") for key_id, _, _ in rows
        }
        rotated_out = tmp_path / "rotated.tsv"
        rotate = keyops("keys", "rotate", "--where", "tag:ci-made", "--yes", "--out",
                        str(rotated_out), *common, env=env)  # fmt: skip
        assert rotate.returncode == 0, rotate.stderr
        written += [rotate.stdout, rotate.stderr]
        assert "rotated 30 keys" in rotate.stderr
        assert await crs_accepts(client, RAW) == (401, "API key not found")
        new_rows = read_keys(rotated_out)
        assert sorted(key_id for key_id, _, _ in new_rows) == sorted(old_hashes)
        for key_id, _, raw in new_rows:
            assert await crs_accepts(client, raw) == (200, key_id)

        for path in state.rglob("*"):
            if path.is_file():
                written.append(path.read_text(encoding="utf-8", errors="replace"))
        everything = await snapshot(client)
        written.append(json.dumps({k: v for k, v in everything.items() if k.startswith("keyops:")},
                                  default=str))  # fmt: skip
        written.append(json.dumps(await client.xrange("keyops:audit")))
        text = "\n".join(written)
        assert rows[0][0] in text  # the grep sees real content
        secrets = {RAW, raw_shown, *old_hashes.values()}
        for _, _, raw in rows + new_rows:
            secrets |= {raw, MINTER.digest(raw)}
        assert [s[:6] for s in secrets if s in text] == []
    finally:
        await client.aclose()
