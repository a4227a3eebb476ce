"""Lines handed to Textual's compositor again, unchanged, until the widget changes.

Every frame that touches a region of the screen asks each widget there for all its lines
(a step's frame touches nearly the whole screen). Textual keeps a widget's lines, but
still styles each again per frame: its background worked out from the DOM, its border
title, filters, new Strips — 0.1–0.2 ms for each of the tree, the map, the lesson text
and the key bar, on every key. These widgets keep the lines as drawn and hand them over
again until Textual marks them dirty (a refresh, a scroll, a resize, a new style).
"""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip


class KeptLines:
    """Mixin for a ``Widget`` (put it first): ``render_lines`` as drawn last, until dirty."""

    _kept: tuple | None = None  # ((size, theme), the widget's lines)

    def _set_dirty(self, *regions: Region) -> None:
        self._kept = None  # every change of what a widget shows comes through here
        super()._set_dirty(*regions)

    def notify_style_update(self) -> None:
        self._kept = None
        super().notify_style_update()

    def render_lines(self, crop: Region) -> list[Strip]:
        size = self.outer_size
        key = (size, self.app.theme, self.app.ansi_color)
        if self._kept is None or self._kept[0] != key:
            self._kept = (key, super().render_lines(size.region))
        lines = self._kept[1][crop.y:crop.bottom]
        if crop.column_span != (0, size.width):
            lines = [line.crop(crop.x, crop.right) for line in lines]
        return lines
