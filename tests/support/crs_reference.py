"""A transliteration of CRS's updateApiKey + updateIndex over a snapshot
(docs/crs-layout.md, "What updateApiKey writes").

Tests run keyops's write path on Redis and this reference on a copy of the same state, then
compare the two states key by key: "leaves every index exactly as CRS would" is checked, not
assumed.
"""

from __future__ import annotations

import json
from typing import Any

State = dict[str, tuple[str, Any]]


def _set(state: State, name: str) -> set[str]:
    kind, members = state.get(name, ("set", []))
    assert kind == "set", name
    return set(members)


def _store_set(state: State, name: str, members: set[str]) -> None:
    if members:
        state[name] = ("set", sorted(members))
    else:
        state.pop(name, None)  # Redis deletes an emptied set


def crs_update(state: State, key_id: str, updates: dict[str, Any], now_iso: str) -> None:
    record_name = f"apikey:{key_id}"
    kind, fields = state[record_name]
    assert kind == "hash"
    old = dict(fields)
    new = dict(old)
    for name, value in updates.items():
        if isinstance(value, list):
            new[name] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        elif isinstance(value, bool):
            new[name] = "true" if value else "false"
        else:
            new[name] = "" if value is None else str(value)
    new["updatedAt"] = now_iso
    state[record_name] = ("hash", new)

    if "isActive" in updates or "isDeleted" in updates:
        deleted = new.get("isDeleted") == "true"
        active = new.get("isActive") == "true"
        active_set = _set(state, "apikey:set:active")
        deleted_set = _set(state, "apikey:set:deleted")
        if deleted:
            deleted_set.add(key_id)
            active_set.discard(key_id)
        elif active:
            active_set.add(key_id)
            deleted_set.discard(key_id)
        else:
            active_set.discard(key_id)
            deleted_set.discard(key_id)
        _store_set(state, "apikey:set:active", active_set)
        _store_set(state, "apikey:set:deleted", deleted_set)

    if "tags" in updates:
        old_tags = json.loads(old.get("tags") or "[]")
        new_tags = updates["tags"]
        removed = [tag for tag in old_tags if tag not in new_tags]
        for tag in removed:
            members = _set(state, f"apikey:tag:{tag}")
            members.discard(key_id)
            _store_set(state, f"apikey:tag:{tag}", members)
        all_tags = _set(state, "apikey:tags:all")
        for tag in new_tags:
            members = _set(state, f"apikey:tag:{tag}")
            members.add(key_id)
            _store_set(state, f"apikey:tag:{tag}", members)
            all_tags.add(tag)
        for tag in removed:
            if not _set(state, f"apikey:tag:{tag}"):
                all_tags.discard(tag)
        _store_set(state, "apikey:tags:all", all_tags)
