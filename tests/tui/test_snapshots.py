"""SVG snapshots of every screen at 100x30 and 80x24 (pytest-textual-snapshot).

Update after an intended change with: ./dev test tests/tui --snapshot-update
Screens whose content carries times or operation ids are fed fixed data, so every run
renders the same picture.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import fakeredis
import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select

from keyops.core.api import KeyopsSession
from keyops.core.batch import names as op_names
from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.operations import OpCounts, OperationRecord, OperationStore, OpStatus
from keyops.core.batch.progress import KeyFailure, Outcome, Phase, ProgressEvent
from keyops.core.edits.registry import OpType
from keyops.core.schema.platforms import BindingField
from keyops.core.seeding.writer import seed_dataset
from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig
from keyops.tui.screens.error import ErrorScreen
from keyops.tui.screens.progress import ProgressScreen
from tests.tui.conftest import (
    DEMO_NOW,
    demo_app,
    static_text,
    type_filter,
    usage_fixture_app,
    wait_for,
    wait_loaded,
    wait_screen,
)

SIZES = [(100, 30), (80, 24)]
SIZE_IDS = ["100x30", "80x24"]
Before = Callable[[Pilot[Any]], Awaitable[None]]

OPERATOR = OperatorIdentity(os_user="alice", host="bastion", pid=4242, ssh_client="10.0.0.9")
T0 = DEMO_NOW.timestamp()


def snap(snap_compare: Any, app: KeyopsApp, size: tuple[int, int], before: Before) -> None:
    async def steady(pilot: Pilot[Any]) -> None:
        await before(pilot)
        # A blinking cursor is drawn or not depending on when the picture is taken: hold it on.
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=steady)


async def marked_team_a(pilot: Pilot[Any]) -> None:
    await wait_loaded(pilot)
    await type_filter(pilot, "tag:team-a")
    await pilot.press("asterisk")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_key_list(snap_compare: Any, size: tuple[int, int]) -> None:
    snap(snap_compare, demo_app(300), size, wait_loaded)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_key_list_filtered_with_marks_and_a_range(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a | tag:team-b")
        await pilot.press("space", "space", "down", "v", "down", "down")
        await pilot.pause()

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_key_list_bad_query(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("slash", *"tag:prod")
        await pilot.pause(0.1)
        pilot.app.screen.query_one("#filter", Input).value = "tag:prod colour:red"
        await pilot.pause(0.1)

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_key_list_read_only_in_the_terminal_palette(
    snap_compare: Any, size: tuple[int, int]
) -> None:
    app = demo_app(300, read_only=True, config=UiConfig(theme="ansi-dark"))
    snap(snap_compare, app, size, wait_loaded)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_key_detail(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:epsilon-multi")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyDetailScreen")
        await wait_for(pilot, lambda: "isActive" in static_text(pilot.app, "#fields"), "fields")  # type: ignore[arg-type]

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        await wait_screen(pilot, "HelpScreen")

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_tag_editor_with_preview(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await marked_team_a(pilot)
        await pilot.press("t", *"oncall")
        await pilot.press("tab", *"dev")
        await wait_for(
            pilot, lambda: "unchanged" in static_text(pilot.app, "#preview-counts"), "preview"
        )  # type: ignore[arg-type]

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_tag_editor_invalid(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await marked_team_a(pilot)
        await pilot.press("t", *"prod")
        await pilot.press("tab", *"prod")
        await wait_for(pilot, lambda: "both added" in static_text(pilot.app, "#tag-error"), "error")  # type: ignore[arg-type]

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_edit_form_with_spread_and_a_problem(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await marked_team_a(pilot)
        await pilot.press("f")
        await wait_screen(pilot, "KeyEditScreen")
        await pilot.press("tab", *"5", "tab", *"x")
        await wait_for(
            pilot,
            lambda: (
                "keys" in static_text(pilot.app, "#spread-expiry")
                and "not a number" in static_text(pilot.app, "#error-rate_window")
            ),
            "spread and problem",
        )  # type: ignore[arg-type]

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_deleted_keys_view(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("D")
        await wait_for(
            pilot,
            lambda: "status:deleted" in pilot.app.screen.query_one("#filter", Input).value,
            "view",
        )
        await pilot.pause(0.1)

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_account_assignment_with_conflicts(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await marked_team_a(pilot)
        await pilot.press("a")
        await wait_screen(pilot, "AccountAssignScreen")
        app = pilot.app
        assert isinstance(app, KeyopsApp) and app.data is not None
        shared = next(a for a in app.data.catalog.all_accounts() if a.name == "console-loop-shared")
        select = app.screen.query_one(f"#assign-{BindingField.CLAUDE_CONSOLE.value}", Select)
        select.value = f"account:{shared.id}"
        await wait_for(pilot, lambda: "conflicts" in static_text(app, "#assign-counts"), "preview")

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_account_move(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await type_filter(pilot, "account:console-loop-dedicated")
        await pilot.press("m")
        await wait_screen(pilot, "AccountMoveScreen")
        await pilot.press("enter", *"console-loop-s", "enter")
        await wait_for(
            pilot, lambda: "change" in static_text(pilot.app, "#assign-counts"), "preview"
        )  # type: ignore[arg-type]

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_status_confirm_with_refusals(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await type_filter(pilot, "status:deleted | status:disabled | status:expired")
        await pilot.press("asterisk", "e")
        await wait_screen(pilot, "StatusChangeScreen")
        await wait_for(
            pilot, lambda: "unchanged" in static_text(pilot.app, "#status-counts"), "plan"
        )  # type: ignore[arg-type]
        pilot.app.screen.query_one("#atomic", Checkbox).blur()

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_batch_confirm_typed_count(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await marked_team_a(pilot)
        await pilot.press("t", *"oncall")
        await wait_for(
            pilot, lambda: "unchanged" in static_text(pilot.app, "#preview-counts"), "preview"
        )  # type: ignore[arg-type]
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "BatchConfirmScreen")

    snap(snap_compare, demo_app(300, config=UiConfig(confirm_typed_above=10)), size, before)


def canned_batch(final: bool) -> Callable[[Any], AsyncIterator[ProgressEvent]]:
    """A fixed run (ids, rates, failures), so the progress screen renders the same each time."""
    op_id = "20261127-030000-5eed01"
    failure = KeyFailure(
        "k-0042", "team-a-app-000042", "changed by someone else twice", "rerun on it"
    )

    async def events(cancel: Any) -> AsyncIterator[ProgressEvent]:
        yield ProgressEvent(op_id, Phase.LOCKING, 0, 97987, message="locking 97987 keys")
        yield ProgressEvent(
            op_id, Phase.APPLYING, 41200, 97987, 1, 31650.0, 1.8, failures=(failure,)
        )
        if final:
            counts = OpCounts(planned=97987, applied=97986, failed=1, reapplied=3)
            outcome = Outcome(op_id, OpStatus.PARTIAL, counts, failures=(failure,),
                              message="best effort: 1 key failed, the rest stay written")  # fmt: skip
            yield ProgressEvent(op_id, Phase.FINISHED, 97987, 97987, 1, 31650.0, 0, outcome=outcome)
        else:
            await asyncio.Event().wait()  # still running when the picture is taken

    return events


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("final", [False, True], ids=["running", "summary"])
def test_progress(snap_compare: Any, size: tuple[int, int], final: bool) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        pilot.app.push_screen(ProgressScreen("tags add (merge): oncall", canned_batch(final)))
        await wait_screen(pilot, "ProgressScreen")
        await pilot.pause(0.2)

    snap(snap_compare, demo_app(300), size, before)


async def _history_session() -> KeyopsSession:
    """A demo store with two finished operations, one interrupted, and their audit entries."""
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    await seed_dataset(client, 300, now=DEMO_NOW)
    store = OperationStore(client)
    ids = sorted(await client.smembers("apikey:tag:team-c"))[:3]  # type: ignore[misc]
    records = [
        OperationRecord(id="20261127-024500-aa11bb", type=OpType.TAGS, status=OpStatus.DONE,
                        summary="tags add (merge): oncall", operator=OPERATOR, started_at=T0 - 900,
                        finished_at=T0 - 898, counts=OpCounts(planned=3, applied=3)),
        OperationRecord(id="20261127-025000-cc22dd", type=OpType.STATUS, status=OpStatus.DONE,
                        summary="disable", operator=OPERATOR, started_at=T0 - 600,
                        finished_at=T0 - 599, counts=OpCounts(planned=1, applied=1), atomic=False),
        OperationRecord(id="20261127-025500-ee33ff", type=OpType.ACCOUNTS, status=OpStatus.RUNNING,
                        summary="assign claudeConsoleAccountId=account:console-loop-shared",
                        operator=OperatorIdentity(os_user="bob", host="ops1", pid=7),
                        started_at=T0 - 300, counts=OpCounts(planned=40, applied=12)),
    ]  # fmt: skip
    for record in records:
        await store.save(record)
    # What the interrupted one wrote before it stopped: its journal is what recovery counts.
    loop_keys = sorted(await client.smembers("apikey:tag:loop20"))[:12]  # type: ignore[misc]
    await client.hset(op_names.op_journal(records[2].id), mapping={
        key_id: json.dumps({"key": key_id, "changes": {
            "claudeConsoleAccountId": [None, "account:console-loop-shared"]}})
        for key_id in loop_keys
    })  # fmt: skip
    changes = [
        {"key": key_id, "changes": {"tags": ['["team-c"]', '["team-c","oncall"]'],
                                    "updatedAt": [None, "2026-11-27T02:45:00.000Z"]}}
        for key_id in ids
    ]  # fmt: skip
    await client.xadd(op_names.AUDIT_STREAM, {"op": records[0].id, "event": "apply",
                      "keys": json.dumps(changes)}, id=f"{int((T0 - 899) * 1000)}-0")  # fmt: skip
    return KeyopsSession.from_client(client, "demo history")


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_recovery_offered_at_start(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_screen(pilot, "RecoveryScreen")
        await pilot.pause(0.1)

    snap(snap_compare, KeyopsApp(_history_session, clock=DEMO_NOW.timestamp), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_operations_and_audit(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_screen(pilot, "RecoveryScreen")
        await pilot.press("l")
        await wait_loaded(pilot)
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        await pilot.press("down", "down")  # newest first: the finished tag edit is third
        await wait_for(
            pilot, lambda: "applied 3" in static_text(pilot.app, "#entries-title"), "entries"
        )  # type: ignore[arg-type]

    snap(snap_compare, KeyopsApp(_history_session, clock=DEMO_NOW.timestamp), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_export(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        await pilot.press("x")
        await wait_screen(pilot, "ExportScreen")
        pilot.app.screen.query_one(
            "#export-path", Input
        ).value = ""  # the suggested path is under ~
        await pilot.press(*"/nonexistent/dir/audit.csv", "enter")
        await wait_for(
            pilot, lambda: "not a directory" in static_text(pilot.app, "#export-result"), "error"
        )  # type: ignore[arg-type]

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_error_modal(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        pilot.app.push_screen(
            ErrorScreen(
                "operation 20261127-030000-5eed01 is locked by bob@ops1 since 02:59 (ETA 40 s)"
            )
        )
        await wait_screen(pilot, "ErrorScreen")

    snap(snap_compare, demo_app(300), size, before)


@pytest.mark.parametrize("shows", ["dialog", "banner"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_redis_lost(
    snap_compare: Any, size: tuple[int, int], shows: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`d` with Redis gone: the form says why it has no counts, enter says what failed and
    that nothing was written; behind it the banner says since when and how often it retries."""
    import keyops.tui.app as app_module

    # The probe's backoff would change "every 2 s" while the picture is taken.
    monkeypatch.setattr(app_module, "RECONNECT_MAX_SECONDS", app_module.RECONNECT_FIRST_SECONDS)
    # Toasts vanish after a few seconds: whether one is in the picture would depend on timing.
    monkeypatch.setattr(KeyopsApp, "notify", lambda *args, **kwargs: None)
    server = fakeredis.FakeServer()

    async def session() -> KeyopsSession:
        client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
        await seed_dataset(client, 300, now=DEMO_NOW)
        return KeyopsSession.from_client(client, "10.0.0.5:6379")

    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("space", "space")
        server.connected = False
        await pilot.press("d")
        await wait_for(
            pilot, lambda: "not answering" in static_text(pilot.app, "#status-counts"), "form"
        )  # type: ignore[arg-type]
        await pilot.press("enter")
        await wait_screen(pilot, "ErrorScreen")
        if shows == "banner":
            await pilot.press("enter", "escape")
            await wait_screen(pilot, "KeyListScreen")
        await pilot.pause(0.1)

    snap(snap_compare, KeyopsApp(session, clock=DEMO_NOW.timestamp), size, before)


# -- usage: a real CRS's dump after 534 requests, the clock frozen at its dump instant ----------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_key_list_usage_columns_sorted_by_cost_today(
    snap_compare: Any, size: tuple[int, int]
) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        app = pilot.app
        assert isinstance(app, KeyopsApp) and app.data is not None
        live = app.data.live
        await wait_for(pilot, lambda: live.loaded, "usage read")
        await pilot.press("dollar_sign")
        await pilot.pause()

    snap(snap_compare, usage_fixture_app(UiConfig(refresh_usage_seconds=3600)), size, before)


def test_key_detail_usage(snap_compare: Any) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:zeta-unbound-1")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyDetailScreen")
        app = pilot.app
        assert isinstance(app, KeyopsApp)
        await wait_for(pilot, lambda: "CRS would" in static_text(app, "#usage"), "usage shown")
        await wait_for(pilot, lambda: "reading" not in static_text(app, "#fields"), "fields")

    snap(snap_compare, usage_fixture_app(UiConfig(refresh_usage_seconds=3600)), (100, 40), before)
