"""Turning a syntax tree into a predicate over lean key rows."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import translate
from operator import attrgetter

from keyops.core.query.syntax import And, Node, Not, Or, QueryError, Term, Token, parse
from keyops.core.schema.access import SERVICES
from keyops.core.schema.bindings import BadBinding, parse_binding
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.js_text import js_trim
from keyops.core.schema.key_limits import KeyLimits
from keyops.core.schema.platforms import GROUP_PREFIX, BindingField, Platform
from keyops.core.schema.rows import FIELD_POSITIONS, KeyRow, KeyStatus
from keyops.core.usage.figures import EMPTY, KeyUsage, UsageTable, figure
from keyops.core.usage.verdict import REASONS, verdict

Predicate = Callable[[KeyRow], bool]

STATUSES = tuple(status.value for status in KeyStatus)

# bound:/unbound: names -> (field, required prefix or None for any non-empty value)
BOUND_TARGETS: dict[str, tuple[tuple[BindingField, str | None], ...]] = {
    "claude": ((BindingField.CLAUDE, None),),
    "console": ((BindingField.CLAUDE_CONSOLE, None),),
    "claude-console": ((BindingField.CLAUDE_CONSOLE, None),),
    "gemini": ((BindingField.GEMINI, None),),
    "gemini-api": ((BindingField.GEMINI, "api:"),),
    "openai": ((BindingField.OPENAI, None),),
    "openai-responses": ((BindingField.OPENAI, "responses:"),),
    "responses": ((BindingField.OPENAI, "responses:"),),
    "azure": ((BindingField.AZURE_OPENAI, None),),
    "azure-openai": ((BindingField.AZURE_OPENAI, None),),
    "bedrock": ((BindingField.BEDROCK, None),),
    "droid": ((BindingField.DROID, None),),
    "any": tuple((binding_field, None) for binding_field in BindingField),
}


# `limit.NAME:>N`: a key's configured limit as CRS reads it (0 = none), by the name of the
# `limits set` option that sets it. Unlike `concurrency:` (requests running now, from usage).
LIMIT_SETTINGS = {
    "limit.tokens": "token_limit",
    "limit.concurrency": "concurrency",
    "limit.rate-window": "window_minutes",
    "limit.rate-requests": "window_requests",
    "limit.rate-cost": "window_cost",
    "limit.daily": "daily_cost",
    "limit.total": "total_cost",
    "limit.weekly-opus": "weekly_cost",
}
FILTER_NAMES = (
    "tag",
    "status",
    "bound",
    "unbound",
    "account",
    "group",
    "created",
    "lastused",
    "name",
    "id",
    "cost.today",
    "cost.week",
    "cost.total",
    "requests.today",
    "tokens.today",
    "concurrency",
    "limit",
    *LIMIT_SETTINGS,
    "expires",
    "perm",
    "model",
    "client",
    "rejected",
)

# Bare words that are filters (quoted, they are searched for as text).
WORD_FILTERS = ("rejected", "deleted", "expired")
PERMISSIONS = ("all", *SERVICES)

# Usage filters and the figure each compares (`limit` in percent of the closest limit).
USAGE_FIGURES = {
    "cost.today": "cost.today",
    "cost.week": "cost.week",
    "cost.total": "cost.total",
    "requests.today": "requests.today",
    "tokens.today": "tokens.today",
    "concurrency": "concurrency",
    "limit": "limit",
}

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COMPARISON = re.compile(r"^(>=|<=|>|<|=)?(.*)$")
# A number as typed: ASCII digits, a point, an exponent. Python's float() also takes 'nan'
# (which matches nothing), 'inf', '1_000' and digits of other scripts ('١٠' is 10).
_TYPED_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _typed_number(text: str) -> float | None:
    return float(text) if _TYPED_NUMBER.fullmatch(text) else None


@dataclass(slots=True)
class QueryContext:
    """What a query needs besides the row: account names for account:/group:, and 'now'."""

    catalog: AccountCatalog = field(default_factory=AccountCatalog)
    now: float = field(default_factory=time.time)
    include_deleted: bool = False
    # Read when a row is tested, so usage loaded after compiling is seen; None: no usage.
    usage: UsageTable | None = None


@dataclass(frozen=True, slots=True)
class KeyQuery:
    text: str
    predicate: Predicate
    mentions_deleted: bool
    include_deleted: bool
    # Set when the whole query is one free-text word: what narrowing compares.
    needle: str | None = None
    # It filters on usage (cost, limits, the verdict): usage must be read first.
    needs_usage: bool = False

    def narrows(self, previous: KeyQuery) -> bool:
        """Whether every row this query matches also matched `previous` (so a filter can
        look only at the previous result): a free-text word that grew, as while typing."""
        return (
            self.needle is not None
            and previous.needle is not None
            and previous.needle in self.needle
            and self.include_deleted == previous.include_deleted
        )

    def matches(self, row: KeyRow) -> bool:
        # Soft-deleted keys stay hidden unless the query asks about them or the caller does.
        if row.is_deleted and not (self.mentions_deleted or self.include_deleted):
            return False
        return self.predicate(row)

    def filter(self, rows: list[KeyRow]) -> list[KeyRow]:
        # The deleted check is inlined: at 100,000 rows one call less per row is ~15 ms less
        # per keystroke in the console's filter.
        predicate = self.predicate
        if self.mentions_deleted or self.include_deleted:
            return [row for row in rows if predicate(row)]
        return [row for row in rows if not row.is_deleted and predicate(row)]


def compile_query(text: str, context: QueryContext | None = None) -> KeyQuery:
    context = context or QueryContext()
    tree = parse(text)
    compiler = _Compiler(context)
    predicate = compiler.compile(tree) if tree is not None else (lambda row: True)
    needle = None
    if isinstance(tree, Term) and tree.token.name is None and not compiler.word_filter:
        needle = tree.token.value.casefold()  # bare `rejected` is no text search
    return KeyQuery(
        text,
        predicate,
        compiler.mentions_deleted,
        context.include_deleted,
        needle,
        compiler.needs_usage,
    )


def _per_shared_tuple(
    pick: Callable[[KeyRow], tuple[str, ...]], test: Callable[[tuple[str, ...]], bool]
) -> Predicate:
    """A test on a row's tag or binding tuple, run once per distinct tuple: rows share equal
    tuples (RowBuilder), so 100,000 keys hold a few thousand. The memo keeps each tuple it saw,
    so an id is never reused while the memo lives."""
    memo: dict[int, tuple[tuple[str, ...], bool]] = {}

    def predicate(row: KeyRow) -> bool:
        value = pick(row)
        seen = memo.get(id(value))
        if seen is None or seen[0] is not value:
            seen = memo[id(value)] = (value, test(value))
        return seen[1]

    return predicate


def _on_tags(test: Callable[[tuple[str, ...]], bool]) -> Predicate:
    return _per_shared_tuple(attrgetter("tags"), test)


def _on_bindings(test: Callable[[tuple[str, ...]], bool]) -> Predicate:
    return _per_shared_tuple(attrgetter("bindings"), test)


def _is_pattern(token: Token, text: str) -> bool:
    """Wildcards work in an unquoted value only: `tag:"*"` is the tag `*`, `tag:*` any tag."""
    return not token.quoted and any(char in text for char in "*?[")


def _glob(pattern: str) -> Callable[[str], bool]:
    """fnmatchcase with the pattern compiled once: fnmatchcase looks its compiled pattern up
    in a cache on every call, which cost more than the match itself on 100,000 names."""
    match = re.compile(translate(pattern)).match
    return lambda value: match(value) is not None


def _glob_or_equal(pattern: str, token: Token) -> Callable[[str], bool]:
    if _is_pattern(token, pattern):
        return _glob(pattern)
    return lambda value: value == pattern


_NUMBER_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda value, boundary: value > boundary,
    "<": lambda value, boundary: value < boundary,
    ">=": lambda value, boundary: value >= boundary,
    "<=": lambda value, boundary: value <= boundary,
    "=": lambda value, boundary: abs(value - boundary) < 1e-9,
}


def _row_reason(row: KeyRow, now: float) -> str | None:
    """The verdict from the row alone, for a key whose usage was not read (or holds none)."""
    if row.is_deleted:
        return "deleted"
    if not row.is_active:
        return "disabled"
    if row.expires_at is not None and now > row.expires_at:
        return "expired"
    return None


class _Compiler:
    def __init__(self, context: QueryContext) -> None:
        self.context = context
        self.mentions_deleted = False
        self.needs_usage = False
        self.word_filter = False  # a bare word read as a filter (`rejected`, `deleted`)

    def compile(self, node: Node) -> Predicate:
        if isinstance(node, Term):
            return self.term(node.token)
        if isinstance(node, Not):
            inner = self.compile(node.operand)
            return lambda row: not inner(row)
        parts = [self.compile(operand) for operand in node.operands]
        if isinstance(node, And):
            return lambda row: all(part(row) for part in parts)
        assert isinstance(node, Or)
        return lambda row: any(part(row) for part in parts)

    def term(self, token: Token) -> Predicate:
        if token.name is None:
            if token.value in WORD_FILTERS and not token.quoted:
                self.word_filter = True
                if token.value == "rejected":
                    return self.usage_verdict(token, None)
                return self.filter_status(Token("term", token.text, token.position,
                                                token.length, "status", token.value))  # fmt: skip
            return self.free_text(token.value)
        if token.name in USAGE_FIGURES and token.value != "":
            return self.usage_figure(token, USAGE_FIGURES[token.name])
        if token.name in LIMIT_SETTINGS and token.value != "":
            return self.limit_setting(token, LIMIT_SETTINGS[token.name])
        if token.name == "rejected" and token.value != "":
            return self.usage_verdict(token, token.value.lower())
        handler = getattr(self, f"filter_{token.name}", None)
        # A usage or limit term with no value is known (only its value is missing).
        if handler is None and token.name not in FILTER_NAMES:
            raise QueryError(
                f"unknown filter {token.name + ':'!r}; known: "
                + ", ".join(f"{name}:" for name in FILTER_NAMES)
                + ' (quote text that contains ":")',
                token.position,
                len(token.name) + 1,
            )
        if token.value == "" or handler is None:
            raise QueryError(f"{token.name}: needs a value", token.position, token.length)
        predicate: Predicate = handler(token)
        return predicate

    def _usage_of(self) -> Callable[[KeyRow], tuple[KeyUsage, float]]:
        """A row's usage and the instant it was read, looked up when the row is tested."""
        self.needs_usage = True
        context = self.context

        def usage_of(row: KeyRow) -> tuple[KeyUsage, float]:
            table = context.usage
            if table is None:
                return EMPTY, context.now
            return table.by_id.get(row.id, EMPTY), table.now

        return usage_of

    def usage_figure(self, token: Token, name: str) -> Predicate:
        """`cost.today:>5`, `requests.today:>=1000`, `limit:>90%`, `concurrency:>0`."""
        match = _COMPARISON.match(token.value.strip())
        assert match is not None
        operator, operand = match.group(1) or "=", match.group(2).strip()
        percent = name == "limit"
        # Each figure's own unit only: '$' on a cost, '%' on a limit share.
        text = operand.removesuffix("%") if percent else operand
        boundary = _typed_number(text.removeprefix("$") if name.startswith("cost.") else text)
        if boundary is None:
            example = "limit:>90%" if percent else f"{token.name}:>5"
            raise QueryError(
                f"{token.name}: needs a number after {operator!r}, as in {example}",
                token.position,
                token.length,
            )
        if percent:
            boundary /= 100
        usage_of = self._usage_of()
        compare = _NUMBER_COMPARISONS[operator]

        def test(row: KeyRow) -> bool:
            usage, now = usage_of(row)
            if percent and usage.top_share(now) is None:
                return False  # a key without limits is at no share of any
            return compare(figure(usage, name, now), boundary)

        return test

    def _number(self, token: Token) -> tuple[Callable[[float, float], bool], float]:
        match = _COMPARISON.match(token.value.strip())
        assert match is not None
        operator, operand = match.group(1) or "=", match.group(2).strip()
        boundary = _typed_number(operand.removeprefix("$"))
        if boundary is None:
            raise QueryError(
                f"{token.name}: needs a number after {operator!r}, as in {token.name}:>0",
                token.position,
                token.length,
            )
        return _NUMBER_COMPARISONS[operator], boundary

    def _limits_of(self) -> Callable[[KeyRow], KeyLimits]:
        # The row's read holds the limits and settings: these terms need no usage read.
        return attrgetter("limits")

    def limit_setting(self, token: Token, attribute: str) -> Predicate:
        """`limit.daily:>0`, `limit.concurrency:=5`: the limit CRS reads for the key (a stored
        value that is no number reads as 0, no limit, as CRS's parseFloat/parseInt read it)."""
        compare, boundary = self._number(token)
        limits_of = self._limits_of()
        pick = attrgetter(attribute)
        return lambda row: compare(float(pick(limits_of(row))), boundary)

    def filter_perm(self, token: Token) -> Predicate:
        """`perm:claude`: the key may use the service (an empty list allows every one);
        `perm:all`: it may use all four."""
        wanted = token.value.lower()
        if wanted not in PERMISSIONS:
            raise QueryError(
                f"perm: takes one of {', '.join(PERMISSIONS)}, not {token.value!r}",
                token.position,
                token.length,
            )
        limits_of = self._limits_of()
        if wanted == "all":
            return lambda row: len(limits_of(row).services) == len(SERVICES)
        return lambda row: wanted in limits_of(row).services

    def _restriction(self, token: Token, attribute: str) -> Predicate:
        test = _glob_or_equal(token.value, token)
        limits_of = self._limits_of()
        pick = attrgetter(attribute)
        return lambda row: any(test(name) for name in pick(limits_of(row)))

    def filter_model(self, token: Token) -> Predicate:
        """`model:NAME`: a model restriction in force lists NAME (exact, as CRS compares;
        `model:*` any model restriction in force)."""
        return self._restriction(token, "models")

    def filter_client(self, token: Token) -> Predicate:
        """`client:ID`: a client restriction in force lists ID (`client:*`: any)."""
        return self._restriction(token, "clients")

    def filter_expires(self, token: Token) -> Predicate:
        """`expires:<7d` (expires within 7 days, not yet expired), `expires:>30d`,
        `expires:<2027-01-01`, `expires:none` (never expires)."""
        value = token.value.strip()
        if value.lower() in ("none", "never"):
            return lambda row: row.expires_at is None
        match = _COMPARISON.match(value)
        assert match is not None
        operator, operand = match.group(1) or "=", match.group(2)
        if not operand:
            raise QueryError(
                f"expires: needs a span (7d) or a date after {operator!r}, or none",
                token.position,
                token.length,
            )
        now = self.context.now
        duration = _DURATION.match(operand)
        if duration is None:
            moment = self._parse_date(operand, token)
            if operator == "=" and len(operand) == 10:
                return self._within("expires_at", moment, moment + 86400)
            return self._compare("expires_at", operator, moment)
        # A span ahead of now: `<7d` is within the next 7 days; keys already expired are
        # left to `expired`.
        boundary = now + int(duration.group(1)) * _DURATION_SECONDS[duration.group(2)]
        if operator == "=":
            return self._within("expires_at", boundary - 86400 / 2, boundary + 86400 / 2)
        ahead = self._compare("expires_at", operator, boundary)
        return lambda row: row.expires_at is not None and row.expires_at > now and ahead(row)

    def usage_verdict(self, token: Token, reason: str | None) -> Predicate:
        """`rejected` (CRS would refuse the key's next request) or `rejected:daily-cost`."""
        if reason is not None and reason not in REASONS:
            raise QueryError(
                f"rejected: takes one of {', '.join(REASONS)}, not {token.value!r}",
                token.position,
                token.length,
            )
        usage_of = self._usage_of()
        if reason == "deleted":
            self.mentions_deleted = True

        def test(row: KeyRow) -> bool:
            usage, now = usage_of(row)
            if usage is EMPTY:
                # Nothing stored beyond an active key with no limits, no expiry: the row
                # still knows if the key is off.
                return _row_reason(row, now) == reason if reason else bool(_row_reason(row, now))
            found = verdict(usage, now).reason
            return found is not None and (reason is None or found == reason)

        return test

    def free_text(self, text: str) -> Predicate:
        needle = text.casefold()
        # Descriptions are shared strings (RowBuilder): each distinct one is folded once.
        descriptions: dict[str, bool] = {}

        def matches(row: KeyRow) -> bool:
            if needle in row.name_folded or needle in row.id:
                return True
            description = row.description
            found = descriptions.get(description)
            if found is None:
                found = descriptions[description] = needle in description.casefold()
            return found

        return matches

    def filter_tag(self, token: Token) -> Predicate:
        # Compared after JavaScript's trim(), as CRS's tag routes compare them.
        test = _glob_or_equal(js_trim(token.value), token)
        return _on_tags(lambda tags: any(test(js_trim(tag)) for tag in tags))

    def filter_name(self, token: Token) -> Predicate:
        pattern = token.value.casefold()
        if _is_pattern(token, pattern):
            match = re.compile(translate(pattern)).match  # as _glob, one call less per row
            return lambda row: match(row.name_folded) is not None
        return lambda row: pattern in row.name_folded

    def filter_id(self, token: Token) -> Predicate:
        prefix = token.value.lower()
        return lambda row: row.id.startswith(prefix)

    def filter_status(self, token: Token) -> Predicate:
        wanted = token.value.lower()
        if wanted not in STATUSES:
            raise QueryError(
                f"status must be one of {', '.join(STATUSES)}, not {token.value!r}",
                token.position,
                token.length,
            )
        now = self.context.now
        if wanted == "deleted":
            self.mentions_deleted = True
            return lambda row: row.is_deleted
        if wanted == "expired":
            return lambda row: not row.is_deleted and row.is_expired(now)
        if wanted == "damaged":
            return lambda row: bool(row.damage)
        if wanted == "disabled":
            return lambda row: not row.is_deleted and not row.is_active
        return lambda row: row.status(now) is KeyStatus.ACTIVE

    def _bound_checks(self, token: Token) -> tuple[tuple[BindingField, str | None], ...]:
        target = BOUND_TARGETS.get(token.value.lower())
        if target is None:
            raise QueryError(
                f"unknown platform {token.value!r}; one of: {', '.join(BOUND_TARGETS)}",
                token.position,
                token.length,
            )
        return target

    def filter_bound(self, token: Token) -> Predicate:
        checks = [(FIELD_POSITIONS[field], prefix) for field, prefix in self._bound_checks(token)]

        def bound(bindings: tuple[str, ...]) -> bool:
            for position, prefix in checks:
                value = bindings[position]
                if value and (prefix is None or value.startswith(prefix)):
                    return True
            return False

        return _on_bindings(bound)

    def filter_unbound(self, token: Token) -> Predicate:
        bound = self.filter_bound(token)
        return lambda row: not bound(row)

    def filter_account(self, token: Token) -> Predicate:
        """Bound to an account, by id or by (case-insensitive, glob) name."""
        test_name = _glob_or_equal(token.value.casefold(), token)
        ids = {
            (platform, account.id)
            for (platform, _), account in self.context.catalog.accounts.items()
            if test_name(account.name.casefold())
        }
        wanted_id = token.value

        def bound_to(bindings: tuple[str, ...]) -> bool:
            for binding_field, raw in zip(BindingField, bindings, strict=True):
                if not raw or raw.startswith(GROUP_PREFIX):
                    continue
                try:
                    binding = parse_binding(binding_field, raw)
                except BadBinding:
                    continue
                if binding.target_id == wanted_id:
                    return True
                if isinstance(binding.platform, Platform) and (
                    (binding.platform, binding.target_id) in ids
                ):
                    return True
            return False

        return _on_bindings(bound_to)

    def filter_group(self, token: Token) -> Predicate:
        test_name = _glob_or_equal(token.value.casefold(), token)
        group_ids = {
            group.id
            for group in self.context.catalog.groups.values()
            if test_name(group.name.casefold())
        }
        group_ids.add(token.value)
        wanted = {f"{GROUP_PREFIX}{group_id}" for group_id in group_ids}

        def in_group(bindings: tuple[str, ...]) -> bool:
            return any(value in wanted for value in bindings if value)

        return _on_bindings(in_group)

    def _time_filter(self, token: Token, attribute: str, allow_never: bool) -> Predicate:
        value = token.value.strip()
        if allow_never and value.lower() == "never":
            return lambda row: getattr(row, attribute) is None
        match = _COMPARISON.match(value)
        assert match is not None
        operator, operand = match.group(1) or "=", match.group(2)
        if not operand:
            raise QueryError(
                f"{token.name}: needs a date or an age after {operator!r}",
                token.position,
                token.length,
            )
        duration = _DURATION.match(operand)
        now = self.context.now
        if duration:
            # An age: `<30d` means less than 30 days ago, i.e. more recent than now - 30 days.
            age = int(duration.group(1)) * _DURATION_SECONDS[duration.group(2)]
            boundary = now - age
            flipped = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "=": "="}[operator]
            if operator == "=":
                return self._within(attribute, boundary - 86400 / 2, boundary + 86400 / 2)
            return self._compare(attribute, flipped, boundary)
        moment = self._parse_date(operand, token)
        if operator == "=" and len(operand) == 10:
            return self._within(attribute, moment, moment + 86400)
        return self._compare(attribute, operator, moment)

    @staticmethod
    def _parse_date(text: str, token: Token) -> float:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(
                f"{token.name}: {text!r} is neither a date (2026-01-31) nor an age (30d, 12h, 2w)",
                token.position,
                token.length,
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    @staticmethod
    def _compare(attribute: str, operator: str, boundary: float) -> Predicate:
        def compare(row: KeyRow) -> bool:
            value: float | None = getattr(row, attribute)
            if value is None:
                return False
            if operator == ">":
                return value > boundary
            if operator == "<":
                return value < boundary
            if operator == ">=":
                return value >= boundary
            if operator == "<=":
                return value <= boundary
            return value == boundary

        return compare

    @staticmethod
    def _within(attribute: str, start: float, end: float) -> Predicate:
        def within(row: KeyRow) -> bool:
            value: float | None = getattr(row, attribute)
            return value is not None and start <= value < end

        return within

    def filter_created(self, token: Token) -> Predicate:
        return self._time_filter(token, "created_at", allow_never=False)

    def filter_lastused(self, token: Token) -> Predicate:
        return self._time_filter(token, "last_used_at", allow_never=True)
