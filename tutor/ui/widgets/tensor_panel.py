"""One tensor panel's content: a grid of numbers with a cell cursor, as lines of cells.

Not a widget: the panel grid (``panel_grid.PanelGrid``) draws up to six of these, each
in its own box. A panel keeps its tensor, cursor, title and subtitle, and builds its
lines (lists of Rich segments, each exactly the content's width) once per change of
data, cursor, size or focus.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style

from tutor.views.recent import Recent
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
DEFAULT_SIZE = (76, 20)  # content size for text read before the panel was ever drawn


def slot_identity(slot: TensorSlot | None) -> tuple | None:
    """What a panel's numbers depend on: which arrays, and how they are shown."""
    if slot is None:
        return None
    return (id(slot.value), id(slot.hidden), slot.noise, slot.concealed, slot.shape_only)


class TensorPanel:
    """Values with a diverging colour scale (red +, blue −, signs always printed),
    the shape in the subtitle, a cell cursor, numpy-style elision, NaN/inf as such.

    Panels sharing a ``cache`` (a grid's) build a slot's data and lines once: a step
    shown again, or prepared before its key (``PanelGrid.prepare``), costs a lookup."""

    def __init__(self, cache: Recent | None = None) -> None:
        self.cache = cache if cache is not None else Recent(16)
        self.identity: tuple | None = None
        self.slot: TensorSlot | None = None
        self.cursor: tuple = ()
        self.border_title = ""
        self.border_subtitle = ""
        self._array: np.ndarray | None = None
        self._scale = 0.0
        self._exponent = 0
        self._factor_note: tuple = ("", "")
        self._hits: list[list[tuple[int, int, tuple]]] = []  # per line: (x0, x1, index)
        self._lines: list[list[Segment]] | None = None
        self._key: tuple | None = None  # (width, height, focused, base) the lines are for
        self.size = DEFAULT_SIZE  # the content size it was last drawn at

    @property
    def display(self) -> bool:
        """Is the panel showing a tensor (the grid draws only those)?"""
        return self.slot is not None

    # data -----------------------------------------------------------------------------
    def show(self, slot: TensorSlot | None, cursor: tuple | None = None) -> None:
        """Display ``slot`` (None empties the panel); keep the cursor where it makes sense."""
        self.slot = slot
        self.identity = slot_identity(slot)
        data = self.cache.get(("data", self.identity))
        if data is None:
            data = _data(slot)
            self.cache.put(("data", self.identity), data)
        self._array, self._scale, self._exponent = data[:3]
        self._factor_note = ("", "")
        self.border_title = slot.label if slot is not None else ""
        if slot is not None and not slot.concealed:
            self._factor_note = (f"values ×1e{self._exponent}" if self._exponent else "",
                                 slot.note)
        self.cursor = self.clip(cursor if cursor is not None else self.cursor)
        self._set_subtitle()
        self._lines = None

    def _set_subtitle(self) -> None:
        """Under the panel: the common factor first (the numbers mean nothing without it),
        the shape and which slice of it is shown, a note."""
        if self.slot is None:
            self.border_subtitle = ""
            return
        shape = self.slot.value.shape if self.slot.value is not None else None
        if self.slot.concealed:
            shape = None
        where = shape_text(shape) if shape is not None else ""
        if shape is not None and len(shape) > 2:
            lead = ",".join(str(i) for i in self.cursor[:-2])
            where = f"[{lead},:,:] of {where}"
        factor, note = self._factor_note
        self.border_subtitle = " · ".join(p for p in (factor, where, note) if p)

    def clip(self, index: tuple) -> tuple:
        return () if self._array is None else clip_index(index, self._array.shape)

    def set_cursor(self, index: tuple) -> None:
        self.cursor = self.clip(index)
        self._set_subtitle()
        self._lines = None

    @property
    def value_at_cursor(self) -> float | None:
        if self._array is None:
            return None
        return float(self._array[self.cursor]) if self._array.ndim else float(self._array)

    # moves (None: the move does not apply) -----------------------------------------
    def moved(self, drow: int, dcol: int) -> tuple | None:
        """The index one cell over (rows and columns of the shown slice)."""
        if self._array is None or self._array.ndim == 0 or self.slot.concealed:
            return None
        index = list(self.cursor)
        if self._array.ndim == 1:
            index[0] += dcol or drow
        else:
            index[-2] += drow
            index[-1] += dcol
        return self.clip(tuple(index))

    def sliced(self, delta: int) -> tuple | None:
        """The same cell in the next (or previous) 2-D slice of a 3-D or 4-D tensor."""
        if self._array is None or self._array.ndim <= 2:
            return None
        slices = leading_indices(self._array.shape)
        current = slices.index(tuple(self.cursor[:-2]))
        return slices[(current + delta) % len(slices)] + tuple(self.cursor[-2:])

    def index_at(self, x: int, y: int) -> tuple | None:
        """The element drawn at content offset (x, y), as last drawn."""
        if self._array is not None and self._array.ndim == 0:
            return ()  # a number: the whole panel is its one element
        if self._array is None or not 0 <= y < len(self._hits):
            return None
        return next((index for start, end, index in self._hits[y] if start <= x < end), None)

    # drawing ----------------------------------------------------------------------------
    def lines(self, width: int, height: int, focused: bool, base: Style
              ) -> list[list[Segment]]:
        """The content, one list of segments per row (at most ``height``), ``width`` cells
        each."""
        key = (width, height, focused, base)
        if self._lines is None or self._key != key:
            self.size = (width, height)
            shared = ("lines", self.identity, self.cursor) + key
            built = self.cache.get(shared)
            if built is None:
                built = (self._build(width, height, focused, base), self._hits, self.slot)
                self.cache.put(shared, built)
            self._lines, self._hits = built[:2]
            self._key = key
        return self._lines

    @property
    def lines_key(self) -> tuple:
        """What the lines last drawn depend on (with ``identity``, the slot's arrays)."""
        return (self.identity, self.cursor, self._key)

    def _build(self, width: int, height: int, focused: bool, base: Style
               ) -> list[list[Segment]]:
        self._hits = []
        if self.slot is None:
            return []
        if self._array is None:
            return [_strip([Segment("not yet: not computed at this step", base + DIM)],
                           width, base)]
        a = self._array
        if self.slot.concealed:
            return [_strip([Segment("? — answer the quiz to see this", base + DIM)], width,
                           base)]
        hidden = self.slot.hidden
        if self.slot.shape_only:
            return [_strip([Segment(f"shape only {shape_text(a.shape)}: recorded with "
                                    "--shapes-only, no values", base + DIM)], width, base)]
        if a.ndim == 0:
            value = float(a)
            if hidden is not None and hidden.any():
                return [_strip([Segment(" " + HIDDEN, base + SPECIAL)], width, base)]
            return [_strip([Segment(" " + self._cell(value), base + self._style(value))],
                           width, base)]
        lead = tuple(self.cursor[:-2]) if a.ndim > 2 else ()
        grid = a[lead] if a.ndim > 2 else a
        cursor_at = tuple(self.cursor[-2:]) if a.ndim >= 2 else tuple(self.cursor)
        cursor_style = CURSOR if focused else UNDERLINE
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
            if x < width:
                segments.append(Segment(" " * (width - x), base))
            elif x > width:
                segments = _strip(segments, width, base)
            strips.append(segments)
            self._hits.append(hits)
        return strips

    # reading what is drawn (tests, notes) ------------------------------------------
    def value_cells(self, width: int | None = None, height: int | None = None
                    ) -> list[tuple[tuple, str]]:
        """The elements drawn, as (index, text as shown): what a reader sees of the values."""
        width, height = width or self.size[0], height or self.size[1]
        lines = self._build(width, height, False, Style())
        cells = []
        for line, hits in zip(lines, self._hits):
            text = _text(line)
            cells += [(index, text[start:end].strip()) for start, end, index in hits]
        if self._array is not None and self._array.ndim == 0 and lines:
            cells.append(((), _text(lines[0]).strip()))
        self._lines = None  # the hits above were for a plain build: draw afresh
        return cells

    def text_lines(self, width: int | None = None, height: int | None = None) -> list[str]:
        """The panel's rows as plain text, at the size it was drawn (or the one given)."""
        width, height = width or self.size[0], height or self.size[1]
        lines = [_text(line) for line in self._build(width, height, False, Style())]
        self._lines = None
        return lines

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


def _data(slot: TensorSlot | None) -> tuple:
    """(array as shown, the largest |finite value|, the panel's power of ten, slot): the
    array with rounding noise of an exact 0 shown as 0; the slot keeps its arrays alive."""
    array = None if slot is None or slot.value is None else np.asarray(slot.value)
    if array is not None and slot.noise > 0 and array.dtype.kind == "f":
        array = np.where(np.abs(array) <= slot.noise, 0.0, array)
    scale = finite_scale(array) if array is not None and array.dtype.kind in "fc" else 0.0
    exponent = 0
    if (slot is not None and not slot.concealed and array is not None and array.ndim
            and array.dtype.kind == "f"):
        exponent = panel_exponent(array)
    return array, scale, exponent, slot


def _strip(segments: list[Segment], width: int, base: Style) -> list[Segment]:
    """Segments cut or padded to exactly ``width`` cells."""
    return list(Segment.adjust_line_length(segments, width, base))


def _text(line: list[Segment]) -> str:
    return "".join(segment.text for segment in line)
