"""What an operation meant by each field it wrote, judged against what the field holds now.

Verify and revert judge an operation by its intent, not by a whole field. For `tags` that
matters: an operator in CRS's UI may add a tag of their own while keyops adds another, and both
changes stand. So the intent of a tag write is the set of tags it added and the set it took
off; for every other field (isActive, expiresAt, name, a binding) it is the value written.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from keyops.core.schema.encoding import decode_tags, encode_json

TAGS = "tags"


class Judgement(StrEnum):
    HELD = "held"  # the field still shows the operation's change
    UNDONE = "undone"  # it shows none of it, as before the operation (a whole-hash rewrite)
    MOVED = "moved"  # someone changed it some other way


@lru_cache(maxsize=4096)
def tag_change(before: str | None, after: str | None) -> tuple[frozenset[str], frozenset[str]]:
    """(added, removed): the tags a write from `before` to `after` put on and took off.
    Cached: the keys of a batch share a few transitions."""
    old, new = set(decode_tags(before)), set(decode_tags(after))
    return frozenset(new - old), frozenset(old - new)


def judge(name: str, before: str | None, after: str | None, current: str | None) -> Judgement:
    """Whether `current` still holds the change of a write from `before` to `after`."""
    if current == after:
        return Judgement.HELD
    if name != TAGS:
        return Judgement.UNDONE if current == before else Judgement.MOVED
    added, removed = tag_change(before, after)
    tags = set(decode_tags(current))
    if added <= tags and not removed & tags:
        return Judgement.HELD
    if not added & tags and removed <= tags:
        return Judgement.UNDONE
    return Judgement.MOVED


def undo_tags(before: str | None, after: str | None, current: str | None) -> str:
    """`current` without the operation's change: the tags it added come off and the ones it
    took off go back, while every other tag stays where it is (someone else's since).

    Tags put back are appended in their old order: CRS appends tags too, and the order of a
    key's tags changes nothing CRS does with them.
    """
    added, removed = tag_change(before, after)
    kept = [tag for tag in decode_tags(current) if tag not in added]
    missing = removed - set(kept)
    back = [tag for tag in dict.fromkeys(decode_tags(before)) if tag in missing]
    return encode_json(kept + back)
