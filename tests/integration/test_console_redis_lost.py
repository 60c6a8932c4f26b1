"""The console when Redis goes away and comes back, on real redis-server behind a TCP proxy that
can be cut (every link reset, new connections refused) and restored on the same port.

Whatever the operator is doing when Redis goes (the list, a form, the confirm, a running batch,
the operations screen), the console stays up, says what failed and that nothing was written,
shows a "Redis lost" banner while a probe retries, and once Redis answers reloads by itself
keeping the marks (by key id), the query and the cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from textual.pilot import Pilot
from textual.widgets import Input, Select

from keyops.core.api import BatchConfig, KeyopsSession, OpStatus, RedisSettings, RunnerSettings
from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig
from keyops.tui.screens.error import ErrorScreen
from keyops.tui.screens.progress import ProgressScreen
from tests.engine.conftest import crs_state
from tests.support.invariants import crs_index_problems
from tests.support.proxy import FaultyProxy
from tests.support.redis_server import RedisServer
from tests.tui.conftest import (
    key_view,
    session_app,
    static_text,
    status_line,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)

WAIT = 30.0
# refused, or reset when a pooled connection was open as Redis went
GONE = "is not answering: connection "


@dataclass
class LostRedis:
    proxy: FaultyProxy
    crs: aioredis.Redis

    async def app(self, batch_config: BatchConfig | None = None) -> KeyopsApp:
        """The console as `keyops ui` opens it, through the proxy."""
        settings = RedisSettings(port=self.proxy.port, socket_timeout=2)
        session = await KeyopsSession.open(settings, batch_config)
        return session_app(
            session, batch_config=batch_config, config=UiConfig(confirm_typed_above=10_000)
        )


@pytest.fixture
async def lost(crs: aioredis.Redis, redis_server: RedisServer) -> AsyncIterator[LostRedis]:
    proxy = FaultyProxy(redis_server.port)
    await proxy.start()
    yield LostRedis(proxy, crs)
    await proxy.stop()


def error_text(app: KeyopsApp) -> str:
    screen = app.screen
    assert isinstance(screen, ErrorScreen), type(screen).__name__
    return screen.message


def marked(app: KeyopsApp) -> set[str]:
    return set(app.selection.marked)


async def wait_error(pilot: Pilot[Any], says: str) -> str:
    app = pilot.app
    assert isinstance(app, KeyopsApp)
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ErrorScreen) and says in app.screen.message,
        f"an error dialog saying {says!r}",
        WAIT,
    )
    return error_text(app)


async def ended_batch(pilot: Pilot[Any]) -> ProgressScreen:
    """The progress screen once its batch has ended (with an outcome, or stopped short)."""
    await wait_screen(pilot, "ProgressScreen")
    screen = pilot.app.screen
    assert isinstance(screen, ProgressScreen)
    await wait_for(
        pilot, lambda: screen.outcome is not None or bool(screen.stopped), "batch ended", WAIT
    )
    return screen


async def wait_back(pilot: Pilot[Any]) -> None:
    """The probe finds Redis again and the list reloads, with no key pressed."""
    app = pilot.app
    assert isinstance(app, KeyopsApp)
    await wait_for(pilot, lambda: not app.lost_connection, "Redis found again", WAIT)


async def test_disable_then_enter_enter_while_redis_is_gone_keeps_the_console_and_the_marks(
    lost: LostRedis,
) -> None:
    # The sequence that crashed the console with a ConnectionError traceback.
    app = await lost.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("space", "space")
        two = marked(app)
        await lost.proxy.cut()
        await pilot.press("d")
        await wait_screen(pilot, "StatusChangeScreen")
        # The preview cannot read the keys: the form says so where the counts go.
        await wait_for(
            pilot, lambda: GONE in static_text(app, "#status-counts"), "the form says why"
        )
        counts = static_text(app, "#status-counts")
        assert "cannot read the keys" in counts and "nothing was written" in counts
        await pilot.press("enter")  # runs the disable: Redis is gone
        message = await wait_error(pilot, "Planning the disable of 2 keys failed")
        assert GONE in message and "nothing was written" in message
        assert "2 marked keys stay marked" in message
        await pilot.press("enter")  # closes the dialog: the form is under it
        await wait_screen(pilot, "StatusChangeScreen")
        await pilot.press("enter")  # runs the disable: Redis is still gone
        message = await wait_error(pilot, "Planning the disable of 2 keys failed")
        assert GONE in message and "nothing was written" in message
        await pilot.press("enter", "escape")
        await wait_screen(pilot, "KeyListScreen")
        assert app.return_code is None and app.is_running
        assert "Redis lost at" in static_text(app, "#banner")
        assert "retrying every" in static_text(app, "#banner")
        assert status_line(app).startswith("2 marked")
        assert marked(app) == two
        assert await lost.crs.keys("keyops:op:*") == []  # nothing was started, nothing written


async def test_redis_back_reloads_by_itself_keeping_marks_query_and_cursor(
    lost: LostRedis,
) -> None:
    app = await lost.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:bulk")
        shown = len(key_view(app).rows)
        await pilot.press("space", "space", "space", "down")
        three = marked(app)
        cursor_key = key_view(app).highlighted
        assert cursor_key is not None
        await lost.proxy.cut()
        app.check_connection()  # the health check runs every 5 s: run it now
        await wait_for(pilot, lambda: "Redis lost at" in static_text(app, "#banner"), "banner")
        assert GONE in static_text(app, "#banner")
        # While Redis is away the list keeps what it showed.
        assert len(key_view(app).rows) == shown and status_line(app).startswith("3 marked")
        # CRS changes a key meanwhile: the reload must show it without ctrl+r.
        first = next(iter(three))
        await lost.crs.hset(f"apikey:{first}", "name", "renamed-during-outage")
        await lost.proxy.restore()
        await wait_back(pilot)
        await wait_for(
            pilot,
            lambda: "renamed-during-outage" in [row.name for row in key_view(app).rows],
            "the list reloaded by itself",
            WAIT,
        )
        assert static_text(app, "#banner").strip() == ""
        assert marked(app) == three and status_line(app).startswith("3 marked")
        assert app.screen.query_one("#filter", Input).value == "tag:bulk"
        assert len(key_view(app).rows) == shown
        highlighted = key_view(app).highlighted
        assert highlighted is not None and highlighted.id == cursor_key.id


async def test_tag_editor_while_redis_is_gone_then_back(lost: LostRedis) -> None:
    app = await lost.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("space", "space", "t")
        await wait_screen(pilot, "TagEditorScreen")
        await lost.proxy.cut()
        # A tag edit is planned from the loaded list: the preview needs no Redis.
        await pilot.press(*"night")
        await wait_for(pilot, lambda: "2 change" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")  # the preview stated the edit: it runs
        screen = await ended_batch(pilot)
        # The engine writes its audit entry before any key: it cannot, so it refuses.
        assert screen.outcome is not None and screen.outcome.status is OpStatus.REFUSED
        summary = static_text(app, "#summary-text")
        assert "refused" in summary and "nothing was changed" in summary
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await wait_for(pilot, lambda: "Redis lost at" in static_text(app, "#banner"), "banner")
        await lost.proxy.restore()
        await wait_back(pilot)
        await wait_for(pilot, lambda: status_line(app).startswith("2 marked"), "reloaded", WAIT)
        await pilot.press("t", *"night")  # the same edit, now that Redis answers
        await wait_for(pilot, lambda: "2 change" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")  # the preview stated the edit: it runs
        screen = await ended_batch(pilot)
        assert screen.outcome is not None and screen.outcome.status is OpStatus.DONE


async def test_account_form_while_redis_is_gone(lost: LostRedis) -> None:
    app = await lost.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("space", "a")
        await wait_screen(pilot, "AccountAssignScreen")
        await lost.proxy.cut()
        app.screen.query_one("#assign-claudeAccountId", Select).value = "shared"
        await wait_for(pilot, lambda: GONE in static_text(app, "#assign-error"), "inline")
        assert "cannot preview" in static_text(app, "#assign-error")
        await pilot.press("ctrl+s")
        assert GONE in await wait_error(pilot, "Planning the account assignment")
        await pilot.press("enter", "escape")
        await wait_screen(pilot, "KeyListScreen")
        assert app.is_running and status_line(app).startswith("1 marked")


async def test_redis_gone_at_the_confirm_the_batch_is_refused_and_nothing_written(
    lost: LostRedis,
) -> None:
    before = await crs_state(lost.crs)
    app = await lost.app()
    app.config = UiConfig(confirm_typed_above=1)  # two keys ask for the typed count
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("space", "space", "d")
        await wait_for(pilot, lambda: "2 change" in static_text(app, "#status-counts"), "preview")
        await pilot.press("enter")
        await wait_screen(pilot, "BatchConfirmScreen")
        await lost.proxy.cut()
        await pilot.press("2", "enter")
        screen = await ended_batch(pilot)
        assert screen.outcome is not None and screen.outcome.status is OpStatus.REFUSED
        assert "nothing was changed" in static_text(app, "#summary-text")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await wait_for(pilot, lambda: "Redis lost at" in static_text(app, "#banner"), "banner")
        assert app.is_running and status_line(app).startswith("2 marked")
        await lost.proxy.restore()
        await wait_back(pilot)
    assert await crs_state(lost.crs) == before


async def test_redis_lost_mid_batch_shows_the_interrupted_op_and_offers_its_recovery(
    lost: LostRedis,
) -> None:
    before = await crs_state(lost.crs)
    holding, release = asyncio.Event(), asyncio.Event()

    async def stall(index: int) -> None:
        if index == 2:
            holding.set()
            await release.wait()

    # The lease the cut-off run could not drop expires after 3 s (30 s by default).
    runner = RunnerSettings(
        chunk_size=100, verify_delay=0.05, before_chunk=stall, lock_ttl_ms=3_000
    )
    app = await lost.app(BatchConfig(runner))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:bulk")
        await pilot.press("asterisk", "t", *"outage")
        await wait_for(pilot, lambda: "change" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")  # the preview stated the edit: it runs
        await asyncio.wait_for(holding.wait(), WAIT)  # 200 keys written, Redis then goes
        await lost.proxy.cut()
        release.set()
        screen = await ended_batch(pilot)
        assert screen.outcome is not None and screen.outcome.status is OpStatus.RUNNING
        summary = static_text(app, "#summary-text")
        assert "interrupted, needs recovery (o, then R)" in summary
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await wait_for(pilot, lambda: "Redis lost at" in static_text(app, "#banner"), "banner")
        await lost.proxy.restore()
        # Back: the list reloads, and the console offers the interrupted operation as soon as
        # its lease has expired.
        await wait_screen(pilot, "RecoveryScreen")
        assert app.is_running
        await pilot.press("b")  # roll it back
        screen = await ended_batch(pilot)
        assert screen.outcome is not None and screen.outcome.status is OpStatus.DONE
    assert await crs_state(lost.crs) == before
    assert await crs_index_problems(lost.crs) == []


async def test_operations_screen_while_redis_is_gone_reloads_when_back(lost: LostRedis) -> None:
    app = await lost.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        await lost.proxy.cut()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: GONE in static_text(app, "#ops-error"), "inline")
        assert "REDIS LOST at" in app.sub_title  # in the header of every screen
        assert app.is_running
        await lost.proxy.restore()
        await wait_back(pilot)
        await wait_for(
            pilot, lambda: "no operations match" in static_text(app, "#entries-title"), "reloaded"
        )
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        assert app.is_running and static_text(app, "#banner").strip() == ""


async def test_edit_form_while_redis_is_gone_then_its_spread_is_read_again(
    lost: LostRedis,
) -> None:
    app = await lost.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("space", "f")
        await wait_screen(pilot, "KeyEditScreen")
        await wait_for(
            pilot, lambda: "reading" not in static_text(app, "#spread-concurrency"), "spread"
        )
        (key_id,) = marked(app)
        await lost.proxy.cut()
        await pilot.press("tab", "5")  # concurrency
        await wait_for(pilot, lambda: GONE in static_text(app, "#edit-preview"), "inline")
        assert "cannot preview" in static_text(app, "#edit-preview")
        await pilot.press("ctrl+s")
        message = await wait_error(pilot, "Planning the edit of 1 keys failed")
        assert GONE in message and "nothing was written" in message
        await pilot.press("enter")  # the form is under the dialog, with what was typed
        await wait_screen(pilot, "KeyEditScreen")
        assert app.screen.query_one("#edit-concurrency", Input).value == "5"
        # CRS changes the key meanwhile: the spread shown once Redis is back must say so.
        await lost.crs.hset(f"apikey:{key_id}", "concurrencyLimit", "7")
        await lost.proxy.restore()
        await wait_back(pilot)
        await wait_for(
            pilot, lambda: static_text(app, "#spread-concurrency").strip() == "7", "read again"
        )
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#edit-preview"), "preview")
        assert app.is_running
    assert await lost.crs.keys("keyops:op:*") == []


async def test_delete_dialog_while_redis_is_gone(lost: LostRedis) -> None:
    app = await lost.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("space")
        (key_id,) = marked(app)
        await lost.proxy.cut()
        await pilot.press("x")
        await wait_screen(pilot, "LifecycleScreen")
        await wait_for(pilot, lambda: GONE in static_text(app, "#lifecycle-counts"), "inline")
        counts = static_text(app, "#lifecycle-counts")
        assert "cannot read the keys" in counts and "nothing was written" in counts
        await pilot.press(*"delete", "enter")  # no plan: nothing runs, the dialog stays
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "LifecycleScreen" and app.is_running
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        assert marked(app) == {key_id}
        await lost.proxy.restore()
        await wait_back(pilot)
    assert await lost.crs.hget(f"apikey:{key_id}", "isDeleted") != "true"
    assert await lost.crs.keys("keyops:op:*") == []


async def test_purge_cut_off_by_redis_says_so_and_the_console_stays(lost: LostRedis) -> None:
    app = await lost.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("space")
        (key_id,) = marked(app)
        await lost.crs.hset(f"apikey:{key_id}", mapping={"isDeleted": "true"})
        await pilot.press("P")
        await wait_screen(pilot, "PurgeScreen")
        await wait_for(pilot, lambda: "Type 1 and" in static_text(app, "#purge-type-hint"), "")
        await lost.proxy.cut()
        await pilot.press("1", "enter")
        await wait_for(
            pilot, lambda: "The purge stopped" in static_text(app, "#purge-type-hint"), "said"
        )
        said = static_text(app, "#purge-type-hint")
        assert GONE in said and "P on the deleted view purges the rest" in said
        assert app.is_running and type(app.screen).__name__ == "PurgeScreen"
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await wait_for(pilot, lambda: "Redis lost at" in static_text(app, "#banner"), "banner")
        await lost.proxy.restore()
        await wait_back(pilot)
        # The purge's first write (its audit entry) never landed: the key is still there.
        assert await lost.crs.exists(f"apikey:{key_id}")
