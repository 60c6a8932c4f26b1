"""A checkbox drawn as `[x]` / `[ ]`: Textual's draws the same `X` ticked or not and tells
them apart only by colour, which a monochrome terminal or a colour-blind operator loses."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class TickBox(Checkbox):
    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble("[", ("x" if self.value else " ", style), "]")
