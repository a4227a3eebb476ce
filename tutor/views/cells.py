"""How tensor values are laid out and written in a panel: cell text, colour level,
and which rows/columns are shown when a tensor is larger than its panel."""

from __future__ import annotations

import math

import numpy as np

CELL_WIDTH = 7
LEVELS = 6


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
    the hidden middle, it is shown between two ellipses so the selected element is
    always on screen.
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
