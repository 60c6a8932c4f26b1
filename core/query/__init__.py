"""The key query language shared by the TUI's `/` filter and the CLI's `--where`.

See docs/query-language.md. `compile_query(text, context)` returns a `KeyQuery` whose
`matches(row)` tests one lean row; a bad query raises `QueryError` naming the bad token.
"""

from keyops.core.query.compile import KeyQuery, QueryContext, compile_query
from keyops.core.query.syntax import QueryError

__all__ = ["KeyQuery", "QueryContext", "QueryError", "compile_query"]
