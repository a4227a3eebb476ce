"""A panel that shows one tensor as a grid of numbers with a cell cursor."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from tutor.views.cells import (HIDDEN, LEVELS, cell_text, clip_index, finite_scale,
                               leading_indices, level, panel_exponent, panel_lines)
from tutor.views.step import TensorSlot, shape_text


def _mix(a, b, t):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


BASE = (34, 34, 40)
POSITIVE = (178, 76, 40)
NEGATIVE = (40, 96, 178)
STYLES = {0: Style(color="rgb(200,200,200)")}
for _k in range(1, LEVELS + 1):
    _t = 0.25 + 0.75 * _k / LEVELS
    STYLES[_k] = Style(color="white", bgcolor="rgb(%d,%d,%d)" % _mix(BASE, POSITIVE, _t))
    STYLES[-_k] = Style(color="white", bgcolor="rgb(%d,%d,%d)" % _mix(BASE, NEGATIVE, _t))
ZERO = Style(color="rgb(130,130,130)")
CURSOR = Style(reverse=True, bold=True)
UNDERLINE = Style(underline=True, bold=True)
DIM = Style(dim=True, italic=True)
AXIS = Style(color="rgb(120,120,140)")
SPECIAL = Style(color="yellow", bold=True)


class TensorView(Widget, can_focus=True):
    """Values with a diverging colour scale (red +, blue −, signs always printed),
    the shape in the title, a cell cursor, numpy-style elision, NaN/inf as such."""

    BINDINGS = [
        Binding("up", "move(-1, 0)", "cell up", show=False),
        Binding("down", "move(1, 0)", "cell down", show=False),
        Binding("left", "move(0, -1)", "cell left", show=False),
        Binding("right", "move(0, 1)", "cell right", show=False),
        Binding("left_square_bracket", "slice(-1)", "previous slice", show=False),
        Binding("right_square_bracket", "slice(1)", "next slice", show=False),
        Binding("escape", "leave", "leave panel", show=False),
    ]

    cursor: reactive[tuple] = reactive((), always_update=True, layout=False)
    # A panel never scrolls (it elides instead), so its virtual size needs no layout pass
    # of its own: Textual's default asks for one whenever a step resizes the panels, and
    # that second pass redrew every panel a frame after the step was already on screen.
    virtual_size: reactive[Size] = reactive(Size(0, 0), layout=False, repaint=False)

    class CellSelected(Message):
        """The learner picked an element of this panel."""

        def __init__(self, view: "TensorView", index: tuple) -> None:
            super().__init__()
            self.view = view
            self.index = index

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.slot: TensorSlot | None = None
        self._array: np.ndarray | None = None
        self._scale = 0.0
        self._exponent = 0
        self._subtitle_parts: tuple = ("", "")
        self._hits: list = []

    # data -----------------------------------------------------------------
    def show(self, slot: TensorSlot | None, cursor: tuple | None = None) -> None:
        """Display ``slot`` (None hides the data); keep the cursor where it makes sense."""
        self.slot = slot
        self._array = None if slot is None or slot.value is None else np.asarray(slot.value)
        if self._array is not None and slot.noise > 0 and self._array.dtype.kind == "f":
            self._array = np.where(np.abs(self._array) <= slot.noise, 0.0, self._array)
        if self._array is not None and self._array.dtype.kind in "fc":
            self._scale = finite_scale(self._array)
        elif self._array is not None:
            self._scale = 0.0
        if slot is None:
            self.border_title = ""
            self.border_subtitle = ""
        elif slot.concealed:  # what a waiting quiz asks about: not even its shape
            self.border_title = Content(slot.label)
            self._exponent = 0
            self._subtitle_parts = ("", "")
        else:
            # Content, not a str: a name like positional_encoding[:8] is not markup
            self.border_title = Content(slot.label)
            exponent = self._exponent = (panel_exponent(self._array) if self._array is not None
                                         and self._array.ndim and self._array.dtype.kind == "f"
                                         else 0)
            self._subtitle_parts = (f"values ×1e{exponent}" if exponent else "", slot.note)
        self.set_reactive(TensorView.cursor, self._clip(cursor if cursor is not None
                                                         else self.cursor))
        self._set_subtitle()
        self.refresh()

    def _set_subtitle(self) -> None:
        """Under the panel: the common factor first (the numbers mean nothing without it),
        the shape and which slice of it is shown, a note."""
        if self.slot is None:
            return
        shape = self.slot.value.shape if self.slot.value is not None else None
        if self.slot.concealed:
            shape = None
        where = shape_text(shape) if shape is not None else ""
        if shape is not None and len(shape) > 2:
            lead = ",".join(str(i) for i in self.cursor[:-2])
            where = f"[{lead},:,:] of {where}"
        factor, note = self._subtitle_parts
        self.border_subtitle = Content(" · ".join(p for p in (factor, where, note) if p))

    def _clip(self, index: tuple) -> tuple:
        return () if self._array is None else clip_index(index, self._array.shape)

    @property
    def value_at_cursor(self) -> float | None:
        if self._array is None:
            return None
        return float(self._array[self.cursor]) if self._array.ndim else float(self._array)

    # keys -------------------------------------------------------------------
    def action_move(self, drow: int, dcol: int) -> None:
        if self._array is None or self._array.ndim == 0 or self.slot.concealed:
            return
        index = list(self.cursor)
        if self._array.ndim == 1:
            index[0] += dcol or drow
        else:
            index[-2] += drow
            index[-1] += dcol
        self._select(self._clip(tuple(index)))

    def action_slice(self, delta: int) -> None:
        if self._array is None or self._array.ndim <= 2:
            return
        slices = leading_indices(self._array.shape)
        current = slices.index(tuple(self.cursor[:-2]))
        lead = slices[(current + delta) % len(slices)]
        self._select(lead + tuple(self.cursor[-2:]))

    def action_leave(self) -> None:
        self.screen.set_focus(None)

    def _select(self, index: tuple) -> None:
        self.cursor = index
        self.post_message(self.CellSelected(self, index))

    def watch_cursor(self, old, new) -> None:
        if self._array is not None and self._array.ndim > 2 and tuple(old[:-2]) != tuple(new[:-2]):
            self._set_subtitle()
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if self._array is not None and self._array.ndim == 0:
            self._select(())  # a number: the whole panel is its one element
            self.focus()
            return
        hits = getattr(self, "_hits", [])
        if offset is None or self._array is None or not 0 <= offset.y < len(hits):
            return
        for start, end, index in hits[offset.y]:
            if start <= offset.x < end:
                self._select(index)
                self.focus()
                return

    # drawing (the line API: one Strip per row, built once per change) -------------
    def refresh(self, *args, **kwargs):
        self._lines = None
        return super().refresh(*args, **kwargs)

    def on_focus(self) -> None:
        """Tabbing into a panel selects it: its element is what the card works through
        and what a tool acts on."""
        if self.slot is not None:
            self.post_message(self.CellSelected(self, tuple(self.cursor)))
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def render_line(self, y: int) -> Strip:
        size = self.size
        if getattr(self, "_lines", None) is None or self._lines_size != size:
            self._lines = self._build_lines(size.width, size.height)
            self._lines_size = size
        if y < len(self._lines):
            return self._lines[y]
        return Strip.blank(size.width, self._base)

    def _build_lines(self, width: int, height: int) -> list[Strip]:
        base = self._base = self.rich_style  # computing it walks the DOM: once per build
        self._hits: list[list[tuple[int, int, tuple]]] = []  # per line: (x0, x1, index)
        if self.slot is None:
            return []
        if self._array is None:
            return [self._strip([Segment("not yet: not computed at this step", base + DIM)],
                                width)]
        a = self._array
        if self.slot.concealed:
            return [self._strip([Segment("? — answer the quiz to see this", base + DIM)], width)]
        hidden = self.slot.hidden
        if self.slot.shape_only:
            return [self._strip([Segment(f"shape only {shape_text(a.shape)}: recorded with "
                                         "--shapes-only, no values", base + DIM)], width)]
        if a.ndim == 0:
            value = float(a)
            if hidden is not None and hidden.any():
                return [self._strip([Segment(" " + HIDDEN, base + SPECIAL)], width)]
            return [self._strip([Segment(" " + self._cell(value), base + self._style(value))],
                                width)]
        lead = tuple(self.cursor[:-2]) if a.ndim > 2 else ()
        grid = a[lead] if a.ndim > 2 else a
        cursor_at = tuple(self.cursor[-2:]) if a.ndim >= 2 else tuple(self.cursor)
        cursor_style = CURSOR if self.has_focus else UNDERLINE
        styles = {k: base + v for k, v in STYLES.items()}  # one Style object per level
        zero, special, axis = base + ZERO, base + SPECIAL, base + AXIS
        integer = a.dtype.kind in "iub"
        strips = []
        grid_hidden = (hidden[lead] if a.ndim > 2 else hidden) if hidden is not None else None
        for cells in panel_lines(grid, cursor_at, width, height, self._exponent, grid_hidden):
            segments, hits, x = [], [], 0
            for cell in cells:
                if cell.kind == "value":
                    value = grid[cell.index]
                    if grid_hidden is not None and grid_hidden[cell.index]:
                        style = special
                    elif integer:
                        style = styles[0]
                    else:
                        value = float(value)
                        if value == 0.0:
                            style = zero
                        elif value != value or value in (float("inf"), float("-inf")):
                            style = special
                        else:
                            style = styles[level(value, self._scale)]
                    if cell.index == cursor_at:
                        style = style + cursor_style
                    hits.append((x, x + len(cell.text), lead + cell.index))
                else:
                    style = axis
                segments.append(Segment(cell.text, style))
                x += len(cell.text)
            strips.append(self._strip(segments, width))
            self._hits.append(hits)
        return strips

    def _strip(self, segments: list[Segment], width: int) -> Strip:
        return Strip(segments).adjust_cell_length(width, self._base)

    def value_cells(self) -> list[tuple[tuple, str]]:
        """The elements drawn, as (index, text as shown): what a reader sees of the values."""
        size = self.size
        lines = self._build_lines(size.width or 80, size.height or 24)
        cells = []
        for strip, hits in zip(lines, self._hits):
            text = strip.text
            cells += [(index, text[start:end].strip()) for start, end, index in hits]
        if self._array is not None and self._array.ndim == 0 and lines:
            cells.append(((), lines[0].text.strip()))
        return cells

    def text_lines(self) -> list[str]:
        """The panel's rows as plain text (for tests and notes)."""
        size = self.size
        width = size.width if size.width else 80
        height = size.height if size.height else 24
        return [strip.text for strip in self._build_lines(width, height)]

    def _cell(self, value) -> str:
        if self._array.dtype.kind in "iub":
            return str(int(value))
        return cell_text(float(value))

    def _style(self, value) -> Style:
        if self._array.dtype.kind in "iub":
            return STYLES[0]
        value = float(value)
        if value == 0.0:
            return ZERO
        if not np.isfinite(value):
            return SPECIAL
        return STYLES[level(value, self._scale)]
