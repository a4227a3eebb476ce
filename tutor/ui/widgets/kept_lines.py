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
from textual.widget import Widget

from tutor.views.recent import Recent


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
        return cropped(self._kept[1], crop, size.width)


def kept_frame(widget: Widget, frames: Recent, key: tuple, crop: Region) -> list[Strip]:
    """``crop`` of the widget's lines kept in ``frames`` under ``key`` (what they show, the
    widget's size and style); when missing, drawn by Textual — styles, border, padding —
    with their terminal codes written at once (``pre_render``)."""
    size = widget.outer_size
    frame = frames.get(key)
    if frame is None:
        widget._styles_cache.clear()  # lines it kept were for what it showed before
        frame = Widget.render_lines(widget, size.region)
        pre_render(frame, widget.app.console)
        frames.put(key, frame)
    return cropped(frame, crop, size.width)


def cropped(lines: list[Strip], crop: Region, width: int) -> list[Strip]:
    """The part ``crop`` asks for of a widget's lines (``width`` cells wide)."""
    lines = lines[crop.y:crop.bottom]
    if crop.column_span != (0, width):
        lines = [line.crop(crop.x, crop.right) for line in lines]
    return lines


def changed_rows(before: list[Strip] | None, after: list[Strip]) -> list[Region] | None:
    """The rows of a widget where ``after`` differs from ``before``, as full-width regions
    (a run of rows one region); None when they cannot be compared (nothing before, another
    height or width): then the whole widget is redrawn.

    A step changes most of the screen, but not every row of it: a box's edges, a formula
    two steps share, a grid's unchanged panels. A frame redraws only the rows given, so
    Textual cuts fewer lines and the terminal is sent fewer bytes.
    """
    if before is None or len(before) != len(after) or not after:
        return None
    width = after[0].cell_length
    if before[0].cell_length != width:
        return None
    regions: list[Region] = []
    start = None
    for y, (old, new) in enumerate(zip(before, after)):
        if old is not new and old != new:
            start = y if start is None else start
        elif start is not None:
            regions.append(Region(0, start, width, y - start))
            start = None
    if start is not None:
        regions.append(Region(0, start, width, len(after) - start))
    return regions


def pre_render(strips: list[Strip], console) -> None:
    """Write each line's terminal codes now (a Strip keeps them): the frame that shows
    lines drawn ahead sends them as they are, without working them out on the key.
    (Textual sends a widget's line as it is when nothing overlaps it, as here.)"""
    for strip in strips:
        strip.render(console)
