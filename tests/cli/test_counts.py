"""Counts typed on the command line (`keys create --count`, `keys purge --confirm-purge`,
`keys top -n`) are ASCII digits: Python's int() would also read '٣', '５', '1_0' or ' 3 ' as a
number, and a typed confirmation must be exactly the count the preview showed."""

from __future__ import annotations

import pytest

from keyops.cli.parser import build_parser

BASE = ["keys", "create", "--name", "n", "--out", "k.tsv"]


@pytest.mark.parametrize("typed", ["٣", "５", "1_0", " 3", "3 ", "0x3", "+3"])
def test_counts_in_anything_but_ascii_digits_are_refused(
    typed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        [*BASE, "--count", typed],
        ["keys", "purge", "--confirm-purge", typed],
        ["keys", "top", "-n", typed],
    ):
        with pytest.raises(SystemExit) as stopped:
            build_parser().parse_args(argv)
        assert stopped.value.code == 2
        assert "is not a whole number" in capsys.readouterr().err


def test_plain_counts_are_read() -> None:
    assert build_parser().parse_args([*BASE, "--count", "12"]).count == 12
    assert build_parser().parse_args(["keys", "purge", "--confirm-purge", "3"]).confirm_purge == 3
    assert build_parser().parse_args(["keys", "top", "-n", "99999999"]).n == 99999999
