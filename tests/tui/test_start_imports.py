"""What the console imports to show the key list: not the batch engine, the edit kinds,
pydantic or the screens an action opens. Those cost the start ~0.3 s of CPU at every launch
(bench/console_100k), and are imported when an action first needs them.

The console runs as `keyops ui` starts it (the launcher, the operator's config), headless,
against a real Redis holding CRS's own dump, until the list is up, usage has been read and
interrupted operations have been looked for; then the process says what it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import redis.asyncio as aioredis

from tests.support.redis_server import RedisServer

# `keyops ui --redis-url URL`, with the app run headless instead of in the terminal.
PROBE = """
import asyncio, json, sys
from keyops.tui.app import KeyopsApp

async def drive(app):
    async with app.run_test(size=(100, 30)) as pilot:
        def settled():
            status = str(app.screen.query_one("#status-line").render())
            looking = any(w.group == "recovery" and not w.is_finished for w in app.workers)
            return ("shown of" in status and "filtering" not in status
                    and app.data.live.reads > 0 and app.recovery_offered and not looking)
        for _ in range(600):
            await pilot.pause(0.05)
            if settled():
                break
        else:
            raise SystemExit("the key list never settled")
        app.exit()

def run_headless(app):
    asyncio.run(drive(app))

KeyopsApp.run = run_headless
from keyops.cli.launcher import main
main(["ui", "--redis-url", sys.argv[1]])
heavy = ("pydantic", "keyops.core.batch.operations", "keyops.core.batch.planning",
         "keyops.core.batch.runner", "keyops.core.batch.recovery", "keyops.core.edits",
         "keyops.tui.screens.operations", "keyops.tui.screens.progress",
         "keyops.tui.screens.key_edit", "keyops.tui.edit_fields")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))
"""


def imported_by_the_console(url: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, url], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


async def test_the_key_list_starts_without_the_batch_engine_or_pydantic(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    assert imported_by_the_console(redis_server.url) == []
