"""The console's numbers: first paint, listing 100,000 keys, filter latency, batch responsiveness.

Issue 4's numbers: demo first paint, time to list 100,000 keys, filter keystroke-to-repaint latency at 100,000 keys, RSS with them listed, and how fast the UI
answers keys while a 100,000-key tag batch runs.

    ./dev bench console [--keys 100000] [--runs 3]

Everything runs the real app headless (`App.run_test`, the same compositor and widgets as a
terminal) in a fresh Python process per run, against a real redis-server on loopback seeded
with keyops's seeder. Targets: filter at most 50 ms per keystroke, RSS under 250 MB, keys
answered within 100 ms during a 100k batch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

from bench.support.harness import seed
from tests.support.redis_server import start_redis_server

DEMO_CHILD = r"""
import time
started = time.perf_counter()
import asyncio, json
from keyops.tui.app import make_demo_app
imported = time.perf_counter() - started

async def main():
    app = make_demo_app(2000)
    async with app.run_test(size=(100, 30)) as pilot:
        first_paint = time.perf_counter() - started   # run_test yields after the first frame
        while "shown of" not in str(app.screen.query_one("#status-line").render()):
            await asyncio.sleep(0.005)
        await pilot.pause()
        listed = time.perf_counter() - started
    print(json.dumps({"imported": imported, "first_paint": first_paint, "listed": listed}))

asyncio.run(main())
"""

LIST_CHILD = r"""
import time
started = time.perf_counter()
import asyncio, json, sys
from keyops.core.settings import resolve_settings
from keyops.tui.app import make_redis_app
from keyops.tui.config import UiConfig

QUERIES = ["tag:team-a", "status:disabled", "name:team-b-app-0001*", "bound:claude"]

def rss_mb():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

async def wait_until(check, timeout=120):
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.001)

def send_key(app, key):
    # What a terminal does: the driver hands the app a key event. pilot.press would also
    # wait for the app to go idle, which is not part of what an operator waits for.
    from textual import events
    from textual.keys import _character_to_key
    name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
    event = events.Key(name, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)

