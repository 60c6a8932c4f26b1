"""The loop the batch benches share: a fresh redis-server seeded with CRS keys, keyops timed
against a plain pipelined baseline run by run, the memory a run adds, and the Redis calls
SLOWLOG kept, with how many arguments each call carried.

A bench supplies what differs (its edit, its baseline, what it does between runs, its output
line); this module does the rest the same way for each of them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import RedisServer, start_redis_server

# SLOWLOG keeps at most 32 words of a call; the last then reads "... (N more arguments)".
SLOWLOG_WORDS = 32


def rss_mb() -> tuple[float, float]:
    """This process's resident memory now and its peak since `reset_peak`, in MB."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux).
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages ("0.63 0.55 0.76"): durations grow when other
    processes take the cores redis-server and the bench need, so reports say how busy the
    machine was."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


class PeakMemory:
    """The memory a run adds: the peak RSS during it minus the RSS when it started."""

    def __init__(self) -> None:
        self.start_mb = 0.0

    def start(self) -> float:
        gc.collect()
        self.start_mb = rss_mb()[0]
        reset_peak()
        return self.start_mb

    def added(self) -> float:
        return rss_mb()[1] - self.start_mb


@dataclass(frozen=True, slots=True)
class SlowCall:
    """One call SLOWLOG kept: how long Redis spent in it and the words it was sent with."""

    ms: float
    words: tuple[bytes, ...]

    @property
    def name(self) -> str:
        return self.words[0].decode(errors="replace").upper() if self.words else ""

    @property
    def is_script(self) -> bool:
        return self.name in ("EVALSHA", "EVAL")

    @property
    def args(self) -> int:
        """How many words the call was sent with, the command name included (SLOWLOG cuts a
        long call short and says how many more there were)."""
        if len(self.words) == SLOWLOG_WORDS and self.words[-1].startswith(b"... ("):
            more = int(self.words[-1][5:].split(b" ", 1)[0])
            return SLOWLOG_WORDS - 1 + more
        return len(self.words)

    def head(self, width: int) -> str:
        """The call's first `width` bytes, written as the benches always wrote them."""
        return str(b" ".join(self.words)[:width])


class SlowLog:
    """The server's SLOWLOG around a run. `threshold_us` (optional) lowers what it keeps:
    0 keeps every call; the log then grows to `max_len` so a whole run fits."""

    def __init__(
        self, client: aioredis.Redis, threshold_us: int | None = None, max_len: int = 200_000
    ) -> None:
        self.client = client
        self.threshold_us = threshold_us
        self.max_len = max_len

    async def reset(self) -> None:
        if self.threshold_us is not None:
            await self.client.config_set("slowlog-log-slower-than", self.threshold_us)
            await self.client.config_set("slowlog-max-len", self.max_len)
        await self.client.slowlog_reset()

    async def read(self) -> list[SlowCall]:
        """Every call kept since `reset`, oldest first, without the bench's own SLOWLOG and
        CONFIG calls."""
        count = self.max_len if self.threshold_us is not None else 1024
        # Raw reply: redis-py's parser joins the words with spaces, losing the argument count.
        raw = await self.client.execute_command("SLOWLOG", "GET", count)
        calls = []
        for entry in reversed(raw):
            words = tuple(w if isinstance(w, bytes) else str(w).encode() for w in entry[3])
            call = SlowCall(int(entry[2]) / 1000, words)
            if call.name not in ("SLOWLOG", "CONFIG"):
                calls.append(call)
        return calls


def longest(calls: Iterable[SlowCall]) -> SlowCall | None:
    return max(calls, key=lambda call: call.ms, default=None)


def call_shapes(calls: Iterable[SlowCall], top: int = 12) -> list[str]:
    """Calls grouped by command and argument count, slowest group first: which call, how big,
    how many of them, their fastest, median and longest time. The fastest is close to what
    the call costs Redis on a quiet machine: other processes only ever add to it."""
    groups: dict[tuple[str, int], list[float]] = {}
    for call in calls:
        groups.setdefault((call.name, call.args), []).append(call.ms)
    ordered = sorted(groups.items(), key=lambda item: -max(item[1]))
    return [
        f"{name} with {args} args: {len(times)} calls, fastest {min(times):.2f} ms, "
        f"median {statistics.median(times):.2f} ms, longest {max(times):.2f} ms, "
        f"{sum(1 for ms in times if ms > 10)} over 10 ms"
        for (name, args), times in ordered[:top]
    ]


@dataclass(slots=True)
class RunLog:
    """What a bench's runs measured: keyops and baseline times, memory, the slow calls."""

    keyops: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    added_mb: float = 0.0
    calls: list[SlowCall] = field(default_factory=list)
    # CPU seconds each keyops run took in redis-server's main thread and in this process:
    # unlike elapsed time, hardly changed by other processes waiting for the same cores.
    redis_cpu: list[float] = field(default_factory=list)
    bench_cpu: list[float] = field(default_factory=list)

    def rates(self, keys: int) -> dict[str, Any]:
        """The medians and keys/s every batch bench reports first, in its order."""
        elapsed, base = statistics.median(self.keyops), statistics.median(self.baseline)
        return {
            "keys": keys, "keyops_s": elapsed, "keyops_keys_per_s": keys / elapsed,
            "baseline_s": base, "baseline_keys_per_s": keys / base, "ratio": elapsed / base,
        }  # fmt: skip

    def longest_call(self) -> tuple[float, str]:
        """The longest call's ms and its first 60 bytes (0.0 and "b''" when none was kept)."""
        call = longest(self.calls)
        return (call.ms, call.head(60)) if call else (0.0, str(b""))

    def script_ms(self) -> list[float]:
        return [call.ms for call in self.calls if call.is_script]


