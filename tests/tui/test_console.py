"""What holds on every screen: palette, help, read-only, remapped keys, config errors, a
terminal-palette theme, 80x24 without a mouse, and a lost Redis connection."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from keyops.core.api import KeyopsSession
from keyops.core.errors import BadInput
from keyops.core.seeding.writer import seed_dataset
from keyops.core.store import key_table
from keyops.tui.app import known_binding_ids
from keyops.tui.config import UiConfig, load_config, unknown_binding_ids
from tests.tui.conftest import (
    DEMO_NOW,
    add_tag_to_marked,
    demo_app,
    key_view,
    session_app,
    shown_names,
    static_text,
    status_line,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)


def palette_titles(app) -> list[str]:  # type: ignore[no-untyped-def]
    from textual.command import CommandList

    options = app.screen.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_colon_opens_the_palette_and_runs_an_action_by_name() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("colon")
        await wait_screen(pilot, "CommandPalette")
        await pilot.press(*"disable")
        await wait_for(pilot, lambda: any("Disable keys" in t for t in palette_titles(app)), "hit")
        await pilot.press("enter")
        await wait_screen(pilot, "StatusChangeScreen")


async def test_the_palette_lists_every_action_of_the_screen() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("ctrl+p")
        await wait_screen(pilot, "CommandPalette")
        await wait_for(pilot, lambda: len(palette_titles(app)) > 10, "commands listed")
        titles = " | ".join(palette_titles(app))
        for title in ("Edit tags", "Assign accounts", "Enable keys", "Disable keys",
                      "Mark all shown", "Operations and audit", "Sort by last used", "Help"):  # fmt: skip
            assert title in titles


async def test_help_lists_the_keys_of_the_screen_with_their_ids() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        await wait_screen(pilot, "HelpScreen")
        keys = static_text(app, "#help-keys")
        for binding_id in (
            "keys.mark",
            "keys.range",
            "keys.mark_shown",
            "keys.tags",
            "app.palette",
        ):
            assert binding_id in keys
        assert "marks survive" in static_text(app, "#help-text")
        await pilot.press("escape", "o")
        await wait_screen(pilot, "OperationsScreen")
        await pilot.press("f1")
        await wait_screen(pilot, "HelpScreen")
        assert "ops.revert" in static_text(app, "#help-keys")


async def test_read_only_turns_off_every_mutating_action_and_says_so() -> None:
    app = demo_app(300, read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        assert "READ-ONLY" in static_text(app, "#banner")
        assert "READ-ONLY" in status_line(app)
        await pilot.press("space")
        for key in ("t", "a", "e", "d"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert type(app.screen).__name__ == "KeyListScreen", key
        await pilot.press("ctrl+p")
        await wait_screen(pilot, "CommandPalette")
        await wait_for(pilot, lambda: len(palette_titles(app)) > 5, "commands listed")
        titles = " | ".join(palette_titles(app))
        assert "Edit tags" not in titles and "Disable keys" not in titles
        assert "Mark all shown" in titles
        await pilot.press("escape")
        await pilot.press("question_mark")
        await wait_screen(pilot, "HelpScreen")
        assert "(off: read-only)" in static_text(app, "#help-keys")


async def test_bindings_are_remapped_from_the_config() -> None:
    app = demo_app(300, config=UiConfig(keymap={"keys.mark": "x", "keys.tags": "T"}))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("x")
        await pilot.pause()
        assert status_line(app).startswith("1 marked")
        await pilot.press("space")  # no longer the mark key
        await pilot.pause()
        assert status_line(app).startswith("1 marked")
        await pilot.press("T")
        await wait_screen(pilot, "TagEditorScreen")


def test_config_file_problems_are_reported_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert load_config(tmp_path / "missing.toml") == UiConfig()
    cases = {
        "theme = ": "not valid TOML",
        "colour = 'red'": "unknown setting(s) colour",
        "confirm_typed_above = -1": "confirm_typed_above must be a whole number",
        "confirm_typed_above = 'ten'": "confirm_typed_above must be a whole number",
        "theme = 3": "theme must be a string",
        "[keymap]\n'keys.mark' = 3": "[keymap] maps binding ids to key strings",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(BadInput, match=re.escape(message)):
            load_config(path)
    path.write_text("theme = 'ansi-dark'\nconfirm_typed_above = 50\n[keymap]\n'keys.mark' = 'x'\n")
    assert load_config(path) == UiConfig("ansi-dark", 50, {"keys.mark": "x"})
    known = known_binding_ids()
    assert {"keys.mark", "tags.apply", "progress.cancel", "ops.revert", "app.help"} <= known
    assert unknown_binding_ids(UiConfig(keymap={"keys.mrak": "x"}), known) == ["keys.mrak"]


def test_an_unknown_binding_id_stops_the_console_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "keyops"
    config.mkdir()
    (config / "config.toml").write_text("[keymap]\n'keys.mrak' = 'x'\n")
    result = subprocess.run(
        [sys.executable, "-m", "keyops", "demo"],
        env={"XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown binding id(s) keys.mrak" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_terminal_palette_theme_renders() -> None:
    app = demo_app(300, config=UiConfig(theme="ansi-dark"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        assert app.theme == "ansi-dark"
        # 13 characters: whole in the name column at 80 columns beside the usage columns.
        assert "delta-bedrock" in app.export_screenshot()


async def test_a_whole_tag_batch_at_80x24_with_the_keyboard_only() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-e")
        await pilot.press("asterisk")
        await add_tag_to_marked(pilot, "small-screen")
        assert "done" in static_text(app, "#summary-text")


async def test_a_lost_connection_shows_a_banner_and_reconnects_keeping_marks() -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    await seed_dataset(client, 100, now=DEMO_NOW)
    app = session_app(KeyopsSession.from_client(client, "test"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("space", "space")
        server.connected = False
        app.check_connection()  # the health check runs every 5 s; run it now
        await wait_for(pilot, lambda: "Redis lost at" in static_text(app, "#banner"), "banner")
        assert "retrying every 2 s; marks are kept" in static_text(app, "#banner")
        server.connected = True
        app.check_connection()
        await wait_for(pilot, lambda: static_text(app, "#banner").strip() == "", "banner gone")
        await wait_for(pilot, lambda: "2 marked" in status_line(app), "marks kept")


async def test_the_key_list_follows_the_connection_while_another_screen_is_on_top() -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    await seed_dataset(client, 100, now=DEMO_NOW)
    app = session_app(KeyopsSession.from_client(client, "test"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        first = key_view(app).rows[0]
        await pilot.press("space", "question_mark")
        await wait_screen(pilot, "HelpScreen")
        server.connected = False
        app.check_connection()
        await wait_for(pilot, lambda: bool(app.lost_connection), "connection lost")
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        # The banner was put up while help covered the list.
        assert "Redis lost at" in static_text(app, "#banner")
        await pilot.press("question_mark")
        await wait_screen(pilot, "HelpScreen")
        server.connected = True
        # CRS changes a key while keyops looks away; the reconnect must show it.
        await client.hset(f"apikey:{first.id}", "tags", '["after-outage"]')
        app.check_connection()
        await wait_for(pilot, lambda: not app.lost_connection, "connection back")
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        assert static_text(app, "#banner").strip() == ""
        await type_filter(pilot, "tag:after-outage")
        await wait_for(pilot, lambda: shown_names(app) == [first.name], "list reloaded")
        assert status_line(app).startswith("1 marked")


async def test_the_keys_are_read_once_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # On 100,000 keys a second read at start doubles the wait for the first list.
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    await seed_dataset(client, 100, now=DEMO_NOW)
    reads: list[str] = []
    read_keys = key_table.load_key_table

    async def counted_read(*args: Any, **kwargs: Any) -> key_table.KeyTable:
        reads.append("keys")
        return await read_keys(*args, **kwargs)

    monkeypatch.setattr(key_table, "load_key_table", counted_read)
    app = session_app(KeyopsSession.from_client(client, "test"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.pause(0.5)
        assert reads == ["keys"]


async def _lost_after_load(pilot: Any, server: fakeredis.FakeServer) -> None:
    await wait_loaded(pilot)
    server.connected = False


def _fake_session() -> tuple[fakeredis.FakeServer, KeyopsSession, Any]:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    return server, KeyopsSession.from_client(client, "test"), client


async def test_key_detail_while_redis_is_gone_says_so_and_the_console_stays() -> None:
    server, session, client = _fake_session()
    await seed_dataset(client, 50, now=DEMO_NOW)
    app = session_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await _lost_after_load(pilot, server)
        await pilot.press("enter")
        await wait_screen(pilot, "KeyDetailScreen")
        await wait_for(
            pilot, lambda: "not answering" in static_text(app, "#fields"), "the detail says why"
        )
        assert "cannot read this key" in static_text(app, "#fields")
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        assert app.is_running and "Redis lost at" in static_text(app, "#banner")


async def test_export_while_redis_is_gone_keeps_no_half_file(tmp_path: Path) -> None:
    server, session, client = _fake_session()
    await seed_dataset(client, 50, now=DEMO_NOW)
    app = session_app(session)
    target = tmp_path / "audit.csv"
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        await pilot.press("x")
        await wait_screen(pilot, "ExportScreen")
        server.connected = False
        await pilot.press(*str(target), "enter")
        await wait_for(
            pilot, lambda: "nothing exported" in static_text(app, "#export-result"), "result"
        )
        assert "not answering" in static_text(app, "#export-result")
        assert not target.exists()  # the same path works once Redis is back
        server.connected = True
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "written to" in static_text(app, "#export-result"), "exported"
        )
        assert target.exists() and app.is_running


async def test_a_console_started_while_redis_is_down_connects_by_itself() -> None:
    server, session, client = _fake_session()
    await seed_dataset(client, 50, now=DEMO_NOW)
    server.connected = False
    attempts = 0

    async def opener() -> KeyopsSession:
        nonlocal attempts
        attempts += 1
        await session.ping()  # as KeyopsSession.open fails when Redis is down
        return session

    from keyops.tui.app import KeyopsApp

    app = KeyopsApp(opener)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "Redis lost at" in static_text(app, "#banner"), "banner")
        assert "cannot load keys" in status_line(app)
        server.connected = True
        await wait_loaded(pilot)  # no key pressed: the probe opened the session
        assert "50 keys" in status_line(app) and attempts >= 2
