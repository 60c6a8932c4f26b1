"""Every kind of batch edit, in one list. The engine (what to read, how to decide, whether an
interrupted run can be finished), the CLI (subcommands, `audit --type`) and the console (which
form edits it, whether read-only sessions hide it) all derive what they need from here.

Adding a kind: its module beside this one (request, `prepare`, `READS`, optionally a CLI
spec), a member of `OpType` and an entry in `KINDS` below, its console form, its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel

from keyops.core.edits import (
    accounts,
    description,
    expiry,
    key_fields,
    lifecycle,
    limits,
    permissions,
    rates,
    restrictions,
    revert,
    status,
    tag_routes,
    tags,
)
from keyops.core.edits.base import Edit, EditContext, EditRequest, RowReading
from keyops.core.edits.cli_spec import CliCommand
from keyops.core.errors import KeyopsError


class OpType(StrEnum):
    """The kinds' names: stored in operation records, shown in the audit trail."""

    TAGS = "tags"
    ACCOUNTS = "accounts"
    STATUS = "status"
    LIMITS = "limits"
    PERMISSIONS = "permissions"
    RATES = "rates"
    EXPIRY = "expiry"
    MODELS = "models"
    CLIENTS = "clients"
    DESCRIPTION = "description"
    DELETE = "delete"
    RESTORE = "restore"
    TAG_RENAME = "tag-rename"
    TAG_DELETE = "tag-delete"
    FIELDS = "fields"  # several of the field kinds above in one op (the console's edit form)
    REVERT = "revert"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class EditKind:
    op_type: OpType
    request: type[BaseModel]
    reads: tuple[str, ...]  # the fields its decisions read (a revert adds its journal's)
    # The request made ready to decide; refusals (an unknown account...) raise BadRequest.
    prepare: Callable[[Any, EditContext], Edit]
    console_form: str | None  # the console screen module that edits it (None: CLI only, yet)
    cli: CliCommand | None = None  # None: no command of its own (revert and rollback are ops)
    mutating: bool = True
    resumable: bool = True  # an interrupted run can be finished under the same op id
    rows: RowReading | None = None  # planned from the loaded list, not by reading every key

    def request_from(self, params: dict[str, Any]) -> EditRequest:
        """The request an operation's stored parameters came from (to resume it)."""
        # Every registered request model is an EditRequest; tests/core/test_edit_kinds.py
        # checks each one.
        return cast(EditRequest, self.request.model_validate(params))


KINDS: tuple[EditKind, ...] = (
    EditKind(
        OpType.TAGS, tags.TagEdit, tags.READS, tags.prepare, "tag_editor", tags.CLI, rows=tags.ROWS
    ),
    EditKind(
        OpType.ACCOUNTS,
        accounts.AccountAssign,
        accounts.READS,
        accounts.prepare,
        "account_assign",
        accounts.CLI,
    ),
    EditKind(
        OpType.STATUS,
        status.StatusChange,
        status.READS,
        status.prepare,
        "status_change",
        status.CLI,
    ),
    EditKind(OpType.LIMITS, limits.LimitsSet, limits.READS, limits.prepare, "key_edit", limits.CLI),
    EditKind(
        OpType.PERMISSIONS,
        permissions.PermissionsSet,
        permissions.READS,
        permissions.prepare,
        "key_edit",
        permissions.CLI,
    ),
    EditKind(OpType.RATES, rates.RatesSet, rates.READS, rates.prepare, "key_edit", rates.CLI),
    EditKind(
        OpType.EXPIRY, expiry.ExpiryChange, expiry.READS, expiry.prepare, "key_edit", expiry.CLI
    ),
    EditKind(
        OpType.MODELS,
        restrictions.ModelsRestrict,
        restrictions.READS,
        restrictions.prepare,
        "key_edit",
        restrictions.MODELS_CLI,
    ),
    EditKind(
        OpType.CLIENTS,
        restrictions.ClientsAllow,
        restrictions.CLIENT_READS,
        restrictions.prepare,
        "key_edit",
        restrictions.CLIENTS_CLI,
    ),
    EditKind(
        OpType.DESCRIPTION,
        description.DescriptionSet,
        description.READS,
        description.prepare,
        "key_edit",
        description.CLI,
    ),
    EditKind(
        OpType.DELETE,
        lifecycle.KeysDelete,
        lifecycle.READS,
        lifecycle.prepare_delete,
        "key_lifecycle",
        lifecycle.DELETE_CLI,
    ),
    EditKind(
        OpType.RESTORE,
        lifecycle.KeysRestore,
        lifecycle.READS,
        lifecycle.prepare_restore,
        "key_lifecycle",
        lifecycle.RESTORE_CLI,
    ),
    EditKind(
        OpType.TAG_RENAME,
        tag_routes.TagRename,
        tag_routes.READS,
        tag_routes.prepare_rename,
        None,
        tag_routes.RENAME_CLI,
        rows=tag_routes.ROWS,
    ),
    EditKind(
        OpType.TAG_DELETE,
        tag_routes.TagDelete,
        tag_routes.READS,
        tag_routes.prepare_delete,
        None,
        tag_routes.DELETE_CLI,
        rows=tag_routes.ROWS,
    ),
    # No command of its own: the CLI sets each kind with its own command.
    EditKind(
        OpType.FIELDS,
        key_fields.KeyFieldsEdit,
        key_fields.READS,
        key_fields.prepare,
        "key_edit",
    ),
    EditKind(
        OpType.REVERT,
        revert.RevertRequest,
        revert.READS,
        revert.prepare_revert,
        "operations",
        resumable=False,
    ),
    EditKind(
        OpType.ROLLBACK,
        revert.RollbackRequest,
        revert.READS,
        revert.prepare_rollback,
        "recovery",
        resumable=False,
    ),
)

BY_TYPE: dict[OpType, EditKind] = {kind.op_type: kind for kind in KINDS}
_BY_REQUEST: dict[type, EditKind] = {kind.request: kind for kind in KINDS}


def kind_of(request: EditRequest) -> EditKind:
    """The kind a request belongs to."""
    try:
        return _BY_REQUEST[type(request)]
    except KeyError:
        raise KeyopsError(f"{type(request).__name__} is not a request of any edit kind") from None
