"""Several field edits in one operation: what the console's edit form sends when the operator
changes fields of more than one kind at once (a limit and the permissions, say).

Each part is a request of its own kind (limits, permissions, rates, expiry, the model and
client restrictions, the description), checked by that
kind's `build` and decided by that kind's `Edit`; this kind only runs them together, so the
batch is one operation, one lock, one journal, one audit entry and one revert. The parts
touch different fields, so their wanted values merge without overlap. A key one part leaves
alone (soft-deleted, an activation-mode key for an expiry) is left alone whole, with that
part's reason: a key gets all of the form or none of it, and the preview says which and why.

Adding a kind to the form: a field for its request below and its `prepare` in `_PARTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits import description, expiry, limits, permissions, rates, restrictions
from keyops.core.edits.base import Edit, EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.description import DescriptionSet
from keyops.core.edits.expiry import ExpiryChange
from keyops.core.edits.limits import LimitsSet
from keyops.core.edits.permissions import PermissionsSet
from keyops.core.edits.rates import RatesSet
from keyops.core.edits.restrictions import ClientsAllow, ModelsRestrict
from keyops.core.errors import BadRequest
from keyops.core.schema.rows import KeyRow

# Each part's request type -> its kind's prepare. Order: the form's, and the summary's.
_PARTS: dict[type[BaseModel], Callable[[Any, EditContext], Edit]] = {
    LimitsSet: limits.prepare,
    PermissionsSet: permissions.prepare,
    RatesSet: rates.prepare,
    ExpiryChange: expiry.prepare,
    ModelsRestrict: restrictions.prepare,
    ClientsAllow: restrictions.prepare,
    DescriptionSet: description.prepare,
}
READS = ("isDeleted", "updatedAt")  # the parts add their own


class KeyFieldsEdit(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Named as the kinds are (the class body's names shadow the modules, hence the imports).
    limits: LimitsSet | None = None
    permissions: PermissionsSet | None = None
    rates: RatesSet | None = None
    expiry: ExpiryChange | None = None
    models: ModelsRestrict | None = None
    clients: ClientsAllow | None = None
    description: DescriptionSet | None = None
    atomic: bool = True

    @classmethod
    def build(cls, parts: Iterable[BaseModel], atomic: bool = True) -> KeyFieldsEdit:
        """From the parts' requests (each already checked by its own kind)."""
        given: dict[str, BaseModel] = {}
        for part in parts:
            name = _field_of(type(part))
            if name in given:
                raise BadRequest([f"{name} is given twice"])
            given[name] = part.model_copy(update={"atomic": atomic})
        if not given:
            raise BadRequest(["nothing to change: every field is left unchanged"])
        return cls(**given, atomic=atomic)  # type: ignore[arg-type]

    def parts(self) -> list[BaseModel]:
        return [part for name in _NAMES if (part := getattr(self, name)) is not None]

    @property
    def summary(self) -> str:
        return "; ".join(str(getattr(part, "summary", "")) for part in self.parts())


def _field_of(request_type: type[BaseModel]) -> str:
    for name, info in KeyFieldsEdit.model_fields.items():
        if request_type in getattr(info.annotation, "__args__", ()):
            return name
    raise BadRequest([f"{request_type.__name__} is not a field edit the form can combine"])


_NAMES = tuple(_field_of(request_type) for request_type in _PARTS)


class KeyFieldsDecision(EditDefaults):
    """The parts' decisions merged per key; a part's skip skips the key."""

    def __init__(self, parts: list[Edit]) -> None:
        reads = tuple(dict.fromkeys(name for part in parts for name in part.reads))
        judged = frozenset().union(*(part.judged for part in parts))
        warnings = [warning for part in parts for warning in part.warnings]
        super().__init__(reads, warnings, judged=judged)
        self.parts = parts
        self.shared = all(part.shared for part in parts)

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        merged: Wanted = {}
        for part in self.parts:
            answer = part.wanted(key_id, current)
            if isinstance(answer, Skip):
                return answer
            merged.update(answer)
        return merged

    def review(self, keys_after: int, rows: Iterable[KeyRow], selected: Sequence[str]) -> list[str]:
        listed = list(rows)
        return [
            warning for part in self.parts for warning in part.review(keys_after, listed, selected)
        ]


def prepare(request: KeyFieldsEdit, context: EditContext) -> KeyFieldsDecision:
    return KeyFieldsDecision([_PARTS[type(part)](part, context) for part in request.parts()])
