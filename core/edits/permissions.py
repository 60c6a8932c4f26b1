"""Permissions: which services a key may use (all, or some of claude, gemini, openai, droid).

CRS stores `JSON.stringify(normalizePermissions(value))`: `[]` for all, else the list. Its
readers are lenient (a JSON list, `all`, a comma list, a bare word) and only ask whether a
service is in the list, an empty list meaning every service. keyops compares what a key's
stored value means to CRS with what is asked, so a key stored another way that already
allows exactly these services is left as it is, and writes the list in one order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.access import ALL, SERVICES, allowed_services
from keyops.core.schema.encoding import decode_bool, encode_json
from keyops.core.schema.js_text import js_trim

READS = ("permissions", "isDeleted", "updatedAt")


class PermissionsSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    services: tuple[str, ...]  # () = every service
    atomic: bool = True

    @classmethod
    def build(cls, spec: str, atomic: bool = True) -> PermissionsSet:
        """`all`, or a comma list of claude, gemini, openai, droid."""
        words = [js_trim(word) for word in spec.split(",")]
        problems: list[str] = []
        if words == ["all"]:
            return cls(services=(), atomic=atomic)
        if not any(words):
            problems.append("permissions set needs 'all' or services, e.g. claude,openai")
        for word in words:
            if word == "all":
                problems.append("'all' stands alone: it already allows every service")
            elif word and word not in ALL:
                problems.append(
                    f"'{printable(word)}' is not a service: all, or any of {', '.join(SERVICES)}"
                )
        if problems:
            raise BadRequest(problems)
        given = set(words)
        services = tuple(service for service in SERVICES if service in given)
        return cls(services=services, atomic=atomic)

    @property
    def summary(self) -> str:
        return "permissions set: " + (", ".join(self.services) or "all")


class PermissionsEdit(EditDefaults):
    def __init__(self, request: PermissionsSet) -> None:
        super().__init__(READS, judged=frozenset({"isDeleted"}))
        self.allowed = frozenset(request.services) or ALL
        self.stored = encode_json(list(request.services))

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if decode_bool(current.get("isDeleted")):
            return Skip("soft-deleted")
        if allowed_services(current.get("permissions")) == self.allowed:
            return {}
        return {"permissions": self.stored}


def prepare(request: PermissionsSet, context: EditContext) -> PermissionsEdit:
    return PermissionsEdit(request)


def _request(args: Mapping[str, Any]) -> PermissionsSet:
    return PermissionsSet.build(args["services"], atomic=not args["best_effort"])


CLI = CliCommand(
    command="permissions",
    help="set which services many keys may use",
    actions=(
        CliAction(
            "set",
            "set the services keys may use",
            (
                Option(
                    ("services",),
                    {"metavar": "all|SERVICE,...", "help": f"all, or any of {','.join(SERVICES)}"},
                ),
                Option(
                    ("--best-effort",),
                    {"action": "store_true", "help": "keep what succeeded when a key fails"},
                ),
            ),
        ),
    ),
    request=_request,
)
