"""A transliteration of CRS's updateApiKey + updateIndex over a snapshot
(docs/crs-layout.md, "What updateApiKey writes").

Tests run keyops's write path on Redis and this reference on a copy of the same state, then
compare the two states key by key: "leaves every index exactly as CRS would" is checked, not
assumed.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

State = dict[str, tuple[str, Any]]

# updateApiKey's encodings (apiKeyService.js): JSON for lists and objects, String() for the rest.
_JSON_LISTS = {"restrictedModels", "allowedClients", "tags", "openaiResponsesPayloadRules"}
_BOOLS = {
    "enableModelRestriction",
    "enableClientRestriction",
    "isActivated",
    "enableOpenAIResponsesCodexAdaptation",
    "enableOpenAIResponsesPayloadRules",
}


def js_number_to_string(x: float) -> str:
    """ECMAScript Number::toString, written independently of keyops's own."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number_to_string(-x)
    r = repr(x)
    mant, e = (r.split("e")[0], int(r.split("e")[1])) if "e" in r else (r, 0)
    ip, fp = mant.split(".") if "." in mant else (mant, "")
    digits = (ip + fp).lstrip("0")
    n = len(ip.lstrip("0")) + e if ip.strip("0") else e - (len(fp) - len(fp.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e2 = n - 1
    sign = "+" if e2 >= 0 else "-"
    return f"{digits}e{sign}{abs(e2)}" if k == 1 else f"{digits[0]}.{digits[1:]}e{sign}{abs(e2)}"


def js_json(value: Any) -> str:
    """JSON.stringify: compact, UTF-8 literal, JS number formatting."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return js_number_to_string(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(js_json(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                json.dumps(str(k), ensure_ascii=False) + ":" + js_json(v) for k, v in value.items()
            )
            + "}"
        )
    raise TypeError(value)


def js_string(value: Any) -> str:
    """String(value)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return js_number_to_string(value)
    return str(value)


def normalize_permissions(value: Any) -> list[Any]:
    """apiKeyService.normalizePermissions."""
    if not value:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
        if value == "all":
            return []
        if "," in value:
            return [part.strip() for part in value.split(",") if part.strip()]
        return [value]
    return []


def encode(name: str, value: Any) -> str:
    """The stored string updateApiKey writes for one allow-listed field."""
    if name in _JSON_LISTS:
        return js_json(value if value not in (None, "", 0, False) else [])
    if name == "serviceRates":
        return js_json(value if value not in (None, "", 0, False) else {})
    if name == "permissions":
        return js_json(normalize_permissions(value))
    if name in _BOOLS:
        return js_string(value)
    if name in ("expiresAt", "activatedAt"):
        return value or ""
    return "" if value is None else js_string(value)


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
        new[name] = encode(name, value)
    new["updatedAt"] = now_iso
    state[record_name] = ("hash", new)
    # setApiKey re-adds the hash map entry on every edit (a no-op for a live key).
    kind, hash_map = state.get("apikey:hash_map", ("hash", {}))
    if old.get("apiKey"):
        state["apikey:hash_map"] = ("hash", {**hash_map, old["apiKey"]: key_id})

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


class CrsRefused(ValueError):
    """The 400 CRS's route answers: nothing is written."""


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER_LIMITS = ("tokenLimit", "concurrencyLimit", "rateLimitWindow", "rateLimitRequests")
_COST_LIMITS = ("rateLimitCost", "dailyCostLimit", "totalCostLimit", "weeklyOpusCostLimit")
_SERVICES = ("claude", "gemini", "openai", "droid")


def js_number(value: Any) -> float:
    """Number(value) for what a JSON body can hold."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if not text:
        return 0.0
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        return float(int(text, 16))
    if re.fullmatch(r"[+-]?Infinity", text):
        return -math.inf if text.startswith("-") else math.inf
    return float(text) if _NUMBER.fullmatch(text) else math.nan


def _given(value: Any) -> bool:
    return value is not None and value != ""


def _validate_permissions(value: Any) -> None:
    """apiKeys.js validatePermissions."""
    if value is None or value == "":
        return
    if isinstance(value, str):
        if value != "all" and value not in _SERVICES:
            raise CrsRefused(f"invalid permissions {value!r}")
        return
    if isinstance(value, list):
        if any(item not in _SERVICES for item in value):
            raise CrsRefused(f"invalid permissions {value!r}")
        return
    raise CrsRefused(f"invalid permissions {value!r}")


def _validate_service_rates(value: Any) -> None:
    """apiKeys.js validateServiceRates."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise CrsRefused("serviceRates must be an object")
    for rate in value.values():
        number = js_number(rate)
        if not math.isfinite(number) or number < 0:
            raise CrsRefused(f"invalid rate {rate!r}")


def _js_date_ms(text: str) -> float | None:
    """new Date(text).getTime() for the ISO forms keyops and CRS's page send (Z or offset, or a
    date alone, which JS reads as UTC midnight)."""
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        text += "T00:00:00Z"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # server-local time: not a form these tests send
    return moment.timestamp() * 1000


def crs_single_edit(state: State, key_id: str, body: dict[str, Any], now: datetime) -> None:
    """`PUT /admin/api-keys/:keyId` (apiKeys.js:2094-2438) for the fields keyops's limits,
    permissions, rates and expiry kinds write: the route's checks in its order (a refusal
    raises CrsRefused and writes nothing), then updateApiKey with what it builds."""
    updates: dict[str, Any] = {}
    for name in _INTEGER_LIMITS:
        if _given(body.get(name)):
            number = js_number(body[name])
            if not (math.isfinite(number) and number == int(number) and number >= 0):
                raise CrsRefused(f"{name} must be a non-negative integer")
            updates[name] = number
    for name in _COST_LIMITS:
        if _given(body.get(name)):
            number = js_number(body[name])
            if math.isnan(number) or number < 0:
                raise CrsRefused(f"{name} must be a non-negative number")
            updates[name] = number
    if "expiresAt" in body:
        if body["expiresAt"] is None:
            updates["expiresAt"] = ""
            updates["isActive"] = True
        else:
            moment = _js_date_ms(str(body["expiresAt"]))
            if moment is None:
                raise CrsRefused("invalid expiration date")
            updates["expiresAt"] = body["expiresAt"]
            updates["isActive"] = moment > now.timestamp() * 1000
    if "permissions" in body:
        _validate_permissions(body["permissions"])
        updates["permissions"] = body["permissions"]
    if "serviceRates" in body:
        _validate_service_rates(body["serviceRates"])
        updates["serviceRates"] = body["serviceRates"]
    for name, low, high in (("weeklyResetDay", 1, 7), ("weeklyResetHour", 0, 23)):
        if _given(body.get(name)):
            number = js_number(body[name])
            if not (number == int(number) and low <= number <= high):
                raise CrsRefused(f"{name} out of range")
            updates[name] = number
    if "isActive" in body:
        if not isinstance(body["isActive"], bool):
            raise CrsRefused("isActive must be a boolean")
        updates["isActive"] = body["isActive"]
    # apiKeys.js:2223-2250: each restriction flag a boolean, each list an array (its items
    # unchecked), written only when present in the body.
    for flag, items in (
        ("enableModelRestriction", "restrictedModels"),
        ("enableClientRestriction", "allowedClients"),
    ):
        if flag in body:
            if not isinstance(body[flag], bool):
                raise CrsRefused(f"{flag} must be a boolean")
            updates[flag] = body[flag]
        if items in body:
            if not isinstance(body[items], list):
                raise CrsRefused(f"{items} must be an array")
            updates[items] = body[items]
    iso = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    crs_update(state, key_id, updates, iso)


def crs_description_update(state: State, key_id: str, description: Any, now: datetime) -> None:
    """No CRS route edits a description; its create route checks it (a string of at most 500
    UTF-16 code units, apiKeys.js:1512-1516) and `updateApiKey` stores what it is given."""
    if not isinstance(description, str):
        raise CrsRefused("description must be a string")
    if len(description.encode("utf-16-le", "surrogatepass")) // 2 > 500:
        raise CrsRefused("description must be less than 500 characters")
    crs_update(state, key_id, {"description": description}, _iso(now))


# --- lifecycle (crs-lifecycle: deleteApiKey, restoreApiKey, tag routes) ---------------------

_RANKS = ("cost_rank:today", "cost_rank:7days", "cost_rank:30days", "cost_rank:all")


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _zset_without(state: State, name: str, member: str) -> None:
    _kind, pairs = state.get(name, ("zset", []))
    kept = [(m, s) for m, s in pairs if m != member]
    if kept:
        state[name] = ("zset", kept)
    else:
        state.pop(name, None)


def _zset_with(state: State, name: str, member: str, score: float) -> None:
    _kind, pairs = state.get(name, ("zset", []))
    kept = [(m, s) for m, s in pairs if m != member] + [(member, score)]
    state[name] = ("zset", sorted(kept, key=lambda pair: (pair[1], pair[0])))


def _index_status(state: State, key_id: str, deleted: bool, active: bool) -> None:
    active_set = _set(state, "apikey:set:active")
    deleted_set = _set(state, "apikey:set:deleted")
    if deleted:
        deleted_set.add(key_id)
        active_set.discard(key_id)
    elif active:
        active_set.add(key_id)
        deleted_set.discard(key_id)
    _store_set(state, "apikey:set:active", active_set)
    _store_set(state, "apikey:set:deleted", deleted_set)


def crs_delete(state: State, key_id: str, now: datetime, by: str, by_type: str) -> None:
    """deleteApiKey (apiKeyService.js:1430-1486): the whole hash again plus the deletion fields
    and isActive='false', the legacy copy and hash_map entry gone, out of every cost rank,
    moved to set:deleted. Nothing else (no updatedAt, tags and idx:* untouched)."""
    name = f"apikey:{key_id}"
    _kind, fields = state[name]
    new = {
        **fields,
        "isDeleted": "true",
        "deletedAt": _iso(now),
        "deletedBy": by,
        "deletedByType": by_type,
        "isActive": "false",
    }
    state[name] = ("hash", new)
    digest = fields.get("apiKey", "")
    state.pop(f"apikey_hash:{digest}", None)
    _kind, hash_map = state.get("apikey:hash_map", ("hash", {}))
    hash_map = {h: i for h, i in hash_map.items() if h != digest}
    if hash_map:
        state["apikey:hash_map"] = ("hash", hash_map)
    else:
        state.pop("apikey:hash_map", None)
    for rank in _RANKS:
        _zset_without(state, rank, key_id)
    _index_status(state, key_id, deleted=True, active=False)


def crs_restore(state: State, key_id: str, now: datetime, by: str, by_type: str) -> None:
    """restoreApiKey (apiKeyService.js:1489-1562), minus the legacy `apikey_hash:{hash}` copy
    it also writes (which keyops does not make; see docs/batch-operations.md)."""
    name = f"apikey:{key_id}"
    _kind, fields = state[name]
    if fields.get("isDeleted") != "true":
        raise CrsRefused("not deleted")
    new = {**fields, "isActive": "true", "restoredAt": _iso(now), "restoredBy": by,
           "restoredByType": by_type}  # fmt: skip
    for gone in ("isDeleted", "deletedAt", "deletedBy", "deletedByType"):
        new.pop(gone, None)
    state[name] = ("hash", new)
    _kind, hash_map = state.get("apikey:hash_map", ("hash", {}))
    state["apikey:hash_map"] = ("hash", {**hash_map, fields["apiKey"]: key_id})
    for rank in _RANKS:
        _zset_with(state, rank, key_id, 0.0)
    _index_status(state, key_id, deleted=False, active=True)


def _js_trim(text: str) -> str:
    return text.strip(" \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                      "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")  # fmt: skip


def crs_tag_route(state: State, old: str, new: str | None, now: datetime) -> list[str]:
    """removeTagFromAllKeys (new None) / renameTag (apiKeyService.js:762-856): every key record
    not soft-deleted whose string tags hold one matching `old` after trim() gets updateApiKey
    with the new list; then CRS's global tags:all writes. Returns the ids written."""
    name_old = _js_trim(old)
    written: list[str] = []
    records = [
        name for name in sorted(state) if name.startswith("apikey:") and name.count(":") == 1
    ]
    for record_name in records:
        kind, fields = state[record_name]
        if kind != "hash":
            continue
        if record_name == "apikey:hash_map" or fields.get("isDeleted") == "true":
            continue
        try:
            parsed = json.loads(fields.get("tags") or "[]")
        except ValueError:
            parsed = []
        tags = [tag for tag in parsed if isinstance(tag, str)] if isinstance(parsed, list) else []
        if not any(_js_trim(tag) == name_old for tag in tags):
            continue
        if new is None:
            new_tags = [tag for tag in tags if _js_trim(tag) != name_old]
        else:
            new_tags = list(
                dict.fromkeys(new if _js_trim(tag) == name_old else tag for tag in tags)
            )
        key_id = record_name.split(":", 1)[1]
        crs_update(state, key_id, {"tags": new_tags}, _iso(now))
        written.append(key_id)
    all_tags = _set(state, "apikey:tags:all")
    all_tags -= {name_old, old}
    if new is not None:
        all_tags.add(_js_trim(new))
    _store_set(state, "apikey:tags:all", all_tags)
    return written


def crs_purge(state: State, key_id: str) -> None:
    """permanentDeleteApiKey (apiKeyService.js:1565-1616): the dead DELs of wrong names, the
    `usage:*:{id}*` glob (a colon before the id), removeFromIndex, then the hash_map entry and
    the record."""
    import fnmatch

    name = f"apikey:{key_id}"
    _kind, fields = state[name]
    if fields.get("isDeleted") != "true":
        raise CrsRefused("only soft-deleted keys")
    for other in [n for n in state if fnmatch.fnmatchcase(n, f"usage:*:{key_id}*")]:
        del state[other]
    for zset in ("apikey:idx:createdAt", "apikey:idx:lastUsedAt"):
        _zset_without(state, zset, key_id)
    _zset_without(state, "apikey:idx:name", f"{fields.get('name', '').lower()}\x00{key_id}")
    for set_name in ("apikey:idx:all", "apikey:set:active", "apikey:set:deleted"):
        members = _set(state, set_name)
        members.discard(key_id)
        _store_set(state, set_name, members)
    try:
        tags = json.loads(fields.get("tags") or "[]")
    except ValueError:
        tags = []
    all_tags = _set(state, "apikey:tags:all")
    for tag in tags:
        members = _set(state, f"apikey:tag:{tag}")
        members.discard(key_id)
        _store_set(state, f"apikey:tag:{tag}", members)
        if not members:
            all_tags.discard(tag)
    _store_set(state, "apikey:tags:all", all_tags)
    _kind, hash_map = state.get("apikey:hash_map", ("hash", {}))
    rest = {h: i for h, i in hash_map.items() if h != fields.get("apiKey")}
    if rest:
        state["apikey:hash_map"] = ("hash", rest)
    else:
        state.pop("apikey:hash_map", None)
    del state[name]


def crs_create(
    state: State, key_id: str, digest: str, options: dict[str, Any], now: datetime
) -> None:
    """generateApiKey (apiKeyService.js:173-351) for the options CRS's create route passes,
    written from the lifecycle notes' table independently of keyops: hash_map entry, the record
    (every field with its default), cost ranks at 0, and the indexes apiKeyIndexService adds."""
    o = options
    mode = o.get("expirationMode") or "fixed"
    fixed = o.get("expirationMode", "fixed") == "fixed"
    stamp = _iso(now)
    record = {
        "id": key_id,
        "name": o.get("name") or "Unnamed Key",
        "description": o.get("description") or "",
        "apiKey": digest,
        "tokenLimit": js_string(o.get("tokenLimit") if o.get("tokenLimit") is not None else 0),
        "concurrencyLimit": js_string(o.get("concurrencyLimit", 0)),
        "rateLimitWindow": js_string(o.get("rateLimitWindow", 0)),
        "rateLimitRequests": js_string(o.get("rateLimitRequests", 0)),
        "rateLimitCost": js_string(o.get("rateLimitCost", 0)),
        "isActive": "true",
        "claudeAccountId": o.get("claudeAccountId") or "",
        "claudeConsoleAccountId": o.get("claudeConsoleAccountId") or "",
        "geminiAccountId": o.get("geminiAccountId") or "",
        "openaiAccountId": o.get("openaiAccountId") or "",
        "azureOpenaiAccountId": "",
        "bedrockAccountId": o.get("bedrockAccountId") or "",
        "droidAccountId": o.get("droidAccountId") or "",
        "permissions": js_json(normalize_permissions(o.get("permissions", "all"))),
        "enableModelRestriction": "false",
        "restrictedModels": "[]",
        "enableClientRestriction": "false",
        "allowedClients": "[]",
        "dailyCostLimit": js_string(o.get("dailyCostLimit") or 0),
        "totalCostLimit": js_string(o.get("totalCostLimit") or 0),
        "weeklyOpusCostLimit": js_string(o.get("weeklyOpusCostLimit") or 0),
        "tags": js_json(o.get("tags") or []),
        "activationDays": "0",
        "activationUnit": "days",
        "expirationMode": mode,
        "isActivated": "true" if fixed else "false",
        "activatedAt": stamp if fixed else "",
        "createdAt": stamp,
        "lastUsedAt": "",
        "expiresAt": "",
        "createdBy": "admin",
        "userId": "",
        "userUsername": "",
        "icon": "",
        "serviceRates": "{}",
        "weeklyResetDay": js_string(o.get("weeklyResetDay") or 1),
        "weeklyResetHour": js_string(o.get("weeklyResetHour") or 0),
        "enableOpenAIResponsesCodexAdaptation": "true",
        "enableOpenAIResponsesPayloadRules": "false",
        "openaiResponsesPayloadRules": "[]",
    }
    _kind, hash_map = state.get("apikey:hash_map", ("hash", {}))
    state["apikey:hash_map"] = ("hash", {**hash_map, digest: key_id})
    state[f"apikey:{key_id}"] = ("hash", record)
    for rank in _RANKS:
        _zset_with(state, rank, key_id, 0.0)
    _zset_with(state, "apikey:idx:createdAt", key_id, float(int(now.timestamp() * 1000)))
    _zset_with(state, "apikey:idx:lastUsedAt", key_id, 0.0)
    _zset_with(state, "apikey:idx:name", f"{record['name'].lower()}\0{key_id}", 0.0)
    _store_set(state, "apikey:idx:all", _set(state, "apikey:idx:all") | {key_id})
    _index_status(state, key_id, deleted=False, active=True)
    for tag in o.get("tags") or []:
        if isinstance(tag, str) and tag:
            _store_set(state, f"apikey:tag:{tag}", _set(state, f"apikey:tag:{tag}") | {key_id})
            _store_set(state, "apikey:tags:all", _set(state, "apikey:tags:all") | {tag})
