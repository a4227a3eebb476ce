"""How tensor values are laid out and written in a panel: cell text, colour level,
and which rows/columns are shown when a tensor is larger than its panel."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

CELL_WIDTH = 7
LEVELS = 6
HIDDEN = "?"  # an element a waiting quiz asks for


def cell_text(value: float) -> str:
    """A value in at most 6 characters with an explicit sign, so the sign reads without
    colour: ``+0.123``, ``-12.35``, ``+1e+05``, exact zero as ``0``, ``nan``, ``-inf``."""
    if value == 0.0:
        return "0"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 10:
        return f"{value:+.3f}"
    if 10 <= magnitude < 1000:
        return f"{value:+.2f}" if magnitude < 100 else f"{value:+.1f}"
    text = f"{value:+.0e}"
    if len(text) > 6:  # a three-digit exponent does not fit
        return ("+" if value > 0 else "-") + ("huge" if magnitude >= 1 else "tiny")
    return text


def level(value: float, scale: float) -> int:
    """Colour level in [-LEVELS, LEVELS]: the sign, and |value| relative to the panel's largest."""
    if not math.isfinite(value) or value == 0.0 or scale <= 0:
        return 0
    fraction = min(abs(value) / scale, 1.0)
    step = max(1, math.ceil(fraction * LEVELS))
    return step if value > 0 else -step


def finite_scale(array: np.ndarray) -> float:
    finite = np.abs(array[np.isfinite(array)]) if array.size else np.zeros(0)
    return float(finite.max()) if finite.size else 0.0


def visible(n: int, capacity: int, cursor: int) -> list[int | None]:
    """Indices to show for an axis of length ``n`` in ``capacity`` slots (None = "…").

    numpy style: the first and last few with an ellipsis between; if the cursor is in
    the hidden middle, the head (or tail) grows to reach it when it can, else it is
    shown between two ellipses, so the selected element is always on screen.
    """
    capacity = max(capacity, 1)
    if n <= capacity:
        return list(range(n))
    if capacity < 3:
        return [cursor]
    head = (capacity - 1) // 2
    tail = capacity - 1 - head
    if cursor < head or cursor >= n - tail:
        return list(range(head)) + [None] + list(range(n - tail, n))
    if cursor < capacity - 2:  # the head reaches the cursor: one ellipsis, not two
        return list(range(cursor + 1)) + [None] + list(range(n - capacity + 2 + cursor, n))
    if cursor >= n - capacity + 2:  # so does the tail
        return list(range(capacity - 1 - (n - cursor))) + [None] + list(range(cursor, n))
    if capacity < 5:
        return [None, cursor, None][: capacity]
    head = (capacity - 3) // 2
    tail = capacity - 3 - head
    out: list[int | None] = list(range(head)) + [None, cursor, None] + list(range(n - tail, n))
    # drop an ellipsis that hides nothing
    cleaned: list[int | None] = []
    for i, item in enumerate(out):
        if item is None:
            before = next((x for x in reversed(out[:i]) if x is not None), -1)
            after = next((x for x in out[i + 1:] if x is not None), n)
            if after - before <= 1:
                continue
        cleaned.append(item)
    return cleaned


def leading_indices(shape: tuple) -> list[tuple]:
    """Every index of the axes in front of the last two (the 2-D slices of a tensor)."""
    return list(np.ndindex(*shape[:-2])) if len(shape) > 2 else [()]


def common_exponent(scale: float) -> int:
    """numpy's trick for a panel of very small or very large numbers: print them times a
    common factor 10^e so each keeps three digits (0 = no factor needed)."""
    if not math.isfinite(scale) or scale == 0.0 or 1e-2 <= scale < 1e3:
        return 0
    return math.floor(math.log10(scale))


def clip_index(index: tuple, shape: tuple) -> tuple:
    """``index`` made valid for ``shape``: the last axes line up, missing leading axes
    are 0, each index is clamped into its axis (panels of one step differ in shape)."""
    if not shape:
        return ()
    index = tuple(index)[-len(shape):] if index else ()
    index = (0,) * (len(shape) - len(index)) + index
    return tuple(min(max(int(i), 0), n - 1) for i, n in zip(index, shape))


def panel_exponent(values: np.ndarray) -> int:
    """The power of ten a panel's numbers are written under (0: none), numpy style.

    Numbers of order 0.01 … 1000 need none. A panel of tiny or huge numbers is written
    as multiples of 10^e so the largest keeps three digits. A panel of small numbers
    (all below 0.1, gradients say) that also holds some a thousand times smaller than
    its unit — which would print as ``+2e-04``, one digit — gets a unit a hundred times
    smaller, so those keep three digits too (``+83.00 -0.804`` ×1e-3, not ``+0.083 -8e-04``).
    """
    values = np.asarray(values, dtype=float)
    finite = np.abs(values[np.isfinite(values) & (values != 0)])
    if not finite.size:
        return 0
    scale, smallest = float(finite.max()), float(finite.min())
    top = math.floor(math.log10(scale))
    exponent = common_exponent(scale)
    if scale < 0.1 and smallest < 1e-3 * 10.0 ** exponent:
        exponent = min(exponent, top - 2)
    return exponent


