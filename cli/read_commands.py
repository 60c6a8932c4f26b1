"""The reading commands: keys list, accounts list, info."""

from __future__ import annotations

import argparse
import asyncio

from keyops.cli import render
from keyops.core.api import BadInput, KeyopsSession, QueryError, settings_from_args


async def _keys_list(args: argparse.Namespace) -> int:
    session = await KeyopsSession.open(settings_from_args(args))
    try:
        table, catalog = await session.load()
    finally:
        await session.aclose()
    try:
        query = session.query(args.where, include_deleted=args.include_deleted)
    except QueryError as error:
        raise BadInput(f"{error}\n{error.pointer(args.where)}") from None
    rows = query.filter(table.rows)
    print(
        render.keys_as_json(rows) if args.json else render.keys_as_text(rows, catalog, len(table))
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    return asyncio.run(_keys_list(args))


async def _accounts_list(args: argparse.Namespace) -> int:
    session = await KeyopsSession.open(settings_from_args(args))
    try:
        catalog = await session.load_accounts()
    finally:
        await session.aclose()
    print(render.accounts_as_json(catalog) if args.json else render.accounts_as_text(catalog))
    return 0


def cmd_accounts_list(args: argparse.Namespace) -> int:
    return asyncio.run(_accounts_list(args))


async def _info(args: argparse.Namespace) -> int:
    session = await KeyopsSession.open(settings_from_args(args))
    try:
        info = await session.info()
    finally:
        await session.aclose()
    print(render.info_as_json(info) if args.json else render.info_as_text(info))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    return asyncio.run(_info(args))
