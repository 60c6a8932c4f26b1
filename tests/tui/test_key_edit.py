"""The edit form on the demo store: what each field says the keys hold now, checks as typed,
and the read-only rule for the form, delete and purge."""

from __future__ import annotations

from collections import Counter

from keyops.tui.app import KeyopsApp
from tests.tui.conftest import (
    demo_app,
    static_text,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)

SIZE = (80, 24)


def targets(app: KeyopsApp) -> list[str]:
    assert app.data is not None
    return app.data.marked_ids()


async def test_each_field_says_how_its_values_spread_over_the_marked_keys() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        await pilot.press("asterisk", "f")
        await wait_screen(pilot, "KeyEditScreen")
        await wait_for(
            pilot, lambda: "keys" in static_text(app, "#spread-concurrency"), "spread read"
        )
        assert app.data is not None
        read = app.data.session.clients.read
        held = Counter(
            [
                await read.hget(f"apikey:{key_id}", "concurrencyLimit") or "0"
                for key_id in targets(app)
            ]
        )
        (top, top_count), *rest = held.most_common()
        expected = f"{top} on {top_count} keys" + "".join(f", {v} on {n}" for v, n in rest)
        assert len(held) > 1, "the sample's team-a keys hold more than one concurrency"
        assert static_text(app, "#spread-concurrency").strip() == expected
        assert static_text(app, "#spread-permissions").strip() == (
            f"all on all {len(targets(app))} keys"
        )


async def test_a_bad_value_is_shown_under_its_field_and_blocks_the_confirm() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        await pilot.press("asterisk", "f")
        await wait_screen(pilot, "KeyEditScreen")
        # concurrency 1.5 (CRS wants a whole number), weekly reset 9@0 (no day 9)
        await pilot.press("tab", *"1.5", *["tab"] * 7, *"9@0")
        await wait_for(
            pilot, lambda: "not a whole number" in static_text(app, "#error-concurrency"), "error"
        )
        assert "DAY@HOUR" in static_text(app, "#error-weekly_reset")
        assert static_text(app, "#error-token_limit").strip() == ""
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "KeyEditScreen"  # no confirm, nothing run
        assert app.data is not None
        read = app.data.session.clients.read
        assert all(
            [await read.hget(f"apikey:{k}", "concurrencyLimit") != "1.5" for k in targets(app)]
        )
        # Fixed, the form previews and goes on to the confirm.
        app.screen.query_one("#edit-concurrency").value = "3"  # type: ignore[attr-defined]
        app.screen.query_one("#edit-weekly_reset").value = "tue@4"  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "change" in static_text(app, "#edit-preview"), "preview")
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "BatchConfirmScreen")


async def test_a_read_only_session_opens_no_form_delete_or_purge() -> None:
    app = demo_app(300, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        for key in ("f", "x", "r", "P"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert type(app.screen).__name__ == "KeyListScreen", key
        messages = [n.message for n in app._notifications]
        assert sum("Read-only session" in m for m in messages) == 4
        # The deleted view only reads: it still works.
        await pilot.press("D")
        await wait_for(
            pilot,
            lambda: "status:deleted" in app.screen.query_one("#filter").value,
            "view",  # type: ignore[attr-defined]
        )
