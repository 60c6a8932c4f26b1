"""Records CRS never writes, already in Redis: keyops lists them as damaged with the reason,
never crashes on them, and every batch skips them, saying why."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from keyops.core.api import AccountAssign, StatusChange, TagEdit
from tests.engine.conftest import make_service, run
from tests.integration.test_cli import keyops
from tests.support.redis_server import RedisServer
from tests.tui.conftest import session_app, static_text, type_filter, wait_loaded

IDS = {f"damaged-{n}": f"dddddddd-0000-4000-8000-00000000000{n}" for n in range(1, 8)}


async def plant_damage(crs: aioredis.Redis, port: int) -> dict[str, str]:
    """Writes each kind of damage into a copy of a healthy key; returns name -> expected reason."""
    raw = aioredis.Redis(port=port)  # bytes in, bytes out: invalid UTF-8 needs it
    healthy = await crs.hgetall("apikey:" + (await crs.srandmember("apikey:idx:all")))
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "damaged-1": ({"tags": "not json ["}, "tags is not JSON"),
        "damaged-2": ({"claudeAccountId": "weird:1234"}, "claudeAccountId holds 'weird:1234'"),
        "damaged-3": ({"isActive": "maybe"}, "isActive is 'maybe', not true or false"),
        "damaged-4": ({"description": "x" * 200_000}, "description is 200,000 characters long"),
        "damaged-5": ({"name": b"bad-\xff\xfe-name"}, "name is not valid UTF-8"),
        "damaged-6": ({"createdAt": "last tuesday"}, "createdAt is 'last tuesday', not a date"),
    }
    expected = {}
    for name, (override, reason) in cases.items():
        key_id = IDS[name]
        fields: dict[str, Any] = {**healthy, "id": key_id, "name": name, **override}
        await raw.hset(f"apikey:{key_id}", mapping=fields)
        await crs.sadd("apikey:idx:all", key_id)
        expected[key_id] = reason
    # The right name pattern, but not a hash at all.
    await crs.set(f"apikey:{IDS['damaged-7']}", "just a string")
    await crs.sadd("apikey:idx:all", IDS["damaged-7"])
    await raw.aclose()
    return expected


async def test_damaged_keys_are_listed_with_the_reason(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    expected = await plant_damage(crs, redis_server.port)
    result = keyops(
        "keys", "list", "--json", "--where", "status:damaged", "--redis-url", redis_server.url
    )
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(expected)
    for key_id, reason in expected.items():
        assert reason in rows[key_id]["damage"], rows[key_id]
        assert rows[key_id]["status"] == "damaged"
    assert "\ufffd" in rows[IDS["damaged-5"]]["name"]  # shown, not crashed on
    # The whole list still loads; the string-typed key is reported, not listed.
    everything = keyops(
        "keys", "list", "--json", "--include-deleted", "--redis-url", redis_server.url
    )
    assert everything.returncode == 0 and IDS["damaged-7"] not in everything.stdout


async def test_a_batch_skips_keys_whose_damage_is_in_what_it_touches(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    """A tag edit skips broken tags, an assignment broken bindings, an enable/disable a broken
    flag: each with the reason. Damage elsewhere in a key does not stop a disable during an
    incident, and the damaged field is left exactly as it was."""
    expected = await plant_damage(crs, redis_server.port)
    targets = [*expected, IDS["damaged-7"]]
    service = make_service(crs)
    raw = aioredis.Redis(port=redis_server.port)  # bytes: the damaged name is not UTF-8
    damaged_fields = {IDS["damaged-1"]: b"tags", IDS["damaged-2"]: b"claudeAccountId",
                      IDS["damaged-3"]: b"isActive", IDS["damaged-4"]: b"description",
                      IDS["damaged-5"]: b"name", IDS["damaged-6"]: b"createdAt"}  # fmt: skip
    before = {
        key_id: await raw.hget(f"apikey:{key_id}", name) for key_id, name in damaged_fields.items()
    }
    cases = [
        (await service.plan(targets, TagEdit.build("add", ["x"])), {"damaged-1"}),
        (
            await service.plan(
                targets, AccountAssign.build(["console=shared"], overwrite_existing=True)
            ),
            {"damaged-2"},
        ),
        (await service.plan(targets, StatusChange.build(enable=False)), {"damaged-3"}),
    ]
    for plan, skipped_names in cases:
        reasons = dict(plan.skipped)
        for name in skipped_names:
            key_id = IDS[name]
            assert reasons[key_id].startswith("damaged: "), (plan.summary, reasons.get(key_id))
            assert expected[key_id] in reasons[key_id]
        assert "not a hash" in reasons[IDS["damaged-7"]]
        written = {write.key_id for write in plan.plans}
        assert not written & {IDS[name] for name in skipped_names}
        outcome, _ = await run(service, plan)
        assert outcome.counts.failed == 0, outcome
    # The incident case: the disable landed on the keys damaged elsewhere.
    for name in ("damaged-1", "damaged-4", "damaged-5", "damaged-6"):
        assert await raw.hget(f"apikey:{IDS[name]}", "isActive") == b"false", name
    assert {
        key_id: await raw.hget(f"apikey:{key_id}", name) for key_id, name in damaged_fields.items()
    } == before
    assert await raw.get(f"apikey:{IDS['damaged-7']}") == b"just a string"
    await raw.aclose()


async def test_the_console_shows_damaged_keys_and_their_reason(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    from keyops.core.api import KeyopsSession
    from keyops.core.settings import resolve_settings

    await plant_damage(crs, redis_server.port)
    session = await KeyopsSession.open(resolve_settings(redis_server.url))
    app = session_app(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "status:damaged")
        view = app.screen.query_one("#keys")
        assert len(view.rows) == 6  # type: ignore[attr-defined]
        assert "damaged" in view.render_line(1).text  # type: ignore[attr-defined]
        await pilot.press("asterisk", "t", *"x")
        await pilot.pause(0.6)
        counts = static_text(app, "#preview-counts")
        assert "1 skipped" in counts and "damaged: tags is not JSON" in counts
