"""The console (the real app, on a real terminal driver) running one tag add on `tag:bulk`,
for the hang-up test: the batch writes chunks of 100 keys and, before chunk 3, sets
`test:stalled` and waits until the test sets `test:release`.

python -m tests.support.console_batch REDIS_URL TAG

It starts the batch as the tag editor does once the operator confirmed (`run_plan`); the exit
code is the console's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual import work

import keyops.tui.app
from keyops.core.api import BatchConfig, RunnerSettings, TagEdit, setup_file_logging
from keyops.core.settings import resolve_settings
from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig
from keyops.tui.sources import redis_opener
from tests.support.slow_cli import stall_before


class OneBatchConsole(KeyopsApp):
    # The console's own stylesheet (a relative CSS_PATH would be looked for beside this file).
    CSS_PATH = str(Path(keyops.tui.app.__file__).with_name("keyops.tcss"))

    def __init__(self, url: str, tag: str) -> None:
        runner = RunnerSettings(
            chunk_size=100, verify_delay=0.05, before_chunk=stall_before(3, url)
        )
        super().__init__(
            redis_opener(resolve_settings(url)), batch_config=BatchConfig(runner),
            config=UiConfig(confirm_typed_above=1_000_000),
        )  # fmt: skip
        self.tag = tag

    def on_ready(self) -> None:
        self.start_batch()

    @work(exclusive=True, group="test-batch")
    async def start_batch(self) -> None:
        session = (await self.open_data()).session
        targets = await session.targets("tag:bulk", None)
        plan = await session.plan(targets, TagEdit.build("add", [self.tag]))
        self.run_plan(plan, confirmed=True)


if __name__ == "__main__":
    setup_file_logging()  # as `keyops ui` does
    app = OneBatchConsole(sys.argv[1], sys.argv[2])
    app.run()
    sys.exit(app.return_code or 0)
