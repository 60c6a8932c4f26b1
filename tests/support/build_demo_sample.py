"""Derive core/data/crs-sample.json (what the demo and `keyops seed` ship) from the CRS fixture.

Kept: every account, account group and group membership, and the hand-made API keys (the
1,000 batch-created `bulk-p*` keys are replaced by generated ones at run time). Index sets are
left out because the seeder rebuilds them from the records. TTLs are dropped.

Run: python -m tests.support.build_demo_sample  (tests/core/test_sample_data.py checks that the
committed file is exactly what this produces).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "crs-1.1.314-redis.json"
SAMPLE = REPO / "core" / "data" / "crs-sample.json"

_ACCOUNT_PREFIXES = (
    "claude:account:",
    "claude_console_account:",
    "gemini_account:",
    "gemini_api_account:",
    "openai:account:",
    "openai_responses_account:",
    "azure_openai:account:",
    "bedrock_account:",
    "droid:account:",
    "ccr_account:",
    "account_group",
    "shared_",
)


def _keep(name: str, entry: dict[str, Any]) -> bool:
    if name.endswith(":empty"):
        return False
    parts = name.split(":")
    if len(parts) == 2 and parts[0] == "apikey" and entry["type"] == "hash":
        return parts[1] != "hash_map" and not entry["value"].get("name", "").startswith("bulk-p")
    return name.startswith(_ACCOUNT_PREFIXES)


def build(fixture: Path = FIXTURE) -> dict[str, Any]:
    dump = json.loads(fixture.read_text(encoding="utf-8"))["keys"]
    kept = {
        name: {"type": entry["type"], "value": entry["value"]}
        for name, entry in sorted(dump.items())
        if _keep(name, entry)
    }
    return {
        "source": "tests/fixtures/crs-1.1.314-redis.json, see tests/support/build_demo_sample.py",
        "keys": kept,
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    SAMPLE.write_text(render(build()), encoding="utf-8")
    print(f"wrote {SAMPLE}")
