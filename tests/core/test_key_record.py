from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from keyops.core.schema.keys import SECRET_FIELD, ApiKeyRecord
from keyops.core.schema.platforms import BindingField
from tests.support.dump import crs_fixture


def _fixture_records() -> dict[str, dict[str, str]]:
    records = {}
    for name, entry in crs_fixture().items():
        parts = name.split(":")
        if (
            len(parts) == 2
            and parts[0] == "apikey"
            and parts[1] != "hash_map"
            and entry["type"] == "hash"
        ):
            records[parts[1]] = entry["value"]
    return records


def test_every_fixture_record_decodes_and_re_encodes_its_fields_byte_for_byte() -> None:
    records = _fixture_records()
    assert len(records) == 1043
    for key_id, raw in records.items():
        record = ApiKeyRecord.from_redis(key_id, raw)
        encoded = record.to_redis()
        for name, value in encoded.items():
            assert raw[name] == value, (key_id, name)
        # Everything CRS wrote comes back except the secret hash and the icon we never hold.
        assert set(raw) - set(encoded) <= {SECRET_FIELD, "icon"}


def test_the_secret_never_reaches_the_model() -> None:
    raw = {"id": "k1", "name": "x", SECRET_FIELD: "f" * 64, "tags": "[]"}
    record = ApiKeyRecord.from_redis("k1", raw)
    assert record.has_secret
    assert "f" * 64 not in record.model_dump_json()
    assert SECRET_FIELD not in record.safe_fields()


def test_lenient_read_like_crs() -> None:
    record = ApiKeyRecord.from_redis(
        "k1",
        {"isActive": "True", "tags": "not json", "tokenLimit": "abc", "permissions": "all",
         "serviceRates": "[1]", "createdAt": "garbage"},
    )  # fmt: skip
    assert record.isActive is False  # only the exact 'true' is true
    assert record.tags == [] and record.tokenLimit == 0 and record.permissions == []
    assert record.serviceRates == {} and record.createdAt is None
    # Missing means true for the Codex adaptation flag.
    assert record.enableOpenAIResponsesCodexAdaptation is True


def test_legacy_permission_forms_are_normalised() -> None:
    assert ApiKeyRecord.from_redis("k", {"permissions": "claude"}).permissions == ["claude"]
    assert ApiKeyRecord.from_redis("k", {"permissions": "claude, gemini"}).permissions == [
        "claude",
        "gemini",
    ]
    assert ApiKeyRecord.from_redis("k", {"permissions": '["openai"]'}).permissions == ["openai"]


millis = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
numbers = st.one_of(st.integers(0, 10**9).map(float), st.sampled_from([0.5, 1.5, 2.25, 99.99]))
text = st.text(max_size=30)


@given(
    name=text, description=text, tags=st.lists(text, max_size=6), active=st.booleans(),
    deleted=st.booleans(), limit=numbers, created=millis, expires=st.none() | millis,
    binding=st.sampled_from(["", "group:g1", "api:a1", "responses:r1", "acc-1"]),
    permissions=st.lists(st.sampled_from(["claude", "gemini", "openai", "droid"]), unique=True),
)  # fmt: skip
def test_decoding_an_encoded_record_returns_it(
    name: str, description: str, tags: list[str], active: bool, deleted: bool, limit: float,
    created: datetime, expires: datetime | None, binding: str, permissions: list[str],
) -> None:  # fmt: skip
    field = BindingField.GEMINI if binding.startswith("api:") else BindingField.OPENAI
    record = ApiKeyRecord(
        id="6f1c2b1e-0000-4000-8000-000000000001", name=name, description=description, tags=tags,
        isActive=active, isDeleted=deleted, tokenLimit=limit, dailyCostLimit=limit,
        createdAt=created, expiresAt=expires, permissions=permissions,
        bindings_raw={f: (binding if f is field else "") for f in BindingField},
    )  # fmt: skip
    assert ApiKeyRecord.from_redis(record.id, record.to_redis()) == record
