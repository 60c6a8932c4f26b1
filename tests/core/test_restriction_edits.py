"""Model and client restrictions and the description: what each request accepts (every problem
reported, nothing written) and what each key's fields become, legacy and odd values included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyops.core.api import BadRequest
from keyops.core.edits.base import EditContext, Skip
from keyops.core.edits.description import DescriptionSet
from keyops.core.edits.registry import kind_of
from keyops.core.edits.restrictions import ClientsAllow, ModelsRestrict
from keyops.core.schema.clients import CLIENT_IDS

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def wanted(request: object, fields: dict[str, str]) -> object:
    kind = kind_of(request)  # type: ignore[arg-type]
    return kind.prepare(request, EditContext(NOW, True)).wanted("k-1", fields)


def test_client_ids_are_crs_known_clients_and_nothing_else() -> None:
    assert CLIENT_IDS == ("claude_code", "gemini_cli", "codex_cli", "droid_cli")
    with pytest.raises(BadRequest) as refused:
        ClientsAllow.build("add", ["claude_code", "claude-code", "cursor"])
    assert len(refused.value.problems) == 2
    assert "'claude-code' is not a client CRS knows" in refused.value.problems[0]
    # An id CRS does not know (it blocks every request) can still be taken off.
    assert ClientsAllow.build("remove", ["cursor"]).names == ("cursor",)


def test_bad_model_requests_list_every_problem() -> None:
    with pytest.raises(BadRequest) as refused:
        ModelsRestrict.build("add", ["ok", "two words", "x" * 201, "tab\there"])
    assert len(refused.value.problems) == 3
    with pytest.raises(BadRequest, match="needs at least one model"):
        ModelsRestrict.build("add", [" ", ","])
    with pytest.raises(BadRequest, match="clear takes no models"):
        ModelsRestrict.build("clear", ["m"])
    # Trimmed as JavaScript trims, commas split, duplicates once.
    assert ModelsRestrict.build("add", ["\ufeffa ,b", "a"]).names == ("a", "b")


def test_add_appends_missing_models_and_turns_the_restriction_on() -> None:
    request = ModelsRestrict.build("add", ["b", "c"])
    assert wanted(
        request, {"enableModelRestriction": "false", "restrictedModels": '["a","b"]'}
    ) == {
        "restrictedModels": '["a","b","c"]',
        "enableModelRestriction": "true",
    }
    # Already restricted this way (stored with spaces, as an older writer did): left alone.
    assert (
        wanted(request, {"enableModelRestriction": "true", "restrictedModels": '["b", "c"]'}) == {}
    )
    # A legacy key without either field.
    assert wanted(request, {}) == {
        "restrictedModels": '["b","c"]',
        "enableModelRestriction": "true",
    }
    # A flag CRS reads as off (only 'true' is on) is turned on.
    assert wanted(request, {"enableModelRestriction": "True", "restrictedModels": '["b","c"]'}) == {
        "enableModelRestriction": "true"
    }


def test_add_and_remove_skip_a_list_crs_would_misread_and_clear_replaces_it() -> None:
    for raw in ('"claude-opus"', "not json", "[1,2]", '{"a":1}'):
        fields = {"enableModelRestriction": "true", "restrictedModels": raw}
        skip = wanted(ModelsRestrict.build("remove", ["a"]), fields)
        assert isinstance(skip, Skip) and "not a JSON list" in skip.reason
        assert wanted(ModelsRestrict.build("clear", []), fields) == {
            "restrictedModels": "[]",
            "enableModelRestriction": "false",
        }
    # An empty string is what CRS reads as no list.
    assert wanted(ModelsRestrict.build("add", ["a"]), {"restrictedModels": ""}) == {
        "restrictedModels": '["a"]',
        "enableModelRestriction": "true",
    }


def test_remove_turns_the_restriction_off_once_the_list_is_empty() -> None:
    request = ClientsAllow.build("remove", ["claude_code"])
    on = {"enableClientRestriction": "true", "allowedClients": '["claude_code","gemini_cli"]'}
    assert wanted(request, on) == {"allowedClients": '["gemini_cli"]'}
    last = {"enableClientRestriction": "true", "allowedClients": '["claude_code"]'}
    assert wanted(request, last) == {"allowedClients": "[]", "enableClientRestriction": "false"}
    # Off with a saved list: the list shrinks, the restriction stays off.
    off = {"enableClientRestriction": "false", "allowedClients": '["claude_code"]'}
    assert wanted(request, off) == {"allowedClients": "[]"}
    assert wanted(request, {"enableClientRestriction": "true", "allowedClients": "[]"}) == {
        "enableClientRestriction": "false"
    }


def test_clear_writes_nothing_on_a_key_without_restriction() -> None:
    request = ClientsAllow.build("clear", [])
    assert wanted(request, {}) == {}
    assert wanted(request, {"enableClientRestriction": "false", "allowedClients": "[]"}) == {}
    assert wanted(request, {"enableClientRestriction": "true"}) == {
        "enableClientRestriction": "false"
    }


def test_soft_deleted_keys_are_left_alone() -> None:
    for request in (
        ModelsRestrict.build("clear", []),
        ClientsAllow.build("add", ["droid_cli"]),
        DescriptionSet.build("x"),
    ):
        assert wanted(request, {"isDeleted": "true"}) == Skip("soft-deleted")


def test_description_follows_crs_length_and_trim_rules() -> None:
    assert DescriptionSet.build("  billing\n team\t ").text == "billing\n team"
    assert len(DescriptionSet.build("é" * 500).text) == 500
    with pytest.raises(BadRequest, match="501 characters"):
        DescriptionSet.build("x" * 501)
    # JavaScript counts an emoji as two: 250 fit, 251 do not.
    DescriptionSet.build("\U0001f600" * 250)
    with pytest.raises(BadRequest, match="502 characters"):
        DescriptionSet.build("\U0001f600" * 251)
    with pytest.raises(BadRequest) as refused:
        DescriptionSet.build("bell\x07 and escape\x1b" + "x" * 600)
    assert len(refused.value.problems) == 2


def test_description_set_and_clear() -> None:
    assert wanted(DescriptionSet.build("new"), {"description": "old"}) == {"description": "new"}
    assert wanted(DescriptionSet.build(""), {"description": "old"}) == {"description": ""}
    assert wanted(DescriptionSet.build(""), {}) == {}
    assert DescriptionSet.build("").summary == "description clear"