async def timed(action: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await action()
    return time.perf_counter() - start, result


async def measured_run(
    log: RunLog, slowlog: SlowLog, memory: PeakMemory, action: Callable[[], Awaitable[Any]]
) -> Any:
    """One keyops run: SLOWLOG reset, peak memory reset, timed; its calls and memory logged."""
    await slowlog.reset()
    redis_before, bench_before = await redis_cpu(slowlog.client), time.process_time()
    elapsed, result = await timed(action)
    log.bench_cpu.append(time.process_time() - bench_before)
    log.redis_cpu.append(await redis_cpu(slowlog.client) - redis_before)
    log.keyops.append(elapsed)
    log.added_mb = max(log.added_mb, memory.added())
    log.calls += await slowlog.read()
    return result


async def redis_cpu(client: aioredis.Redis) -> float:
    """CPU seconds redis-server's main thread has used (where commands run)."""
    info = await client.info("cpu")
    return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])


async def run_to_end(session: Any, plan: Any) -> Any:
    """Runs a batch plan through the session and returns its outcome, which must be done."""
    outcome = None
    async for event in session.run(plan):
        outcome = event.outcome or outcome
    assert outcome is not None and outcome.status.value == "done", outcome
    return outcome


async def seed(url: str, keys: int) -> float:
    """Seeds `keys` CRS keys with keyops's seeder; the seconds it took."""
    client = aioredis.from_url(url, decode_responses=True)
    start = time.perf_counter()
    await seed_dataset(client, keys)
    elapsed = time.perf_counter() - start
    await client.aclose()
    return elapsed


def prioritise(pid: int, nice: int) -> None:
    """Sets a process's nice value, and its autogroup's when the kernel groups by session."""
    os.setpriority(os.PRIO_PROCESS, pid, nice)
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        autogroup.write_text(str(nice))


@asynccontextmanager
async def seeded_redis(
    keys: int, nice: int | None = None
) -> AsyncIterator[tuple[RedisServer, aioredis.Redis]]:
    """A fresh redis-server on loopback holding `keys` seeded CRS keys, and a client of it.
    `nice`: the server's scheduling priority (below 0 needs root); at -20 it gets a core
    whenever it has work, so SLOWLOG shows its own time as on a quiet machine even while other
    processes keep both cores busy (the bench's own process still competes with them). With
    the kernel's autogroups a nice value only ranks processes of one session, so the server
    gets a session of its own and the value is set on that session's group too."""
    server = start_redis_server(new_session=nice is not None)
    try:
        if nice is not None:
            prioritise(server.process.pid, nice)
        client = aioredis.from_url(server.url, decode_responses=True)
        try:
            if keys:
                await seed_dataset(client, keys)
            yield server, client
        finally:
            await client.aclose()
    finally:
        server.stop()


def size_parser(doc: str | None, sizes: str) -> argparse.ArgumentParser:
    """--sizes and --runs, as every batch bench takes them, and the call report's options."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=sizes)
    parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are reported")
    parser.add_argument(
        "--redis-nice",
        type=int,
        help="run redis-server at this nice value (-20: Redis never waits for a core; root only)",
    )
    parser.add_argument(
        "--slowlog-us",
        type=int,
        help="keep every Redis call slower than this many microseconds (0: every call) and "
        "report the calls by command and argument count, with the load average",
    )
    return parser


def run_sizes(
    args: argparse.Namespace,
    measure: Callable[[int, int, RunOptions], Awaitable[dict[str, Any]]],
    line: Callable[[dict[str, Any]], str],
) -> None:
    """Each size measured in a fresh event loop: its line, then its JSON; with --slowlog-us
    also the load average around it and the shape of the calls it made."""
    if args.redis_nice is not None:
        print(f"  redis-server at nice {args.redis_nice}", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        options = RunOptions(args.slowlog_us, args.redis_nice)
        if options.report:
            print(f"  load average before: {load_average()}", flush=True)
        r = asyncio.run(measure(size, args.runs, options))
        print(line(r), flush=True)
        print("  " + json.dumps(r), flush=True)
        if options.report:
            print(f"  load average after: {load_average()}", flush=True)
            log = options.log
            redis_us = statistics.median(log.redis_cpu) * 1e6 / r["keys"]
            bench_us = statistics.median(log.bench_cpu) * 1e6 / r["keys"]
            print(
                f"  CPU a key (median run): redis-server {redis_us:.0f} us, bench process "
                f"{bench_us:.0f} us",
                flush=True,
            )
            for text in call_shapes(log.calls):
                print(f"    {text}", flush=True)


@dataclass(slots=True)
class RunOptions:
    """What the command line asked of the server (SLOWLOG threshold, nice value), and (for
    the report) what the runs measured."""

    threshold_us: int | None = None
    redis_nice: int | None = None
    log: RunLog = field(default_factory=RunLog)

    @property
    def report(self) -> bool:
        return self.threshold_us is not None

    def slowlog(self, client: aioredis.Redis) -> SlowLog:
        return SlowLog(client, self.threshold_us)
