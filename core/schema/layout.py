"""Redis key names CRS uses. CRS has no key prefix option, so these are fixed."""

from __future__ import annotations

from keyops.core.schema.js_text import node_utf8

API_KEY_PREFIX = "apikey:"
HASH_MAP = "apikey:hash_map"
INDEX_VERSION = "apikey:index:version"
IDX_ALL = "apikey:idx:all"
IDX_CREATED_AT = "apikey:idx:createdAt"
IDX_LAST_USED_AT = "apikey:idx:lastUsedAt"
IDX_NAME = "apikey:idx:name"
SET_ACTIVE = "apikey:set:active"
SET_DELETED = "apikey:set:deleted"
TAGS_ALL = "apikey:tags:all"
TAG_SET_PREFIX = "apikey:tag:"

# Index sets are trusted only from this version on; below it Node rebuilds them at start-up.
INDEX_READY_VERSION = 2

# setApiKey refreshes this TTL on every write; a record nobody writes for a year disappears.
API_KEY_TTL_SECONDS = 31_536_000

ACCOUNT_GROUPS = "account_groups"
ACCOUNT_GROUP_PREFIX = "account_group:"
ACCOUNT_GROUP_MEMBERS_PREFIX = "account_group_members:"

# Second parts of `apikey:*` names that are CRS bookkeeping, not key records.
_NON_RECORD_SECOND_PARTS = frozenset({"hash_map", "idx", "set", "tags", "index", "tag", "tmp"})


# The names a Lua script may use as @TOKEN@s, so a script spells none of CRS's key names itself.
_SCRIPT_NAMES = {
    "@PREFIX@": API_KEY_PREFIX,
    "@HASH_MAP@": HASH_MAP,
    "@IDX_CREATED@": IDX_CREATED_AT,
    "@IDX_LAST_USED@": IDX_LAST_USED_AT,
    "@IDX_NAME@": IDX_NAME,
    "@IDX_ALL@": IDX_ALL,
    "@SET_ACTIVE@": SET_ACTIVE,
    "@SET_DELETED@": SET_DELETED,
    "@TAGS_ALL@": TAGS_ALL,
}


def with_layout_names(script: str) -> str:
    """`script` with each @TOKEN@ of `_SCRIPT_NAMES` replaced by the Redis name it stands for."""
    for token, name in _SCRIPT_NAMES.items():
        script = script.replace(token, name)
    return script


def api_key(key_id: str) -> str:
    return f"{API_KEY_PREFIX}{key_id}"


def tag_set(tag: str) -> str:
    # Keyed by the raw (untrimmed) tag string, as CRS does, in the UTF-8 Node writes for it.
    return f"{TAG_SET_PREFIX}{tag_member(tag)}"


def tag_member(tag: str) -> str:
    """A tag as CRS's Node process writes it into a Redis name or set member: an unpaired
    surrogate (a tag cut inside an emoji) becomes U+FFFD."""
    return node_utf8(tag)


def name_index_member(name: str, key_id: str) -> str:
    """The `apikey:idx:name` member: lowercased name, NUL, id."""
    return f"{name.lower()}\x00{key_id}"


def key_id_from_redis_key(redis_key: str) -> str | None:
    """The id of an `apikey:{id}` record name, or None for anything CRS's scan would skip.

    CRS keeps names with exactly two colon-separated parts and skips its bookkeeping keys.
    """
    parts = redis_key.split(":")
    if len(parts) != 2 or parts[0] != "apikey":
        return None
    if parts[1] in _NON_RECORD_SECOND_PARTS or not parts[1]:
        return None
    return parts[1]


def account_group(group_id: str) -> str:
    return f"{ACCOUNT_GROUP_PREFIX}{group_id}"


def account_group_members(group_id: str) -> str:
    return f"{ACCOUNT_GROUP_MEMBERS_PREFIX}{group_id}"
