"""Faults mid-batch (frozen server, resets, restart, OOM, SIGKILL) and what recovery did.

The fault table of issue 5: each fault mid-batch, on a 10,000-key atomic tag edit and a
best-effort disable, with what recovery did and the invariant counts after it.

    ./dev bench faults

Same scenarios as tests/faults/ (tests/support/faults.py), printed as a table.
"""

from __future__ import annotations

import asyncio

from tests.support.faults import OPS, SCENARIOS, run_fault


async def main() -> None:
    print("| fault | operation | first outcome | recovery | ops (final) | keys | changed | unchanged "
          "| mixed | doubled | audit mismatch | untargeted | journal mismatch | s |")  # fmt: skip
    print("|---" * 14 + "|")
    for scenario in SCENARIOS:
        for op in OPS:
            r = await run_fault(scenario, op)
            print(
                f"| {r.scenario} | {r.op} | {r.first_outcome} | {r.recovered} | {r.final} | "
                f"{r.targets} | {r.changed} | {r.unchanged} | {r.mixed} | {r.doubled} | "
                f"{r.audit_mismatch} | {r.untargeted} | {r.journal_mismatch} | {r.seconds:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
