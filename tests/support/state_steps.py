"""What the state machine test (tests/integration/test_state_machine.py) does, as values
hypothesis draws and shows in a failing run: keyops requests and the keys they select, the
operator's Ctrl+C and a SIGKILL, CRS racing a batch between its chunks, CRS and people acting
between steps, and CRS's indexes drifting. Also the small fixture they act on: 30 keys of the
CRS dump, with its accounts and groups."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

import redis.asyncio as aioredis
from hypothesis import strategies as st
from hypothesis.control import note
from hypothesis.errors import InvalidArgument

from keyops.core.api import AccountAssign, BatchPlan, StatusChange, TagEdit
from tests.support import crs_actors
from tests.support.dump import crs_fixture_subset

CHUNK = 4  # 30 keys make up to 8 chunks, so a crash or a race can land between any two

_SAMPLED = {
    "bulk-p1_1", "bulk-p1_2", "bulk-p2_1", "bulk-p2_2", "crs-client-20261127022019-0000",
    *(f"loop-20261127021931-000{n}" for n in range(4)),
}  # fmt: skip


def _small(key_id: str, fields: dict[str, str]) -> bool:
    """The 21 hand-made keys and 9 of the generated ones."""
    name = fields.get("name", "")
    return not name.startswith(("bulk-p", "loop-", "crs-client-")) or name in _SAMPLED


FIXTURE = crs_fixture_subset(_small)
IDS = sorted(
    name.split(":", 1)[1]
    for name, entry in FIXTURE.items()
    if name.count(":") == 1 and name.startswith("apikey:") and entry["type"] == "hash"
    and name != "apikey:hash_map"
)  # fmt: skip
GROUP_CLAUDE = next(
    name.split(":", 1)[1]
    for name, entry in FIXTURE.items()
    if name.startswith("account_group:") and entry["value"].get("platform") == "claude"
)
# An OAuth account id typed by hand (CRS checks no binding against its accounts).
HAND_TYPED_CLAUDE_ACCOUNT = "0d0c1a2b-0000-4000-8000-00000000c1a0"
CONSOLE_ACCOUNTS = sorted(
    name.split(":", 1)[1]
    for name, entry in FIXTURE.items()
    if name.startswith("claude_console_account:") and entry["type"] == "hash"
)


# -- what a step does, as values hypothesis shows when it reports a failing run --------------


@dataclass(frozen=True)
class Tags:
    action: str
    tags: tuple[str, ...]
    conflict: str = "merge"
    atomic: bool = True

    def build(self) -> TagEdit:
        return TagEdit.build(self.action, list(self.tags), self.conflict, self.atomic)


@dataclass(frozen=True)
class Status:
    enable: bool
    expires: str | None = None
    atomic: bool = False

    def build(self) -> StatusChange:
        return StatusChange.build(self.enable, self.expires, atomic=self.atomic)


@dataclass(frozen=True)
class Assign:
    pair: str
    overwrite: bool = False
    atomic: bool = True

    def build(self) -> AccountAssign:
        return AccountAssign.build(
            [self.pair], overwrite_existing=self.overwrite, atomic=self.atomic
        )


Request = Tags | Status | Assign


@dataclass(frozen=True)
class Where:
    query: str


@dataclass(frozen=True)
class Ids:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Cancel:
    """The operator presses Ctrl+C before chunk `at` is written."""

    at: int


@dataclass(frozen=True)
class Crash:
    """SIGKILL before chunk `at` is written."""

    at: int


@dataclass(frozen=True)
class Racer:
    """CRS acting while keyops runs. `at` is the chunk before which it acts (-1: after the
    plan was made, before the run). The rewrites (`usage`: a relayed request's `recordUsage`;
    `admin`: an admin edit of the description) read the key at `at` and write their stale
    copy back before chunk `until`; the others act at once. `pick` chooses the key among
    those keyops writes in that window (`aim`), so the race lands on a key the batch touches."""

    kind: str  # usage | admin | delete | restore | crs-tag
    pick: int
    at: int
    until: int = 0

    def candidates(self, planned: list[str]) -> list[str]:
        if self.kind == "restore":  # a key soft-deleted earlier comes back mid-batch
            return [key for key in IDS if key not in planned]
        first = max(self.at, 0) * CHUNK  # not yet sent when the racer reads or acts
        if self.kind in ("usage", "admin"):
            # Written and settled before the write-back lands: at chunk `until`, the chunk
            # before it may still be on the wire.
            return planned[first : (self.until - 1) * CHUNK]
        return planned[first:]

    async def act(
        self,
        client: aioredis.Redis,
        index: int,
        key: str,
        stale: dict[str, dict[str, str]],
        touched: set[str],
    ) -> None:
        if self.kind in ("usage", "admin"):
            if index == self.at:
                stale[key] = await crs_actors.read_record(client, key)
            elif index == self.until and key in stale:
                touched.add(key)
                old = stale.pop(key)
                if self.kind == "usage":
                    await crs_actors.record_usage(client, key, old)
                else:
                    await crs_actors.update_api_key(
                        client, key, {"description": "edited mid-batch"}, old
                    )
            return
        if index != self.at:
            return
        touched.add(key)
        if self.kind == "delete":
            await crs_actors.soft_delete(client, key)
        elif self.kind == "restore":
            await crs_actors.restore(client, key)
        else:
            current = await crs_actors.read_record(client, key)
            tags = stored_tags(current.get("tags"))
            if current and "crs-tag" not in tags:
                await crs_actors.update_api_key(client, key, {"tags": [*tags, "crs-tag"]})


def aim(racing: list[Racer], plan: BatchPlan) -> list[tuple[Racer, str]]:
    """Each racer with its key: one the batch writes in the racer's window if there is one,
    a key the batch leaves alone otherwise; never two racers on one key (CRS racing CRS is
    not keyops's doing)."""
    planned = [p.key_id for p in plan.plans]
    aimed: list[tuple[Racer, str]] = []
    taken: set[str] = set()
    for one in racing:
        window = [k for k in one.candidates(planned) if k not in taken]
        # Outside its window, only a key the batch does not write: one in the chunk on the
        # wire could be written before or after the racer acts, and a replay must not differ.
        pool = window or [k for k in IDS if k not in taken and k not in planned]
        if not pool:
            continue
        key = pool[one.pick % len(pool)]
        taken.add(key)
        aimed.append((one, key))
        with contextlib.suppress(InvalidArgument):  # a run outside hypothesis has no notes
            note(f"{one} acts on {key}{'' if window else ' (outside the batch)'}")
    return aimed


def deleted_before_written(aimed: list[tuple[Racer, str]], plan: BatchPlan) -> set[str]:
    """Keys CRS soft-deleted before keyops's chunk holding them was sent."""
    planned = [p.key_id for p in plan.plans]
    return {
        key for one, key in aimed
        if one.kind == "delete" and key in one.candidates(planned)
    }  # fmt: skip


def stored_tags(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [tag for tag in value if isinstance(tag, str)] if isinstance(value, list) else []


TAG_POOL = ("team-a", "incident", "bulk", "prod", "crs-tag")
keys = st.sampled_from(IDS)
requests = st.one_of(
    st.builds(
        Tags,
        action=st.sampled_from(["add", "add", "add", "remove", "replace"]),
        tags=st.lists(st.sampled_from(TAG_POOL), min_size=1, max_size=2, unique=True).map(tuple),
        conflict=st.sampled_from(["merge", "merge", "replace", "skip"]),
        atomic=st.booleans(),
    ),
    st.builds(
        Status,
        enable=st.booleans(),
        expires=st.sampled_from([None, None, "never"]),
        atomic=st.booleans(),
    ),
    st.builds(
        Assign,
        pair=st.sampled_from(
            [
                f"claude=group:{GROUP_CLAUDE}",
                "console=console-loop-shared",
                "console=shared",
                "claude=shared",
                "console=console-loop-group",
            ]
        ),
        overwrite=st.booleans(),
        atomic=st.booleans(),
    ),
)
selections = st.one_of(
    st.builds(
        Where,
        st.sampled_from(
            [
                "",
                "",
                "",
                "status:active",
                "status:active",
                "tag:team-a",
                "status:disabled",
                "tag:incident",
                "tag:bulk",
                "status:deleted",
                "tag:crs-tag",
                "bound:claude",
                "bound:console",
            ]
        ),
    ),
    st.builds(Ids, st.lists(keys, min_size=3, max_size=20, unique=True).map(tuple)),
)
stops = st.one_of(
    st.none(),
    st.builds(Cancel, st.integers(0, 7)),
    st.builds(Crash, st.integers(0, 7)),
)


@st.composite
def racer(draw: st.DrawFn) -> Racer:
    kind = draw(st.sampled_from(["usage", "usage", "admin", "delete", "restore", "crs-tag"]))
    at = draw(st.integers(-1, 5))
    until = at + draw(st.integers(2, 3)) if kind in ("usage", "admin") else 0
    return Racer(kind, draw(st.integers(0, 63)), at, until)


racers = st.lists(racer(), max_size=3)
ODD_TAGS = (
    "cut\ud83d",  # Node's JSON.stringify of a tag cut inside an emoji
    "bell\x07",
    "tab\there",
    "c1\x85",
    "x" * 70,
    " padded ",
    "\ufeffbom",
)


@dataclass(frozen=True)
class CrsAct:
    """One thing CRS (or a person at redis-cli) does to a key between keyops's steps."""

    kind: str  # delete | restore | request | tags | odd-tag | expiry | binding
    key: str
    arg: tuple[str, ...] = ()

    async def do(self, client: aioredis.Redis) -> None:
        key = self.key
        if self.kind == "delete":
            await crs_actors.soft_delete(client, key)
        elif self.kind == "restore":
            await crs_actors.restore(client, key)
        elif self.kind == "request":
            await crs_actors.record_usage(client, key)
        elif self.kind == "expiry":
            await crs_actors.update_api_key(client, key, {"expiresAt": self.arg[0]})
        elif self.kind == "binding":  # by hand: no updatedAt, no index
            await client.hset(f"apikey:{key}", self.arg[0], self.arg[1])
        else:  # an admin's tag edit (tags: add or remove; odd-tag: add)
            current = await crs_actors.read_record(client, key)
            if not current:
                return
            tag, tags = self.arg[0], stored_tags(current.get("tags"))
            add = self.kind == "odd-tag" or self.arg[1] == "add"
            new = [*tags, tag] if add and tag not in tags else [t for t in tags if t != tag]
            await crs_actors.update_api_key(client, key, {"tags": new}, current)


@dataclass(frozen=True)
class Drift:
    """CRS's indexes out of step with its records, or its rebuild putting them right."""

    kind: str  # dropped (the key leaves idx:all) | gone (idx:all deleted) | rebuild
    key: str = ""

    async def do(self, client: aioredis.Redis) -> None:
        if self.kind == "dropped":
            await client.srem("apikey:idx:all", self.key)
        elif self.kind == "gone":
            await client.delete("apikey:idx:all")
        else:
            await crs_actors.rebuild_indexes(client)


BINDINGS = (
    ("claudeAccountId", f"group:{GROUP_CLAUDE}"),
    ("claudeAccountId", HAND_TYPED_CLAUDE_ACCOUNT),
    ("claudeAccountId", ""),
    *(("claudeConsoleAccountId", account) for account in CONSOLE_ACCOUNTS),
    ("claudeConsoleAccountId", ""),
)
crs_acts = st.one_of(
    st.builds(CrsAct, st.sampled_from(["delete", "restore", "request"]), keys),
    st.builds(
        CrsAct,
        st.just("tags"),
        keys,
        st.tuples(st.sampled_from(TAG_POOL), st.sampled_from(["add", "remove"])),
    ),
    st.builds(CrsAct, st.just("odd-tag"), keys, st.tuples(st.sampled_from(ODD_TAGS))),
    st.builds(
        CrsAct,
        st.just("expiry"),
        keys,
        st.tuples(st.sampled_from(["not a date", "2020-01-01T00:00:00.000Z", "2026-13-45", ""])),
    ),
    st.builds(CrsAct, st.just("binding"), keys, st.sampled_from(BINDINGS)),
)
drifts = st.one_of(
    st.builds(Drift, st.just("dropped"), keys),
    st.builds(Drift, st.sampled_from(["gone", "rebuild"])),
)