async def main():
    result = {}
    app = make_redis_app(resolve_settings(sys.argv[1]), config=UiConfig(confirm_typed_above=500))
    async with app.run_test(size=(100, 30)) as pilot:
        result["first_paint"] = time.perf_counter() - started
        status = lambda: str(app.screen.query_one("#status-line").render())
        await wait_until(lambda: "shown of" in status() and "filtering" not in status())
        await pilot.pause()
        result["listed"] = time.perf_counter() - started
        result["status"] = status()
        result["rss_mb"], result["peak_rss_mb"] = rss_mb()
        view = app.screen.query_one("#keys")
        painted = [0.0]
        original = view.render_line
        def render_line(y):
            painted[0] = time.perf_counter()
            return original(y)
        view.render_line = render_line

        # Filter: typed a key at a time at a fast typist's pace (one key per 150 ms), each
        # timed from the key to the list repainted with the rows it selects, and to the
        # filter complete (it scans 25,000 rows per event-loop turn after the first repaint).
        latencies, completes = [], []
        screen = app.screen
        for query in QUERIES:
            await pilot.press("slash")
            await asyncio.sleep(0.2)
            for char in query:
                rows_before = view.rows
                start = time.perf_counter()
                send_key(app, char)
                try:
                    await wait_until(lambda: view.rows is not rows_before and painted[0] > start, 2)
                except TimeoutError:
                    await asyncio.sleep(0.15)
                    continue  # the keystroke left the query invalid: the list stays, no repaint due
                latencies.append(time.perf_counter() - start)
                await wait_until(lambda: screen._scan is None or screen._scan.complete, 5)
                completes.append(time.perf_counter() - start)
                await asyncio.sleep(0.15)
            await pilot.press("escape")
            await wait_until(lambda: "filtering" not in status())
            await pilot.pause()
        result["filter_ms"] = [round(x * 1000, 1) for x in latencies]
        result["filter_complete_ms"] = [round(x * 1000, 1) for x in completes]

        # Mark all 100k, plan a tag edit, run it, and keep pressing keys while it runs.
        start = time.perf_counter()
        await pilot.press("asterisk")
        await wait_until(lambda: status().startswith(f"{len(view.rows)} marked"))
        result["mark_all_s"] = time.perf_counter() - start
        await pilot.press("t", *sys.argv[2])
        await wait_until(lambda: "unchanged" in str(app.screen.query_one("#preview-counts").render()))
        await pilot.press("ctrl+s")
        await wait_until(lambda: type(app.screen).__name__ == "BatchConfirmScreen")
        count = len(app.screen.plan.plans)
        await pilot.press(*str(count), "enter")
        await wait_until(lambda: type(app.screen).__name__ == "ProgressScreen")
        progress = app.screen
        gaps, last, stalls = [], [time.perf_counter()], []
        run_start = time.perf_counter()
        def tick():
            now = time.perf_counter()
            if progress.outcome is None:  # the run itself, not the reload after it
                gaps.append(now - last[0])
                if now - last[0] > 0.05:
                    stalls.append((round(now - run_start, 2), round((now - last[0]) * 1000), progress.last.phase.value if progress.last else "-"))
            last[0] = now
        timer = app.set_interval(0.01, tick)
        key_ms = []
        run_start = time.perf_counter()
        while progress.outcome is None:
            start = time.perf_counter()
            send_key(app, "c")
            await wait_until(lambda: type(app.screen).__name__ == "ConfirmScreen" or progress.outcome is not None)
            if type(app.screen).__name__ == "ConfirmScreen":
                key_ms.append((time.perf_counter() - start) * 1000)
                send_key(app, "n")
                await wait_until(lambda: app.screen is progress)
            await asyncio.sleep(0.15)
        timer.stop()
        result["batch_s"] = time.perf_counter() - run_start
        result["batch_status"] = progress.outcome.status.value
        result["batch_applied"] = progress.outcome.counts.applied
        result["key_ms"] = [round(x, 1) for x in key_ms]
        result["max_loop_gap_ms"] = round(max(gaps) * 1000, 1) if gaps else None
        result["stalls_over_50ms"] = stalls
        result["rss_after_batch_mb"] = rss_mb()[0]
    print(json.dumps(result))

asyncio.run(main())
"""


def child(code: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    demo = [child(DEMO_CHILD) for _ in range(args.runs)]
    print("demo (2,000 keys, in-process store), seconds from process start:")
    for name in ("imported", "first_paint", "listed"):
        values = [float(str(run[name])) for run in demo]
        print(
            f"  {name:12} median {statistics.median(values):.2f} s  runs {[round(v, 2) for v in values]}"
        )

    server = start_redis_server()
    try:
        started = time.perf_counter()
        asyncio.run(seed(server.url, args.keys))
        print(
            f"seeded {args.keys} keys in {time.perf_counter() - started:.1f} s (redis-server port {server.port})"
        )
        for run in range(args.runs):
            # Each run adds its own tag to every key, so every run writes all of them.
            result = child(LIST_CHILD, server.url, f"bench-run-{run + 1}")
            filter_ms = [float(x) for x in result.pop("filter_ms")]  # type: ignore[attr-defined]
            complete_ms = [float(x) for x in result.pop("filter_complete_ms")]  # type: ignore[attr-defined]
            key_ms = [float(x) for x in result.pop("key_ms")]  # type: ignore[attr-defined]
            print(f"run {run + 1}: {json.dumps(result)}")
            print(
                f"  filter keystroke->repaint: n={len(filter_ms)} median {statistics.median(filter_ms):.1f} ms, "
                f"p95 {pct(filter_ms, 0.95):.1f} ms, max {max(filter_ms):.1f} ms; "
                f"filter complete: median {statistics.median(complete_ms):.1f} ms, max {max(complete_ms):.1f} ms"
            )
            if key_ms:
                print(
                    f"  keys during the batch (c opens the cancel confirm): n={len(key_ms)} "
                    f"median {statistics.median(key_ms):.1f} ms, max {max(key_ms):.1f} ms"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
