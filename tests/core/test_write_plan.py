from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyops.core.errors import BadInput
from keyops.core.schema.bindings import Binding, BindingKind
from keyops.core.schema.platforms import BindingField, Platform
from keyops.core.schema.writes import IndexOp, KeyChange, normalize_tags, plan_key_write

NOW = datetime(2026, 11, 27, 3, 0, 0, 123000, tzinfo=UTC)
KEY = "k-1"


def plan(current: dict[str, str], change: KeyChange, index_ready: bool = True):  # type: ignore[no-untyped-def]
    return plan_key_write(KEY, current, change, now=NOW, index_ready=index_ready)


def test_a_change_that_alters_nothing_writes_nothing() -> None:
    result = plan(
        {"tags": '["a","b"]', "isActive": "true"}, KeyChange(tags=["a", "b"], is_active=True)
    )
    assert result.is_noop and result.index_ops == ()


def test_tag_change_writes_tags_and_updated_at_and_only_the_index_ops_that_change_something() -> (
    None
):
    result = plan({"tags": '["old","keep"]'}, KeyChange(tags=["keep", "new"]))
    assert [(w.field, w.before, w.after) for w in result.fields] == [
        ("tags", '["old","keep"]', '["keep","new"]'),
        ("updatedAt", None, "2026-11-27T03:00:00.123Z"),
    ]
    # CRS would also SADD the kept tag again; that write changes nothing, so keyops skips it.
    assert result.index_ops == (
        IndexOp("srem", "apikey:tag:old", KEY),
        IndexOp("sadd", "apikey:tag:new", KEY),
        IndexOp("sadd", "apikey:tags:all", "new"),
        IndexOp("prune", "apikey:tag:old", "old"),
    )


def test_no_index_writes_when_the_index_is_not_ready() -> None:
    result = plan({"tags": "[]"}, KeyChange(tags=["x"]), index_ready=False)
    assert [w.field for w in result.fields] == ["tags", "updatedAt"] and result.index_ops == ()


def test_disable_moves_the_key_out_of_the_active_set() -> None:
    result = plan({"isActive": "true"}, KeyChange(is_active=False))
    assert IndexOp("srem", "apikey:set:active", KEY) in result.index_ops


def test_a_soft_deleted_key_is_never_enabled() -> None:
    with pytest.raises(BadInput, match="soft-deleted"):
        plan({"isActive": "false", "isDeleted": "true"}, KeyChange(is_active=True))


def test_disabling_a_deleted_key_keeps_it_out_of_the_active_set() -> None:
    result = plan({"isActive": "true", "isDeleted": "true"}, KeyChange(is_active=False))
    assert IndexOp("sadd", "apikey:set:deleted", KEY) in result.index_ops
    assert IndexOp("sadd", "apikey:set:active", KEY) not in result.index_ops


def test_binding_a_claude_account_clears_the_console_field() -> None:
    binding = Binding(BindingField.CLAUDE, BindingKind.ACCOUNT, Platform.CLAUDE, "acc-1")
    result = plan({BindingField.CLAUDE: "", BindingField.CLAUDE_CONSOLE: "con-1"},
                  KeyChange(bindings={BindingField.CLAUDE: binding}))  # fmt: skip
    written = {w.field: w.after for w in result.fields}
    assert written[BindingField.CLAUDE] == "acc-1" and written[BindingField.CLAUDE_CONSOLE] == ""


def test_setting_both_claude_fields_at_once_is_refused() -> None:
    claude = Binding(BindingField.CLAUDE, BindingKind.ACCOUNT, Platform.CLAUDE, "a")
    console = Binding(
        BindingField.CLAUDE_CONSOLE, BindingKind.ACCOUNT, Platform.CLAUDE_CONSOLE, "b"
    )
    with pytest.raises(BadInput, match="mutually exclusive"):
        KeyChange(bindings={BindingField.CLAUDE: claude, BindingField.CLAUDE_CONSOLE: console})


def test_rename_updates_the_name_index_member() -> None:
    result = plan({"name": "Old"}, KeyChange(name=" New "))
    assert IndexOp("zrem", "apikey:idx:name", f"old\x00{KEY}") in result.index_ops
    assert IndexOp("zadd", "apikey:idx:name", f"new\x00{KEY}") in result.index_ops


@pytest.mark.parametrize(
    ("tags", "message"),
    [([" "], "empty tag"), (["a\nb"], "control character"), (["x" * 65], "at most 64")],
)
def test_bad_tags_are_refused(tags: list[str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        normalize_tags(tags)


def test_tags_are_trimmed_and_deduplicated_in_order() -> None:
    assert normalize_tags([" b", "a ", "b", "标签"]) == ["b", "a", "标签"]


def test_lifecycle_fields_shrink_the_chunk_and_are_never_a_record_field() -> None:
    from keyops.core.batch.config import LIFECYCLE_CHUNK, LIFECYCLE_FIELD, chunk_size_for
    from keyops.core.schema.writes import LIFECYCLE, FieldWrite, KeyWritePlan

    assert LIFECYCLE_FIELD == LIFECYCLE
    writes = (FieldWrite("isDeleted", None, "true"), FieldWrite(LIFECYCLE, None, "{}"))
    delete = KeyWritePlan(KEY, writes, True)
    edit = KeyWritePlan(KEY, (FieldWrite("tags", "[]", '["a"]'),), True)
    assert chunk_size_for([edit, delete], 100) == LIFECYCLE_CHUNK
    assert chunk_size_for([edit], 100) == 100
    # A delete's index updates follow the record after the write (restore may not write isActive).
    assert [op.op for op in delete.index_ops] == ["status"]
