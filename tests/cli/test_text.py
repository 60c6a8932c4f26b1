"""Column alignment by display width: CJK takes two cells, combining marks none."""

from __future__ import annotations

from keyops.cli.text import clip, display_width, pad, plural


def test_wide_and_combining_characters_count_as_they_show() -> None:
    assert display_width("abc") == 3
    assert display_width("名字") == 4
    assert display_width("ｶﾞ") == 2  # halfwidth katakana: one cell each
    assert display_width("Ａ") == 2  # fullwidth Latin
    assert display_width("e\u0301") == 1  # e + combining acute
    assert display_width("") == 0


def test_pad_and_clip_fill_and_cut_by_cells() -> None:
    assert pad("名字", 6) == "名字  "
    assert pad("toolong", 3) == "toolong"
    assert clip("kappa-名字", 20) == "kappa-名字"
    cut = clip("名字名字名字", 7)
    assert cut == "名字名…" and display_width(cut) == 7
    assert display_width(clip("名字名字名字", 6)) <= 6


def test_plural() -> None:
    assert plural(1, "key") == "1 key"
    assert plural(0, "key") == "0 keys"
    assert plural(2, "audit entry", "audit entries") == "2 audit entries"
