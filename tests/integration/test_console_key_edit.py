"""The console's edit form, delete, restore and deleted view, driven on the real app against the
real redis-server holding CRS's own dump: what lands in Redis, field by field."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis.asyncio as aioredis
from textual.pilot import Pilot

from keyops.core.api import BatchConfig, KeyopsSession, RunnerSettings
from keyops.tui.app import KeyopsApp
from tests.support.crs_auth import crs_accepts, give_known_secret
from tests.support.invariants import crs_index_problems
from tests.tui.conftest import (
    finish_progress,
    session_app,
    shown_names,
    static_text,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)

RAW = "cr_" + "0123456789abcdef" * 4
SIZE = (100, 30)


def console(crs: aioredis.Redis) -> KeyopsApp:
    session = KeyopsSession.from_client(crs, "real redis-server")
    return session_app(session, batch_config=BatchConfig(RunnerSettings(verify_delay=0.05)))


async def records(crs: aioredis.Redis, ids: list[str]) -> dict[str, dict[str, str]]:
    return {key_id: await crs.hgetall(f"apikey:{key_id}") for key_id in ids}


def marked_ids(app: KeyopsApp) -> list[str]:
    assert app.data is not None
    return app.data.marked_ids()


async def open_form_on(pilot: Pilot[Any], query: str) -> list[str]:
    app = pilot.app
    assert isinstance(app, KeyopsApp)
    await wait_loaded(pilot)
    await type_filter(pilot, query)
    await pilot.press("asterisk", "f")
    await wait_screen(pilot, "KeyEditScreen")
    return marked_ids(app)


async def undo_from_the_summary(pilot: Pilot[Any]) -> None:
    """From a finished batch's summary: back to the list, `u`, confirm, wait for the revert."""
    await pilot.press("enter")
    await wait_screen(pilot, "KeyListScreen")
    await pilot.press("u")
    await wait_screen(pilot, "BatchConfirmScreen")
    await pilot.press("enter")
    await finish_progress(pilot, 60)


async def assert_back_as_before(
    crs: aioredis.Redis, ids: list[str], before: dict[str, dict[str, str]]
) -> None:
    """Every key holds what it held before the edit (but `updatedAt`), indexes consistent."""
    reverted = await records(crs, ids)
    for key_id in ids:
        assert {k: v for k, v in reverted[key_id].items() if k != "updatedAt"} == {
            k: v for k, v in before[key_id].items() if k != "updatedAt"
        }, key_id
    assert await crs_index_problems(crs) == []


async def test_a_two_field_edit_writes_only_those_fields_and_one_undo_reverts_it(
    crs: aioredis.Redis,
) -> None:
    app = console(crs)
    async with app.run_test(size=SIZE) as pilot:
        ids = await open_form_on(pilot, "tag:team-a")
        assert len(ids) > 3
        before = await records(crs, ids)
        # concurrency (2nd field) 5 and service rates (11th) claude=1.25, two kinds; every
        # other field left unchanged
        await pilot.press("tab", *"5", *["tab"] * 9, *"claude=1.25")
        await wait_for(pilot, lambda: "change" in static_text(app, "#edit-preview"), "preview")  # type: ignore[arg-type]
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "BatchConfirmScreen")
        await pilot.press("enter")
        progress = await finish_progress(pilot, 60)
        outcome = progress.outcome
        assert outcome is not None and outcome.counts.applied == len(ids)
        after = await records(crs, ids)
        for key_id in ids:
            changed = {
                name
                for name in before[key_id].keys() | after[key_id].keys()
                if before[key_id].get(name) != after[key_id].get(name)
            }
            assert changed == {"concurrencyLimit", "serviceRates", "updatedAt"}, key_id
            assert after[key_id]["concurrencyLimit"] == "5"
            assert json.loads(after[key_id]["serviceRates"])["claude"] == 1.25
        assert await crs_index_problems(crs) == []
        # One operation: one undo puts both fields back on every key.
        op = await app.data.session.op(outcome.op_id)  # type: ignore[union-attr]
        assert op.type.value == "fields"
        assert "concurrencyLimit=5" in op.summary and "claude=1.25" in op.summary
        await undo_from_the_summary(pilot)
    await assert_back_as_before(crs, ids, before)


