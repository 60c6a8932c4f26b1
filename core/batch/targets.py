"""Which keys a request acts on: `--where`, `--ids`, `--ids-file`, resolved against the table."""

from __future__ import annotations

from pathlib import Path

from keyops.core.errors import BadInput
from keyops.core.query import QueryContext, QueryError, compile_query
from keyops.core.safe_text import printable
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.js_text import js_trim
from keyops.core.store.key_table import KeyTable
from keyops.core.usage.figures import UsageTable

MIN_PREFIX = 8


def read_ids_file(path: Path) -> list[str]:
    """One id per line; blank lines and `#` comments are ignored. A byte order mark (Windows
    editors write one) and CRLF line ends are fine; bytes that are not UTF-8 are refused."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BadInput(f"cannot read ids file {printable(str(path))}: {error.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInput(
            f"ids file {printable(str(path))} is not UTF-8 text (byte 0x{data[error.start]:02x} "
            f"at offset {error.start}): one key id a line"
        ) from None
    return [key_id for line in text.splitlines() if (key_id := clean_id(line.split("#", 1)[0]))]


def clean_id(raw: str) -> str:
    """An id as typed or pasted: trimmed like JavaScript trims (a byte order mark or a
    no-break space from a copy goes too)."""
    return js_trim(raw)


def resolve_targets(
    table: KeyTable,
    catalog: AccountCatalog,
    *,
    where: str | None = None,
    ids: list[str] | None = None,
    now: float | None = None,
    deleted: bool = False,
    usage: UsageTable | None = None,
) -> list[str]:
    """Key ids to act on. With both `where` and `ids`, a key must be listed and match.

    Unknown ids, ambiguous prefixes and soft-deleted keys named explicitly are errors (one
    that is live again excepted): a batch never silently drops a key the operator asked for. `deleted`: the edit is for soft-deleted
    keys (restore, purge), so they may be named, and a query includes them.
    """
    if where is None and ids is None:
        raise BadInput("say which keys: --where QUERY, --ids ID[,ID...] or --ids-file PATH")
    selected: list[str] | None = None
    if ids is not None:
        problems: list[str] = []
        resolved: dict[str, None] = {}
        for raw in ids:
            key_id = _resolve_id(table, raw, problems)
            if key_id is None:
                continue
            row = table.by_id[key_id]
            # A deleted key that is live again (isActive 'true': CRS's auth never reads
            # isDeleted) may be named: `keys delete` finishes its delete, other kinds skip it.
            if row.is_deleted and not row.is_active and not deleted:
                name = printable(table.by_id[key_id].name)
                problems.append(f"key {printable(key_id)} ({name}) is soft-deleted")
                continue
            resolved.setdefault(key_id, None)
        if problems:
            shown = problems[:5] + ([f"and {len(problems) - 5} more"] if len(problems) > 5 else [])
            raise BadInput("; ".join(shown))
        selected = list(resolved)
    if where is not None:
        context = QueryContext(catalog=catalog, include_deleted=deleted, usage=usage)
        if now is not None:
            context.now = now
        try:
            query = compile_query(where, context)
        except QueryError as error:
            raise BadInput(error.explained(where)) from None
        rows = table.rows if selected is None else [table.by_id[key_id] for key_id in selected]
        selected = [row.id for row in query.filter(rows)]
    assert selected is not None
    if not selected:
        raise BadInput("no keys match: nothing to do")
    return selected


def _resolve_id(table: KeyTable, given: str, problems: list[str]) -> str | None:
    """An exact id, else the one id it names ignoring case (CRS's ids are lower-case UUIDs;
    a copy from a report may be upper-case), else the one id it is a prefix of."""
    raw = clean_id(given)
    if raw in table.by_id:
        return raw
    folded = raw.lower()
    if folded in table.by_id:
        return folded
    shown = printable(raw)
    if len(raw) < MIN_PREFIX:
        problems.append(f"unknown key id '{shown}'")
        return None
    matches = [key_id for key_id in table.by_id if key_id.lower().startswith(folded)]
    if len(matches) == 1:
        return matches[0]
    problems.append(
        f"id prefix '{shown}' matches {len(matches)} keys"
        if matches
        else f"unknown key id '{shown}'"
    )
    return None
