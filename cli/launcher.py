"""The `keyops` console script: headless commands run in the core; `demo` and `ui` open the TUI.

Textual is imported only when a console command runs, so `keyops keys list` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from keyops.cli.main import main as cli_main


def run_ui(args: argparse.Namespace) -> int:
    from keyops.core.api import BadInput
    from keyops.tui.app import known_binding_ids, make_demo_app, make_redis_app
    from keyops.tui.config import config_path, load_config, unknown_binding_ids

    config = load_config()
    # Knowing every binding id imports every screen: only a keymap needs them checked.
    unknown = unknown_binding_ids(config, known_binding_ids()) if config.keymap else []
    if unknown:
        raise BadInput(
            f"{config_path()}: [keymap] names unknown binding id(s) {', '.join(unknown)}; "
            "press ? in the console to see every id"
        )
    read_only = getattr(args, "read_only", False)
    if args.command == "demo":
        app = make_demo_app(key_count=args.keys, read_only=read_only, config=config)
    else:
        from keyops.core.api import settings_from_args

        app = make_redis_app(settings_from_args(args), read_only=read_only, config=config)
    app.run()
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return cli_main(argv, ui_runner=run_ui)
    except BrokenPipeError:
        # The reader went away (`keyops keys list | head`): stop quietly, as `cat` would, and
        # point stdout at /dev/null so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command cut off this way


if __name__ == "__main__":
    sys.exit(main())
