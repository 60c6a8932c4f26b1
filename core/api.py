"""The one door to keyops's core: the CLI, the console and scripts use this module and nothing
else of the core.

`KeyopsSession` is a session with one CRS Redis. It holds the connection, the key list and
account catalog it loaded (so a plan is made from the list the operator is looking at), the
operator's identity and the batch settings; it plans and runs batches, answers the recovery and
audit questions, and turns Redis's own exceptions into keyops errors (`RedisRefused`,
`RedisFailed`, and `ConnectionFailed` when Redis stops answering), so a front end catches `KeyopsError` and nothing from redis-py.

"Session" because it is opened, holds what it loaded for as long as it lives, and must be
closed (`aclose`, or `async with`): the name says all three.

Importing this module is cheap (the launcher imports it for every command): the batch engine,
seeding, pydantic and redis-py are imported by the methods that need them, and the value types
front ends use (requests, plans, progress events, rows, filters...) are exported lazily: the
first `from keyops.core.api import TagEdit` imports the module that defines it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from keyops.core.errors import (
    BadInput,
    BadRequest,
    ConnectionFailed,
    KeyopsError,
    NotACrsDatabase,
    RedisFailed,
    RedisRefused,
)

if TYPE_CHECKING:
    import asyncio
    from collections import Counter
    from datetime import datetime
    from pathlib import Path
    from typing import TextIO

    import redis.asyncio as aioredis

    from keyops.core.batch.access import AccessCheck
    from keyops.core.batch.audit import AuditEntry, AuditFilter, AuditLog, TrimPreview
    from keyops.core.batch.audit_query import parse_audit_filter, parse_moment
    from keyops.core.batch.config import BatchConfig, RunnerSettings
    from keyops.core.batch.identity import OperatorIdentity
    from keyops.core.batch.minting import CreateOutcome
    from keyops.core.batch.operations import (
        OpCounts,
        OperationRecord,
        OperationStore,
        OpStatus,
    )
    from keyops.core.batch.planning import BatchPlan
    from keyops.core.batch.progress import KeyFailure, Outcome, Phase, ProgressEvent
    from keyops.core.batch.recovery import Recovery
    from keyops.core.batch.rotation import RotatePreview
    from keyops.core.batch.targets import clean_id, read_ids_file
    from keyops.core.connection import RedisClients
    from keyops.core.edits.accounts import AccountAssign
    from keyops.core.edits.assignment import AssignTarget, account_trouble
    from keyops.core.edits.base import EditRequest
    from keyops.core.edits.create import KeysCreate
    from keyops.core.edits.description import DescriptionSet
    from keyops.core.edits.expiry import ExpiryChange
    from keyops.core.edits.key_fields import KeyFieldsEdit
    from keyops.core.edits.lifecycle import KeysDelete, KeysRestore
    from keyops.core.edits.limits import LIMITS, Limit, LimitsSet
    from keyops.core.edits.permissions import PermissionsSet
    from keyops.core.edits.rates import RatesSet
    from keyops.core.edits.registry import KINDS, EditKind, OpType
    from keyops.core.edits.restrictions import ClientsAllow, ModelsRestrict
    from keyops.core.edits.revert import RevertRequest, RollbackRequest
    from keyops.core.edits.status import StatusChange
    from keyops.core.edits.tags import ConflictMode, TagAction, TagEdit
    from keyops.core.logs import setup_file_logging
    from keyops.core.query import KeyQuery, QueryContext, QueryError, compile_query
    from keyops.core.safe_text import json_text, printable
    from keyops.core.schema.access import allowed_services, restriction_in_force
    from keyops.core.schema.accounts import Account, AccountGroup
    from keyops.core.schema.api_secret import KeyMinter, minter_from
    from keyops.core.schema.bindings import BadBinding, Binding, BindingKind, parse_binding
    from keyops.core.schema.catalog import AccountCatalog, binding_labels
    from keyops.core.schema.clients import CLIENT_IDS
    from keyops.core.schema.js_text import js_trim
    from keyops.core.schema.keys import ApiKeyRecord
    from keyops.core.schema.platforms import (
        FIELD_RULES,
        FIELD_SHORT_NAMES,
        BindingField,
        GroupPlatform,
        Platform,
    )
    from keyops.core.schema.rows import KeyRow, KeyStatus
    from keyops.core.settings import RedisSettings, TlsOptions, resolve_settings, settings_from_args
    from keyops.core.store.key_table import KeyTable
    from keyops.core.store.purge import PurgePreview
    from keyops.core.store.server_info import ServerInfo
    from keyops.core.store.top_keys import Ranking
    from keyops.core.timestamps import CLOCK, DAY, MINUTE, SECOND, iso_utc, utc_text
    from keyops.core.usage.figures import FIGURES, LIMIT_NAMES, KeyUsage, UsageTable, figure
    from keyops.core.usage.loader import ModelUsage, UsageBreakdown
    from keyops.core.usage.verdict import REASONS, Verdict, verdict

# Batches that change more keys than this are confirmed by typing the count (both front ends;
# the console's config may lower or raise it).
TYPED_CONFIRM_ABOVE = 500

DEMO_ENDPOINT = "demo (in-process sample, nothing leaves this process)"

# What front ends may import from here besides the session, and where each is defined.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("AuditEntry", "AuditFilter", "TrimPreview"), "keyops.core.batch.audit"),
    **dict.fromkeys(("parse_audit_filter", "parse_moment"), "keyops.core.batch.audit_query"),
    **dict.fromkeys(("BatchConfig", "RunnerSettings"), "keyops.core.batch.config"),
    "OperatorIdentity": "keyops.core.batch.identity",
    "PurgePreview": "keyops.core.store.purge",
    "CreateOutcome": "keyops.core.batch.minting",
    "RotatePreview": "keyops.core.batch.rotation",
    "KeysCreate": "keyops.core.edits.create",
    "ExpiryChange": "keyops.core.edits.expiry",
    "KeyFieldsEdit": "keyops.core.edits.key_fields",
    **dict.fromkeys(("KeysDelete", "KeysRestore"), "keyops.core.edits.lifecycle"),
    **dict.fromkeys(("LIMITS", "Limit", "LimitsSet"), "keyops.core.edits.limits"),
    "PermissionsSet": "keyops.core.edits.permissions",
    **dict.fromkeys(("allowed_services", "restriction_in_force"), "keyops.core.schema.access"),
    "CLIENT_IDS": "keyops.core.schema.clients",
    "DescriptionSet": "keyops.core.edits.description",
    **dict.fromkeys(("ClientsAllow", "ModelsRestrict"), "keyops.core.edits.restrictions"),
    "RatesSet": "keyops.core.edits.rates",
    **dict.fromkeys(("KeyMinter", "minter_from"), "keyops.core.schema.api_secret"),
    **dict.fromkeys(("OpCounts", "OperationRecord", "OpStatus"), "keyops.core.batch.operations"),
    "BatchPlan": "keyops.core.batch.planning",
    "Recovery": "keyops.core.batch.recovery",
    **dict.fromkeys(
        ("KeyFailure", "Outcome", "Phase", "ProgressEvent"), "keyops.core.batch.progress"
    ),
    **dict.fromkeys(("clean_id", "read_ids_file"), "keyops.core.batch.targets"),
    "AccessCheck": "keyops.core.batch.access",
    "AccountAssign": "keyops.core.edits.accounts",
    **dict.fromkeys(("AssignTarget", "account_trouble"), "keyops.core.edits.assignment"),
    **dict.fromkeys(("KINDS", "EditKind", "OpType"), "keyops.core.edits.registry"),
    **dict.fromkeys(("RevertRequest", "RollbackRequest"), "keyops.core.edits.revert"),
    "StatusChange": "keyops.core.edits.status",
    **dict.fromkeys(("ConflictMode", "TagAction", "TagEdit"), "keyops.core.edits.tags"),
    "setup_file_logging": "keyops.core.logs",
    **dict.fromkeys(
        ("KeyQuery", "QueryContext", "QueryError", "compile_query"), "keyops.core.query"
    ),
    **dict.fromkeys(("json_text", "printable"), "keyops.core.safe_text"),
    "js_trim": "keyops.core.schema.js_text",
    **dict.fromkeys(("Account", "AccountGroup"), "keyops.core.schema.accounts"),
    **dict.fromkeys(
        ("BadBinding", "Binding", "BindingKind", "parse_binding"), "keyops.core.schema.bindings"
    ),
    **dict.fromkeys(("AccountCatalog", "binding_labels"), "keyops.core.schema.catalog"),
    "ApiKeyRecord": "keyops.core.schema.keys",
    **dict.fromkeys(
        ("FIELD_RULES", "FIELD_SHORT_NAMES", "BindingField", "GroupPlatform", "Platform"),
        "keyops.core.schema.platforms",
    ),
    **dict.fromkeys(("KeyRow", "KeyStatus"), "keyops.core.schema.rows"),
    **dict.fromkeys(
        ("RedisSettings", "TlsOptions", "resolve_settings", "settings_from_args"),
        "keyops.core.settings",
    ),
    "KeyTable": "keyops.core.store.key_table",
    "Ranking": "keyops.core.store.top_keys",
    "ServerInfo": "keyops.core.store.server_info",
    **dict.fromkeys(
        ("CLOCK", "DAY", "MINUTE", "SECOND", "iso_utc", "utc_text"), "keyops.core.timestamps"
    ),
    **dict.fromkeys(
        ("FIGURES", "LIMIT_NAMES", "KeyUsage", "UsageTable", "figure"),
        "keyops.core.usage.figures",
    ),
    **dict.fromkeys(("ModelUsage", "UsageBreakdown"), "keyops.core.usage.loader"),
    **dict.fromkeys(("REASONS", "Verdict", "verdict"), "keyops.core.usage.verdict"),
}

# Everything a front end may import from here (tests check it matches `_EXPORTS`).
__all__ = [
    "CLIENT_IDS",
    "CLOCK",
    "DAY",
    "DEMO_ENDPOINT",
    "FIELD_RULES",
    "FIELD_SHORT_NAMES",
    "FIGURES",
    "KINDS",
    "LIMITS",
    "LIMIT_NAMES",
    "MINUTE",
    "REASONS",
    "SECOND",
    "TYPED_CONFIRM_ABOVE",
    "AccessCheck",
    "Account",
    "AccountAssign",
    "AccountCatalog",
    "AccountGroup",
    "ApiKeyRecord",
    "AssignTarget",
    "AuditEntry",
    "AuditFilter",
    "BadBinding",
    "BadInput",
    "BadRequest",
    "BatchConfig",
    "BatchPlan",
    "Binding",
    "BindingField",
    "BindingKind",
    "ClientsAllow",
    "ConflictMode",
    "ConnectionFailed",
    "CreateOutcome",
    "DescriptionSet",
    "EditKind",
    "ExpiryChange",
    "GroupPlatform",
    "KeyFailure",
    "KeyFieldsEdit",
    "KeyMinter",
    "KeyQuery",
    "KeyRow",
    "KeyStatus",
    "KeyTable",
    "KeyUsage",
    "KeyopsError",
    "KeyopsSession",
    "KeysCreate",
    "KeysDelete",
    "KeysRestore",
    "Limit",
    "LimitsSet",
    "ModelUsage",
    "ModelsRestrict",
    "NotACrsDatabase",
    "OpCounts",
    "OpStatus",
    "OpType",
    "OperationRecord",
    "OperatorIdentity",
    "Outcome",
    "PermissionsSet",
    "Phase",
    "Platform",
    "ProgressEvent",
    "PurgePreview",
    "QueryContext",
    "QueryError",
    "Ranking",
    "RatesSet",
    "Recovery",
    "RedisFailed",
    "RedisRefused",
    "RedisSettings",
    "RevertRequest",
    "RollbackRequest",
    "RotatePreview",
    "RunnerSettings",
    "ServerInfo",
    "StatusChange",
    "TagAction",
    "TagEdit",
    "TlsOptions",
    "TrimPreview",
    "UsageBreakdown",
    "UsageTable",
    "Verdict",
    "account_trouble",
    "allowed_services",
    "as_keyops_error",
    "binding_labels",
    "clean_id",
    "compile_query",
    "figure",
    "iso_utc",
    "js_trim",
    "json_text",
    "minter_from",
    "parse_audit_filter",
    "parse_binding",
    "parse_moment",
    "printable",
    "read_ids_file",
    "resolve_settings",
    "restriction_in_force",
    "settings_from_args",
    "setup_file_logging",
    "utc_text",
    "verdict",
]


def __getattr__(name: str) -> Any:
    """PEP 562: a value type is imported the first time someone asks for it."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


