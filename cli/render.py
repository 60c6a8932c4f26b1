"""Plain-text and JSON renderings of keys and accounts for the CLI.

Every stored string goes out through `printable` (text) or `json_text` (JSON): names, tags,
ids and account names are whatever is in Redis, and must never reach a terminal raw.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from keyops.cli.text import clip, display_width, pad, plural
from keyops.core.api import (
    AccountCatalog,
    BindingField,
    KeyRow,
    ServerInfo,
    UsageTable,
    binding_labels,
    iso_utc,
    json_text,
    printable,
)


def iso_or_empty(epoch: float | None) -> str:
    return "" if epoch is None else iso_utc(epoch)


def relative_age(epoch: float | None, now: float) -> str:
    if epoch is None:
        return "never"
    seconds = max(0.0, now - epoch)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def describe_bindings(
    row: KeyRow, catalog: AccountCatalog, cache: dict[tuple[str, ...], str] | None = None
) -> str:
    """`console=my-account, claude=group-name`, or `shared pool`. Rows with the same bindings
    share one tuple, so `cache` (by that tuple) describes each distinct set once."""
    if cache is not None and (known := cache.get(row.bindings)) is not None:
        return known
    text = printable(
        ", ".join(f"{name}={label}" for name, label in binding_labels(row, catalog))
        or "shared pool"
    )
    if cache is not None:
        cache[row.bindings] = text
    return text


def key_json(row: KeyRow, now: float) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "tags": list(row.tags),
        "status": row.status(now).value,
        "isActive": row.is_active,
        "isDeleted": row.is_deleted,
        "createdAt": iso_or_empty(row.created_at),
        "lastUsedAt": iso_or_empty(row.last_used_at),
        "expiresAt": iso_or_empty(row.expires_at),
    }
    for field in BindingField:
        data[field.value] = row.binding(field)
    if row.damage:
        data["damage"] = row.damage
    return data


def keys_as_json(rows: Iterable[KeyRow], usage: UsageTable | None = None) -> str:
    now = time.time()
    if usage is None:
        lines = [json_text(key_json(row, now)) for row in rows]
    else:
        from keyops.cli.usage_render import usage_json

        lines = [
            json_text({**key_json(row, now), "usage": usage_json(usage.get(row.id), usage.now)})
            for row in rows
        ]
    if not lines:
        return "[]"
    return "[\n" + ",\n".join(lines) + "\n]"


def table(headers: list[str], rows: list[list[str]], max_widths: dict[int, int]) -> str:
    """Columns aligned by the cells text takes on screen (a CJK character takes two)."""

    def fit(cell: str, column: int) -> str:
        limit = max_widths.get(column)
        return cell if limit is None else clip(cell, limit)

    cells = [[fit(cell, index) for index, cell in enumerate(row)] for row in rows]
    # Each cell's width is taken once; most are ASCII, where it is just the length.
    sizes = [[len(c) if c.isascii() else display_width(c) for c in row] for row in cells]
    widths = [display_width(header) for header in headers]
    for row_sizes in sizes:
        widths = [max(w, size) for w, size in zip(widths, row_sizes, strict=True)]
    lines = ["  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row, row_sizes in zip(cells, sizes, strict=True):
        padded = [c + " " * (w - size) for c, size, w in zip(row, row_sizes, widths, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def keys_as_text(rows: list[KeyRow], catalog: AccountCatalog, total: int) -> str:
    now = time.time()
    described: dict[tuple[str, ...], str] = {}
    body = [
        [
            printable(row.id[:8]),
            printable(row.name),
            row.status(now).value,
            printable(",".join(row.tags)),
            describe_bindings(row, catalog, described),
            relative_age(row.last_used_at, now),
        ]
        for row in rows
    ]
    text = table(
        ["ID", "NAME", "STATUS", "TAGS", "BINDINGS", "LAST USED"], body, {1: 40, 3: 40, 4: 60}
    )
    return f"{text}\n{len(rows)} of {plural(total, 'key')}"


def accounts_as_json(catalog: AccountCatalog) -> str:
    accounts = [
        {
            "kind": "account",
            "id": account.id,
            "platform": account.platform.value,
            "name": account.name,
            "isActive": account.is_active,
            "status": account.status,
            "schedulable": account.schedulable,
            "accountType": account.account_type,
            "healthy": account.healthy,
        }
        for account in catalog.all_accounts()
    ]
    groups = [
        {
            "kind": "group",
            "id": group.id,
            "platform": group.platform.value if group.platform else None,
            "name": group.name,
            "members": sorted(group.member_ids),
        }
        for group in catalog.all_groups()
    ]
    return json_text(accounts + groups, indent=1)


def accounts_as_text(catalog: AccountCatalog) -> str:
    rows = [
        [
            account.platform.value,
            printable(account.name),
            printable(account.id[:8]),
            printable(account.account_type),
            "active" if account.is_active else "inactive",
            printable(account.status) or "-",
            "healthy" if account.healthy else "UNHEALTHY",
        ]
        for account in catalog.all_accounts()
    ]
    text = table(["PLATFORM", "NAME", "ID", "TYPE", "ACTIVE", "STATUS", "HEALTH"], rows, {1: 40})
    group_rows = [
        [
            group.platform.value if group.platform else "?",
            printable(group.name),
            printable(group.id[:8]),
            str(len(group.member_ids)),
        ]
        for group in catalog.all_groups()
    ]
    groups = table(["PLATFORM", "GROUP", "ID", "MEMBERS"], group_rows, {1: 40})
    return f"{text}\n\n{groups}"


def info_as_text(info: ServerInfo) -> str:
    counts = ", ".join(f"{count} {status.value}" for status, count in info.key_counts.items())
    accounts = ", ".join(f"{n} {p}" for p, n in sorted(info.account_counts.items())) or "none"
    index = (
        f"{info.index_version} (ready)"
        if info.index_version >= 2
        else f"{info.index_version} (not ready: keys are read by SCAN)"
    )
    lines = [
        f"server:        {printable(info.server)} at {printable(info.endpoint)}",
        f"index version: {index}",
        f"keys:          {info.key_total} ({counts})",
        f"accounts:      {sum(info.account_counts.values())} ({accounts})",
        f"groups:        {info.group_count}",
        f"tags:          {info.tag_count}",
    ]
    lines += [f"index drift:   {message}" for message in info.drift.messages(readiness=False)]
    return "\n".join(lines)


def info_as_json(info: ServerInfo) -> str:
    return json_text(
        {
            "endpoint": info.endpoint,
            "server": info.server,
            "indexVersion": info.index_version,
            "keys": {status.value: count for status, count in info.key_counts.items()},
            "keyTotal": info.key_total,
            "accounts": info.account_counts,
            "groups": info.group_count,
            "tags": info.tag_count,
            "indexDrift": {
                "indexReady": info.drift.index_ready,
                "notInIdxAll": list(info.drift.not_in_idx_all),
                "danglingIds": list(info.drift.dangling),
                "notHashes": list(info.drift.not_hashes),
            },
        },
        indent=1,
    )
