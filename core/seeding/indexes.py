"""CRS's secondary indexes computed from key records, as its index rebuild would make them.

Used when seeding: the records are written first, then these sets, so a CRS server started on
the seeded DB finds `apikey:index:version` = 2 and trusts them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from keyops.core.schema import layout
from keyops.core.schema.encoding import decode_bool, decode_tags, iso_to_epoch


@dataclass(slots=True)
class IndexSets:
    sets: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    zsets: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    hash_map: dict[str, str] = field(default_factory=dict)


def build_indexes(records: Mapping[str, Mapping[str, str]]) -> IndexSets:
    out = IndexSets()
    for key_id, fields in records.items():
        out.sets[layout.IDX_ALL].add(key_id)
        created = iso_to_epoch(fields.get("createdAt"))
        last_used = iso_to_epoch(fields.get("lastUsedAt"))
        out.zsets[layout.IDX_CREATED_AT][key_id] = round((created or 0) * 1000)
        out.zsets[layout.IDX_LAST_USED_AT][key_id] = round((last_used or 0) * 1000)
        member = layout.name_index_member(fields.get("name", ""), key_id)
        out.zsets[layout.IDX_NAME][member] = 0
        deleted = decode_bool(fields.get("isDeleted"))
        if deleted:
            out.sets[layout.SET_DELETED].add(key_id)
        elif decode_bool(fields.get("isActive")):
            out.sets[layout.SET_ACTIVE].add(key_id)
        for tag in decode_tags(fields.get("tags")):
            out.sets[layout.tag_set(tag)].add(key_id)
            out.sets[layout.TAGS_ALL].add(layout.tag_member(tag))
        # rebuildHashMap maps every record with a secret hash, soft-deleted ones included.
        if fields.get("apiKey"):
            out.hash_map[fields["apiKey"]] = key_id
    return out
