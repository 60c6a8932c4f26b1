"""Each fault, mid-batch, on a 10,000-key atomic tag edit and a best-effort disable, against a
real redis-server: after recovery no key holds part of a change, nothing was applied twice,
every applied change has exactly one audit entry, no untargeted field changed, and the journal
agrees with the audit (tests/support/faults.py)."""

from __future__ import annotations

import pytest

from tests.support.faults import OPS, SCENARIOS, run_fault


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_nothing_is_lost_or_doubled_after_a_fault(scenario: str, op: str) -> None:
    result = await run_fault(scenario, op)
    assert result.targets > 8000
    assert result.mixed == 0 and result.doubled == 0, result
    assert result.audit_mismatch == 0 and result.journal_mismatch == 0, result
    assert result.untargeted == 0, result
    if op == "tags-atomic":
        # All or nothing: finished by the engine itself, or rolled back by recovery.
        assert result.changed in (0, result.targets), result
        assert result.unchanged == result.targets - result.changed
    else:
        assert result.changed + result.unchanged == result.targets, result
    if scenario == "sigkill":
        assert result.recovered == ("rollback" if op == "tags-atomic" else "resume"), result
        if op != "tags-atomic":
            assert result.changed == result.targets  # resumed to the end
