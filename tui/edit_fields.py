"""The edit form's fields: what each one edits, how the value typed becomes its kind's request
(a problem worded with the field's name, not the CLI option's), and how the values the targets
hold now are summed up ("0 on 950 keys, 5 on 50").

No Textual here: the form (screens/key_edit.py) lays these out. Adding a kind to the form is a
`Part` (how its fields' texts become its request) and a `FormField` per input below.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from keyops.core.api import (
    CLIENT_IDS,
    LIMITS,
    BadRequest,
    ClientsAllow,
    DescriptionSet,
    ExpiryChange,
    KeyFieldsEdit,
    LimitsSet,
    ModelsRestrict,
    PermissionsSet,
    RatesSet,
    allowed_services,
    printable,
    restriction_in_force,
)

# How many distinct values a spread names before it counts the rest.
SPREAD_VALUES = 3
Spread = Counter[tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class FormField:
    id: str  # the input's id (edit-<id>) and the key of its text
    label: str
    part: str  # the request it feeds (a key of PARTS)
    stored: tuple[str, ...]  # the stored fields its spread is read from
    shown: Callable[[tuple[str, ...]], str]  # a stored value, as the spread names it
    hint: str  # what may be typed, shown while the field has focus


def _amount(value: tuple[str, ...]) -> str:
    # CRS's readers take a missing limit as 0: no limit.
    return value[0] or "0"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _reset(value: tuple[str, ...]) -> str:
    day, hour = value
    if not day and not hour:
        return "unset (Mon 00:00)"
    try:
        return f"{_DAYS[int(day or 1) - 1]} {int(hour or 0):02d}:00"
    except (ValueError, IndexError):
        return printable(f"{day}@{hour}")


def _permissions(value: tuple[str, ...]) -> str:
    allowed = allowed_services(value[0])
    services = ("claude", "gemini", "openai", "droid")
    return (
        "all"
        if allowed == frozenset(services)
        else ",".join(s for s in services if s in allowed) or "none"
    )


def _rates(value: tuple[str, ...]) -> str:
    raw = value[0]
    try:
        rates = json.loads(raw) if raw else {}
    except ValueError:
        return printable(raw)
    if not isinstance(rates, dict):
        return printable(raw)
    if not rates:
        return "none (1 each)"
    return ",".join(
        f"{printable(str(name))}={printable(str(rate))}" for name, rate in rates.items()
    )


def _expiry(value: tuple[str, ...]) -> str:
    expires, mode, activated = value
    if mode == "activation" and activated != "true":
        return "at first use"
    return "never" if not expires else printable(expires[:10])


def _restriction(value: tuple[str, ...]) -> str:
    flag, raw = value
    names = restriction_in_force(flag, raw)
    if names:
        return "on: " + ",".join(printable(name) for name in names)
    # A list kept while the flag is off restricts nothing (CRS reads the flag first).
    return "off" if flag != "true" or not raw or raw == "[]" else printable(f"on: {raw}")


def _description(value: tuple[str, ...]) -> str:
    text = value[0]
    if not text:
        return "none"
    one_line = " ".join(text.split())
    return printable(one_line if len(one_line) <= 24 else one_line[:23] + "…")


def _limit_name(option: str) -> str:
    """The form's name for a limit (its CLI option in words): what its problems say."""
    return option.removeprefix("--").replace("-", " ").replace("opus", "Opus")


def _limit_label(option: str, metavar: str) -> str:
    unit = {"MIN": " (min)", "USD": " ($)"}.get(metavar, "")
    return _limit_name(option) + unit


FIELDS: tuple[FormField, ...] = (
    *(
        FormField(
            limit.dest,
            _limit_label(limit.option, limit.metavar),
            "limits",
            (limit.field,),
            _amount,
            f"{limit.help}: {'a whole number' if limit.integer else 'a number'}, 0 = no limit",
        )
        for limit in LIMITS
    ),
    FormField(
        "weekly_reset",
        "weekly reset",
        "limits",
        ("weeklyResetDay", "weeklyResetHour"),
        _reset,
        "when the weekly Opus cost resets: DAY@HOUR, e.g. mon@0 or 3@14 (CRS's time zone)",
    ),
    FormField(
        "permissions",
        "permissions",
        "permissions",
        ("permissions",),
        _permissions,
        "all, or some of claude,gemini,openai,droid",
    ),
    FormField(
        "rates",
        "service rates",
        "rates",
        ("serviceRates",),
        _rates,
        "SERVICE=RATE,… e.g. claude=1.5 (1 = list price, 0 = free, default = back to 1); "
        "other services keep theirs",
    ),
    FormField(
        "expiry",
        "expiry",
        "expiry",
        ("expiresAt", "expirationMode", "isActivated"),
        _expiry,
        "2027-01-31 (set; future = active, past = inactive), +30d (extend) or never (clear)",
    ),
    FormField(
        "models",
        "model restriction",
        "models",
        ("enableModelRestriction", "restrictedModels"),
        _restriction,
        "add MODEL,… (on) · remove MODEL,… (off once empty) · clear (off); exact names",
    ),
    FormField(
        "clients",
        "client restriction",
        "clients",
        ("enableClientRestriction", "allowedClients"),
        _restriction,
        f"add|remove ID,… or clear; ids: {', '.join(CLIENT_IDS)} (→ completes)",
    ),
    FormField(
        "description",
        "description",
        "description",
        ("description",),
        _description,
        "the new description (trimmed, at most 500 characters); clear removes it",
    ),
)
LABELS = {field.id: field.label for field in FIELDS}