async def test_delete_stops_a_key_and_restore_from_the_deleted_view_brings_it_back(
    crs: aioredis.Redis,
) -> None:
    app = console(crs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        target = app.screen.query_one("#keys").highlighted.id  # type: ignore[attr-defined]
        name = shown_names(app)[0]
        await give_known_secret(crs, target, RAW)
        assert await crs_accepts(crs, RAW) == (200, target)
        # x alone deletes nothing: the word must be typed.
        await pilot.press("x")
        await wait_screen(pilot, "LifecycleScreen")
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#lifecycle-counts"), "plan")  # type: ignore[arg-type]
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "LifecycleScreen"
        assert await crs.hget(f"apikey:{target}", "isDeleted") != "true"
        await pilot.press(*"delete", "enter")
        await finish_progress(pilot, 60)
        assert await crs_accepts(crs, RAW) == (401, "API key not found")
        assert await crs_index_problems(crs) == []
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await wait_for(pilot, lambda: name not in shown_names(app), "gone from the list")
        # D: the deleted view; the key is there, and r restores it.
        await pilot.press("escape", "D")
        await wait_for(pilot, lambda: name in shown_names(app), "in the deleted view")
        assert "status:deleted" in str(app.screen.query_one("#filter").value)  # type: ignore[attr-defined]
        view = app.screen.query_one("#keys")
        view.cursor = shown_names(app).index(name)  # type: ignore[attr-defined]
        await pilot.press("r")
        await wait_screen(pilot, "LifecycleScreen")
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#lifecycle-counts"), "plan")  # type: ignore[arg-type]
        await pilot.press(*"restore", "enter")
        await finish_progress(pilot, 60)
    assert await crs_accepts(crs, RAW) == (200, target)
    assert await crs_index_problems(crs) == []


async def test_restrictions_and_description_from_the_form_are_one_op_and_one_undo(
    crs: aioredis.Redis,
) -> None:
    app = console(crs)
    async with app.run_test(size=SIZE) as pilot:
        ids = await open_form_on(pilot, "tag:team-a")
        before = await records(crs, ids)
        screen = app.screen
        screen.query_one("#edit-models").value = "add claude-opus-4-1,claude-sonnet-4"  # type: ignore[attr-defined]
        screen.query_one("#edit-clients").value = "+claude_code"  # type: ignore[attr-defined]
        screen.query_one("#edit-description").value = "  on-call batch  "  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "change" in static_text(app, "#edit-preview"), "preview")  # type: ignore[arg-type]
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "BatchConfirmScreen")
        await pilot.press("enter")
        progress = await finish_progress(pilot, 60)
        outcome = progress.outcome
        assert outcome is not None and outcome.counts.applied == len(ids)
        after = await records(crs, ids)
        for key_id in ids:
            old_models = json.loads(before[key_id].get("restrictedModels") or "[]")
            added = [m for m in ("claude-opus-4-1", "claude-sonnet-4") if m not in old_models]
            assert json.loads(after[key_id]["restrictedModels"]) == old_models + added
            assert after[key_id]["enableModelRestriction"] == "true"
            assert "claude_code" in json.loads(after[key_id]["allowedClients"])
            assert after[key_id]["enableClientRestriction"] == "true"
            assert after[key_id]["description"] == "on-call batch"  # trimmed, as JS trim()
        assert await crs_index_problems(crs) == []
        op = await app.data.session.op(outcome.op_id)  # type: ignore[union-attr]
        assert op.type.value == "fields"
        await undo_from_the_summary(pilot)
    await assert_back_as_before(crs, ids, before)


async def test_purge_says_it_is_working_then_sums_up_what_went(crs: aioredis.Redis) -> None:
    app = console(crs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        await pilot.press("space", "space")
        two = marked_ids(app)
        await pilot.press("x")
        await wait_screen(pilot, "LifecycleScreen")
        await wait_for(pilot, lambda: "2 change" in static_text(app, "#lifecycle-counts"), "plan")  # type: ignore[arg-type]
        await pilot.press(*"delete", "enter")
        await finish_progress(pilot, 60)
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        # The purge holds until released, so the dialog can be seen at work.
        assert app.data is not None
        session = app.data.session
        release = asyncio.Event()
        real_purge = session.purge

        async def held_purge(preview: Any) -> dict[str, str]:
            await release.wait()
            return await real_purge(preview)

        session.purge = held_purge  # type: ignore[method-assign]
        await pilot.press("escape", "D", "P")
        await wait_screen(pilot, "PurgeScreen")
        await wait_for(
            pilot, lambda: "Type 2 and enter" in static_text(app, "#purge-type-hint"), "preview"
        )  # type: ignore[arg-type]
        await pilot.press("2", "enter")
        await wait_for(
            pilot, lambda: "Purging 2 keys" in static_text(app, "#purge-type-hint"), "working"
        )  # type: ignore[arg-type]
        assert app.screen.query_one("#purge-working").display
        await pilot.press("escape")  # refused while it runs: its summary must be seen
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "PurgeScreen"
        release.set()
        await wait_for(
            pilot, lambda: "Purged 2 keys" in static_text(app, "#purge-type-hint"), "summary"
        )  # type: ignore[arg-type]
        assert "usage keys" in static_text(app, "#purge-type-hint")
        assert not app.screen.query_one("#purge-working").display
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
    for key_id in two:
        assert not await crs.exists(f"apikey:{key_id}")
    assert await crs_index_problems(crs) == []
