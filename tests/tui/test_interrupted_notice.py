"""The console says at start-up when a keyops process left an operation half-done."""

from __future__ import annotations

import fakeredis

from core.batch.identity import OperatorIdentity
from core.batch.operations import OperationRecord, OperationStore, OpType
from core.seeding.writer import seed_dataset
from core.session import CrsSession
from tests.tui.test_key_list import wait_loaded
from tui.app import KeyopsApp


async def test_an_interrupted_operation_is_announced_with_how_to_recover() -> None:
    async def opener() -> CrsSession:
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
        await seed_dataset(client, 100)
        record = OperationRecord(
            id="20261127-030000-abc123", type=OpType.TAGS, summary="tags add (merge): x",
            operator=OperatorIdentity(os_user="bob", host="ops1", pid=7),
        )  # fmt: skip
        await OperationStore(client).save(record)  # marked running, and no lease: it died
        return CrsSession.from_client(client, "test")

    app = KeyopsApp(opener)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.pause()
        messages = [str(n.message) for n in app._notifications]
        assert any(
            "20261127-030000-abc123" in m and "bob@ops1" in m and "ops recover" in m
            for m in messages
        ), messages
