"""Soft delete and restore: CRS's `deleteApiKey` and `restoreApiKey` on many keys.

Delete writes what CRS's delete writes (`isDeleted`, `deletedAt`, `deletedBy`,
`deletedByType`, `isActive='false'`), takes the key's `apikey:hash_map` entry away so it stops
authenticating at once, drops its legacy `apikey_hash:{hash}` copy and its `cost_rank:*`
scores, and moves it from `set:active` to `set:deleted`. Restore does what CRS's restore does:
`isActive='true'`, `restoredAt/By/ByType`, the four deletion fields removed, the hash_map entry
back, ranked 0. Neither stamps `updatedAt` (CRS's don't). What lives outside the record is
the lifecycle pseudo-field (`schema.lifecycle`): the journal keeps its state before the write,
so a rollback puts back the old `isActive`, entry, legacy copy and scores exactly.

Where keyops differs from CRS: a key already deleted is left alone (CRS's delete overwrites
`deletedAt` and `deletedBy`), unless it is live again (`isActive` 'true': CRS's auth never
reads `isDeleted`), which gets `isActive='false'` and loses its hash_map entry again, `deletedBy`/`restoredBy` say `keyops` (the operator is in the
audit trail; CRS's batch delete writes `system`, its restore always `unknown`), and restore
writes no legacy `apikey_hash:{hash}` copy (CRS's makes one with no TTL that nothing reads
while the hash_map entry exists), and never takes the hash_map entry from another record that
holds the same hash (CRS's overwrites it, serving that key's clients as the restored one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.schema import lifecycle
from keyops.core.schema.encoding import decode_bool, encode_iso
from keyops.core.schema.rows import KeyRow
from keyops.core.schema.writes import LIFECYCLE

DELETION_FIELDS = ("isDeleted", "deletedAt", "deletedBy", "deletedByType")
RESTORE_FIELDS = ("restoredAt", "restoredBy", "restoredByType")
READS = ("isActive", *DELETION_FIELDS, "expiresAt", "updatedAt")
ACTOR = "keyops"  # who CRS's record says did it; the audit trail names the operator
ACTOR_TYPE = "admin"


class KeysDelete(BaseModel):
    """Soft-delete keys as CRS does. All or nothing by default: half a delete is a surprise."""

    model_config = ConfigDict(frozen=True)

    atomic: bool = True

    @property
    def summary(self) -> str:
        return "soft delete"


class KeysRestore(BaseModel):
    """Restore soft-deleted keys as CRS does."""

    model_config = ConfigDict(frozen=True)

    atomic: bool = True

    @property
    def summary(self) -> str:
        return "restore"


class DeleteEdit(EditDefaults):
    # CRS's delete leaves updatedAt alone; so does keyops (the journal still keeps the rest).
    exact = True

    def __init__(self, now: datetime) -> None:
        super().__init__(READS, judged=frozenset({"isDeleted"}))
        self.deleted: Wanted = {
            "isDeleted": "true",
            "deletedAt": encode_iso(now),
            "deletedBy": ACTOR,
            "deletedByType": ACTOR_TYPE,
            "isActive": "false",
            LIFECYCLE: lifecycle.DELETED,
        }
        self.finish: Wanted = {"isActive": "false", LIFECYCLE: lifecycle.DELETED}

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if decode_bool(current.get("isDeleted")):
            if current.get("isActive") != "true":
                return Skip("already soft-deleted")
            # Marked deleted but live again: CRS's auth never reads isDeleted, so a whole-hash
            # write from a request that read the key before the delete (or CRS's batch edit
            # enabling it) made it authenticate again. The delete is finished, the deletion
            # marks kept as they are.
            return self.finish
        return self.deleted


class RestoreEdit(EditDefaults):
    exact = True  # CRS's restore leaves updatedAt alone

    def __init__(self, now: datetime) -> None:
        super().__init__(READS, judged=frozenset({"isDeleted"}))
        self.now = now.timestamp()
        restored: Wanted = {
            "isActive": "true",
            "restoredAt": encode_iso(now),
            "restoredBy": ACTOR,
            "restoredByType": ACTOR_TYPE,
            LIFECYCLE: lifecycle.RESTORED,
        }
        restored.update(dict.fromkeys(DELETION_FIELDS))
        self.restored = restored

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if current.get("isDeleted") != "true":
            # CRS's restore answers 400 unless isDeleted is exactly 'true'.
            return Skip("not soft-deleted")
        return self.restored

    def review(self, keys_after: int, rows: Iterable[KeyRow], selected: Sequence[str]) -> list[str]:
        wanted = set(selected)
        expired = sum(
            1 for row in rows if row.id in wanted and row.is_deleted and row.is_expired(self.now)
        )
        if not expired:
            return []
        return [
            f"{expired} of these keys expired: restored active as CRS restores them, "
            "CRS still refuses them as expired and its hourly job disables them again "
            "(give them a new date: keyops expiry set)"
        ]


def prepare_delete(request: KeysDelete, context: EditContext) -> DeleteEdit:
    return DeleteEdit(context.now)


def prepare_restore(request: KeysRestore, context: EditContext) -> RestoreEdit:
    return RestoreEdit(context.now)


def _delete_request(args: Mapping[str, Any]) -> KeysDelete:
    return KeysDelete(atomic=not args["best_effort"])


def _restore_request(args: Mapping[str, Any]) -> KeysRestore:
    return KeysRestore(atomic=not args["best_effort"])


_BEST_EFFORT = Option(
    ("--best-effort",), {"action": "store_true", "help": "keep what succeeded when a key fails"}
)
DELETE_CLI = CliCommand(
    command="keys",
    help="read API keys; create, rotate, delete, restore or purge many",
    actions=(
        CliAction(
            "delete",
            "soft-delete keys as CRS does: they stop authenticating at once (undo: ops revert)",
            (_BEST_EFFORT,),
        ),
    ),
    request=_delete_request,
)
RESTORE_CLI = CliCommand(
    command="keys",
    help=DELETE_CLI.help,
    actions=(CliAction("restore", "restore soft-deleted keys as CRS does", (_BEST_EFFORT,)),),
    request=_restore_request,
)
