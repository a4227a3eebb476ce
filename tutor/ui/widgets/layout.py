"""Containers that only place their widgets: never drawn themselves.

Textual draws a container line by line in every frame that touches it, and cuts each
of its lines at every widget edge on that line, even where its widgets cover every
cell: on the stepper's screen the containers were 40 % of the lines cut per frame.
These have no border, padding or background of their own, so they are left out of the
drawing with ``visibility: hidden`` and their widgets shown with ``visibility:
visible`` (children of an invisible container may be visible: Textual's documented
rule); where no widget covers, the screen's background shows, as it did through them.
``BLANK`` covers the moment a container is drawn anyway (a style that shows it).
"""

from __future__ import annotations

from textual.containers import Horizontal, Vertical


class Row(Horizontal):
    """Widgets side by side, covering the row."""

    DEFAULT_CSS = """
    Row { visibility: hidden; }
    Row > * { visibility: visible; }
    Row > Column { visibility: hidden; }
    """
    BLANK = True


class Column(Vertical):
    """Widgets one above the other, covering the column."""

    DEFAULT_CSS = """
    Column { visibility: hidden; }
    Column > * { visibility: visible; }
    Column > Row { visibility: hidden; }
    """
    BLANK = True
