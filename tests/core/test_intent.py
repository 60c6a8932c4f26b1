"""An operation's intent per field: what verify calls fine and what an undo takes off."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from keyops.core.edits.intent import Judgement, judge, undo_tags


def stored(tags: list[str]) -> str:
    return json.dumps(tags, separators=(",", ":"), ensure_ascii=False)


def test_a_tag_added_by_someone_else_beside_ours_keeps_the_change_held() -> None:
    before, after = stored(["team-a"]), stored(["team-a", "ours"])
    assert judge("tags", before, after, stored(["team-a", "ours", "theirs"])) is Judgement.HELD
    # A stale save of the old list plus their tag: none of our change is left.
    assert judge("tags", before, after, stored(["team-a", "theirs"])) is Judgement.UNDONE
    # Someone took a tag we kept and ours off: neither our change nor the old list.
    assert judge("tags", before, after, stored(["theirs"])) is Judgement.UNDONE
    # A removal holds whatever else the list holds; half of an addition is neither.
    assert judge("tags", stored(["a", "b"]), stored(["a"]), stored(["c"])) is Judgement.HELD
    assert judge("tags", stored([]), stored(["x", "y"]), stored(["x"])) is Judgement.MOVED


def test_any_other_field_is_held_only_at_the_value_written() -> None:
    assert judge("isActive", "true", "false", "false") is Judgement.HELD
    assert judge("isActive", "true", "false", "true") is Judgement.UNDONE
    assert judge("claudeAccountId", "", "group:x", "acc-1") is Judgement.MOVED


def test_an_undo_keeps_the_current_order_and_appends_tags_put_back() -> None:
    before = stored(["keep", "gone", "stay"])
    after = stored(["keep", "stay", "ours"])
    current = stored(["theirs", "keep", "stay", "ours"])
    assert json.loads(undo_tags(before, after, current)) == ["theirs", "keep", "stay", "gone"]


tag = st.sampled_from(["a", "b", "c", "d", "e", "f", "✓", "team a"])


@given(
    st.lists(tag, unique=True),
    st.lists(tag, unique=True),
    st.lists(tag, unique=True),
    st.lists(tag, unique=True),
)
def test_undoing_a_held_change_takes_off_exactly_that_change(
    before: list[str], add: list[str], remove: list[str], theirs: list[str]
) -> None:
    after = [t for t in before if t not in remove] + [t for t in add if t not in before]
    added = set(after) - set(before)
    removed = set(before) - set(after)
    # Someone else's edit since: their tags added, none of ours touched.
    current = after + [t for t in theirs if t not in after and t not in added | removed]
    assert judge("tags", stored(before), stored(after), stored(current)) is Judgement.HELD
    undone = json.loads(undo_tags(stored(before), stored(after), stored(current)))
    assert set(undone) == (set(current) - added) | removed
    assert len(undone) == len(set(undone))
    # What the undo leaves is the change undone, by the same judge.
    if added or removed:
        assert judge("tags", stored(before), stored(after), stored(undone)) is Judgement.UNDONE
