from __future__ import annotations

from datetime import UTC, datetime

from tui.app import KeyopsApp, make_demo_app

# A fixed clock and seed so screens (and their snapshots) are the same on every run.
DEMO_NOW = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)


def demo_app(key_count: int = 300) -> KeyopsApp:
    return make_demo_app(key_count, now=DEMO_NOW, clock=DEMO_NOW.timestamp)
