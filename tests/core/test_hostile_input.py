"""Any input, however hostile: the query parser parses it or gives a clear error, and tag,
binding and assignment validation reject every malformed value and accept every valid one."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from keyops.core.api import AccountAssign, BadRequest, TagEdit
from keyops.core.errors import BadInput
from keyops.core.query import QueryError, compile_query
from keyops.core.schema.bindings import BadBinding, BindingKind, parse_binding
from keyops.core.schema.damage import displayable, field_damage
from keyops.core.schema.platforms import FIELD_RULES, GROUP_PREFIX, BindingField
from keyops.core.schema.writes import MAX_TAG_LENGTH, validate_tag

QUERY_ALPHABET = st.sampled_from(
    [*"abc:tag-!()|\"' *?[]<>=0123456789,.", "tag:", "status:", "bound:", "name:",
    "created:", "lastused:", "account:", "group:", " | ", " (", ") ", "!", "名", "\x00", "\n"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(QUERY_ALPHABET, max_size=12).map("".join)))
def test_any_query_parses_or_gives_a_clear_error(text: str) -> None:
    try:
        query = compile_query(text)
    except QueryError as error:
        assert error.reason
        assert 0 <= error.position <= len(text)
        pointer = error.pointer(text)
        assert "^" in pointer
        return
    assert query.text == text


VISIBLE = st.characters(
    min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")
)


@given(st.text(VISIBLE, min_size=1, max_size=MAX_TAG_LENGTH))
def test_every_valid_tag_is_accepted_as_is(tag: str) -> None:
    assert validate_tag(tag) == tag
    assert TagEdit.build("add", [tag]).tags == (tag,)


@given(
    st.one_of(
        st.text(st.sampled_from(" \t"), max_size=5),  # empty once trimmed
        st.text(VISIBLE, min_size=MAX_TAG_LENGTH + 1, max_size=MAX_TAG_LENGTH + 40),
        st.tuples(
            st.text(VISIBLE, min_size=1, max_size=10),
            st.sampled_from("\n\t\x00\x1b\x7f"),
            st.text(VISIBLE, min_size=1, max_size=10),
        ).map("".join),
    )
)
def test_every_malformed_tag_is_rejected_with_a_reason(tag: str) -> None:
    try:
        validate_tag(tag)
    except BadInput as error:
        assert str(error)
    else:
        raise AssertionError(f"accepted {tag!r}")
    try:
        TagEdit.build("add", ["fine", tag])
    except BadRequest as problem:
        assert any(line.startswith("tag #2:") for line in problem.problems)
    else:
        raise AssertionError(f"TagEdit accepted {tag!r}")


ACCOUNT_IDS = st.uuids().map(str)


@given(
    st.sampled_from(list(BindingField)),
    ACCOUNT_IDS,
    st.sampled_from(["account", "group", "prefixed", "shared"]),
)
def test_every_binding_crs_can_route_is_accepted(
    field: BindingField, target: str, kind: str
) -> None:
    rule = FIELD_RULES[field]
    if kind == "group" and rule.group_platform is not None:
        raw = GROUP_PREFIX + target
    elif kind == "prefixed" and rule.prefixed:
        raw = next(iter(rule.prefixed)) + target
    elif kind == "shared":
        raw = ""
    else:
        raw = target
    binding = parse_binding(field, raw)
    assert binding.kind is (BindingKind.SHARED if raw == "" else binding.kind)
    assert field_damage(field.value, raw) == ""


@given(
    st.sampled_from(list(BindingField)),
    st.text(min_size=1, max_size=12).filter(lambda p: ":" not in p),
    ACCOUNT_IDS,
)
def test_every_unknown_prefix_is_rejected(field: BindingField, prefix: str, target: str) -> None:
    raw = f"{prefix}:{target}"
    if raw.startswith(GROUP_PREFIX) or any(
        raw.startswith(known) for known in FIELD_RULES[field].prefixed
    ):
        return
    try:
        parse_binding(field, raw)
    except BadBinding as error:
        assert "unknown prefix" in str(error)
    else:
        raise AssertionError(f"accepted {raw!r}")
    assert field_damage(field.value, raw)


@given(st.sampled_from(list(BindingField)), st.text(max_size=80))
def test_any_stored_binding_parses_or_is_reported_never_crashes(
    field: BindingField, raw: str
) -> None:
    try:
        parse_binding(field, raw)
    except BadBinding as error:
        assert str(error)
        assert field_damage(field.value, raw)


@given(st.lists(st.text(max_size=30), max_size=4))
def test_any_assignment_text_is_accepted_or_refused_with_reasons(pairs: list[str]) -> None:
    try:
        AccountAssign.build(pairs)
    except BadRequest as problem:
        assert problem.problems and all(problem.problems)


@given(
    st.sampled_from(["tags", "isActive", "createdAt", "name", *BindingField]),
    st.binary(max_size=60),
)
def test_any_stored_bytes_are_judged_and_displayable(name: str, data: bytes) -> None:
    value = data.decode("utf-8", "surrogateescape")
    field_damage(str(name), value)  # never raises
    displayable(value).encode("utf-8")  # always printable


def test_a_new_uuid_is_a_plain_account_id_in_every_field() -> None:
    for field in BindingField:
        assert parse_binding(field, str(uuid.uuid4())).kind is BindingKind.ACCOUNT
