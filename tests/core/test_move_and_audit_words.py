"""A move rebinds only the keys still on the account it moves from, and the audit filter takes
the words the operations list shows (type:disable)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyops.core.api import AccountAssign, BadInput, BadRequest, BindingField, parse_audit_filter
from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.operations import OperationRecord, OpStatus
from keyops.core.edits.base import EditContext, Skip
from keyops.core.edits.registry import OpType, kind_of
from keyops.core.edits.template import WriteTemplate

NOW = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)


def test_a_move_rebinds_only_keys_still_on_the_account_and_calls_the_rest_no_conflict() -> None:
    request = AccountAssign.build(["gemini=shared"], move_from={BindingField.GEMINI: "gemini-old"})
    edit = kind_of(request).prepare(request, EditContext(NOW, index_ready=True))
    decide = WriteTemplate(edit, now=NOW, index_ready=True)
    moved = decide("k-1", {"geminiAccountId": "gemini-old"})
    assert not isinstance(moved, Skip)
    first = moved.fields[0]
    assert (first.field, first.before, first.after) == ("geminiAccountId", "gemini-old", "")
    # Bound elsewhere (since the list was read, or always): left alone, and not a conflict
    # that an overwrite box would rebind.
    for current in ({"geminiAccountId": "gemini-other"}, {}):
        left = decide("k-2", current)
        assert isinstance(left, Skip) and not left.conflict
        assert left.reason.startswith("not on ")
    assert edit.summary.startswith("move gemini keys from ")  # type: ignore[attr-defined]


def test_a_move_needs_a_target_on_the_field_it_moves_from() -> None:
    with pytest.raises(BadRequest, match="needs a target"):
        AccountAssign.build(["gemini=shared"], move_from={BindingField.DROID: "droid-1"})


def _record(summary: str, op_type: OpType) -> OperationRecord:
    return OperationRecord(
        id="20261127-030000-abcdef",
        type=op_type,
        status=OpStatus.DONE,
        summary=summary,
        operator=OperatorIdentity(os_user="alice", host="bastion", pid=1),
        started_at=NOW.timestamp(),
    )


def test_the_audit_filter_takes_the_words_the_list_shows() -> None:
    disable = _record("disable", OpType.STATUS)
    enable = _record("enable, expires never", OpType.STATUS)
    move = _record("move console keys from a to b", OpType.ACCOUNTS)
    assert parse_audit_filter("type:disable").admits(disable)
    assert not parse_audit_filter("type:disable").admits(enable)
    assert parse_audit_filter("type:enable").admits(enable)
    assert parse_audit_filter("type:status").admits(enable)  # the kind's own name still works
    assert parse_audit_filter("type:move").admits(move)
    assert not parse_audit_filter("type:assign").admits(move)
    with pytest.raises(BadInput, match="disable"):
        parse_audit_filter("type:disabel")  # the error lists the words that work