# -- Redis errors become keyops errors ------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _lost_reason(error: BaseException) -> str:
    """Why a connection to Redis failed, in the operator's words ("connection refused")."""
    message = str(error)
    lowered = message.lower()
    if isinstance(error, ConnectionRefusedError) or "refused" in lowered or "error 111" in lowered:
        return "connection refused"
    if "reset" in lowered:
        return "connection reset"
    if isinstance(error, TimeoutError) or "timeout" in lowered or "timed out" in lowered:
        return "no answer in time (timed out)"
    if "closed" in lowered or not message:
        return "connection closed"
    return message


def connection_lost(error: BaseException) -> bool:
    """Whether an exception means Redis stopped answering (rather than answering "no")."""
    if isinstance(error, BrokenPipeError):
        return False  # our own output's reader left (`| head`), not Redis
    # asyncio.IncompleteReadError: the raw reply readers hit the end of a closed socket.
    if isinstance(error, ConnectionError | TimeoutError | EOFError):
        return True
    if type(error).__module__.startswith("redis."):
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        return isinstance(error, RedisConnectionError | RedisTimeoutError)
    return False


def as_keyops_error(error: Exception, endpoint: str = "") -> KeyopsError | None:
    """The keyops error for an exception from redis-py, or for a connection to Redis that
    broke (`ConnectionFailed`, "Redis at host:port is not answering: connection refused");
    None for anything else."""
    if connection_lost(error):
        where = f" at {endpoint}" if endpoint else ""
        return ConnectionFailed(f"Redis{where} is not answering: {_lost_reason(error)}")
    if not type(error).__module__.startswith("redis."):
        return None
    from redis.exceptions import NoPermissionError, RedisError

    if isinstance(error, NoPermissionError):
        return RedisRefused(f"this Redis user may not do that: {error}")
    if isinstance(error, RedisError):
        return RedisFailed(f"Redis failed: {type(error).__name__}: {error}")
    return None


