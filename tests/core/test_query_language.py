from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyops.core.query import QueryContext, QueryError, compile_query
from keyops.core.schema.accounts import Account, AccountGroup
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.platforms import BindingField, GroupPlatform, Platform
from keyops.core.schema.rows import ROW_FIELDS, KeyRow, RowBuilder

NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def row(key_id: str, name: str, **fields: str) -> KeyRow:
    values = {"name": name, "tags": "[]", "isActive": "true", **fields}
    return RowBuilder().build(key_id, [values.get(f) for f in ROW_FIELDS])


CATALOG = AccountCatalog(
    accounts={
        (Platform.CLAUDE_CONSOLE, "con-1"): Account(
            id="con-1", platform=Platform.CLAUDE_CONSOLE, name="Console Prod"
        ),
        (Platform.GEMINI_API, "gem-1"): Account(
            id="gem-1", platform=Platform.GEMINI_API, name="gemini-loop"
        ),
    },
    groups={"grp-1": AccountGroup(id="grp-1", name="grp-claude", platform=GroupPlatform.CLAUDE)},
)
ROWS = [
    row("aaaa1111", "alpha-prod", tags='["prod","team-a"]', createdAt=iso(NOW - 100 * DAY),
        lastUsedAt=iso(NOW - 2 * DAY), claudeConsoleAccountId="con-1", description="billing service"),
    row("bbbb2222", "beta-dev", tags='["dev"," team-b "]', isActive="false", createdAt=iso(NOW - 10 * DAY),
        claudeAccountId="group:grp-1"),
    row("cccc3333", "gamma-exp", tags='["prod"]', expiresAt=iso(NOW - DAY), createdAt=iso(NOW - 600 * DAY),
        lastUsedAt=iso(NOW - 60 * DAY), geminiAccountId="api:gem-1"),
    row("dddd4444", "delta-gone", tags='["prod"]', isDeleted="true", isActive="false"),
    row("eeee5555", "Epsilon-名字", tags='["标签"]', openaiAccountId="responses:r-1"),
]  # fmt: skip


def names(query: str, include_deleted: bool = False) -> list[str]:
    context = QueryContext(catalog=CATALOG, now=NOW, include_deleted=include_deleted)
    return [r.name for r in compile_query(query, context).filter(ROWS)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["alpha-prod", "beta-dev", "gamma-exp", "Epsilon-名字"]),
        ("ALPHA", ["alpha-prod"]),
        ("billing", ["alpha-prod"]),
        ("cccc", ["gamma-exp"]),
        ("tag:prod", ["alpha-prod", "gamma-exp"]),
        ("tag:team-b", ["beta-dev"]),  # CRS matches tags after trimming
        ("tag:team-*", ["alpha-prod", "beta-dev"]),
        ("tag:标签", ["Epsilon-名字"]),
        ("-tag:prod", ["beta-dev", "Epsilon-名字"]),
        ("!tag:prod", ["beta-dev", "Epsilon-名字"]),
        ("status:active", ["alpha-prod", "Epsilon-名字"]),
        ("status:disabled", ["beta-dev"]),
        ("status:expired", ["gamma-exp"]),
        ("status:deleted", ["delta-gone"]),
        ("bound:console", ["alpha-prod"]),
        ("bound:claude", ["beta-dev"]),
        ("bound:gemini-api", ["gamma-exp"]),
        ("bound:responses", ["Epsilon-名字"]),
        ("unbound:any", []),
        ("unbound:claude tag:prod", ["alpha-prod", "gamma-exp"]),
        ("account:con-1", ["alpha-prod"]),
        ('account:"console prod"', ["alpha-prod"]),
        ("account:gemini-loop", ["gamma-exp"]),
        ("group:grp-claude", ["beta-dev"]),
        ("group:grp-1", ["beta-dev"]),
        ("created:>2026-05-01", ["beta-dev"]),
        ("created:<30d", ["beta-dev"]),
        ("created:>=2025-01-01 created:<2026-05-01", ["alpha-prod"]),
        ("lastused:<30d", ["alpha-prod"]),
        ("lastused:>30d", ["gamma-exp"]),
        ("lastused:never", ["beta-dev", "Epsilon-名字"]),
        ("tag:dev | tag:标签", ["beta-dev", "Epsilon-名字"]),
        ("tag:prod status:active|status:expired", ["alpha-prod", "gamma-exp"]),
        ("(tag:prod status:active) | bound:claude", ["alpha-prod", "beta-dev"]),
        ("name:*-dev", ["beta-dev"]),
        ("id:aaaa", ["alpha-prod"]),
    ],
)
def test_queries_select_the_expected_keys(query: str, expected: list[str]) -> None:
    assert names(query) == expected


def test_deleted_keys_are_hidden_unless_asked_for() -> None:
    assert "delta-gone" not in names("tag:prod")
    assert "delta-gone" in names("tag:prod", include_deleted=True)


