"""What a key has outside its record that CRS's soft delete and restore change, as one state.

A soft delete takes the key's `apikey:hash_map` entry away (so it stops authenticating), drops
its `apikey_hash:{hash}` legacy copy and its `cost_rank:*` scores; a restore puts the hash_map
entry back and ranks it at 0. keyops carries that state as the value of a pseudo-field
(`writes.LIFECYCLE`): the apply script reads the state before a write into the journal and
sets the wanted one, so a rollback puts back exactly what was there (the old scores, the
legacy copy, the entry or its absence). The state names no hash: the script finds it in the
record's own `apiKey` field, and the secret never reaches the journal, the audit or Python.

The JSON is built by the apply script in this exact shape (keys in this order, scores as Redis
prints them), so a state read back compares equal as text.
"""

from __future__ import annotations

import json

# CRS's cost-rank periods (`cost_rank:{period}`), in the order the state lists them.
RANK_PERIODS = ("today", "7days", "30days", "all")


def state(hash_map: bool, ranks: dict[str, str], legacy: dict[str, str] | None = None) -> str:
    """The state as the script writes it (legacy fields sorted by name)."""
    legacy_text = (
        "null"
        if legacy is None
        else "{"
        + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(legacy.items()))
        + "}"
    )
    rank_text = ",".join(
        f"{json.dumps(period)}:{json.dumps(ranks[period])}"
        for period in RANK_PERIODS
        if period in ranks
    )
    return f'{{"hash_map":{"true" if hash_map else "false"},"legacy":{legacy_text},"ranks":{{{rank_text}}}}}'


# After CRS's soft delete: no hash_map entry, no legacy copy, in no rank.
DELETED = state(False, {})
# After CRS's restore: the hash_map entry back, ranked 0 in every period until the next rank
# rebuild. (CRS's restore also writes a legacy `apikey_hash:{hash}` copy with no TTL, which
# nothing needs while the hash_map entry exists; keyops does not make it.)
RESTORED = state(True, dict.fromkeys(RANK_PERIODS, "0"))
