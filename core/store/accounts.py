"""Loading upstream accounts and account groups from Redis into an `AccountCatalog`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from keyops.core.schema import layout
from keyops.core.schema.accounts import Account, AccountGroup
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.platforms import ACCOUNT_STORES, AccountStore
from keyops.core.store.keyspace_walk import KeyspaceWalk
from keyops.core.wire.together import all_of

# Alone (no key table beside it), a load walks for account records only.
STORE_PREFIXES = tuple(store.record_prefix for store in ACCOUNT_STORES.values())

# Fields read from account hashes: never credentials.
ACCOUNT_FIELDS = ("id", "name", "isActive", "status", "schedulable", "accountType", "platform")


async def _account_ids(
    client: aioredis.Redis, store: AccountStore, walk: KeyspaceWalk
) -> list[str]:
    """Ids from the store's index set; if it is empty, from the keyspace walk, as CRS's
    getAllIdsByIndex SCANs (a record of the wrong type is skipped when it is read)."""
    ids = cast(set[str], await client.smembers(store.index_set))
    if ids:
        return sorted(ids)
    return sorted(
        rest for rest in await walk.under(store.record_prefix) if rest and ":" not in rest
    )


async def load_accounts(client: aioredis.Redis, walk: KeyspaceWalk | None = None) -> AccountCatalog:
    """`walk` is the load's one keyspace walk, shared with the key table; every store whose
    index set is empty takes its ids from it (a walk each cost ~2 s of Redis CPU at 100,000
    keys with their usage counters)."""
    catalog = AccountCatalog()
    stores = list(ACCOUNT_STORES.values())
    walk = walk if walk is not None else KeyspaceWalk(client, STORE_PREFIXES)
    store_ids = await all_of([_account_ids(client, store, walk) for store in stores])
    for store, ids in zip(stores, store_ids, strict=True):
        if not ids:
            continue
        pipe = client.pipeline(transaction=False)
        for account_id in ids:
            name = f"{store.record_prefix}{account_id}"
            if store.json_string:
                pipe.get(name)
            else:
                pipe.hmget(name, ACCOUNT_FIELDS)
        replies = await pipe.execute(raise_on_error=False)
        for account_id, reply in zip(ids, replies, strict=True):
            if isinstance(reply, ResponseError) or reply is None:
                continue
            if store.json_string:
                account = Account.from_bedrock_json(account_id, reply)
            else:
                if all(value is None for value in reply):
                    continue  # stale index entry: the record is gone
                fields = {k: v for k, v in zip(ACCOUNT_FIELDS, reply, strict=True) if v is not None}
                account = Account.from_fields(store.platform, account_id, fields)
            catalog.accounts[(store.platform, account_id)] = account
    await _load_groups(
        client, catalog, sorted(cast(set[str], await client.smembers(layout.ACCOUNT_GROUPS)))
    )
    return catalog


async def _load_groups(client: aioredis.Redis, catalog: AccountCatalog, ids: Iterable[str]) -> None:
    ids = list(ids)
    if not ids:
        return
    pipe = client.pipeline(transaction=False)
    for group_id in ids:
        pipe.hgetall(layout.account_group(group_id))
        pipe.smembers(layout.account_group_members(group_id))
    replies = await pipe.execute(raise_on_error=False)
    for position, group_id in enumerate(ids):
        fields, members = replies[2 * position], replies[2 * position + 1]
        if isinstance(fields, ResponseError) or not fields:
            continue
        if isinstance(members, ResponseError):
            members = set()
        catalog.groups[group_id] = AccountGroup.from_fields(group_id, fields, set(members))
