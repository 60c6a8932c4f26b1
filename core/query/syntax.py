"""Tokens and syntax tree of the query language.

Grammar (juxtaposition is AND; `|` binds tighter than AND, so `a b|c` is a AND (b OR c)):

    query   := conj EOF
    conj    := disj ('AND'? disj)*
    disj    := unary (('|' | 'OR') unary)*
    unary   := ('-' | '!' | 'NOT') unary | '(' conj ')' | term
    term    := WORD | NAME ':' VALUE         (WORD and VALUE may be "quoted")

`AND`, `OR` and `NOT` are operators when typed in capitals and unquoted; typed otherwise
(`or`, `Not`) they are refused with a hint rather than silently searched for as text.
A query is at most MAX_QUERY_CHARS long and nested at most MAX_DEPTH deep: the parser and the
compiled predicate recurse, and a deeper query would exhaust Python's stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyops.core.errors import BadInput
from keyops.core.safe_text import printable


class QueryError(BadInput):
    """A query that cannot be parsed or compiled, with the column and width of the bad token."""

    def __init__(
        self, message: str, position: int, length: int = 1, *, pointable: bool = True
    ) -> None:
        super().__init__(f"bad query at column {position + 1}: {message}")
        self.reason = message
        self.position = position
        self.length = max(1, length)
        # A query refused for its size or depth is not shown back: a caret under it helps
        # nobody, and it may be thousands of characters.
        self.pointable = pointable

    def pointer(self, query: str) -> str:
        """The query with a caret line under the bad token, for terminals ('' when the query
        is too big to show)."""
        if not self.pointable:
            return ""
        return f"{printable(query)}\n{' ' * self.position}{'^' * self.length}"

    def explained(self, query: str) -> str:
        """The message, and under it the query with the caret when it can be shown."""
        pointer = self.pointer(query)
        return f"{self}\n{pointer}" if pointer else str(self)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # 'term' | 'and' | 'or' | 'not' | 'lparen' | 'rparen'
    text: str  # for terms: the raw text (quotes removed from the value part)
    position: int
    length: int
    name: str | None = None  # 'tag' in tag:x; None for free text
    value: str = ""
    quoted: bool = False  # the value was "quoted": literal text, never a wildcard pattern


_SPECIAL = "|()"
MAX_QUERY_CHARS = 10_000
MAX_DEPTH = 100
_WORD_OPERATORS = {"AND": "and", "OR": "or", "NOT": "not"}


def tokenize(query: str) -> list[Token]:
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(query):,} characters long; at most {MAX_QUERY_CHARS:,}",
            MAX_QUERY_CHARS,
            pointable=False,
        )
    tokens: list[Token] = []
    index = 0
    length = len(query)
    while index < length:
        char = query[index]
        if char.isspace():
            index += 1
            continue
        if char == "|":
            tokens.append(Token("or", char, index, 1))
            index += 1
            continue
        if char == "(":
            tokens.append(Token("lparen", char, index, 1))
            index += 1
            continue
        if char == ")":
            tokens.append(Token("rparen", char, index, 1))
            index += 1
            continue
        if char in "-!" and index + 1 < length and not query[index + 1].isspace():
            tokens.append(Token("not", char, index, 1))
            index += 1
            continue
        if char in "-!":
            raise QueryError(f"{char!r} must be followed directly by what it negates", index)
        term = _read_term(query, index)
        tokens.append(_word_operator(term))
        index = term.position + term.length
    return tokens


def _word_operator(term: Token) -> Token:
    """AND / OR / NOT typed as words: operators in capitals, refused in any other case (a
    query must never quietly search for the text 'or')."""
    if term.name is not None or term.quoted:
        return term
    kind = _WORD_OPERATORS.get(term.text.upper())
    if kind is None:
        return term
    if term.text != term.text.upper():
        raise QueryError(
            f"{term.text!r} is read as an operator only in capitals: write {term.text.upper()}"
            + {"and": " (or just a space)", "or": " (or |)", "not": " (or -)"}[kind]
            + f', or "{term.text}" in quotes to search for the word',
            term.position,
            term.length,
        )
    return Token(kind, term.text, term.position, term.length)


def _read_quoted(query: str, start: int) -> tuple[str, int]:
    """The text inside the quotes that open at `start`, and the index after the closing one."""
    end = query.find('"', start + 1)
    if end < 0:
        raise QueryError("unclosed quote", start, len(query) - start)
    return query[start + 1 : end], end + 1


def _read_term(query: str, start: int) -> Token:
    if query[start] == '"':
        text, end = _read_quoted(query, start)
        return Token("term", text, start, end - start, None, text, quoted=True)
    index = start
    while index < len(query) and not query[index].isspace() and query[index] not in _SPECIAL:
        if query[index] == ":":
            break
        if query[index] == '"':
            raise QueryError("a quote may only open a term or a filter value", index)
        index += 1
    if index < len(query) and query[index] == ":":
        name = query[start:index]
        value_start = index + 1
        quoted = value_start < len(query) and query[value_start] == '"'
        if quoted:
            value, end = _read_quoted(query, value_start)
        else:
            end = value_start
            while end < len(query) and not query[end].isspace() and query[end] not in _SPECIAL:
                if query[end] == '"':
                    raise QueryError("a quote may only open a term or a filter value", end)
                end += 1
            value = query[value_start:end]
        if not name:
            raise QueryError("a filter needs a name before ':'", start, end - start)
        return Token("term", query[start:end], start, end - start, name.lower(), value, quoted)
    text = query[start:index]
    return Token("term", text, start, index - start, None, text)


@dataclass(frozen=True, slots=True)
class Term:
    token: Token


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Term | Not | And | Or


class _Parser:
    def __init__(self, query: str, tokens: list[Token]) -> None:
        self.query = query
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def deeper(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(
                f"the query is nested more than {MAX_DEPTH} deep", token.position, pointable=False
            )

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def conj(self, closing: bool) -> Node:
        operands: list[Node] = []
        while True:
            token = self.peek()
            if token is None:
                break
            if token.kind == "rparen":
                if not closing:
                    raise QueryError("')' without a matching '('", token.position)
                break
            if token.kind == "and":
                if not operands:
                    raise QueryError("'AND' needs a term on both sides", token.position, 3)
                self.take()
                following = self.peek()
                if following is None or following.kind in ("rparen", "or", "and"):
                    raise QueryError("'AND' needs a term on both sides", token.position, 3)
                continue
            operands.append(self.disj())
        if not operands:
            at = self.peek()
            position = at.position if at else len(self.query)
            raise QueryError("empty group: '(' needs something inside", position)
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def disj(self) -> Node:
        operands = [self.unary()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def unary(self) -> Node:
        token = self.peek()
        if token is None:
            raise QueryError("expected a term at the end of the query", len(self.query))
        if token.kind == "not":
            self.take()
            self.deeper(token)
            operand = self.unary()
            self.depth -= 1
            return Not(operand)
        if token.kind == "lparen":
            self.take()
            self.deeper(token)
            inner = self.conj(closing=True)
            self.depth -= 1
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise QueryError("'(' is never closed", token.position)
            self.take()
            return inner
        if token.kind == "and":
            raise QueryError("'AND' needs a term on both sides", token.position, 3)
        if token.kind == "or":
            raise QueryError(f"{token.text!r} needs a term on both sides", token.position)
        if token.kind == "rparen":
            raise QueryError("')' without a matching '('", token.position)
        return Term(self.take())


def parse(query: str) -> Node | None:
    """The syntax tree of a query; None for an empty query (which matches every key)."""
    tokens = tokenize(query)
    if not tokens:
        return None
    return _Parser(query, tokens).conj(closing=False)
