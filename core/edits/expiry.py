"""Expiry: set a date, extend by a span, or clear it (never expires), on many keys at once.

As CRS's single-key edit route (which its renew dialog uses) does, the new expiry decides
`isActive`: a date in the future makes a key active, a past one inactive, no expiry active,
and the preview counts both. `--keep-status` writes the date alone (CRS's expiration route
does that). An extension starts from the later of now and the key's current expiry, as CRS's
renew dialog computes it.

Keys left alone: soft-deleted ones, and activation-mode keys not yet used, whose expiry CRS
sets at their first request (from `activationDays`) over whatever date they hold; and for an
extension, keys that never expire and dates CRS would read in its server's local time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.encoding import decode_bool, encode_bool, encode_iso, parse_iso

READS = ("expiresAt", "isActive", "isDeleted", "expirationMode", "isActivated", "updatedAt")
UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
_SPAN = re.compile(r"\+?([0-9]{1,5})([hdw])")  # ASCII digits: int() would read '٣٠' too
# An expiry CRS reads as an exact instant: a Z or an offset, or a date alone (UTC midnight).
_EXACT = re.compile(r"\d{4}-\d\d-\d\d(?:[T ].*(?:Z|[+-]\d\d:?\d\d))?", re.IGNORECASE)


class ExpiryAction(StrEnum):
    SET = "set"
    EXTEND = "extend"
    CLEAR = "clear"


class ExpiryChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: ExpiryAction
    expires_at: str = ""  # set: the ISO date every key gets
    extend_seconds: int = 0  # extend: how far
    keep_status: bool = False
    atomic: bool = True

    @classmethod
    def build(
        cls,
        action: str,
        value: str | None = None,
        *,
        keep_status: bool = False,
        atomic: bool = True,
        label: str = "",
    ) -> ExpiryChange:
        """`label` names the value in a problem (a form's field); the CLI's words by default."""
        problems: list[str] = []
        expires_at, seconds = "", 0
        if action not in set(ExpiryAction):
            problems.append(f"unknown expiry action {action!r}: set, extend or clear")
        elif action == ExpiryAction.SET:
            moment = parse_iso(value) if value else None
            try:
                expires_at = encode_iso(moment) if moment is not None else ""
            except OverflowError:  # before year 1 once in UTC
                moment = None
            if moment is None:
                problems.append(
                    f"{label or 'expiry set'} '{printable(value or '')}' is not a date (2027-01-31 or "
                    "2027-01-31T10:00, UTC unless it names a zone)"
                )
        elif action == ExpiryAction.EXTEND:
            span = _SPAN.fullmatch((value or "").strip())
            if span is None or int(span[1]) == 0:
                problems.append(
                    f"{label or 'expiry extend'} '{printable(value or '')}' is not a span: +30d, +12h or +2w"
                )
            else:
                seconds = int(span[1]) * UNITS[span[2]]
        elif value:
            problems.append("expiry clear takes no value")
        if problems:
            raise BadRequest(problems)
        return cls(
            action=ExpiryAction(action),
            expires_at=expires_at,
            extend_seconds=seconds,
            keep_status=keep_status,
            atomic=atomic,
        )

    @property
    def summary(self) -> str:
        if self.action is ExpiryAction.SET:
            text = f"expiry set {self.expires_at}"
        elif self.action is ExpiryAction.EXTEND:
            text = f"expiry extend +{_span_text(self.extend_seconds)}"
        else:
            text = "expiry clear (never expires)"
        return text + (" (status kept)" if self.keep_status else "")


def _span_text(seconds: int) -> str:
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class ExpiryEdit(EditDefaults):
    def __init__(self, request: ExpiryChange, now: datetime) -> None:
        judged = {"isDeleted"}
        if request.action is ExpiryAction.EXTEND:
            judged.add("expiresAt")  # the new date is computed from it
        reads = READS if not request.keep_status else tuple(f for f in READS if f != "isActive")
        warnings = []
        if request.action is ExpiryAction.SET and (parse_iso(request.expires_at) or now) <= now:
            warnings.append(
                f"{request.expires_at} is in the past: the keys expire now"
                + ("" if request.keep_status else " and become inactive")
            )
        super().__init__(reads, warnings, judged=frozenset(judged))
        self.request = request
        self.now = now

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if decode_bool(current.get("isDeleted")):
            return Skip("soft-deleted")
        if current.get("expirationMode") == "activation" and not decode_bool(
            current.get("isActivated")
        ):
            return Skip(
                "activation-mode key not used yet: CRS sets its expiry at its first request "
                "(activationDays), over any date set now"
            )
        request = self.request
        if request.action is ExpiryAction.SET:
            new = request.expires_at
        elif request.action is ExpiryAction.CLEAR:
            new = ""
        else:
            extended = self._extended(current.get("expiresAt", ""))
            if isinstance(extended, Skip):
                return extended
            new = extended
        wanted: Wanted = {"expiresAt": new}
        if not request.keep_status:
            moment = parse_iso(new)
            wanted["isActive"] = encode_bool(moment is None or moment > self.now)
        return wanted

    def _extended(self, raw: str) -> str | Skip:
        if not raw:
            return Skip("never expires: nothing to extend (expiry set DATE gives it one)")
        if _EXACT.fullmatch(raw.strip()) is None:
            return Skip(
                f"expiry '{printable(raw)}' names no time zone: CRS reads it in its server's "
                "local time; give the date with expiry set"
            )
        current = parse_iso(raw)
        assert current is not None  # judged: an unreadable date skipped the key already
        base = max(current, self.now)
        try:
            return encode_iso(base + timedelta(seconds=self.request.extend_seconds))
        except OverflowError:
            return Skip(f"expiry {printable(raw)} extended would pass the year 9999")


def prepare(request: ExpiryChange, context: EditContext) -> ExpiryEdit:
    return ExpiryEdit(request, context.now.astimezone(UTC))


def _request(args: Mapping[str, Any]) -> ExpiryChange:
    return ExpiryChange.build(
        args["action"],
        args.get("value"),
        keep_status=args["keep_status"],
        atomic=not args["best_effort"],
    )


_COMMON = (
    Option(
        ("--keep-status",),
        {"action": "store_true", "help": "write the date only; leave isActive as it is"},
    ),
    Option(
        ("--best-effort",),
        {"action": "store_true", "help": "keep what succeeded when a key fails"},
    ),
)
CLI = CliCommand(
    command="expiry",
    help="set, extend or clear many keys' expiry",
    actions=(
        CliAction(
            "set",
            "give keys an expiry date (a future date activates them, a past one deactivates)",
            (
                Option(
                    ("value",),
                    {
                        "metavar": "DATE",
                        "help": "2027-01-31 or 2027-01-31T10:00 (UTC unless it names a zone)",
                    },
                ),
                *_COMMON,
            ),
        ),
        CliAction(
            "extend",
            "push expiry dates back (from the later of now and the current date)",
            (Option(("value",), {"metavar": "+SPAN", "help": "+30d, +12h or +2w"}), *_COMMON),
        ),
        CliAction("clear", "keys never expire (and become active)", _COMMON),
    ),
    request=_request,
)
