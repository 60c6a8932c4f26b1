"""Limits: token, concurrency, rate window/requests/cost, daily/total/weekly Claude cost, and
the weekly reset day and hour, set on many keys at once.

Each value is checked as CRS's single-key edit route checks it (a whole number or a number,
at least 0; 0 is no limit) and stored as that route stores it (`Number(x).toString()`), so a
key keyops edits reads exactly as one edited on CRS's page.

CRS's page back-fills a key's weekly Claude cost when it saves a new reset day or hour (it
prices the key's per-model usage of the last days). keyops writes the two fields and not the
estimate, which needs CRS's model prices; the preview says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.amounts import AmountError, parse_amount
from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.encoding import decode_bool
from keyops.core.schema.js_number import js_number_to_string, js_to_number


@dataclass(frozen=True, slots=True)
class Limit:
    option: str  # the CLI option, also its argparse dest with '-' -> '_'
    field: str  # the key's stored field
    integer: bool  # CRS wants Number.isInteger; else any number
    metavar: str
    help: str

    @property
    def dest(self) -> str:
        return self.option.removeprefix("--").replace("-", "_")


LIMITS: tuple[Limit, ...] = (
    Limit("--token-limit", "tokenLimit", True, "N", "tokens per rate window"),
    Limit("--concurrency", "concurrencyLimit", True, "N", "requests at once"),
    Limit("--rate-window", "rateLimitWindow", True, "MIN", "rate-limit window, minutes"),
    Limit("--rate-requests", "rateLimitRequests", True, "N", "requests per window"),
    Limit(
        "--rate-cost", "rateLimitCost", False, "USD", "cost per window (only with token limit 0)"
    ),
    Limit("--daily-cost", "dailyCostLimit", False, "USD", "cost per day"),
    Limit("--total-cost", "totalCostLimit", False, "USD", "cost, all time"),
    Limit("--weekly-opus-cost", "weeklyOpusCostLimit", False, "USD", "Claude-model cost per week"),
)
RESET_DAY, RESET_HOUR = "weeklyResetDay", "weeklyResetHour"
FIELDS = (*(limit.field for limit in LIMITS), RESET_DAY, RESET_HOUR)
READS = (*FIELDS, "isDeleted", "updatedAt")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # CRS's 1..7
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# The order a request's fields are listed and written in: CRS's edit form's.
_ORDER = {field: position for position, field in enumerate(FIELDS)}


def _reset_part(text: str, low: int, high: int) -> int | None:
    value = js_to_number(text) if text.strip() else None
    if value is None or value != int(value) or not low <= value <= high:
        return None
    return int(value)


def parse_weekly_reset(text: str, label: str = "--weekly-reset") -> tuple[str, str]:
    """`DAY@HOUR` (DAY 1-7 or mon..sun, HOUR 0-23) -> the stored day and hour; AmountError
    naming `label`."""
    day_text, sep, hour_text = text.partition("@")
    # A day's name, or its start of three letters or more: 'mon', 'Monday'; not 'monkey'.
    name = day_text.strip().lower()
    day = next(
        (
            number
            for number, full in enumerate(DAY_NAMES, 1)
            if len(name) >= 3 and full.startswith(name)
        ),
        None,
    )
    if day is None:
        day = _reset_part(day_text, 1, 7)
    hour = _reset_part(hour_text, 0, 23) if sep else None
    if day is None or hour is None:
        raise AmountError(
            f"{label} '{printable(text)}': expected DAY@HOUR, DAY 1-7 (Mon-Sun) or "
            "mon..sun, HOUR 0-23, e.g. mon@0 or 3@14"
        )
    return js_number_to_string(day), js_number_to_string(hour)


class LimitsSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    # stored field -> the string every key gets (CRS's encoding), in CRS's form's order
    values: dict[str, str]
    atomic: bool = True

    @classmethod
    def build(
        cls,
        given: Mapping[str, str | None],
        weekly_reset: str | None = None,
        atomic: bool = True,
        names: Mapping[str, str] | None = None,
    ) -> LimitsSet:
        """`given`: option dest (`concurrency`, `daily_cost`...) -> the typed text, None when
        not given. Every problem is reported, one line each, naming the limit by its CLI
        option, or by `names` (dest, or `weekly_reset` -> the words to use: a form names its
        own fields)."""
        names = names or {}
        problems: list[str] = []
        values: dict[str, str] = {}
        for limit in LIMITS:
            text = given.get(limit.dest)
            if text is None:
                continue
            try:
                values[limit.field] = parse_amount(
                    names.get(limit.dest, limit.option), text, integer=limit.integer
                )
            except AmountError as error:
                problems.append(str(error))
        if weekly_reset is not None:
            try:
                values[RESET_DAY], values[RESET_HOUR] = parse_weekly_reset(
                    weekly_reset, names.get("weekly_reset", "--weekly-reset")
                )
            except AmountError as error:
                problems.append(str(error))
        unknown = set(given) - {limit.dest for limit in LIMITS}
        problems += [f"unknown limit {printable(name)!r}" for name in sorted(unknown)]
        if not values and not problems:
            problems.append(
                "limits set needs at least one limit: "
                + ", ".join(limit.option for limit in LIMITS)
                + ", --weekly-reset"
            )
        if problems:
            raise BadRequest(problems)
        return cls(
            values=dict(sorted(values.items(), key=lambda item: _ORDER[item[0]])), atomic=atomic
        )

    @property
    def summary(self) -> str:
        parts = [
            f"{name}={value}"
            for name, value in self.values.items()
            if name not in (RESET_DAY, RESET_HOUR)
        ]
        if RESET_DAY in self.values:
            day = DAYS[int(self.values[RESET_DAY]) - 1].capitalize()
            parts.append(f"weekly reset {day} {int(self.values[RESET_HOUR]):02d}:00")
        return "limits set: " + ", ".join(parts)


# What the preview says when the reset moves (the back-fill CRS's page starts, keyops does not).
BACKFILL_WARNING = (
    "a new weekly reset starts a new weekly Claude-cost period: CRS's page would re-estimate "
    "the cost already spent in it from the key's usage and model prices; keyops does not, so "
    "until CRS re-estimates it (at its first start on a new day) the weekly limit counts only "
    "what is spent from now on"
)


class LimitsEdit(EditDefaults):
    """Every key gets the same values; only the deletion flag is judged, since a damaged old
    limit (CRS's batch route stores anything) is exactly what a new one should replace."""

    def __init__(self, request: LimitsSet) -> None:
        reads = (*request.values, "isDeleted", "updatedAt")
        warnings = [BACKFILL_WARNING] if RESET_DAY in request.values else []
        super().__init__(reads, warnings, judged=frozenset({"isDeleted"}))
        self.values: Wanted = dict(request.values)

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if decode_bool(current.get("isDeleted")):
            return Skip("soft-deleted")
        return self.values


def prepare(request: LimitsSet, context: EditContext) -> LimitsEdit:
    return LimitsEdit(request)


def _request(args: Mapping[str, Any]) -> LimitsSet:
    given = {limit.dest: args.get(limit.dest) for limit in LIMITS}
    return LimitsSet.build(given, args.get("weekly_reset"), atomic=not args["best_effort"])


CLI = CliCommand(
    command="limits",
    help="set token, concurrency, rate and cost limits on many keys",
    actions=(
        CliAction(
            "set",
            "set limits (0 = no limit); options not given stay as they are",
            (
                *(
                    Option((limit.option,), {"metavar": limit.metavar, "help": limit.help})
                    for limit in LIMITS
                ),
                Option(
                    ("--weekly-reset",),
                    {
                        "metavar": "DAY@HOUR",
                        "help": "when the weekly cost resets: DAY 1-7 or mon..sun, HOUR 0-23 "
                        "(CRS's time zone), e.g. mon@0",
                    },
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