def _endpoint_of(args: tuple[object, ...]) -> str:
    session = args[0] if args else None
    return session.endpoint if isinstance(session, KeyopsSession) else ""


def _redis_errors(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except Exception as error:
            translated = as_keyops_error(error, _endpoint_of(args))
            if translated is None:
                raise
            raise translated from error

    return guarded


def _redis_errors_in_stream(
    method: Callable[P, AsyncGenerator[T, None]],
) -> Callable[P, AsyncGenerator[T, None]]:
    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[T, None]:
        try:
            # Closed with the caller's iteration: a batch releases its lock right away when
            # a front end stops reading, instead of whenever the generator is collected.
            async with contextlib.aclosing(method(*args, **kwargs)) as stream:
                async for item in stream:
                    yield item
        except Exception as error:
            translated = as_keyops_error(error, _endpoint_of(args))
            if translated is None:
                raise
            raise translated from error

    return guarded


# -- the session ----------------------------------------------------------------------------


class KeyopsSession:
    """A session with one CRS Redis: read its keys and accounts, plan, run and undo batches,
    recover interrupted ones, read and export the audit trail."""

    def __init__(self, clients: RedisClients, config: BatchConfig | None = None) -> None:
        self.clients = clients
        self._config = config
        self._table: KeyTable | None = None
        self._catalog: AccountCatalog | None = None
        self._identity: OperatorIdentity | None = None
        self._usage: UsageTable | None = None
        self._usage_complete = False  # read for every loaded key, not a few
        # CRS's TIMEZONE_OFFSET as CRS reads it: which day its usage keys are named after.
        self.timezone_offset = 8

    # -- opening and closing ----------------------------------------------------------------

    @classmethod
    async def open(
        cls, settings: RedisSettings, config: BatchConfig | None = None, *, require_crs: bool = True
    ) -> KeyopsSession:
        """Connects; with `require_crs`, refuses a database that holds no CRS data."""
        from keyops.core.connection import connect
        from keyops.core.store.probe import require_crs_data

        session = cls(await connect(settings, require_crs_data if require_crs else None), config)
        session.timezone_offset = settings.timezone_offset
        return session

    @classmethod
    def from_client(
        cls, client: aioredis.Redis, endpoint: str, config: BatchConfig | None = None
    ) -> KeyopsSession:
        """A session over an existing client (the demo's in-process store, tests, benches)."""
        from keyops.core.connection import RedisClients

        return cls(RedisClients(read=client, write=client, endpoint=endpoint), config)

    @classmethod
    async def demo(
        cls, key_count: int, now: datetime | None = None, config: BatchConfig | None = None
    ) -> KeyopsSession:
        """A session on a private in-process store seeded with the packaged CRS sample."""
        import fakeredis

        from keyops.core.seeding.writer import seed_dataset

        # Its own FakeServer: fakeredis clients otherwise share state per host and port.
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
        await seed_dataset(client, key_count, now=now)
        return cls.from_client(client, DEMO_ENDPOINT, config)

    @property
    def endpoint(self) -> str:
        return self.clients.endpoint

    @property
    def config(self) -> BatchConfig:
        """How batches run (chunk size, audit policy...); the defaults unless set."""
        if self._config is None:
            from keyops.core.batch.config import BatchConfig

            self._config = BatchConfig()
        return self._config

    @config.setter
    def config(self, config: BatchConfig) -> None:
        self._config = config

    async def aclose(self) -> None:
        await self.clients.aclose()

    async def __aenter__(self) -> KeyopsSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- reading ----------------------------------------------------------------------------

    @property
    def table(self) -> KeyTable:
        """The key list as last loaded (empty before `load`)."""
        if self._table is None:
            from keyops.core.store.key_table import KeyTable

            return KeyTable()
        return self._table

    @property
    def catalog(self) -> AccountCatalog:
        """The accounts and groups as last loaded (empty before `load`)."""
        if self._catalog is None:
            from keyops.core.schema.catalog import AccountCatalog

            return AccountCatalog()
        return self._catalog

    @_redis_errors
    async def load(self, *, refresh: bool = False) -> tuple[KeyTable, AccountCatalog]:
        """Every key (as lean rows) and every account and group; kept until the next refresh.
        Plans and key names come from what was loaded here."""
        if self._table is None or self._catalog is None or refresh:
            from keyops.core.store.accounts import load_accounts
            from keyops.core.store.key_table import load_key_table
            from keyops.core.store.keyspace_walk import KeyspaceWalk
            from keyops.core.wire.together import both

            # Side by side, sharing one walk of the keyspace (seconds of Redis CPU at 100,000
            # keys with usage counters): it finds the key records `apikey:idx:all` lacks and
            # the accounts of a store whose index set is empty, and the rows' building hides it.
            client = self.clients.read
            walk = KeyspaceWalk(client)
            table, catalog = await both(load_key_table(client, walk), load_accounts(client, walk))
            self._table, self._catalog = table, catalog
            return table, catalog
        return self._table, self._catalog

    @_redis_errors
    async def reread(self, key_ids: list[str]) -> dict[str, KeyRow | None]:
        """Reads these keys' rows again and returns those that changed since they were loaded
        (None: the key is gone). The loaded rows take the new values in place, so plans and
        every list holding them see them too."""
        from keyops.core.store.key_table import reread_rows

        table = self.table
        changed: dict[str, KeyRow | None] = {}
        for key_id, row in (await reread_rows(self.clients.read, key_ids)).items():
            before = table.by_id.get(key_id)
            if row is None and before is None:
                continue
            if row is None or before is None or not row.same_as(before):
                changed[key_id] = row
        return self._table.replace(changed) if self._table is not None else changed

    @_redis_errors
    async def change_marker(self) -> tuple[object, ...]:
        """Changes when keys are created or leave CRS's index, or an operation starts or ends
        (here or elsewhere): when the whole list is worth reading again."""
        from keyops.core.batch.changes import change_marker

        return await change_marker(self.clients.read)

    @_redis_errors
    async def load_accounts(self) -> AccountCatalog:
        """Only the accounts and groups (`accounts list` needs no keys)."""
        from keyops.core.store.accounts import load_accounts

        self._catalog = await load_accounts(self.clients.read)
        return self._catalog

    def name_of(self, key_id: str) -> str:
        """A key's name in the loaded list ('' when it is not there)."""
        row = self._table.by_id.get(key_id) if self._table is not None else None
        return row.name if row is not None else ""

    def query(
        self, text: str, *, include_deleted: bool = False, now: float | None = None
    ) -> KeyQuery:
        """A query compiled against the loaded catalog; QueryError names a bad token."""
        from keyops.core.query import QueryContext, compile_query

        context = QueryContext(
            catalog=self.catalog, include_deleted=include_deleted, usage=self._usage
        )
        if now is not None:
            context.now = now
        return compile_query(text, context)

    @_redis_errors
    async def select(
        self, text: str, *, include_deleted: bool = False, now: float | None = None
    ) -> KeyQuery:
        """`query`, with usage loaded first when the query filters on it (`cost.today:>5`,
        `rejected`...); QueryError names a bad token."""
        query = self.query(text, include_deleted=include_deleted, now=now)
        if query.needs_usage and not self._usage_complete:
            await self.usage(now=now)
            query = self.query(text, include_deleted=include_deleted, now=now)
        return query

    # -- usage ------------------------------------------------------------------------------

    @property
    def usage_table(self) -> UsageTable | None:
        """Usage as last read (None before `usage`): what usage queries filter on."""
        return self._usage

    @_redis_errors
    async def usage(
        self, key_ids: list[str] | None = None, *, now: float | None = None
    ) -> UsageTable:
        """Usage of these keys (all loaded keys when None) read now, dates in CRS's time zone:
        cost today/this week/in total, requests and tokens today, concurrency, the window, and
        what a verdict needs. A refresh of some keys merges into what `usage_table` holds, and
        the table returned holds only the keys read, so a live view can compare two reads."""
        import time

        from keyops.core.usage.loader import load_usage

        everything = key_ids is None
        if key_ids is None:
            table, _ = await self.load()
            key_ids = [row.id for row in table.rows]
        moment = time.time() if now is None else now
        # Every key's: the key list's rows hold each key's limits and state (as fresh as the
        # list), so only the counters are read. Some keys' (a detail, a refresh of a few): their
        # records are read too, so a limit or a disable made since the list shows at once.
        rows = self._table.by_id if everything and self._table is not None else None
        fresh = await load_usage(
            self.clients.read, key_ids, now=moment, offset=self.timezone_offset, rows=rows
        )
        if everything or self._usage is None:
            from keyops.core.usage.figures import UsageTable

            self._usage = UsageTable(fresh.now, fresh.offset, fresh.today, dict(fresh.by_id))
            self._usage_complete = everything
        else:
            self._usage.merge(fresh)
        return fresh

    @_redis_errors
    async def top(
        self,
        by: str,
        count: int,
        *,
        where: str = "",
        include_deleted: bool = False,
        now: float | None = None,
    ) -> Ranking:
        """The `count` keys highest on usage figure `by` (see FIGURES), highest first, among
        the keys `where` selects. Without a query, the key list is not loaded: the ids and each
        key's ranked figure are read (every key's full usage for figures that need it), then
        the winners' full usage and rows (see core/store/top_keys)."""
        import time

        moment = time.time() if now is None else now
        if not where:
            from keyops.core.store.top_keys import rank_every_key

            return await rank_every_key(
                self.clients.read, by, count, include_deleted=include_deleted, now=moment,
                offset=self.timezone_offset,
            )  # fmt: skip
        from keyops.core.store.top_keys import Ranking

        table, _ = await self.load()
        query = await self.select(where, include_deleted=include_deleted, now=now)
        rows = query.filter(table.rows)
        loaded = self._usage if query.needs_usage else None
        # A query on usage read every key's; otherwise only the matching keys' are read.
        usage = loaded or await self.usage([row.id for row in rows], now=moment)
        top = usage.top([row.id for row in rows], by, count)
        return Ranking([table.by_id[key_id] for key_id in top], usage, len(rows))

    @_redis_errors
    async def usage_breakdown(self, key_id: str, *, now: float | None = None) -> UsageBreakdown:
        """One key's use today per model (requests, four token kinds, micro-dollar cost)."""
        import time

        from keyops.core.usage.loader import load_breakdown

        moment = time.time() if now is None else now
        return await load_breakdown(
            self.clients.read, key_id, now=moment, offset=self.timezone_offset
        )

    @_redis_errors
    async def record(self, key_id: str) -> ApiKeyRecord | None:
        """The full record of one key (never its secret), or None if it is gone."""
        from keyops.core.store.key_table import fetch_record

        return await fetch_record(self.clients.read, key_id)

    @_redis_errors
    async def field_spread(
        self, key_ids: list[str], groups: list[tuple[str, ...]]
    ) -> list[Counter[tuple[str, ...]]]:
        """How the values of each group of fields spread over these keys: per group, how many
        keys hold each tuple of stored strings ('' for a field a key lacks). One pipelined
        read for all groups; a key that is gone counts nowhere. The secret hash is never read."""
        from collections import Counter

        from keyops.core.store.key_table import read_current

        fields = tuple(dict.fromkeys(name for group in groups for name in group))
        if "apiKey" in fields:
            raise BadInput("a key's secret hash is never read")
        spreads: list[Counter[tuple[str, ...]]] = [Counter() for _ in groups]
        current = await read_current(self.clients.read, key_ids, fields)
        for stored in current.values():
            if stored is None:
                continue
            for group, spread in zip(groups, spreads, strict=True):
                spread[tuple(stored.get(name, "") for name in group)] += 1
        return spreads

    @_redis_errors
    async def info(self) -> ServerInfo:
        from keyops.core.store.server_info import read_server_info

        table, catalog = await self.load()
        return await read_server_info(self.clients.read, self.endpoint, table, catalog)

    async def ping(self) -> None:
        """Raises ConnectionFailed when Redis does not answer (the console's health check)."""
        from redis.exceptions import RedisError

        try:
            await self.clients.read.ping()
        except (RedisError, OSError) as error:
            translated = as_keyops_error(error, self.endpoint)
            if isinstance(translated, ConnectionFailed):
                raise translated from error
            raise ConnectionFailed(f"Redis at {self.endpoint} does not answer: {error}") from error

    async def check_access(self) -> AccessCheck:
        """Whether this Redis user may run every command a batch sends (ACL DRYRUN)."""
        from keyops.core.batch.access import check_batch_access

        return await check_batch_access(self.clients.write)

    @_redis_errors
    async def seed(
        self,
        key_count: int,
        *,
        seed: int = 7,
        force: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> int:
        """Writes CRS-shaped test data (the packaged sample plus generated keys); refuses a DB
        holding CRS data it did not seed unless `force` (see keyops.core.seeding.database)."""
        from keyops.core.seeding.database import seed_database

        return await seed_database(
            self.clients.write, key_count, seed=seed, force=force, endpoint=self.endpoint,
            progress=progress,
        )  # fmt: skip

    # -- planning ---------------------------------------------------------------------------

    @_redis_errors
    async def targets(
        self, where: str | None, ids: list[str] | None, *, deleted: bool = False
    ) -> list[str]:
        """The key ids `--where` and/or `--ids` name in the loaded list (see batch.targets);
        `deleted` for an edit of soft-deleted keys (restore, purge)."""
        from keyops.core.batch.targets import resolve_targets

        table, catalog = await self.load()
        if where:
            with contextlib.suppress(BadInput):  # resolve_targets explains a bad query
                await self.select(where)  # loads usage when the query filters on it
        return resolve_targets(
            table, catalog, where=where, ids=ids, deleted=deleted, usage=self._usage
        )

    @_redis_errors
    async def plan(self, key_ids: list[str], request: EditRequest) -> BatchPlan:
        """A batch of any edit kind (the request's type says which) over these keys."""
        from keyops.core.batch.planning import plan_edit

        table, catalog = await self.load()
        return self._named(await plan_edit(self.clients.write, key_ids, request, table, catalog))

    @_redis_errors
    async def plan_revert(self, op_id: str) -> BatchPlan:
        """Undo a finished operation: every field still holding what it wrote."""
        from keyops.core.batch.operations import OpStatus
        from keyops.core.batch.planning import plan_undo

        record = await self.op(op_id)
        if record.status is OpStatus.RUNNING:
            raise BadInput(f"operation {op_id} is still running (or interrupted: use ops recover)")
        table, catalog = await self.load()
        journal = await self._ops.journal(op_id)
        return self._named(
            await plan_undo(
                self.clients.write,
                op_id,
                journal,
                index_ready=table.index_ready,
                rollback=False,
                catalog=catalog,
            )
        )

    @_redis_errors
    async def plan_recovery(
        self, op_id: str, action: str
    ) -> tuple[BatchPlan, OperationRecord | None]:
        """A plan that rolls an interrupted op back (`rollback`), or finishes it under the same
        op id (`resume`, with the record to continue); see batch.recovery for what each means
        for a rollback that was itself interrupted. Running it closes the op, even when it has
        nothing to write."""
        from keyops.core.batch.recovery import plan_recovery

        table, catalog = await self.load()
        plan, resume = await plan_recovery(
            self.clients.write, self._ops, op_id, action, table, catalog
        )
        return self._named(plan), resume

    def _named(self, plan: BatchPlan) -> BatchPlan:
        plan.name_lookup = self.name_of
        if self._table is not None:
            # A preview says when CRS's own list would not show what this batch touches.
            touched = (
                *(p.key_id for p in plan.plans),
                *plan.unchanged,
                *(k for k, _ in plan.skipped),
            )
            plan.warnings.extend(self._table.drift.about_targets(touched))
        return plan

    # -- running ----------------------------------------------------------------------------

    @_redis_errors_in_stream
    async def run(
        self, plan: BatchPlan, cancel: asyncio.Event | None = None
    ) -> AsyncGenerator[ProgressEvent, None]:
        """Runs a plan, reporting progress; the last event carries the outcome. A user who may
        not run what a batch needs is refused before anything is written."""
        async with contextlib.aclosing(self._execute(plan, cancel, None)) as events:
            async for event in events:
                yield event

    @_redis_errors_in_stream
    async def run_recovery(
        self,
        plan: BatchPlan,
        resume: OperationRecord | None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncGenerator[ProgressEvent, None]:
        """Runs what `plan_recovery` planned: a rollback, or the rest of `resume`."""
        async with contextlib.aclosing(self._execute(plan, cancel, resume)) as events:
            async for event in events:
                yield event

    async def _execute(
        self, plan: BatchPlan, cancel: asyncio.Event | None, resume: OperationRecord | None
    ) -> AsyncGenerator[ProgressEvent, None]:
        from keyops.core.batch.recovery import close_rolled_back
        from keyops.core.batch.runner import BatchRunner
        from keyops.core.edits.registry import OpType

        refusal = await self._access_refusal()
        if refusal is not None:
            yield refusal
            return
        runner = BatchRunner(
            self.clients.write, await self._operator(), self._audit, self.config.runner
        )
        closes = plan.reverts if plan.op_type is OpType.ROLLBACK else ""
        async with contextlib.aclosing(runner.execute(plan, cancel, resume)) as events:
            async for event in events:
                if closes and event.outcome is not None:
                    # Before the outcome goes out: a front end may stop reading at it.
                    event = await close_rolled_back(self._ops, self._audit, plan, event)
                yield event

    async def _access_refusal(self) -> ProgressEvent | None:
        """A refused outcome when this Redis user may not run what a batch needs: found before
        anything is written, never as a half-applied batch."""
        from keyops.core.batch.operations import OpCounts, OpStatus
        from keyops.core.batch.progress import Outcome, Phase, ProgressEvent

        access = await self.check_access()
        if not access.refused:
            return None
        message = access.describe() + "; nothing was written"
        outcome = Outcome("", OpStatus.REFUSED, OpCounts(), message=message)
        return ProgressEvent("", Phase.FINISHED, message=outcome.message, outcome=outcome)

    async def _operator(self) -> OperatorIdentity:
        if self._identity is None:
            from keyops.core.batch.identity import current_identity

            self._identity = await current_identity(self.clients.write)
        return self._identity

    @functools.cached_property
    def _ops(self) -> OperationStore:
        from keyops.core.batch.operations import OperationStore

        return OperationStore(self.clients.write)

    @functools.cached_property
    def _audit(self) -> AuditLog:
        from keyops.core.batch.audit import AuditLog

        return AuditLog(self.clients.write)

    # -- operations and recovery ------------------------------------------------------------

    @_redis_errors
    async def recent_ops(
        self, limit: int = 50, filters: AuditFilter | None = None
    ) -> list[OperationRecord]:
        """The latest operations, newest first; with `filters`, only those it admits (a key
        filter keeps the operations whose audit entries touch that key)."""
        records = await self._ops.recent(limit)
        if filters is None:
            return records
        if filters.key_id:
            from keyops.core.batch.audit import AuditFilter

            touching = {
                entry.op_id
                async for entry in self._audit.entries(AuditFilter(key_id=filters.key_id))
            }
            records = [record for record in records if record.id in touching]
        return [record for record in records if filters.admits_operation(record)]

    @_redis_errors
    async def op(self, op_id: str) -> OperationRecord:
        record = await self._ops.get(op_id)
        if record is None:
            raise BadInput(f"no operation {op_id}")
        return record

    @_redis_errors
    async def op_journal(self, op_id: str) -> dict[str, dict[str, list[str | None]]]:
        """key id -> {field: [before, after]} for every key the op wrote."""
        return await self._ops.journal(op_id)

    @_redis_errors
    async def recoveries(self) -> list[Recovery]:
        """Every interrupted operation with what recovering it does (the command to give)."""
        from redis.exceptions import NoPermissionError

        from keyops.core.batch.interrupted import interrupted_ids

        try:
            # The console asks at every start, and almost always nothing is interrupted:
            # known without importing the batch engine (~0.2 s of CPU).
            if not await interrupted_ids(self.clients.write):
                return []
            from keyops.core.batch.recovery import recoveries

            return await recoveries(self._ops)
        except NoPermissionError:
            return []  # a user kept out of keyops's keys cannot recover anything anyway

    @_redis_errors
    async def interrupted_operations(self) -> list[OperationRecord]:
        """Operations a keyops process left half-done (it died or lost Redis mid-batch)."""
        from redis.exceptions import NoPermissionError

        try:
            return await self._ops.unfinished()
        except NoPermissionError:
            return []  # a user kept out of keyops's keys cannot recover anything anyway

    @_redis_errors
    async def break_lock(self, op_id: str) -> bool:
        """Frees a stuck operation's keys (its lease goes; its claims become stale); audited."""
        from keyops.core.batch.locks import break_lock

        broken = await break_lock(self.clients.write, op_id)
        identity = await self._operator()
        await self._audit.op_event(
            op_id, "lock-break", {"by": identity.model_dump(), "had_lease": broken}
        )
        return broken

    # -- audit ------------------------------------------------------------------------------

    @_redis_errors_in_stream
    async def audit_entries(
        self, filters: AuditFilter | None = None
    ) -> AsyncGenerator[AuditEntry, None]:
        """Oldest first, filtered as asked."""
        async for entry in self._audit.entries(filters):
            yield entry

    @_redis_errors
    async def audit_trim_preview(self, older_than_days: int) -> TrimPreview:
        """How many audit entries are older than that (nothing is removed)."""
        return await self._audit.trim_preview(older_than_days)

    @_redis_errors
    async def audit_trim(self, preview: TrimPreview) -> int:
        """Removes what the preview counted, for every operator; the trail records who trimmed
        how much before anything goes."""
        identity = await self._operator()
        return await self._audit.trim(preview, identity.model_dump())

    @_redis_errors
    async def purge_preview(self, key_ids: list[str]) -> PurgePreview:
        """What purging these keys would remove: the soft-deleted ones with their usage,
        rate-limit and concurrency keys (found in one SCAN); the others are refused."""
        from keyops.core.store.purge import PurgePreview, read_purge_targets

        targets, refused = await read_purge_targets(self.clients.write, key_ids)
        return PurgePreview(targets, refused)

    @_redis_errors
    async def purge(self, preview: PurgePreview) -> dict[str, str]:
        """Removes the previewed keys for good (no rollback exists): the audit trail records
        what goes (ids, names, how many usage keys; never a secret) before anything does.
        Key id -> 'purged', or why it was left ('not-deleted', 'changed', 'missing')."""
        from keyops.core.store.purge import purge

        identity = await self._operator()
        keys = [
            {"key": target.key_id, "changes": {"name": [target.name, None]}}
            for target in preview.targets
        ]
        detail = {"by": identity.model_dump(), "usage_keys": preview.usage_keys}
        await self._audit.keys_event("keys-purge", keys, detail)
        outcome = await purge(self.clients.write, preview.targets)
        left = {key_id: status for key_id, status in outcome.items() if status != "purged"}
        await self._audit.try_op_event(
            "", "keys-purged", {"purged": len(outcome) - len(left), "left_alone": left}
        )
        return outcome

    @_redis_errors
    async def create_keys(
        self,
        request: KeysCreate,
        minter: KeyMinter,
        out: Path | TextIO,
        cancel: asyncio.Event | None = None,
    ) -> CreateOutcome:
        """Creates keys as CRS's create does. The raw keys go to `out` (a new 0600 file, or a
        stream the operator asked for) before any key exists in Redis; a failure or cancel
        removes every key the run wrote. Neither raw keys nor hashes reach the audit or log."""
        from datetime import UTC, datetime

        from keyops.core.batch.minting import run_create

        identity = await self._operator()
        return await run_create(
            self.clients.write,
            self._audit,
            identity.model_dump(),
            request,
            minter,
            out,
            datetime.now(UTC),
            cancel,
        )

    @_redis_errors
    async def rotate_preview(self, key_ids: list[str]) -> RotatePreview:
        """Which of these keys a rotation gives new secrets (soft-deleted ones are left)."""
        from keyops.core.batch.rotation import read_rotate_targets

        return await read_rotate_targets(self.clients.write, key_ids)

    @_redis_errors
    async def rotate_keys(
        self,
        preview: RotatePreview,
        minter: KeyMinter,
        out: Path | TextIO,
        cancel: asyncio.Event | None = None,
    ) -> CreateOutcome:
        """New raw keys for the previewed keys (same id, settings, usage): written to `out`
        first, then each key's record and hash_map entry switch in one step; a failure or
        cancel puts every old hash back. No secret, old or new, reaches the audit or log."""
        from datetime import UTC, datetime

        from keyops.core.batch.rotation import run_rotate

        identity = await self._operator()
        return await run_rotate(
            self.clients.write, self._audit, identity.model_dump(), preview, minter, out,
            datetime.now(UTC), cancel,
        )  # fmt: skip

    @_redis_errors
    async def export_audit(self, out: TextIO, fmt: str, filters: AuditFilter | None = None) -> int:
        """Writes matching entries as CSV or JSON lines; returns how many."""
        if fmt not in ("csv", "json"):
            raise BadInput(f"export format must be csv or json, not {fmt!r}")
        return await self._audit.export(out, fmt, filters)
