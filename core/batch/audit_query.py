"""The audit screen's filter line: `type:tags since:2026-11-01 key:ID operator:alice op:ID`.

Terms are space-separated `name:value`; an unknown name or a bad date is a clear error, and
nothing is filtered on a guess.
"""

from __future__ import annotations

from datetime import UTC, datetime

from keyops.core.batch.audit import LABEL_WORDS, AuditFilter
from keyops.core.edits.registry import OpType
from keyops.core.errors import BadInput

TERMS = ("type", "since", "until", "key", "operator", "op")


def parse_moment(text: str, name: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{name} {text!r} is not a date (2026-11-27 or 2026-11-27T10:00)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def parse_audit_filter(text: str) -> AuditFilter:
    filters = AuditFilter()
    for term in text.split():
        name, sep, value = term.partition(":")
        if not sep or not value:
            raise BadInput(
                f"{term!r}: expected name:value, one of {', '.join(n + ':' for n in TERMS)}"
            )
        if name == "type":
            for kind in value.split(","):
                known = [*OpType, *sorted(LABEL_WORDS)]
                if kind not in known:
                    raise BadInput(f"type:{kind} is not an operation type: {', '.join(known)}")
                filters.op_types.add(kind)
        elif name == "since":
            filters.since = parse_moment(value, "since:")
        elif name == "until":
            filters.until = parse_moment(value, "until:")
        elif name == "key":
            filters.key_id = value
        elif name == "operator":
            filters.operator = value
        elif name == "op":
            filters.op_id = value
        else:
            raise BadInput(
                f"unknown filter {name + ':'!r}; use {', '.join(n + ':' for n in TERMS)}"
            )
    return filters
