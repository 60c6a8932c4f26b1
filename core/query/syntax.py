"""Tokens and syntax tree of the query language.

Grammar (juxtaposition is AND; `|` binds tighter than AND, so `a b|c` is a AND (b OR c)):

    query   := conj EOF
    conj    := disj (disj)*
    disj    := unary ('|' unary)*
    unary   := ('-' | '!') unary | '(' conj ')' | term
    term    := WORD | NAME ':' VALUE         (WORD and VALUE may be "quoted")
"""

from __future__ import annotations

from dataclasses import dataclass

from keyops.core.errors import BadInput


class QueryError(BadInput):
    """A query that cannot be parsed or compiled, with the column and width of the bad token."""

    def __init__(self, message: str, position: int, length: int = 1) -> None:
        super().__init__(f"bad query at column {position + 1}: {message}")
        self.reason = message
        self.position = position
        self.length = max(1, length)

    def pointer(self, query: str) -> str:
        """The query with a caret line under the bad token, for terminals."""
        return f"{query}\n{' ' * self.position}{'^' * self.length}"


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # 'term' | 'or' | 'not' | 'lparen' | 'rparen'
    text: str  # for terms: the raw text (quotes removed from the value part)
    position: int
    length: int
    name: str | None = None  # 'tag' in tag:x; None for free text
    value: str = ""
    quoted: bool = False  # the value was "quoted": literal text, never a wildcard pattern


_SPECIAL = "|()"


def tokenize(query: str) -> list[Token]:
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
        tokens.append(_read_term(query, index))
        index = tokens[-1].position + tokens[-1].length
    return tokens


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
            return Not(self.unary())
        if token.kind == "lparen":
            self.take()
            inner = self.conj(closing=True)
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise QueryError("'(' is never closed", token.position)
            self.take()
            return inner
        if token.kind == "or":
            raise QueryError("'|' needs a term on both sides", token.position)
        if token.kind == "rparen":
            raise QueryError("')' without a matching '('", token.position)
        return Term(self.take())


def parse(query: str) -> Node | None:
    """The syntax tree of a query; None for an empty query (which matches every key)."""
    tokens = tokenize(query)
    if not tokens:
        return None
    return _Parser(query, tokens).conj(closing=False)
