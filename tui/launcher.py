"""The `keyops` console script: headless commands run in the core; `demo` and `ui` open the TUI.

Textual is imported only when a console command runs, so `keyops keys list` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.cli.main import main as cli_main


def run_ui(args: argparse.Namespace) -> int:
    from tui.app import make_demo_app, make_redis_app

    if args.command == "demo":
        app = make_demo_app(key_count=args.keys)
    else:
        from core.settings import resolve_settings

        app = make_redis_app(
            resolve_settings(args.redis_url, args.crs_env), read_only=args.read_only
        )
    app.run()
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(argv, ui_runner=run_ui)


if __name__ == "__main__":
    sys.exit(main())
