"""The sample CRS data shipped in the package (derived from the shared fixture, see
tests/support/build_demo_sample.py): accounts, groups and the hand-made API keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from keyops.core.schema import layout


@dataclass(frozen=True, slots=True)
class SampleData:
    key_records: dict[str, dict[str, str]]  # key id -> hash fields, as CRS wrote them
    other_entries: dict[str, dict[str, Any]]  # every non-key entry: {"type", "value"}


def load_sample() -> SampleData:
    text = (
        resources.files("keyops.core").joinpath("data/crs-sample.json").read_text(encoding="utf-8")
    )
    entries: dict[str, dict[str, Any]] = json.loads(text)["keys"]
    records: dict[str, dict[str, str]] = {}
    others: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        key_id = layout.key_id_from_redis_key(name)
        if key_id is not None and entry["type"] == "hash":
            records[key_id] = dict(entry["value"])
        else:
            others[name] = entry
    return SampleData(records, others)
