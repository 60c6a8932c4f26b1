"""Fault scenarios mid-batch, shared by the tests (tests/faults/) and the table in
bench/faults.py: a 10,000-key atomic tag edit and a best-effort disable, each hit at its 30th
chunk by one fault, then recovered the way an operator would, then checked:

- mixed: keys holding part of the change, or a value that is neither before nor after
- doubled: a change applied twice (the tag twice in a list)
- audit: changed keys without exactly one audit entry for the change (rolled-back keys must
  have as many undo entries as change entries)
- untargeted: fields the operation did not target that changed
- journal: keys the journal lists that no audit entry says were written, or the reverse
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from keyops.core.api import BatchConfig, KeyopsSession, RunnerSettings, StatusChange, TagEdit
from keyops.core.batch.audit import AuditLog
from keyops.core.batch.operations import OperationStore, OpStatus
from keyops.core.connection import make_clients
from keyops.core.edits.registry import OpType
from keyops.core.seeding.writer import seed_dataset
from keyops.core.settings import RedisSettings
from tests.support import slow_batch
from tests.support.proxy import FaultyProxy
from tests.support.redis_server import RedisServer, start_redis_server

TAG = "fault-tag"
SOCKET_TIMEOUT = 1.0
FAULT_AT_CHUNK = 30
SCENARIOS = (
    "freeze", "client-kill", "proxy-delay", "proxy-reset", "proxy-drop", "restart", "oom", "sigkill",
)  # fmt: skip
OPS = ("tags-atomic", "disable-best-effort")


@dataclass
class FaultResult:
    scenario: str
    op: str
    first_outcome: str
    recovered: str
    final: str
    targets: int
    changed: int
    unchanged: int
    mixed: int
    doubled: int
    audit_mismatch: int
    untargeted: int
    journal_mismatch: int
    seconds: float

    @property
    def clean(self) -> bool:
        mixed_ok = self.mixed == 0 and (
            self.op != "tags-atomic" or self.changed in (0, self.targets)
        )
        return mixed_ok and not (
            self.doubled or self.audit_mismatch or self.untargeted or self.journal_mismatch
        )


async def _hashes(client: aioredis.Redis, ids: list[str]) -> dict[str, dict[str, str]]:
    pipe = client.pipeline(transaction=False)
    for key_id in ids:
        pipe.hgetall(f"apikey:{key_id}")
    return dict(zip(ids, cast(list[dict[str, str]], await pipe.execute()), strict=True))


def _inject(
    scenario: str, server: RedisServer, admin: aioredis.Redis, proxy: FaultyProxy | None
) -> Any:
    async def freeze() -> None:
        os.kill(server.process.pid, signal.SIGSTOP)
        # Longer than the socket timeout; a thread wakes it, as an operator's SIGCONT would.
        threading.Timer(SOCKET_TIMEOUT * 2.5, os.kill, (server.process.pid, signal.SIGCONT)).start()

    async def client_kill() -> None:
        await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")

    async def proxy_reset() -> None:
        assert proxy is not None
        # Three resets at random points of the stream (seeded: the same points every run).
        proxy.reset_after = proxy.random.randint(1, 200_000)
        proxy.more_resets = 2

    async def proxy_delay() -> None:
        assert proxy is not None
        proxy.delay = SOCKET_TIMEOUT * 0.4  # every packet late, but under the timeout
        asyncio.get_running_loop().call_later(SOCKET_TIMEOUT * 3, setattr, proxy, "delay", 0.0)

    async def proxy_drop() -> None:
        assert proxy is not None
        proxy.drop()  # a silent black hole, longer than the socket timeout
        asyncio.get_running_loop().call_later(SOCKET_TIMEOUT * 2.5, proxy.resume)

    async def restart() -> None:
        # A client that never retries: redis-py retries a command up to 10 times on a dropped
        # connection by default, so the admin client's SHUTDOWN (whose reply is the dropped
        # connection) was sent again and could shut down the restarted server mid-batch.
        once = aioredis.Redis(port=server.port, retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(RedisError):  # the server closes the connection as it goes
            await once.execute_command("SHUTDOWN", "SAVE")
        await once.aclose()
        threading.Thread(target=server.restart).start()

    async def oom() -> None:
        used = int((await admin.info("memory"))["used_memory"])
        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.config_set("maxmemory", str(used + 64 * 1024))

    async def nothing() -> None:  # sigkill: the fault happens to another process
        return None

    return {"freeze": freeze, "client-kill": client_kill, "proxy-delay": proxy_delay, "proxy-reset": proxy_reset,
            "proxy-drop": proxy_drop, "restart": restart, "oom": oom, "sigkill": nothing}[scenario]  # fmt: skip


async def run_fault(scenario: str, op: str, keys: int = 10_000) -> FaultResult:
    started = time.monotonic()
    server = start_redis_server()
    proxy: FaultyProxy | None = None
    admin = aioredis.Redis(port=server.port, decode_responses=True)
    try:
        await seed_dataset(admin, keys)
        port = server.port
        if scenario.startswith("proxy"):
            proxy = FaultyProxy(server.port)
            port = await proxy.start()
        settings = RedisSettings(port=port, socket_timeout=SOCKET_TIMEOUT)
        fired = asyncio.Event()
        inject = _inject(scenario, server, admin, proxy)

        async def before_chunk(index: int) -> None:
            if index == FAULT_AT_CHUNK and not fired.is_set():
                fired.set()
                await inject()

        runner = RunnerSettings(before_chunk=before_chunk, verify_delay=0.05, lock_ttl_ms=8_000)
        session = KeyopsSession(make_clients(settings))
        session.config = BatchConfig(runner)
        service = session
        atomic = op == "tags-atomic"
        targets = await service.targets("" if atomic else "status:active", None)
        if atomic:
            plan = await service.plan(targets, TagEdit.build("add", [TAG]))
        else:
            plan = await service.plan(targets, StatusChange.build(enable=False))
        planned = [write.key_id for write in plan.plans]
        before = await _hashes(admin, planned)
        first = "error"
        if scenario == "sigkill":
            first = await _killed_mid_batch(server, admin, atomic)
        else:
            try:
                async for event in service.run(plan):
                    if event.outcome is not None:
                        first = event.outcome.status.value
            except (RedisError, OSError) as error:
                first = f"error: {type(error).__name__}"
        # The fault is over: the server runs again, memory is back, the link is whole.
        await _until_up(admin)
        await admin.config_set("maxmemory", "0")
        if proxy is not None:
            proxy.resume()
            proxy.reset_after, proxy.more_resets, proxy.delay = None, 0, 0.0
        recovered = await _recover(service, atomic)
        after = await _hashes(admin, planned)
        result = await _check(admin, scenario, op, planned, before, after, atomic)
        result.first_outcome, result.recovered = first, recovered
        records = await OperationStore(admin).recent(10)
        result.final = ",".join(f"{r.type.value}:{r.status.value}" for r in reversed(records))
        result.seconds = time.monotonic() - started
        await session.aclose()
        return result
    finally:
        if proxy is not None:
            await proxy.stop()
        await admin.aclose()
        server.stop()


async def _killed_mid_batch(server: RedisServer, admin: aioredis.Redis, atomic: bool) -> str:
    """The same batch in another keyops process, SIGKILLed at its 30th chunk."""
    await slow_batch.kill_mid_batch(
        admin, f"redis://127.0.0.1:{server.port}/0",
        "" if atomic else "status:active", TAG if atomic else "--disable", str(FAULT_AT_CHUNK),
        lease_wait=0,
    )  # fmt: skip
    return "killed"


async def _until_up(admin: aioredis.Redis) -> None:
    for _ in range(200):
        try:
            await admin.ping()
            return
        except RedisError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the server never came back")


async def _recover(service: KeyopsSession, atomic: bool) -> str:
    """What the operator does next: recover an interrupted op (roll back an atomic one, finish
    a best-effort one), once its lock has lapsed."""
    done = []
    for _ in range(100):
        unfinished = await service.interrupted_operations()
        if unfinished:
            break
        running = [r for r in await service.recent_ops(5) if r.status is OpStatus.RUNNING]
        if not running:
            return "-"
        await asyncio.sleep(0.2)  # its lease has not lapsed yet
    for record in await service.interrupted_operations():
        action = "rollback" if atomic else "resume"
        plan, resume = await service.plan_recovery(record.id, action)
        async for _event in service.run_recovery(plan, resume):
            pass
        done.append(action)
    return "+".join(done) or "-"


async def _check(
    admin: aioredis.Redis, scenario: str, op: str, ids: list[str],
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]], atomic: bool,
) -> FaultResult:  # fmt: skip
    target_field = "tags" if atomic else "isActive"
    changed = unchanged = mixed = doubled = untargeted = 0
    changed_ids: set[str] = set()
    for key_id in ids:
        old, new = before[key_id], after[key_id]
        others_old = {k: v for k, v in old.items() if k not in (target_field, "updatedAt")}
        others_new = {k: v for k, v in new.items() if k not in (target_field, "updatedAt")}
        if others_old != others_new:
            untargeted += 1
        if atomic:
            tags = json.loads(new.get("tags") or "[]")
            doubled += tags.count(TAG) > 1
            expected = [*json.loads(old.get("tags") or "[]"), TAG]
            is_changed = tags == expected
        else:
            is_changed = new.get("isActive") == "false"
        if new == old:
            unchanged += 1
        elif is_changed:
            changed += 1
            changed_ids.add(key_id)
        else:
            mixed += 1
    forward: Counter[str] = Counter()
    backward: Counter[str] = Counter()
    ops = OperationStore(admin)
    types = {}
    async for entry in AuditLog(admin).entries():
        if not entry.key_id:
            continue
        if entry.op_id not in types:
            record = await ops.get(entry.op_id)
            types[entry.op_id] = record.type if record else None
        if entry.event == "rolled-back" or types[entry.op_id] is OpType.ROLLBACK:
            backward[entry.key_id] += 1
        elif entry.event == "applied":
            forward[entry.key_id] += 1
    audit_mismatch = sum(
        1 for key_id in ids
        if (key_id in changed_ids and (forward[key_id] != 1 or backward[key_id] != 0))
        or (key_id not in changed_ids and forward[key_id] != backward[key_id])
    )  # fmt: skip
    journaled: set[str] = set()
    for op_id, kind in types.items():
        if kind in (OpType.TAGS, OpType.STATUS):
            journaled |= set(await ops.journal(op_id))
    journal_mismatch = len(journaled ^ {key_id for key_id in ids if forward[key_id]})
    return FaultResult(scenario, op, "", "", "", len(ids), changed, unchanged, mixed, doubled,
                       audit_mismatch, untargeted, journal_mismatch, 0.0)  # fmt: skip
