"""Where CRS's key indexes and its key records disagree, said the way an operator needs it.

keyops lists and targets the records themselves (found by SCAN), so drift never hides a key
from keyops; but CRS's admin list is computed from the index sets, so a key missing from
`apikey:idx:all` is one CRS's own UI does not show. Operators must hear about that, in `info`,
the console's banner and every batch preview.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from keyops.core.schema import layout


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


@dataclass(frozen=True, slots=True)
class IndexDrift:
    index_version: int = layout.INDEX_READY_VERSION
    # Key records that exist but `apikey:idx:all` does not list (only when the index is ready).
    not_in_idx_all: tuple[str, ...] = ()
    # Ids `apikey:idx:all` lists that have no record.
    dangling: tuple[str, ...] = ()
    # `apikey:{id}` names that are not hashes.
    not_hashes: tuple[str, ...] = ()

    @property
    def index_ready(self) -> bool:
        return self.index_version >= layout.INDEX_READY_VERSION

    def messages(self, *, readiness: bool = True) -> list[str]:
        """One sentence per kind of drift, none when the indexes agree with the records
        (`readiness=False`: leave out the index version, for a caller that shows it already)."""
        found: list[str] = []
        if readiness and not self.index_ready:
            found.append(
                f"{layout.INDEX_VERSION} is {self.index_version or 'missing'}, not "
                f"{layout.INDEX_READY_VERSION}: CRS's indexes are not ready (CRS rebuilds them "
                "when it starts); keyops found the keys by SCAN and writes no index sets"
            )
        if self.not_in_idx_all:
            number = len(self.not_in_idx_all)
            them = "it" if number == 1 else "them"
            found.append(
                _count(number, "key record is", "key records are")
                + f" missing from {layout.IDX_ALL}: CRS's admin list does not show {them}; "
                f"keyops lists {them} and includes {them} in batches (CRS's "
                "POST /admin/api-keys/index-rebuild puts them back)"
            )
        if self.dangling:
            found.append(
                _count(len(self.dangling), "id", "ids")
                + f" in {layout.IDX_ALL} "
                + ("has" if len(self.dangling) == 1 else "have")
                + " no key record"
            )
        if self.not_hashes:
            found.append(
                _count(len(self.not_hashes), "apikey:* name looks", "apikey:* names look")
                + " like a key record but "
                + ("is" if len(self.not_hashes) == 1 else "are")
                + " not a hash"
            )
        return found

    def about_targets(self, key_ids: Iterable[str]) -> list[str]:
        """What a batch preview must say about the drift that touches its keys."""
        found: list[str] = []
        if not self.index_ready:
            found.append(
                "CRS's indexes are not ready: keyops writes the records and leaves the index "
                "sets to CRS's rebuild at its next start"
            )
        if self.not_in_idx_all:
            hidden = set(self.not_in_idx_all)
            number = sum(1 for key_id in key_ids if key_id in hidden)
            if number:
                found.append(
                    f"{number} of these keys "
                    + ("is" if number == 1 else "are")
                    + f" missing from {layout.IDX_ALL} (CRS's admin list does not show "
                    + ("it" if number == 1 else "them")
                    + "); keyops includes "
                    + ("it" if number == 1 else "them")
                )
        return found
