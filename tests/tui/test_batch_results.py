"""Cancel and results tell the truth: the cancel question pauses the batch, a batch that ends
under it closes it, and a finished batch shows what really happened (not the last event's
"49066/49066 · 100%"), with no rate, ETA or cancel key left over."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import ProgressBar, Static

from keyops.core.api import OpCounts, OpStatus, Outcome, Phase, ProgressEvent
from keyops.tui.app import KeyopsApp
from keyops.tui.screens.progress import ProgressScreen
from tests.tui.conftest import demo_app, static_text, wait_for, wait_loaded, wait_screen

OP = "20261127-030000-c12c01"
TOTAL = 49066

Batch = Callable[[asyncio.Event], AsyncIterator[ProgressEvent]]


def footer_keys(app: KeyopsApp) -> set[str]:
    """The keys the footer shows (enabled or not)."""
    return {str(key.key) for key in app.screen.query("FooterKey")}  # type: ignore[attr-defined]


async def start(pilot: Pilot[Any], batch: Batch) -> ProgressScreen:
    await wait_loaded(pilot)
    screen = ProgressScreen("status disable", batch)
    pilot.app.push_screen(screen)
    await wait_screen(pilot, "ProgressScreen")
    return screen


def screen_text(app: KeyopsApp) -> str:
    return "\n".join(
        static_text(app, selector)
        for selector in ("#progress-phase", "#progress-rate", "#summary-text")
        if app.screen.query_one(selector).display
    )


async def test_the_cancel_question_pauses_the_batch_until_answered() -> None:
    pulled: list[int] = []

    async def batch(cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
        for done in range(0, TOTAL, 1000):
            pulled.append(done)
            if cancel.is_set():
                break
            yield ProgressEvent(OP, Phase.APPLYING, done, TOTAL, 0, 20_000.0, 2.0)
            await asyncio.sleep(0.01)
        counts = OpCounts(planned=TOTAL, applied=TOTAL)
        outcome = Outcome(OP, OpStatus.DONE, counts)
        yield ProgressEvent(OP, Phase.FINISHED, TOTAL, TOTAL, outcome=outcome)

    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(pilot, batch)
        await wait_for(pilot, lambda: len(pulled) > 3, "the batch runs")
        await pilot.press("c")
        await wait_screen(pilot, "ConfirmScreen")
        asked_at = len(pulled)
        await pilot.pause(0.3)
        assert len(pulled) <= asked_at + 1, "the batch went on while the operator decided"
        assert "paused" in str(screen.query_one("#progress-phase", Static).render())
        await pilot.press("n")  # no: it goes on, to the end
        await wait_for(pilot, lambda: screen.outcome is not None, "batch finished", 20)
        assert not screen.cancel.is_set()
        assert "cancelling" not in screen_text(app)


async def test_a_batch_that_ends_under_the_cancel_question_closes_it() -> None:
    release = asyncio.Event()

    async def batch(cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
        yield ProgressEvent(OP, Phase.APPLYING, 48000, TOTAL, 0, 20_000.0, 0.1)
        await release.wait()  # the last chunk is in Redis when the operator presses c
        outcome = Outcome(OP, OpStatus.DONE, OpCounts(planned=TOTAL, applied=TOTAL))
        yield ProgressEvent(OP, Phase.FINISHED, TOTAL, TOTAL, outcome=outcome)

    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(pilot, batch)
        await wait_for(pilot, lambda: screen.last is not None, "first event")
        await pilot.press("c")
        await wait_screen(pilot, "ConfirmScreen")
        release.set()
        await wait_screen(pilot, "ProgressScreen")  # the question closed by itself
        assert screen.outcome is not None and screen.outcome.status is OpStatus.DONE
        assert not screen.cancel.is_set()
        text = screen_text(app)
        assert "cancelling" not in text and "paused" not in text
        assert f"{TOTAL:,} of {TOTAL:,} keys written" in text
        await pilot.press("y")  # a late yes meant for the closed question changes nothing
        await pilot.pause(0.1)
        assert "cancelling" not in screen_text(app)


async def test_a_cancelled_batch_shows_what_it_wrote_and_rolled_back_not_100_percent() -> None:
    async def batch(cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
        yield ProgressEvent(OP, Phase.LOCKING, 0, TOTAL, message=f"locking {TOTAL} keys")
        yield ProgressEvent(OP, Phase.APPLYING, 10_400, TOTAL, 0, 20_000.0, 1.9)
        yield ProgressEvent(OP, Phase.ROLLING_BACK, 0, 10_400, message="rolling back 10400 keys")
        yield ProgressEvent(OP, Phase.ROLLING_BACK, 10_400, 10_400, message="rolling back")
        counts = OpCounts(planned=TOTAL, applied=10_400, rolled_back=10_400)
        message = f"cancelled after writing 10400 of {TOTAL} keys; all 10400 were rolled back"
        outcome = Outcome(OP, OpStatus.CANCELLED, counts, message=message)
        # What the engine sends last: done == total, whatever happened.
        yield ProgressEvent(OP, Phase.FINISHED, TOTAL, TOTAL, message=message, outcome=outcome)

    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(pilot, batch)
        await wait_for(pilot, lambda: screen.outcome is not None, "batch finished")
        text = screen_text(app)
        assert f"{TOTAL}/{TOTAL}" not in text and "100%" not in text
        assert f"10,400 of {TOTAL:,} keys written" in static_text(app, "#progress-phase")
        assert "10,400 rolled back" in static_text(app, "#progress-phase")
        bar = app.screen.query_one("#progress-bar", ProgressBar)
        assert bar.percentage is not None and bar.percentage < 0.25
        assert "cancelled" in static_text(app, "#summary-text")


async def test_a_refused_batch_says_nothing_was_written_not_100_percent() -> None:
    async def batch(cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
        message = "this Redis user may not run EVALSHA; nothing was written"
        outcome = Outcome("", OpStatus.REFUSED, OpCounts(), message=message)
        yield ProgressEvent("", Phase.FINISHED, message=message, outcome=outcome)

    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(pilot, batch)
        await wait_for(pilot, lambda: screen.outcome is not None, "batch finished")
        assert "nothing written" in static_text(app, "#progress-phase")
        assert "100%" not in screen_text(app)
        assert app.screen.query_one("#progress-bar", ProgressBar).percentage == 0
        summary = static_text(app, "#summary-text")
        assert "Batch refused" in summary and "Operation :" not in summary


async def test_a_finished_summary_has_no_rate_eta_phases_or_cancel_key() -> None:
    release = asyncio.Event()

    async def batch(cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
        yield ProgressEvent(OP, Phase.APPLYING, 20_000, TOTAL, 0, 20_000.0, 1.5)
        await release.wait()
        outcome = Outcome(OP, OpStatus.DONE, OpCounts(planned=TOTAL, applied=TOTAL))
        yield ProgressEvent(OP, Phase.FINISHED, TOTAL, TOTAL, 0, 20_000.0, 0, outcome=outcome)

    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(pilot, batch)
        await wait_for(pilot, lambda: "c" in footer_keys(app), "c Cancel while it runs")
        release.set()
        await wait_for(pilot, lambda: screen.outcome is not None, "batch finished")
        await pilot.pause(0.1)
        for hidden in ("#progress-rate", "#progress-steps"):
            assert not app.screen.query_one(hidden).display, hidden
        text = screen_text(app)
        assert "keys/s" not in text and "ETA" not in text
        assert "finished" not in text  # said once, by the summary's status
        assert "c" not in footer_keys(app)
        await pilot.press("c")  # does nothing now: no cancel question
        await pilot.pause(0.1)
        assert app.screen is screen
        await pilot.press("escape")  # esc still closes
        await wait_screen(pilot, "KeyListScreen")


async def test_a_closed_progress_screen_and_its_plan_are_freed() -> None:
    """Three 100k batches grew the console by ~40 MB each: every closed progress screen stayed
    alive (a watcher of the app's stop signal held it), and with it the plan it ran."""

    class Plan:  # stands in for a 100,000-key plan the batch's closure holds
        pass

    plan = Plan()
    plan_ref = weakref.ref(plan)

    def runner(plan: Plan) -> Batch:
        async def batch(cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
            assert plan is not None
            outcome = Outcome(OP, OpStatus.DONE, OpCounts(planned=1, applied=1))
            yield ProgressEvent(OP, Phase.FINISHED, 1, 1, outcome=outcome)

        return batch

    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(pilot, runner(plan))
        del plan
        screen_ref = weakref.ref(screen)
        del screen
        await wait_for(pilot, lambda: app.screen.outcome is not None, "batch finished")  # type: ignore[attr-defined]
        await pilot.pause(0.1)
        assert plan_ref() is None, "the finished screen still holds the plan"
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.pause(0.2)
        # The key list's reload froze what lived then (the screen was still open): frozen
        # objects wait for the next unfreeze (the next batch's end) to be collected.
        gc.unfreeze()
        gc.collect()
        assert screen_ref() is None, "the closed progress screen is still alive"


async def test_closing_the_summary_while_the_run_still_ends_still_reloads_the_list() -> None:
    """The console hears the batch ended once its run has let go of everything, even when the
    operator closed the summary first (the run was still releasing its lock)."""
    releasing = asyncio.Event()

    async def batch(cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
        outcome = Outcome(OP, OpStatus.DONE, OpCounts(planned=1, applied=1))
        yield ProgressEvent(OP, Phase.FINISHED, 1, 1, outcome=outcome)
        await releasing.wait()  # a lock release on a slow Redis

    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(pilot, batch)
        await wait_for(pilot, lambda: screen.outcome is not None, "batch finished")
        assert app.finished_batches == 0
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await wait_for(pilot, lambda: app.finished_batches == 1, "the console told")
        assert app.last_op_id == OP
