"""Service rates: the multiplier CRS applies to a key's cost per service (1 when unset, 0 free).

CRS stores `serviceRates` as `JSON.stringify` of an object (`{"claude":1.5}`) and reads a
missing service as 1. `rates set claude=1.5` changes the named services and keeps the key's
other rates; `--replace` makes the given rates the whole object; `SERVICE=default` takes a
service's rate off (back to 1). Rates are checked as CRS checks them (finite, at least 0) but
only for the services CRS prices, so a typo is refused instead of stored and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.amounts import AmountError, parse_amount
from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.encoding import decode_bool
from keyops.core.schema.js_number import js_number_to_string, js_to_number
from keyops.core.schema.js_text import js_json_loads, js_json_stringify, js_trim

# The services CRS's cost path looks a rate up for.
SERVICES = ("claude", "codex", "gemini", "droid", "bedrock", "azure", "ccr")
DEFAULT = "default"  # SERVICE=default: no rate of its own (1)
READS = ("serviceRates", "isDeleted", "updatedAt")


class RatesSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    # service -> the rate as JavaScript writes the number, or '' to take it off
    rates: dict[str, str]
    replace: bool = False
    atomic: bool = True

    @classmethod
    def build(cls, pairs: list[str], replace: bool = False, atomic: bool = True) -> RatesSet:
        """From SERVICE=RATE pairs (each argument may hold several, comma-separated)."""
        problems: list[str] = []
        rates: dict[str, str] = {}
        items = [item for pair in pairs for item in pair.split(",") if js_trim(item)]
        for item in items:
            name, sep, value = item.partition("=")
            service = js_trim(name)
            if not sep:
                problems.append(f"'{printable(item)}': expected SERVICE=RATE, e.g. claude=1.5")
            elif service not in SERVICES:
                problems.append(
                    f"'{printable(service)}' is not a service CRS rates: {', '.join(SERVICES)}"
                )
            elif service in rates:
                problems.append(f"{service} is given twice")
            elif js_trim(value) == DEFAULT:
                rates[service] = ""
            else:
                try:
                    rates[service] = parse_amount(f"{service}=", value, integer=False, zero="free")
                except AmountError as error:
                    problems.append(str(error))
        if not items:
            problems.append("rates set needs SERVICE=RATE, e.g. claude=1.5,gemini=0.8")
        if problems:
            raise BadRequest(problems)
        return cls(rates=rates, replace=replace, atomic=atomic)

    @property
    def summary(self) -> str:
        shown = ", ".join(f"{name}={rate or DEFAULT}" for name, rate in self.rates.items())
        return f"rates {'replace' if self.replace else 'set'}: {shown}"


def _rate_value(value: Any) -> float | None:
    """What CRS's cost path multiplies by for a stored rate (Number(v)); None: not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return js_to_number(value)
    return None


def _meaning(rates: Mapping[str, Any]) -> dict[str, float | None]:
    return {name: _rate_value(value) for name, value in rates.items()}


def _encode(rates: Mapping[str, Any]) -> str:
    """JSON.stringify of the object: numbers as JavaScript writes them."""
    parts = []
    for name, value in rates.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = js_number_to_string(value)
        else:
            text = js_json_stringify(value)
        parts.append(f"{js_json_stringify(name)}:{text}")
    return "{" + ",".join(parts) + "}"


class RatesEdit(EditDefaults):
    def __init__(self, request: RatesSet) -> None:
        # A merge builds on the stored object, so bytes that are not UTF-8 or a value too long
        # to be CRS's skip the key; --replace writes over whatever is there.
        judged = {"isDeleted"} if request.replace else {"isDeleted", "serviceRates"}
        super().__init__(READS, judged=frozenset(judged))
        self.request = request
        self.given = {name: float(rate) for name, rate in request.rates.items() if rate}
        self.dropped = {name for name, rate in request.rates.items() if not rate}

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if decode_bool(current.get("isDeleted")):
            return Skip("soft-deleted")
        raw = current.get("serviceRates") or "{}"
        if self.request.replace:
            old: dict[str, Any] = {}
        else:
            try:
                old = js_json_loads(raw)
            except ValueError:
                old = None  # type: ignore[assignment]
            if not isinstance(old, dict):
                return Skip(
                    f"serviceRates is not a JSON object ({printable(raw[:40])}); "
                    "use --replace to set the whole object"
                )
        new = {name: value for name, value in old.items() if name not in self.dropped}
        new.update(self.given)
        try:
            before = _meaning(js_json_loads(raw))
        except (ValueError, AttributeError):
            before = None
        if before == _meaning(new):
            return {}
        encoded = _encode(new)
        try:
            js_json_loads(encoded)
        except ValueError:
            # A kept rate JSON.parse read as Infinity (1e999): JSON has no way to write it
            # back (JSON.stringify gives null, a free rate), so the key keeps its object.
            return Skip(
                f"serviceRates holds a number JSON cannot write back ({printable(raw[:40])}); "
                "use --replace to set the whole object"
            )
        return {"serviceRates": encoded}


def prepare(request: RatesSet, context: EditContext) -> RatesEdit:
    return RatesEdit(request)


def _request(args: Mapping[str, Any]) -> RatesSet:
    return RatesSet.build(args["rates"], replace=args["replace"], atomic=not args["best_effort"])


CLI = CliCommand(
    command="rates",
    help="set per-service cost rates on many keys",
    actions=(
        CliAction(
            "set",
            "set service rates (1 = list price, 0 = free); other services keep theirs",
            (
                Option(
                    ("rates",),
                    {
                        "nargs": "+",
                        "metavar": "SERVICE=RATE",
                        "help": f"e.g. claude=1.5,gemini=0.8 or claude={DEFAULT} (back to 1); "
                        f"services: {', '.join(SERVICES)}",
                    },
                ),
                Option(
                    ("--replace",),
                    {"action": "store_true", "help": "the given rates become the key's only rates"},
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
