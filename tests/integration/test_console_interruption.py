"""The console under SIGHUP (the SSH link dropped) and SIGTERM, on real redis-server: a running
batch is cancelled as the cancel key does (an atomic one rolls back), and the console exits
once it has ended; with no batch it exits at once. Once through `App.run_test()` with the
signal sent to this process, once as a real console process whose terminal hangs up."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis

from keyops.core.api import BatchConfig, KeyopsSession, OpStatus, RunnerSettings
from keyops.core.batch.operations import OperationStore
from keyops.core.edits.registry import OpType
from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig
from tests.engine.conftest import crs_state
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer
from tests.support.terminal_session import hang_up_at_stall, spawn_on_terminal
from tests.tui.conftest import (
    session_app,
    static_text,
    type_filter,
    wait_for,
    wait_loaded,
)

WAIT = 60.0


@contextmanager
def stand_in_handler(sig: signal.Signals) -> Iterator[list[int]]:
    """Catches `sig` for the test process while the console does not (it would kill pytest);
    the console's own handler replaces it while the console runs."""
    caught: list[int] = []
    previous = signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        signal.signal(sig, previous)


async def until_exited(app: KeyopsApp) -> int:
    for _ in range(int(WAIT / 0.05)):
        if app.return_code is not None:
            return app.return_code
        await asyncio.sleep(0.05)
    raise AssertionError("the console never exited")


async def test_sighup_cancels_the_running_batch_and_the_console_exits_after_its_rollback(
    crs: aioredis.Redis,
) -> None:
    before = await crs_state(crs)
    holding, release = asyncio.Event(), asyncio.Event()

    async def stall(index: int) -> None:
        if index == 3:
            holding.set()
            await release.wait()

    session = KeyopsSession.from_client(crs, "real redis-server")
    runner = RunnerSettings(chunk_size=100, verify_delay=0.05, before_chunk=stall)
    app = session_app(
        session, batch_config=BatchConfig(runner), config=UiConfig(confirm_typed_above=10_000)
    )
    with stand_in_handler(signal.SIGHUP) as caught:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_loaded(pilot)
            await type_filter(pilot, "tag:bulk")
            await pilot.press("asterisk", "t", *"hungup")
            await wait_for(
                pilot, lambda: "unchanged" in static_text(app, "#preview-counts"), "preview"
            )
            await pilot.press("ctrl+s")  # the editor's preview is its confirm
            await asyncio.wait_for(holding.wait(), WAIT)  # 300 keys written, the batch half-way
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_for(pilot, lambda: "cancelling" in static_text(app, "#progress-phase"),
                           "the batch is told to stop")  # fmt: skip
            release.set()
            code = await until_exited(app)
    assert caught == []  # the console handled it
    assert code == 128 + signal.SIGHUP
    records = [r for r in await OperationStore(crs).recent(5) if r.type is OpType.TAGS]
    assert records[0].status is OpStatus.CANCELLED and records[0].counts.rolled_back == 400
    assert await crs_state(crs) == before
    assert await crs_index_problems(crs) == []


async def test_sigterm_with_no_batch_running_exits_at_once(crs: aioredis.Redis) -> None:
    app = session_app(KeyopsSession.from_client(crs, "real redis-server"))
    with stand_in_handler(signal.SIGTERM) as caught:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_loaded(pilot)
            os.kill(os.getpid(), signal.SIGTERM)
            code = await until_exited(app)
    assert caught == [] and code == 128 + signal.SIGTERM


async def test_a_console_whose_ssh_link_drops_rolls_its_batch_back_then_exits(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    before = await crs_state(crs)
    child, master = spawn_on_terminal("tests.support.console_batch", redis_server.url, "gone")
    code = await hang_up_at_stall(crs, child, master, WAIT)
    assert code == 128 + signal.SIGHUP, code
    records = [r for r in await OperationStore(crs).recent(5) if r.type is OpType.TAGS]
    assert records[0].status is OpStatus.CANCELLED, records[0]
    assert records[0].counts.rolled_back >= 300
    assert await crs_state(crs) == before
    assert await crs_index_problems(crs) == []


async def test_ctrl_q_during_a_batch_asks_then_cancels_it_and_quits_after_its_rollback(
    crs: aioredis.Redis,
) -> None:
    """ctrl+q once only says what quitting does; twice, the batch is cancelled like the cancel
    key (rolled back) and the console quits when it has ended: nothing is left interrupted."""
    before = await crs_state(crs)
    holding, release = asyncio.Event(), asyncio.Event()

    async def stall(index: int) -> None:
        if index == 3:
            holding.set()
            await release.wait()

    session = KeyopsSession.from_client(crs, "real redis-server")
    runner = RunnerSettings(chunk_size=100, verify_delay=0.05, before_chunk=stall)
    app = session_app(
        session, batch_config=BatchConfig(runner), config=UiConfig(confirm_typed_above=10_000)
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:bulk")
        await pilot.press("asterisk", "t", *"quitting")
        await wait_for(pilot, lambda: "unchanged" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")  # the preview stated it: it runs
        await asyncio.wait_for(holding.wait(), WAIT)
        await pilot.press("ctrl+q")
        await pilot.pause(0.3)
        assert app.return_code is None and app.screen.__class__.__name__ == "ProgressScreen"
        assert any("ctrl+q again" in str(n.message) for n in app._notifications)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: "cancelling" in static_text(app, "#progress-phase"),
                       "the batch is told to stop")  # fmt: skip
        release.set()
        code = await until_exited(app)
    assert code == 0
    records = [r for r in await OperationStore(crs).recent(5) if r.type is OpType.TAGS]
    assert records[0].status is OpStatus.CANCELLED and records[0].counts.rolled_back == 400
    assert await OperationStore(crs).unfinished() == []
    assert await crs_state(crs) == before
    assert await crs_index_problems(crs) == []
