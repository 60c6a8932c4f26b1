"""The reading commands: keys list, accounts list, info."""

from __future__ import annotations

import argparse
import asyncio

from keyops.cli import render, usage_render
from keyops.core.api import BadInput, KeyopsSession, QueryError, json_text, settings_from_args


async def _keys_list(args: argparse.Namespace) -> int:
    session = await KeyopsSession.open(settings_from_args(args))
    try:
        table, catalog = await session.load()
        try:
            query = await session.select(args.where, include_deleted=args.include_deleted)
        except QueryError as error:
            raise BadInput(f"{error}\n{error.pointer(args.where)}") from None
        rows = query.filter(table.rows)
        usage = None
        if args.json and not args.no_usage:
            # Only the listed keys' usage: a narrow query reads little.
            usage = await session.usage([row.id for row in rows])
    finally:
        await session.aclose()
    print(
        render.keys_as_json(rows, usage)
        if args.json
        else render.keys_as_text(rows, catalog, len(table))
    )
    return 0


async def _keys_top(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise BadInput("-n must be at least 1")
    session = await KeyopsSession.open(settings_from_args(args))
    try:
        ranking = await session.top(
            args.by, args.n, where=args.where, include_deleted=args.include_deleted
        )
    except QueryError as error:
        raise BadInput(f"{error}\n{error.pointer(args.where)}") from None
    finally:
        await session.aclose()
    usage = ranking.usage
    if args.json:
        lines = [
            json_text(
                {**render.key_json(row, usage.now), "usage": usage_render.usage_json(
                    usage.get(row.id), usage.now
                )}
            )
            for row in ranking.rows
        ]  # fmt: skip
        print("[\n" + ",\n".join(lines) + "\n]" if lines else "[]")
    else:
        body = usage_render.top_rows(ranking.rows, usage)
        print(render.table(usage_render.TOP_HEADERS, body, {1: 32}))
        print(usage_render.top_footer(len(ranking.rows), ranking.ranked, args.by, usage))
    return 0


def cmd_keys_top(args: argparse.Namespace) -> int:
    return asyncio.run(_keys_top(args))


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
