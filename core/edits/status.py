"""Status: enable or disable keys, optionally giving enabled keys a new expiry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.encoding import decode_bool, encode_iso, iso_to_epoch, parse_iso
from keyops.core.schema.writes import KeyChange, change_fields

READS = ("isActive", "isDeleted", "expiresAt", "updatedAt")
DISABLE_READS = ("isActive", "isDeleted", "updatedAt")


class StatusChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    enable: bool
    expires_at: str | None = None  # ISO (as CRS stores it) or '' for never; None = unchanged
    atomic: bool = False  # a disable must land on every key it can, now

    @classmethod
    def build(
        cls,
        enable: bool,
        expires: str | None = None,
        atomic: bool = False,
        now: datetime | None = None,
    ) -> StatusChange:
        encoded: str | None = None
        if expires is not None:
            if not enable:
                raise BadRequest(["--expires only goes with enable"])
            if expires.strip().lower() == "never":
                encoded = ""
            else:
                moment = parse_iso(expires)
                if moment is None:
                    raise BadRequest(
                        [f"--expires '{printable(expires)}' is not a date (2027-01-31) or 'never'"]
                    )
                if moment <= (now or datetime.now(UTC)):
                    raise BadRequest([f"--expires {expires} is in the past"])
                encoded = encode_iso(moment)
        return cls(enable=enable, expires_at=encoded, atomic=atomic)

    @property
    def summary(self) -> str:
        text = "enable" if self.enable else "disable"
        if self.expires_at is not None:
            text += f", expires {self.expires_at or 'never'}"
        return text


class StatusEdit(EditDefaults):
    def __init__(self, request: StatusChange, now: datetime) -> None:
        # A disable depends on isActive alone (CRS's auth checks nothing else of it): damage
        # anywhere else in a key never keeps it live. An enable also reads the deletion flag
        # and the expiry.
        judged = {"isActive", "isDeleted", "expiresAt"} if request.enable else {"isActive"}
        # What a decision reads also guards its write, so a disable does not read the expiry
        # it never looks at: a key activated meanwhile (CRS writes expiresAt on first use) is
        # still disabled at the first attempt, and keys with any expiry share one decision.
        reads = READS if request.enable else DISABLE_READS
        super().__init__(reads, judged=frozenset(judged))
        self.request = request
        self.now = now.timestamp()
        self.change = KeyChange(is_active=request.enable)
        # The new expiry is for keys that expired, as the option says: a key still within its
        # term keeps the date it has.
        self.renewal = KeyChange(is_active=request.enable, expires_at=request.expires_at)

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        request = self.request
        change = self.change
        if request.enable:
            if decode_bool(current.get("isDeleted")):
                return Skip("soft-deleted: keyops never enables a deleted key")
            expires = iso_to_epoch(current.get("expiresAt"))
            expired = expires is not None and expires <= self.now
            if expired and request.expires_at is None:
                return Skip(
                    f"expired at {printable(current.get('expiresAt', ''))}: CRS's hourly job "
                    "would disable it again; give a new expiry (--expires DATE or never)"
                )
            if expired:
                change = self.renewal
        return dict(change_fields(key_id, current, change))


def prepare(request: StatusChange, context: EditContext) -> StatusEdit:
    return StatusEdit(request, context.now)


def _request(args: Mapping[str, Any]) -> StatusChange:
    return StatusChange.build(
        args["action"] == "enable", args.get("expires"), atomic=args["atomic"]
    )


_ATOMIC = Option(
    ("--atomic",), {"action": "store_true", "help": "all or nothing (default: best effort)"}
)
CLI = CliCommand(
    command="status",
    help="enable or disable many keys",
    actions=(
        CliAction(
            "enable",
            "enable keys",
            (
                Option(
                    ("--expires",),
                    {"metavar": "DATE|never", "help": "new expiry for keys that expired"},
                ),
                _ATOMIC,
            ),
        ),
        CliAction("disable", "disable keys", (_ATOMIC,)),
    ),
    request=_request,
)
