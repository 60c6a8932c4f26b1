"""Every console workflow on the demo store, driven through the real app with the keyboard:
tags, accounts, status, typed confirm, cancel, operations (export, revert), recovery."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import fakeredis
from textual.widgets import Checkbox, Input, Select

from keyops.core.api import BatchConfig, BatchPlan, KeyopsSession, RunnerSettings, TagEdit
from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.operations import OperationRecord, OperationStore, OpStatus
from keyops.core.edits.registry import OpType
from keyops.core.schema.platforms import BindingField
from keyops.core.seeding.writer import seed_dataset
from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig
from tests.tui.conftest import (
    DEMO_NOW,
    add_tag_to_marked,
    demo_app,
    finish_progress,
    session_app,
    shown_names,
    static_text,
    status_line,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)


def data_of(app: KeyopsApp):  # type: ignore[no-untyped-def]
    assert app.data is not None
    return app.data


async def stored(app: KeyopsApp, name: str, field: str) -> str | None:
    data = data_of(app)
    row = next(row for row in data.table if row.name == name)
    value = await data.session.clients.read.hget(f"apikey:{row.id}", field)
    return None if value is None else str(value)


async def test_tag_a_batch_from_filter_to_summary() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-c")
        team_c = shown_names(app)
        await pilot.press("asterisk", "t")
        await wait_screen(pilot, "TagEditorScreen")
        # The tags the marked keys carry now, with counts.
        assert f"team-c ({len(team_c)})" in static_text(app, "#current-tags")
        await pilot.press(*"oncall")
        await wait_for(pilot, lambda: "unchanged" in static_text(app, "#preview-counts"), "preview")
        assert f"{len(team_c)} change · 0 unchanged · 0 skipped" in static_text(
            app, "#preview-counts"
        )
        assert "oncall" in static_text(app, "#preview-sample")
        # The editor's preview is the confirm: ctrl+s runs.
        await pilot.press("ctrl+s")
        screen = await finish_progress(pilot)
        assert screen.outcome is not None and screen.outcome.status is OpStatus.DONE
        assert screen.outcome.counts.applied == len(team_c)
        assert "done" in static_text(app, "#summary-text")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        for name in team_c:
            assert "oncall" in json.loads(await stored(app, name, "tags") or "[]")
        # The list was reloaded and the marks kept.
        await wait_for(pilot, lambda: status_line(app).startswith(f"{len(team_c)} marked"), "marks")
        await type_filter(pilot, "tag:oncall")
        assert sorted(shown_names(app)) == sorted(team_c)


async def test_the_tag_editor_validates_inline_and_writes_nothing() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-d")
        before = {name: await stored(app, name, "tags") for name in shown_names(app)}
        await pilot.press("asterisk", "t")
        await wait_screen(pilot, "TagEditorScreen")
        app.screen.query_one("#add-tags", Input).value = "aws, gpu"
        app.screen.query_one("#remove-tags", Input).value = "aws"
        await pilot.pause(0.4)
        assert "aws: both added and removed" in static_text(app, "#tag-error")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "TagEditorScreen"  # nothing to confirm
        # Skip mode: keys that already carry an added tag are left alone, and said so.
        app.screen.query_one("#remove-tags", Input).value = ""
        app.screen.query_one("#conflict", Select).value = "skip"
        await wait_for(pilot, lambda: "skipped" in static_text(app, "#preview-counts"), "preview")
        counts = static_text(app, "#preview-counts")
        assert "already carries aws" in counts
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        assert {name: await stored(app, name, "tags") for name in before} == before


async def test_add_and_remove_in_one_edit_with_completion() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:delta-gemini-api")
        await pilot.press("space", "t")
        await wait_screen(pilot, "TagEditorScreen")
        await pilot.press(*"gem")  # completes from the tags Redis holds: "gemini"
        await pilot.pause(0.2)
        await pilot.press("right")  # accepts the suggestion
        assert app.screen.query_one("#add-tags", Input).value == "gemini"
        app.screen.query_one("#add-tags", Input).value = "gpu"
        app.screen.query_one("#remove-tags", Input).value = "team-d"
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")
        await finish_progress(pilot)
        assert json.loads(await stored(app, "delta-gemini-api", "tags") or "") == ["gemini", "gpu"]


async def test_a_large_batch_is_confirmed_by_typing_its_key_count() -> None:
    app = demo_app(300, config=UiConfig(confirm_typed_above=5))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-c")
        first = shown_names(app)[0]
        count = len(shown_names(app))
        assert count > 5
        await pilot.press("asterisk", "t", *"typed")
        await wait_for(pilot, lambda: "unchanged" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "BatchConfirmScreen")
        assert f"Type {count} to go on" in static_text(app, "#confirm-type-hint")
        await pilot.press(*str(count + 1), "enter")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "BatchConfirmScreen"  # the wrong count runs nothing
        assert "typed" not in (await stored(app, first, "tags") or "")
        app.screen.query_one("#confirm-count", Input).value = ""
        await pilot.press(*str(count), "enter")
        await finish_progress(pilot)
        assert "typed" in (await stored(app, first, "tags") or "")


async def test_escape_on_the_tag_editor_writes_nothing() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:eta-limited")
        await pilot.press("space", "t", *"nope")
        await wait_for(pilot, lambda: "unchanged" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        assert "nope" not in (await stored(app, "eta-limited", "tags") or "")


async def test_assign_accounts_with_conflicts_needing_overwrite() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:alpha-console-* | name:eta-limited")
        assert len(shown_names(app)) == 4
        await pilot.press("asterisk", "a")
        await wait_screen(pilot, "AccountAssignScreen")
        data = data_of(app)
        shared = next(a for a in data.catalog.all_accounts() if a.name == "console-loop-shared")
        app.screen.query_one(
            f"#assign-{BindingField.CLAUDE_CONSOLE.value}", Select
        ).value = f"account:{shared.id}"
        await wait_for(pilot, lambda: "conflicts" in static_text(app, "#assign-counts"), "preview")
        # eta-limited is unbound: it changes; the alpha keys are bound elsewhere.
        assert "1 change" in static_text(app, "#assign-counts")
        conflicts = static_text(app, "#assign-conflicts")
        assert "alpha-console-1" in conflicts and "console-loop-dedicated" in conflicts
        app.screen.query_one("#overwrite", Checkbox).value = True
        await wait_for(pilot, lambda: "4 change" in static_text(app, "#assign-counts"), "overwrite")
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "BatchConfirmScreen")
        await pilot.press("enter")
        screen = await finish_progress(pilot)
        assert screen.outcome is not None and screen.outcome.counts.applied == 4
        for name in ("alpha-console-1", "alpha-console-2", "alpha-console-3", "eta-limited"):
            assert await stored(app, name, "claudeConsoleAccountId") == shared.id


async def test_unhealthy_hard_fail_accounts_are_refused_unless_forced() -> None:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    await seed_dataset(client, 100, now=DEMO_NOW)
    session = KeyopsSession.from_client(client, "test")
    catalog = await session.load_accounts()
    responses = next(a for a in catalog.all_accounts() if a.name == "responses-loop-dedicated")
    # CRS fails OpenAI-Responses requests on an unhealthy account instead of falling back.
    await client.hset(f"openai_responses_account:{responses.id}", "status", "unauthorized")
    app = session_app(session)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:eta-limited")
        await pilot.press("space", "a")
        await wait_screen(pilot, "AccountAssignScreen")
        select = app.screen.query_one(f"#assign-{BindingField.OPENAI.value}", Select)
        # The list says what each account is before anyone picks it.
        labels = [str(option[0]) for option in select._options]
        assert any(
            "responses-loop-dedicated · openai-responses · dedicated · unhealthy (status unauthorized)"
            in label
            for label in labels
        ), labels
        assert any("group grp-openai-loop · openai · 1 members" in label for label in labels)
        select.value = f"account:{responses.id}"
        await wait_for(pilot, lambda: "unhealthy" in static_text(app, "#assign-error"), "refusal")
        assert "--force" in static_text(app, "#assign-error")
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "AccountAssignScreen"
        app.screen.query_one("#force", Checkbox).value = True
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#assign-counts"), "forced")
        warnings = static_text(app, "#assign-warnings")
        assert "unhealthy" in warnings
        # It is dedicated and already serves other keys: flagged too.
        assert "dedicated account 'responses-loop-dedicated' will be bound to" in warnings


async def test_disable_and_enable_say_which_keys_are_refused_and_why() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "status:deleted")
        deleted = len(shown_names(app))
        assert deleted > 0
        await pilot.press("asterisk")
        await type_filter(pilot, "name:lambda-to-disable | name:eta-limited")
        await pilot.press("asterisk", "e")
        await wait_screen(pilot, "StatusChangeScreen")
        await wait_for(pilot, lambda: "unchanged" in static_text(app, "#status-counts"), "plan")
        # lambda is disabled: it changes; eta is active already; deleted keys are refused.
        assert f"1 change · 1 unchanged · {deleted} skipped" in static_text(app, "#status-counts")
        assert "deleted" in static_text(app, "#status-refused")
        await pilot.press("enter")
        await finish_progress(pilot)
        assert await stored(app, "lambda-to-disable", "isActive") == "true"
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("U")
        await type_filter(pilot, "name:eta-limited")
        await pilot.press("space", "d")
        await wait_screen(pilot, "StatusChangeScreen")
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#status-counts"), "plan")
        await pilot.press("enter")
        await finish_progress(pilot)
        assert await stored(app, "eta-limited", "isActive") == "false"


async def test_enabling_an_expired_key_needs_a_new_expiry() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "status:expired")
        expired = shown_names(app)
        if not expired:  # the demo seeds expired keys; say so if it ever stops
            raise AssertionError("demo data has no expired key")
        await pilot.press("space", "e")
        await wait_screen(pilot, "StatusChangeScreen")
        await wait_for(pilot, lambda: "skipped" in static_text(app, "#status-counts"), "plan")
        assert "expired" in static_text(app, "#status-refused")
        app.screen.query_one("#expires", Input).value = "2001-01-01"
        await wait_for(
            pilot, lambda: "in the past" in static_text(app, "#status-error"), "bad date"
        )
        app.screen.query_one("#expires", Input).value = "never"
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#status-counts"), "replan")
        await pilot.press("escape")


async def test_cancel_rolls_an_atomic_batch_back() -> None:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    await seed_dataset(client, 300, now=DEMO_NOW)
    release = asyncio.Event()

    async def stall(index: int) -> None:
        if index == 1:
            await release.wait()

    session = KeyopsSession.from_client(client, "test")
    config = BatchConfig(RunnerSettings(chunk_size=10, verify_delay=0, before_chunk=stall))
    app = session_app(session, batch_config=config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:loop20")
        names = shown_names(app)
        assert len(names) == 20  # two chunks of 10: the first lands, the second waits
        before = [await stored(app, name, "tags") for name in names]
        await pilot.press("asterisk", "t", *"cancelme")
        await wait_for(pilot, lambda: "unchanged" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "ProgressScreen")
        for _ in range(100):  # the first chunk has landed: the batch is half-way
            if "cancelme" in (await stored(app, names[0], "tags") or ""):
                break
            await pilot.pause(0.05)
        assert "cancelme" in (await stored(app, names[0], "tags") or "")
        assert "cancelme" not in (await stored(app, names[-1], "tags") or "")
        # Keys answer while the batch runs; enter does not close a running batch.
        await pilot.press("enter")
        assert type(app.screen).__name__ == "ProgressScreen"
        await pilot.press("c")
        await wait_screen(pilot, "ConfirmScreen")
        await pilot.press("y")
        release.set()
        screen = await finish_progress(pilot)
        assert screen.outcome is not None
        assert screen.outcome.status in (OpStatus.ROLLED_BACK, OpStatus.CANCELLED)
        assert [await stored(app, name, "tags") for name in names] == before


async def test_operations_screen_filters_exports_and_reverts(tmp_path: Path) -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-e")
        names = shown_names(app)
        before = {name: await stored(app, name, "tags") for name in names}
        await pilot.press("asterisk")
        screen = await add_tag_to_marked(pilot, "revertme")
        assert screen.outcome is not None
        op_id = screen.outcome.op_id
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        from textual.widgets import DataTable

        ops = app.screen.query_one("#ops", DataTable)
        await wait_for(pilot, lambda: ops.row_count == 1, "operation listed")
        assert ops.get_row_at(0)[0] == op_id
        entries = app.screen.query_one("#entries", DataTable)
        await wait_for(pilot, lambda: entries.row_count == len(names), "per-key entries")
        assert {entries.get_row_at(i)[1] for i in range(entries.row_count)} == set(names)
        # Filters: a type that matches nothing, then a key by name.
        await pilot.press("slash", *"type:status", "enter")
        await wait_for(pilot, lambda: ops.row_count == 0, "type filter")
        app.screen.query_one("#ops-filter", Input).value = ""
        await pilot.press("slash", *f"key:{names[0]}", "enter")
        await wait_for(pilot, lambda: ops.row_count == 1, "key filter")
        await wait_for(pilot, lambda: entries.row_count == 1, "one key's entry")
        app.screen.query_one("#ops-filter", Input).value = ""
        await pilot.press("slash", *"since:yesterday", "enter")
        await wait_for(pilot, lambda: "not a date" in static_text(app, "#ops-error"), "bad date")
        app.screen.query_one("#ops-filter", Input).value = ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: ops.row_count == 1, "filter cleared")
        # Export, CSV then JSON; an existing file is never overwritten.
        for fmt in ("csv", "json"):
            target = tmp_path / f"audit.{fmt}"
            await pilot.press("x")
            await wait_screen(pilot, "ExportScreen")
            from textual.widgets import Select

            app.screen.query_one("#export-format", Select).value = fmt
            app.screen.query_one("#export-path", Input).value = str(target)
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: "written to" in static_text(app, "#export-result"), "export"
            )
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: "exists" in static_text(app, "#export-result"), "no overwrite"
            )
            await pilot.press("escape")
            await wait_screen(pilot, "OperationsScreen")
        with (tmp_path / "audit.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert {row["key_id"] for row in rows if row["field"] == "tags"} == {
            row.id for row in data_of(app).table if row.name in names
        }
        lines = (tmp_path / "audit.json").read_text().splitlines()
        assert any(json.loads(line)["op_id"] == op_id for line in lines)
        # Revert: through the confirm and progress, the keys get their tags back.
        await pilot.press("r")
        await wait_screen(pilot, "BatchConfirmScreen")
        await pilot.press("enter")
        await finish_progress(pilot)
        assert {name: await stored(app, name, "tags") for name in names} == before


async def test_an_interrupted_operation_is_offered_for_recovery_at_start() -> None:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    await seed_dataset(client, 100, now=DEMO_NOW)
    record = OperationRecord(
        id="20261127-030000-abc123", type=OpType.TAGS, summary="tags add (merge): x",
        params={"action": "add", "tags": ["x"], "conflict": "merge", "atomic": True, "remove": []},
        operator=OperatorIdentity(os_user="bob", host="ops1", pid=7),
    )  # fmt: skip
    await OperationStore(client).save(record)  # marked running, and no lease: it died
    app = session_app(KeyopsSession.from_client(client, "test"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_screen(pilot, "RecoveryScreen")
        text = static_text(app, "#recovery-text")
        assert "20261127-030000-abc123" in text and "bob@ops1" in text
        await pilot.press("b")  # roll back (it wrote nothing: the rollback just closes it)
        await finish_progress(pilot)
        stored_record = await OperationStore(client).get(record.id)
        assert stored_record is not None and stored_record.status is OpStatus.ROLLED_BACK


async def test_an_interrupted_rollback_is_offered_as_finishing_it_and_closes_both() -> None:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    await seed_dataset(client, 100, now=DEMO_NOW)
    ids = sorted(await client.smembers("apikey:tag:team-c"))[:6]  # type: ignore[misc]
    before = {key_id: await client.hget(f"apikey:{key_id}", "tags") for key_id in ids}
    session = KeyopsSession.from_client(client, "test", BatchConfig(RunnerSettings(verify_delay=0)))
    store = OperationStore(client)

    async def ran(plan: BatchPlan) -> str:
        events = [event async for event in session.run(plan)]
        return events[-1].op_id

    async def died(op_id: str) -> None:  # as a killed process leaves it: running, no lease
        record = await store.get(op_id)
        assert record is not None
        await store.save(record.model_copy(update={"status": OpStatus.RUNNING}))

    original = await ran(await session.plan(ids, TagEdit.build("add", ["oncall"])))
    await died(original)
    undo, _ = await session.plan_recovery(original, "rollback")
    undo.plans = undo.plans[:2]  # its rollback restored two keys, then died too
    rollback = await ran(undo)
    await died(original)
    await died(rollback)

    app = session_app(KeyopsSession.from_client(client, "test"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_screen(pilot, "RecoveryScreen")
        text = static_text(app, "#recovery-text")
        assert rollback in text and "never undone" in text
        await pilot.press("b")  # finishes the rollback: never puts the tag back
        await finish_progress(pilot)
        assert {key_id: await client.hget(f"apikey:{key_id}", "tags") for key_id in ids} == before
        for op_id, status in ((original, OpStatus.ROLLED_BACK), (rollback, OpStatus.DONE)):
            record = await store.get(op_id)
            assert record is not None and record.status is status
        await pilot.pause(0.2)