# A problem names the form's field ("rate window: 'x' is not a number"), not the CLI option.
_LIMIT_NAMES = {limit.dest: _limit_name(limit.option) + ":" for limit in LIMITS} | {
    "weekly_reset": "weekly reset:"
}


def _limits(texts: Mapping[str, str]) -> LimitsSet:
    given = {key: text for key, text in texts.items() if key != "weekly_reset"}
    return LimitsSet.build(given, texts.get("weekly_reset"), names=_LIMIT_NAMES)


def _expiry_request(texts: Mapping[str, str]) -> ExpiryChange:
    text = texts["expiry"].strip()
    if text.lower() in ("never", "clear"):
        return ExpiryChange.build("clear")
    if text.startswith("+"):
        return ExpiryChange.build("extend", text, label="expiry:")
    return ExpiryChange.build("set", text, label="expiry:")


_ACTION_WORDS = {"add": "add", "+": "add", "remove": "remove", "-": "remove", "clear": "clear"}


def _list_words(field_id: str, text: str) -> tuple[str, list[str]]:
    """`add a,b` / `remove a` / `clear` (or `+a,b`, `-a`) -> the action and the names."""
    label = LABELS[field_id]
    stripped = text.strip()
    if stripped[:1] in "+-":
        word, rest = stripped[:1], stripped[1:]
    else:
        word, _, rest = stripped.partition(" ")
    action = _ACTION_WORDS.get(word.lower())
    if action is None:
        raise BadRequest([f"{label}: start with add, remove or clear (e.g. add NAME)"])
    names = [name for name in rest.replace(",", " ").split() if name]
    if action == "clear" and names:
        raise BadRequest([f"{label}: clear takes no names, it empties the list"])
    if action != "clear" and not names:
        raise BadRequest([f"{label}: {action} needs at least one name"])
    return action, names


def _models(texts: Mapping[str, str]) -> ModelsRestrict:
    request: ModelsRestrict = ModelsRestrict.build(*_list_words("models", texts["models"]))
    return request


def _clients(texts: Mapping[str, str]) -> ClientsAllow:
    request: ClientsAllow = ClientsAllow.build(*_list_words("clients", texts["clients"]))
    return request


def _description_request(texts: Mapping[str, str]) -> DescriptionSet:
    text = texts["description"]
    return DescriptionSet.build("" if text.strip().lower() == "clear" else text)


def complete_clients(text: str) -> str | None:
    """The client field's text with its last, half-typed id completed (None: nothing fits),
    so the operator picks from CRS's ids instead of remembering them."""
    typed = re.search(r"[^\s,+]*$", text)
    last = typed.group() if typed else ""
    if not last or last.lower() in _ACTION_WORDS:
        return None
    match = next((cid for cid in CLIENT_IDS if cid.startswith(last) and cid != last), None)
    return None if match is None else text[: len(text) - len(last)] + match


# A request of one of the kinds the form edits; the form's whole request may join several.
PartRequest = (
    LimitsSet
    | PermissionsSet
    | RatesSet
    | ExpiryChange
    | ModelsRestrict
    | ClientsAllow
    | DescriptionSet
)
FormRequest = PartRequest | KeyFieldsEdit

# A part's request from the texts typed into its fields (only fields not left unchanged).
PARTS: dict[str, Callable[[Mapping[str, str]], PartRequest]] = {
    "limits": _limits,
    "permissions": lambda texts: PermissionsSet.build(texts["permissions"]),
    "rates": lambda texts: RatesSet.build([texts["rates"]]),
    "expiry": _expiry_request,
    "models": _models,
    "clients": _clients,
    "description": _description_request,
}


def field_problems(texts: Mapping[str, str]) -> dict[str, list[str]]:
    """Field id -> its problems, each field checked alone by its kind's own rules (so each
    message sits under the field it is about). Empty fields are left unchanged: no problem."""
    problems: dict[str, list[str]] = {}
    by_id = {field.id: field for field in FIELDS}
    for field_id, text in texts.items():
        try:
            PARTS[by_id[field_id].part]({field_id: text})
        except BadRequest as error:
            problems[field_id] = list(error.problems)
    return problems


def form_request(texts: Mapping[str, str], atomic: bool = True) -> FormRequest | None:
    """The request the typed fields make (None when every field is unchanged): one kind's own
    request when one kind is touched (its op type in the audit trail), else all of them in
    one operation. Raises BadRequest; call it once `field_problems` finds none."""
    by_part: dict[str, dict[str, str]] = {}
    for field in FIELDS:
        if field.id in texts:
            by_part.setdefault(field.part, {})[field.id] = texts[field.id]
    requests = [PARTS[part](part_texts) for part, part_texts in by_part.items()]
    if not requests:
        return None
    if len(requests) == 1:
        return requests[0].model_copy(update={"atomic": atomic})
    return KeyFieldsEdit.build(requests, atomic=atomic)


def spread_text(field: FormField, spread: Spread) -> str:
    """'0 on 950 keys, 5 on 50, 2 more values' — the most common first."""
    named: Counter[str] = Counter()
    for value, count in spread.items():
        named[field.shown(value)] += count
    if not named:
        return "no keys"
    if len(named) == 1:
        only, count = next(iter(named.items()))
        return f"{only} on all {count} keys" if count > 1 else only
    common = named.most_common(SPREAD_VALUES)
    parts = [f"{shown} on {count}" for shown, count in common]
    parts[0] += " keys"
    rest = len(named) - len(common)
    if rest:
        parts.append(f"{rest} more value{'s' if rest > 1 else ''}")
    return ", ".join(parts)
