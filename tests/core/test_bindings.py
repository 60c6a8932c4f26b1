from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyops.core.schema.bindings import (
    BadBinding,
    Binding,
    BindingKind,
    format_binding,
    parse_binding,
)
from keyops.core.schema.platforms import FIELD_RULES, BindingField, GroupPlatform, Platform

ACCOUNT_ID = "541082f5-ad9a-41c6-9394-acd18fb2dda4"


@pytest.mark.parametrize(
    ("field", "raw", "kind", "platform"),
    [
        (BindingField.CLAUDE, "", BindingKind.SHARED, None),
        (BindingField.CLAUDE, ACCOUNT_ID, BindingKind.ACCOUNT, Platform.CLAUDE),
        (BindingField.CLAUDE, f"group:{ACCOUNT_ID}", BindingKind.GROUP, GroupPlatform.CLAUDE),
        (BindingField.CLAUDE_CONSOLE, ACCOUNT_ID, BindingKind.ACCOUNT, Platform.CLAUDE_CONSOLE),
        (BindingField.GEMINI, f"api:{ACCOUNT_ID}", BindingKind.ACCOUNT, Platform.GEMINI_API),
        (BindingField.GEMINI, ACCOUNT_ID, BindingKind.ACCOUNT, Platform.GEMINI),
        (
            BindingField.OPENAI,
            f"responses:{ACCOUNT_ID}",
            BindingKind.ACCOUNT,
            Platform.OPENAI_RESPONSES,
        ),
        (BindingField.OPENAI, f"group:{ACCOUNT_ID}", BindingKind.GROUP, GroupPlatform.OPENAI),
        (BindingField.BEDROCK, ACCOUNT_ID, BindingKind.ACCOUNT, Platform.BEDROCK),
        (BindingField.DROID, f"group:{ACCOUNT_ID}", BindingKind.GROUP, GroupPlatform.DROID),
        (BindingField.AZURE_OPENAI, ACCOUNT_ID, BindingKind.ACCOUNT, Platform.AZURE_OPENAI),
    ],
)
def test_crs_binding_encodings_parse_and_format_back(
    field: BindingField, raw: str, kind: BindingKind, platform: Platform | GroupPlatform | None
) -> None:
    binding = parse_binding(field, raw)
    assert (binding.kind, binding.platform) == (kind, platform)
    assert format_binding(binding) == raw


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        (BindingField.CLAUDE_CONSOLE, f"console:{ACCOUNT_ID}", "unknown prefix 'console:'"),
        (BindingField.CLAUDE_CONSOLE, f"group:{ACCOUNT_ID}", "groups cannot be bound"),
        (BindingField.BEDROCK, f"group:{ACCOUNT_ID}", "groups cannot be bound"),
        (BindingField.CLAUDE, f"api:{ACCOUNT_ID}", "unknown prefix 'api:'"),
        (BindingField.GEMINI, "group:", "names no group id"),
        (BindingField.OPENAI, "responses:", "names no account id"),
    ],
)
def test_bindings_crs_cannot_route_are_rejected_with_the_reason(
    field: BindingField, raw: str, message: str
) -> None:
    with pytest.raises(BadBinding, match=message):
        parse_binding(field, raw)


def test_formatting_refuses_a_platform_the_field_cannot_hold() -> None:
    wrong = Binding(BindingField.CLAUDE, BindingKind.ACCOUNT, Platform.GEMINI_API, ACCOUNT_ID)
    with pytest.raises(BadBinding):
        format_binding(wrong)
    wrong_group = Binding(BindingField.GEMINI, BindingKind.GROUP, GroupPlatform.CLAUDE, ACCOUNT_ID)
    with pytest.raises(BadBinding):
        format_binding(wrong_group)


ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40)


@st.composite
def bindings(draw: st.DrawFn) -> Binding:
    field = draw(st.sampled_from(list(BindingField)))
    rule = FIELD_RULES[field]
    options: list[Binding] = [Binding.shared(field)]
    target = draw(ids)
    assert rule.native is not None
    options.append(Binding(field, BindingKind.ACCOUNT, rule.native, target))
    options += [Binding(field, BindingKind.ACCOUNT, p, target) for p in rule.prefixed.values()]
    if rule.group_platform is not None:
        options.append(Binding(field, BindingKind.GROUP, rule.group_platform, target))
    return draw(st.sampled_from(options))


@given(bindings())
def test_decoding_an_encoded_binding_returns_it(binding: Binding) -> None:
    assert parse_binding(binding.field, format_binding(binding)) == binding