@pytest.mark.parametrize(
    ("query", "column", "fragment"),
    [
        ("tag:prod colour:red", 10, "unknown filter 'colour:'"),
        ("status:asleep", 1, "status must be one of active, disabled, expired, deleted"),
        ("bound:mars", 1, "unknown platform 'mars'"),
        ("created:>yesterday", 1, "neither a date"),
        ("tag:", 1, "tag: needs a value"),
        ('name:"open', 6, "unclosed quote"),
        ("tag:a |", 8, "expected a term"),
        ("| tag:a", 1, "'|' needs a term on both sides"),
        ("(tag:a", 1, "'(' is never closed"),
        ("tag:a)", 6, "')' without a matching '('"),
        ("- tag:a", 1, "must be followed directly"),
    ],
)
def test_bad_queries_point_at_the_bad_token(query: str, column: int, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(query, QueryContext(catalog=CATALOG, now=NOW))
    assert fragment in str(caught.value)
    assert caught.value.position + 1 == column
    assert caught.value.pointer(query).splitlines()[1].index("^") == column - 1


@given(st.text(max_size=40))
def test_any_string_either_parses_or_gives_a_query_error(query: str) -> None:
    try:
        compiled = compile_query(query, QueryContext(catalog=CATALOG, now=NOW))
    except QueryError as error:
        assert 0 <= error.position <= len(query)
    else:
        compiled.filter(ROWS)


def test_binding_position_matches_field_order() -> None:
    r = row("x", "x", droidAccountId="group:d")
    assert r.binding(BindingField.DROID) == "group:d" and r.binding(BindingField.CLAUDE) == ""


def test_only_a_growing_free_text_word_narrows_a_previous_query() -> None:
    assert compile_query("alp").narrows(compile_query("al"))
    assert compile_query("ALP").narrows(compile_query("al"))
    assert not compile_query("al").narrows(compile_query("alp"))
    assert not compile_query("tag:team").narrows(compile_query("tag:te"))  # tags match whole
    assert not compile_query("al status:active").narrows(compile_query("al"))
    assert not compile_query("alp").narrows(compile_query("tag:al"))


def test_bare_rejected_is_the_verdict_and_never_narrows_a_text_search() -> None:
    from keyops.core.query import compile_query

    typed = compile_query("rejecte")
    verdict_query = compile_query("rejected")
    assert verdict_query.needs_usage and not typed.needs_usage
    assert not verdict_query.narrows(typed)
    quoted = compile_query('"rejected"')
    assert not quoted.needs_usage and quoted.narrows(typed)


def test_usage_terms_refuse_what_is_not_a_number_or_a_reason() -> None:
    import pytest

    from keyops.core.query import QueryError, compile_query

    with pytest.raises(QueryError, match=r"cost\.today: needs a number"):
        compile_query("cost.today:>lots")
    with pytest.raises(QueryError, match="rejected: takes one of"):
        compile_query("rejected:broke")
    assert compile_query("limit:>90%").needs_usage
    assert compile_query("cost.total:>=$100").needs_usage


@pytest.mark.parametrize("name", ["cost.today", "limit", "rejected", "limit.daily"])
def test_an_empty_usage_term_is_a_known_filter_missing_its_value(name: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(f"tag:prod {name}:", QueryContext(catalog=CATALOG, now=NOW))
    assert f"{name}: needs a value" in str(caught.value)
    assert "unknown filter" not in str(caught.value)
    assert caught.value.position == len("tag:prod ")


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        # Not numbers, though Python's float() takes them: NaN matches nothing, '1_000' and
        # digits of other scripts read as something other than what was typed.
        ("cost.today:>nan", "cost.today: needs a number"),
        ("cost.today:>inf", "cost.today: needs a number"),
        ("cost.today:>1_000", "cost.today: needs a number"),
        ("cost.today:>\u0661\u0660", "cost.today: needs a number"),
        ("limit.daily:>\u0661", "limit.daily: needs a number"),
        # A unit that is not the figure's: '%' on dollars, '$' on a count or a share.
        ("cost.today:>5%", "cost.today: needs a number"),
        ("requests.today:>$5", "requests.today: needs a number"),
        ("limit:>$90%", "limit: needs a number"),
    ],
)
def test_usage_numbers_are_refused_unless_typed_as_numbers(query: str, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(f"tag:prod {query}", QueryContext(catalog=CATALOG, now=NOW))
    assert fragment in str(caught.value)
    assert caught.value.position == len("tag:prod ")


def test_usage_numbers_take_dollars_percent_and_exponents_where_they_belong() -> None:
    for query in ("cost.today:>$5", "cost.week:>=5.5", "limit:>90%", "limit:>90",
                  "tokens.today:>1e6", "concurrency:>=-1", "limit.daily:>.5"):  # fmt: skip
        compile_query(query, QueryContext(catalog=CATALOG, now=NOW))
