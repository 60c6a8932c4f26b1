"""The edit-kind registry is the one list: what the engine, the CLI and the console offer comes
from it, and every kind writes through the one template."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyops.cli.main import build_parser
from keyops.core.api import (
    KINDS,
    AccountAssign,
    BadRequest,
    OpType,
    RevertRequest,
    RollbackRequest,
    StatusChange,
    TagEdit,
)
from keyops.core.edits.base import EditContext
from keyops.core.edits.description import DescriptionSet
from keyops.core.edits.expiry import ExpiryChange
from keyops.core.edits.key_fields import KeyFieldsEdit
from keyops.core.edits.lifecycle import KeysDelete, KeysRestore
from keyops.core.edits.limits import LimitsSet
from keyops.core.edits.permissions import PermissionsSet
from keyops.core.edits.rates import RatesSet
from keyops.core.edits.registry import BY_TYPE, kind_of
from keyops.core.edits.restrictions import ClientsAllow, ModelsRestrict
from keyops.core.edits.tag_routes import TagDelete, TagRename
from keyops.core.edits.template import WriteTemplate
from keyops.core.schema.writes import FieldWrite

NOW = datetime(2026, 11, 27, 3, 0, 0, 123000, tzinfo=UTC)
STAMP = "2026-11-27T03:00:00.123Z"
SCREENS = Path(__file__).resolve().parents[2] / "tui" / "screens"

REQUESTS = [
    TagEdit.build("add", ["x"], "skip", remove=["y"]),
    StatusChange.build(True, "never"),
    AccountAssign.build(["gemini=shared"], overwrite_existing=True),
    LimitsSet.build({"concurrency": "5", "daily_cost": "1.5"}, "mon@0", atomic=False),
    PermissionsSet.build("claude,openai"),
    RatesSet.build(["claude=1.5", "gemini=default"], replace=True),
    ExpiryChange.build("extend", "+30d", keep_status=True),
    ModelsRestrict.build("add", ["claude-opus-4", "gemini-2.5-pro"]),
    ClientsAllow.build("remove", ["claude_code"], atomic=False),
    DescriptionSet.build(" billing team "),
    KeysDelete(),
    KeysRestore(atomic=False),
    TagRename.build(" old ", "new"),
    TagDelete.build("gone", atomic=False),
    KeyFieldsEdit.build(
        [LimitsSet.build({"concurrency": "5"}), ExpiryChange.build("extend", "+30d")], atomic=False
    ),
    RevertRequest(op="20261127-030000-abcdef"),
    RollbackRequest(op="20261127-030000-abcdef"),
]


def test_every_operation_type_is_exactly_one_kind() -> None:
    assert [kind.op_type for kind in KINDS] == list(OpType)
    assert {type(request) for request in REQUESTS} == {kind.request for kind in KINDS}


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_a_stored_request_comes_back_the_same_when_an_operation_is_resumed(
    request_: TagEdit,
) -> None:
    kind = kind_of(request_)
    params = request_.model_dump(mode="json")
    assert kind.request_from(params) == request_
    assert request_.summary and isinstance(request_.atomic, bool)


def test_revert_keeps_the_parameters_operations_always_stored() -> None:
    # Operation records written before the registry hold {"op": ...}; they must still read.
    assert RevertRequest(op="x").model_dump(mode="json") == {"op": "x"}
    assert RevertRequest(op="x").summary == "revert of x"
    assert RollbackRequest(op="x").summary == "rollback of x"


def test_only_kinds_that_can_be_finished_are_resumable() -> None:
    assert {kind.op_type for kind in KINDS if kind.resumable} == {
        OpType.TAGS,
        OpType.STATUS,
        OpType.ACCOUNTS,
        OpType.LIMITS,
        OpType.PERMISSIONS,
        OpType.RATES,
        OpType.EXPIRY,
        OpType.MODELS,
        OpType.CLIENTS,
        OpType.DESCRIPTION,
        OpType.DELETE,
        OpType.RESTORE,
        OpType.TAG_RENAME,
        OpType.TAG_DELETE,
        OpType.FIELDS,
    }


# Kinds the CLI offers and the console does not.
CLI_ONLY = {
    OpType.TAG_RENAME,
    OpType.TAG_DELETE,
}


def test_each_kind_names_a_console_form_that_exists() -> None:
    for kind in KINDS:
        assert kind.mutating
        if kind.op_type in CLI_ONLY:
            assert kind.console_form is None and kind.cli is not None
            continue
        assert kind.console_form is not None and (SCREENS / f"{kind.console_form}.py").is_file()


def test_the_fields_kind_runs_its_parts_as_one_decision() -> None:
    request = KeyFieldsEdit.build(
        [LimitsSet.build({"concurrency": "5"}), PermissionsSet.build("claude")]
    )
    decide = _template(request)
    plan = decide("k-1", {"concurrencyLimit": "0", "permissions": "[]", "isDeleted": "false"})
    assert [(w.field, w.after) for w in plan.fields] == [  # type: ignore[union-attr]
        ("concurrencyLimit", "5"),
        ("permissions", '["claude"]'),
        ("updatedAt", STAMP),
    ]
    assert request.summary == "limits set: concurrencyLimit=5; permissions set: claude"
    # A part that leaves a key alone leaves it alone whole: no half of the form lands.
    dated = KeyFieldsEdit.build(
        [LimitsSet.build({"concurrency": "5"}), ExpiryChange.build("extend", "+30d")]
    )
    skipped = _template(dated)("k-2", {"concurrencyLimit": "0", "expiresAt": ""})
    assert getattr(skipped, "reason", "").startswith("never expires")
    with pytest.raises(BadRequest, match="nothing to change"):
        KeyFieldsEdit.build([])


def test_the_fields_kind_joins_restrictions_and_the_description_with_a_limit() -> None:
    request = KeyFieldsEdit.build(
        [
            LimitsSet.build({"concurrency": "2"}),
            ModelsRestrict.build("add", ["claude-opus-4-1"]),
            ClientsAllow.build("clear", []),
            DescriptionSet.build(" on call "),
        ]
    )
    current = {
        "concurrencyLimit": "0",
        "enableModelRestriction": "false",
        "restrictedModels": "[]",
        "enableClientRestriction": "true",
        "allowedClients": '["codex_cli"]',
        "description": "",
        "isDeleted": "false",
    }
    plan = _template(request)("k-1", current)
    assert {(w.field, w.after) for w in plan.fields} == {  # type: ignore[union-attr]
        ("concurrencyLimit", "2"),
        # add turns the model restriction on; clear empties the client list and turns it off
        ("restrictedModels", '["claude-opus-4-1"]'),
        ("enableModelRestriction", "true"),
        ("allowedClients", "[]"),
        ("enableClientRestriction", "false"),
        ("description", "on call"),
        ("updatedAt", STAMP),
    }
    assert request.summary == (
        "limits set: concurrencyLimit=2; models restrict add: claude-opus-4-1; "
        "clients allow clear (restriction off); description set: on call"
    )
    # A stored model list CRS would misread is left alone, and so is the rest of the form.
    damaged = _template(request)("k-2", {**current, "restrictedModels": '{"a":1}'})
    assert "not a JSON list" in getattr(damaged, "reason", "")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["tags", "add", "a", "b", "--conflict", "skip", "--remove", "c"],
         TagEdit.build("add", ["a", "b"], "skip", remove=["c"])),
        (["tags", "remove", "a"], TagEdit.build("remove", ["a"])),
        (["keys", "delete"], KeysDelete()),
        (["tags", "rename", " a ", "b"], TagRename.build("a", "b")),
        (["tags", "delete", "a", "--best-effort"], TagDelete.build("a", atomic=False)),
        (["keys", "restore", "--best-effort"], KeysRestore(atomic=False)),
        (["tags", "replace", "--best-effort"], TagEdit.build("replace", [], atomic=False)),
        (["status", "enable", "--expires", "never", "--atomic"],
         StatusChange.build(True, "never", atomic=True)),
        (["status", "disable"], StatusChange.build(False)),
        (["accounts", "assign", "console=shared", "--force", "--overwrite-existing"],
         AccountAssign.build(["console=shared"], force=True, overwrite_existing=True)),
        (["limits", "set", "--concurrency", "5", "--daily-cost", "1.5", "--weekly-reset", "mon@0",
          "--best-effort"],
         LimitsSet.build({"concurrency": "5", "daily_cost": "1.5"}, "mon@0", atomic=False)),
        (["permissions", "set", "all"], PermissionsSet.build("all")),
        (["rates", "set", "claude=1.5", "gemini=0", "--replace"],
         RatesSet.build(["claude=1.5", "gemini=0"], replace=True)),
        (["expiry", "set", "2027-01-31", "--keep-status"],
         ExpiryChange.build("set", "2027-01-31", keep_status=True)),
        (["expiry", "extend", "+2w"], ExpiryChange.build("extend", "+2w")),
        (["expiry", "clear", "--best-effort"], ExpiryChange.build("clear", atomic=False)),
        (["models", "restrict", "add", "m-1,m-2", "m-3"],
         ModelsRestrict.build("add", ["m-1", "m-2", "m-3"])),
        (["models", "restrict", "clear", "--best-effort"],
         ModelsRestrict.build("clear", [], atomic=False)),
        (["clients", "allow", "add", "claude_code", "codex_cli"],
         ClientsAllow.build("add", ["claude_code", "codex_cli"])),
        (["description", "set", " team billing "], DescriptionSet.build("team billing")),
        (["description", "clear"], DescriptionSet.build("")),
    ],
)  # fmt: skip
def test_the_cli_builds_each_kinds_command_from_its_spec(argv: list[str], expected: object) -> None:
    args = build_parser().parse_args([*argv, "--where", "tag:x"])
    assert args.edit_request(vars(args)) == expected


def test_a_bad_request_on_the_command_line_fails_before_any_key_is_read() -> None:
    args = build_parser().parse_args(["tags", "add", "--where", "tag:x"])
    with pytest.raises(BadRequest, match="needs at least one tag"):
        args.edit_request(vars(args))


def test_audit_type_filters_offer_every_kind() -> None:
    flags = [part for kind in OpType for part in ("--type", kind.value)]
    args = build_parser().parse_args(["audit", "list", *flags])
    assert args.type == [kind.value for kind in OpType]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["audit", "list", "--type", "nonsense"])


def _template(request: object) -> WriteTemplate:
    kind = kind_of(request)  # type: ignore[arg-type]
    context = EditContext(NOW, index_ready=True)
    return WriteTemplate(kind.prepare(request, context), now=NOW, index_ready=True)


def test_keys_with_the_same_fields_share_one_tuple_of_writes() -> None:
    decide = _template(TagEdit.build("add", ["new"]))
    first = decide("k-1", {"tags": '["a"]', "updatedAt": "2026-01-01T00:00:00.000Z"})
    second = decide("k-2", {"tags": '["a"]', "updatedAt": "2026-02-02T00:00:00.000Z"})
    assert first.key_id == "k-1" and second.key_id == "k-2"  # type: ignore[union-attr]
    assert first.fields is second.fields  # type: ignore[union-attr]
    assert first.fields == (  # type: ignore[union-attr]
        FieldWrite("tags", '["a"]', '["a","new"]'),
        FieldWrite("updatedAt", None, STAMP),
    )


def test_status_and_accounts_write_through_the_same_template() -> None:
    status = _template(StatusChange.build(False))
    plan = status("k-1", {"isActive": "true"})
    assert plan.fields == (  # type: ignore[union-attr]
        FieldWrite("isActive", "true", "false"),
        FieldWrite("updatedAt", None, STAMP),
    )
    assert status("k-2", {"isActive": "false"}).fields == ()  # type: ignore[union-attr]
    accounts = _template(AccountAssign.build(["gemini=shared"], overwrite_existing=True))
    plan = accounts("k-3", {"geminiAccountId": "gemini-1"})
    assert [(w.field, w.after) for w in plan.fields] == [  # type: ignore[union-attr]
        ("geminiAccountId", ""),
        ("updatedAt", STAMP),
    ]


def test_an_exact_rollback_restores_updated_at_instead_of_stamping_it() -> None:
    journal = {"k-1": {"tags": ['["a"]', '["a","b"]'], "updatedAt": ["old", "new"]}}
    kind = BY_TYPE[OpType.ROLLBACK]
    edit = kind.prepare(RollbackRequest(op="x"), EditContext(NOW, True, journal=journal))
    decide = WriteTemplate(edit, now=NOW, index_ready=True)
    plan = decide("k-1", {"tags": '["a","b"]', "updatedAt": "new"})
    assert plan.fields == (  # type: ignore[union-attr]
        FieldWrite("tags", '["a","b"]', '["a"]'),
        FieldWrite("updatedAt", None, "old"),
    )


def test_every_write_is_guarded_by_the_fields_its_decision_read_and_did_not_write() -> None:
    """The apply script checks these: a key soft-deleted, re-bound or re-dated between
    deciding and writing is decided again instead of written."""
    tag = _template(TagEdit.build("add", ["new"]))("k-1", {"tags": '["a"]'})
    assert tag.guards == (("isDeleted", None),)  # type: ignore[union-attr]
    enable = _template(StatusChange.build(True))(
        "k-1", {"isActive": "false", "expiresAt": "2099-01-01T00:00:00.000Z", "updatedAt": "t"}
    )
    assert enable.guards == (  # type: ignore[union-attr]
        ("isDeleted", None),
        ("expiresAt", "2099-01-01T00:00:00.000Z"),
    )
    # A disable looks at isActive alone: an expiry CRS sets meanwhile never holds it back.
    disable = _template(StatusChange.build(False))(
        "k-1", {"isActive": "true", "expiresAt": "2099-01-01T00:00:00.000Z"}
    )
    assert disable.guards == (("isDeleted", None),)  # type: ignore[union-attr]
    bind = _template(AccountAssign.build(["gemini=shared"], overwrite_existing=True))(
        "k-1", {"geminiAccountId": "gemini-1", "claudeAccountId": "", "isDeleted": "false"}
    )
    guards = dict(bind.guards)  # type: ignore[union-attr]
    assert guards["isDeleted"] == "false" and guards["claudeAccountId"] == ""
    assert guards["claudeConsoleAccountId"] is None and "geminiAccountId" not in guards


def test_keys_with_the_same_fields_share_their_guards_too() -> None:
    decide = _template(TagEdit.build("add", ["new"]))
    first = decide("k-1", {"tags": '["a"]', "updatedAt": "2026-01-01T00:00:00.000Z"})
    second = decide("k-2", {"tags": '["a"]', "updatedAt": "2026-02-02T00:00:00.000Z"})
    assert first.guards is second.guards  # type: ignore[union-attr]


def test_an_undo_still_plans_fields_already_back_at_their_old_value() -> None:
    """CRS's whole-hash save can put a key's old tags back without touching the tag sets:
    the rollback still plans the change from what the op wrote, so the script (answering
    `already` for the field) runs the index updates that take the key out of the new set."""
    journal = {"k-1": {"tags": ['["a"]', '["a","b"]'], "updatedAt": ["old", "new"]}}
    kind = BY_TYPE[OpType.ROLLBACK]
    edit = kind.prepare(RollbackRequest(op="x"), EditContext(NOW, True, journal=journal))
    decide = WriteTemplate(edit, now=NOW, index_ready=True)
    plan = decide("k-1", {"tags": '["a"]', "updatedAt": "old"})
    assert plan.fields == (FieldWrite("tags", '["a","b"]', '["a"]'),)  # type: ignore[union-attr]
    assert [(op.op, op.key) for op in plan.index_ops] == [  # type: ignore[union-attr]
        ("srem", "apikey:tag:b"),
        ("prune", "apikey:tag:b"),
    ]


def test_keys_edit_actions_the_parser_declares_are_the_kinds_cli_actions() -> None:
    # `keys` declares its edit actions by hand (so `keys list` loads no core): they must be
    # exactly what the kinds offer under `keys`.
    from keyops.cli.parser import KEY_EDITS

    offered = {
        action.name
        for kind in KINDS
        if kind.cli is not None and kind.cli.command == "keys"
        for action in kind.cli.actions
    }
    assert set(KEY_EDITS) == offered