def as_displayed(values, panel: bool) -> np.ndarray:
    """``values`` rounded as the screen writes them: in a panel (``cell_text`` under the
    panel's exponent) or in a line of text (4 significant digits). An answer worked out
    from the numbers on screen is computed from these."""
    values = np.asarray(values, dtype=float)
    if not panel:
        return np.vectorize(lambda x: float(f"{x:.4g}"), otypes=[float])(values) \
            if values.size else values
    unit = 10.0 ** panel_exponent(values)

    def written(x: float) -> float:
        try:
            return float(cell_text(x / unit)) * unit
        except ValueError:  # nan, ±inf, "+huge": left as they are
            return x
    return np.vectorize(written, otypes=[float])(values) if values.size else values


class Cell(NamedTuple):
    """One piece of a panel line: ``kind`` is "value", "axis" (an index label), "gap"
    or "more" (an ellipsis); ``index`` is the element a value cell shows."""

    text: str
    kind: str
    index: tuple | None = None


def panel_lines(array: np.ndarray, cursor: tuple, width: int, height: int,
                exponent: int = 0, hidden: np.ndarray | None = None) -> list[list[Cell]]:
    """The lines a panel of ``width`` × ``height`` shows of ``array`` (1-D or 2-D; a
    higher-rank tensor's current slice is passed in as 2-D).

    A vector of up to ``SHORT`` entries is never elided: it wraps over lines, each
    starting with the index of its first entry. Longer vectors and matrices are
    elided numpy-style around the cursor (``visible``), with index labels that line up.
    Only the cells shown are written (a large tensor costs no more than a small one).
    Elements ``hidden`` marks (what a waiting quiz asks) are written ``?``.
    """
    integer = array.dtype.kind in "iub"
    unit = 10.0 ** exponent

    def text(index) -> str:
        if hidden is not None and hidden[index]:
            return HIDDEN
        value = array[index]
        return str(int(value)) if integer else cell_text(float(value) / unit)

    cw = CELL_WIDTH
    if integer and array.size:
        cw = max(len(str(int(array.min()))), len(str(int(array.max())))) + 1
    if array.ndim == 1:
        return _vector_lines(text, array.shape[0], cursor[-1] if cursor else 0, width, cw)
    n_rows, n_cols = array.shape
    row_cursor, col_cursor = (cursor[-2], cursor[-1]) if len(cursor) >= 2 else (0, 0)
    label = len(str(n_rows - 1))
    cols = _columns(n_cols, width - label, cw, col_cursor)
    rows = visible(n_rows, max(height - 1, 1), row_cursor)
    lines = [[Cell(" " * label, "gap")] + [Cell(ELLIPSIS if c is None else str(c).rjust(cw), "axis")
                                           for c in cols]]
    for r in rows:
        if r is None:
            lines.append([Cell(" " * (label - 1) + "⋮", "more")])
            continue
        line = [Cell(str(r).rjust(label), "axis")]
        for c in cols:
            line.append(Cell(ELLIPSIS, "more") if c is None else
                        Cell(text((r, c)).rjust(cw), "value", (r, c)))
        lines.append(line)
    return lines


ELLIPSIS = " …"  # an elided run of columns: narrow, so the shown numbers get the room


def _columns(n: int, width: int, cw: int, cursor: int) -> list[int | None]:
    """Which of ``n`` columns of ``cw`` fit in ``width``, an elision costing 2 columns."""
    if n * cw <= width:
        return list(range(n))
    slots = max(width - len(ELLIPSIS), 0) // cw
    shown = visible(n, slots + 1, cursor)  # visible() counts the ellipsis as one slot
    while sum(cw if c is not None else len(ELLIPSIS) for c in shown) > width and slots > 0:
        slots -= 1
        shown = visible(n, slots + 1, cursor)
    return shown


SHORT = 16  # vectors this long are shown whole, wrapped if need be


def _vector_lines(text, n: int, cursor: int, width: int, cw: int) -> list[list[Cell]]:
    label = len(str(n - 1)) + 1
    per_line = max(1, (width - label) // cw)
    if n <= per_line:  # one line, under its indices
        header = [Cell(str(i).rjust(cw), "axis") for i in range(n)]
        return [header, [Cell(text((i,)).rjust(cw), "value", (i,)) for i in range(n)]]
    if n <= SHORT:  # wrapped: each line starts with its first index
        return [[Cell(f"{start}:".rjust(label), "axis")] +
                [Cell(text((i,)).rjust(cw), "value", (i,))
                 for i in range(start, min(start + per_line, n))]
                for start in range(0, n, per_line)]
    cols = _columns(n, width, cw, cursor)
    header = [Cell(ELLIPSIS if c is None else str(c).rjust(cw), "axis") for c in cols]
    values = [Cell(ELLIPSIS, "more") if c is None else
              Cell(text((c,)).rjust(cw), "value", (c,)) for c in cols]
    return [header, values]
