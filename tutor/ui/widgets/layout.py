"""Containers whose widgets cover them: drawn as blank background in one go.

Textual draws a container line by line through its styles in every frame that touches
it, even where its widgets cover every cell. These have no border or padding and are
filled by their widgets, so they draw as ``BLANK``: their background colour, at once.
"""

from __future__ import annotations

from textual.containers import Horizontal, Vertical


class Row(Horizontal):
    """Widgets side by side, covering the row."""

    BLANK = True


class Column(Vertical):
    """Widgets one above the other, covering the column."""

    BLANK = True
