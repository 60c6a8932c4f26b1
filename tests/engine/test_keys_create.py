"""`keys create` on the CRS fixture, on real redis-server: keyops's writes compared key by key
with a transliteration of CRS's generateApiKey, the index invariants after, CRS's request-time
validation of each raw key, the 0600 file written once, and a rollback (failure, lost reply,
cancel) that leaves every byte as it was."""

from __future__ import annotations

import asyncio
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.api import BadInput, BadRequest
from keyops.core.edits.create import KeysCreate
from keyops.core.schema.api_secret import KeyMinter, minter_from
from keyops.core.settings import SecretStr
from keyops.core.store.create import KeyCreator
from tests.engine.conftest import crs_state, make_service
from tests.support.crs_auth import ENCRYPTION_KEY, crs_accepts
from tests.support.crs_reference import crs_create
from tests.support.invariants import crs_index_problems

MINTER = KeyMinter(SecretStr(ENCRYPTION_KEY))


def read_keys(path: Path) -> list[tuple[str, str, str]]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert lines[0] == "id\tname\tkey"
    return [(i, n, k) for i, n, k in (line.split("\t") for line in lines[1:])]


def _request(count: int = 12) -> KeysCreate:
    return KeysCreate.build(
        count,
        "batch",
        tags=["loop20", " fresh "],
        binds=["gemini=group:g1"],
        limits={"concurrency": "5", "daily_cost": "1.50"},
        weekly_reset="wed@3",
        permissions="claude,openai",
    )


async def test_created_keys_are_what_crs_creates_and_authenticate(
    crs: aioredis.Redis, tmp_path: Path
) -> None:
    service = make_service(crs)
    before = await crs_state(crs)
    out = tmp_path / "keys.tsv"
    outcome = await service.create_keys(_request(), MINTER, out)
    assert outcome.done == 12 and not outcome.rolled_back
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = read_keys(out)
    assert [name for _, name, _ in rows] == [f"batch_{i}" for i in range(1, 13)]
    assert out.read_text().splitlines()[-1].startswith("# created: all 12 keys exist")
    after = await crs_state(crs)
    expected = dict(before)
    created_at = datetime.fromisoformat(
        after[f"apikey:{rows[0][0]}"][1]["createdAt"].replace("Z", "+00:00")
    )
    options: dict[str, Any] = {
        "tags": ["loop20", "fresh"],
        "geminiAccountId": "group:g1",
        "concurrencyLimit": 5,
        "dailyCostLimit": 1.5,
        "weeklyResetDay": 3,
        "weeklyResetHour": 3,
        "permissions": ["claude", "openai"],
    }
    for key_id, name, raw in rows:
        assert raw.startswith("cr_") and len(raw) == 67 and int(raw[3:], 16) >= 0
        crs_create(expected, key_id, MINTER.digest(raw), {**options, "name": name}, created_at)
    assert {k: v for k, v in after.items() if k != "keyops:audit"} == {
        k: v for k, v in expected.items() if k != "keyops:audit"
    }
    assert await crs_index_problems(crs) == []
    for key_id, _, raw in rows:
        assert await crs_accepts(crs, raw) == (200, key_id)
        assert await crs.ttl(f"apikey:{key_id}") > 31_000_000
    assert len({raw for _, _, raw in rows}) == 12
    # The audit trail names the keys and never a secret.
    audit = str(await crs.xrange("keyops:audit"))
    for _, _, raw in rows:
        assert raw not in audit and MINTER.digest(raw) not in audit
    assert rows[0][0] in audit


async def test_an_existing_file_is_never_overwritten(crs: aioredis.Redis, tmp_path: Path) -> None:
    service = make_service(crs)
    out = tmp_path / "keys.tsv"
    out.write_text("precious")
    before = await crs_state(crs)
    with pytest.raises(BadInput, match="already exists"):
        await service.create_keys(_request(2), MINTER, out)
    assert out.read_text() == "precious"
    link = tmp_path / "link.tsv"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BadInput, match="already exists"):
        await service.create_keys(_request(2), MINTER, link)
    assert not (tmp_path / "elsewhere").exists()
    assert await crs_state(crs) == before


@pytest.mark.parametrize("how", ["failure", "reply-lost", "cancel"])
async def test_a_failed_create_removes_every_trace(
    crs: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    service = make_service(crs)
    before = await crs_state(crs)
    real = KeyCreator.create
    calls = 0
    cancel = asyncio.Event()

    async def flaky(self: KeyCreator, keys: Any) -> list[str]:
        nonlocal calls
        calls += 1
        if how == "failure" and calls == 3:
            raise ConnectionError("disk on fire")
        replies = await real(self, keys)
        if how == "reply-lost" and calls == 3:
            raise TimeoutError("reply lost")
        if how == "cancel" and calls == 2:
            cancel.set()
        return replies

    monkeypatch.setattr(KeyCreator, "create", flaky)
    monkeypatch.setattr("keyops.core.batch.minting.CREATE_CHUNK", 4)
    out = tmp_path / "keys.tsv"
    from keyops.core.batch.minting import run_create

    outcome = await run_create(
        crs, service._audit, {}, _request(12), MINTER, out, datetime.now().astimezone(), cancel, 4
    )
    assert outcome.rolled_back and outcome.done == 0
    assert {k: v for k, v in (await crs_state(crs)).items() if k != "keyops:audit"} == {
        k: v for k, v in before.items() if k != "keyops:audit"
    }
    rows = read_keys(out)
    assert len(rows) == 12  # the file stays, and says none of its keys exist
    assert "rolled back" in out.read_text().splitlines()[-1]
    for _, _, raw in rows:
        assert (await crs_accepts(crs, raw))[0] == 401


def test_requests_are_checked_up_front_one_message_per_problem() -> None:
    with pytest.raises(BadRequest) as caught:
        KeysCreate.build(
            0,
            " ",
            tags=[" "],
            binds=["nowhere=x", "claude=a", "console=b"],
            limits={"concurrency": "-1", "daily_cost": "x"},
            weekly_reset="someday",
            permissions="claude,mail",
        )
    problems = caught.value.problems
    assert len(problems) == 9, problems
    with pytest.raises(BadRequest, match="CRS allows 100"):
        KeysCreate.build(1000, "n" * 96)
    assert KeysCreate.build(1, "n" * 98 + "é").name_of(1) == "n" * 98 + "é"
    with pytest.raises(BadRequest, match="is 101 characters"):
        KeysCreate.build(1, "n" * 99 + "😀")  # two UTF-16 units, as CRS's name.length counts


def test_the_encryption_key_comes_from_the_environment_or_crs_env(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="ENCRYPTION_KEY is not set"):
        minter_from({}, None)
    env = tmp_path / ".env"
    env.write_text("ENCRYPTION_KEY=from-file\nAPI_KEY_PREFIX=ab_\n")
    minter = minter_from({}, env)
    assert minter.encryption_key.get_secret_value() == "from-file"
    assert minter.new_raw().startswith("ab_")
    assert minter_from({"ENCRYPTION_KEY": "env"}, env).encryption_key.get_secret_value() == "env"
    assert "from-file" not in repr(minter)
    # The lifecycle notes' test vector.
    raw = "cr_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    assert KeyMinter(SecretStr(ENCRYPTION_KEY)).digest(raw) == (
        "def793465f96dd43965ea07c4ed6131431a53ba54c0b547deb2db17b45d1756e"
    )
