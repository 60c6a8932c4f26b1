"""One whole console workflow against the real redis-server holding CRS's own dump:
filter, mark all, add a tag, watch progress, find the operation in the audit screen, revert."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from textual.widgets import DataTable

from keyops.core.api import BatchConfig, KeyopsSession, RunnerSettings
from tests.support.dump import snapshot
from tests.support.invariants import crs_index_problems
from tests.tui.conftest import (
    add_tag_to_marked,
    finish_progress,
    session_app,
    shown_names,
    static_text,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)


def crs_owned(state: dict[str, tuple[str, Any]]) -> dict[str, tuple[str, Any]]:
    return {name: value for name, value in state.items() if not name.startswith("keyops:")}


async def test_tag_then_revert_from_the_audit_screen_on_real_redis(crs: aioredis.Redis) -> None:
    before = crs_owned(await snapshot(crs))
    session = KeyopsSession.from_client(crs, "real redis-server")
    app = session_app(session, batch_config=BatchConfig(RunnerSettings(verify_delay=0.05)))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        names = shown_names(app)
        assert len(names) > 3
        await pilot.press("asterisk")
        progress = await add_tag_to_marked(pilot, "incident-42", seconds=60)
        assert progress.outcome is not None and progress.outcome.counts.applied == len(names)
        op_id = progress.outcome.op_id
        assert "100%" in static_text(app, "#progress-rate")
        tagged = await crs.smembers("apikey:tag:incident-42")
        assert len(tagged) == len(names)
        assert await crs_index_problems(crs) == []
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        ops = app.screen.query_one("#ops", DataTable)
        await wait_for(pilot, lambda: ops.row_count >= 1, "operation listed")
        assert ops.get_row_at(0)[0] == op_id
        entries = app.screen.query_one("#entries", DataTable)
        await wait_for(pilot, lambda: entries.row_count == len(names), "per-key changes")
        await pilot.press("r")
        await wait_screen(pilot, "BatchConfirmScreen")
        await pilot.press("enter")
        await finish_progress(pilot, 60)
    after = crs_owned(await snapshot(crs))
    # Everything CRS owns is as it was, except the updatedAt stamps the two edits wrote.
    changed = {name for name in before if before[name] != after.get(name)} | (
        set(after) - set(before)
    )
    assert changed, "the edit and its revert touched keys"
    for name in changed:
        old, new = before.get(name), after.get(name)
        assert old is not None and new is not None and old[0] == new[0] == "hash", name
        assert {k: v for k, v in old[1].items() if k != "updatedAt"} == {
            k: v for k, v in new[1].items() if k != "updatedAt"
        }, name
    assert await crs_index_problems(crs) == []
