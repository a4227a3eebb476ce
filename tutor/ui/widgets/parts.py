"""Build Textual ``Content`` piece by piece (faster to draw than Rich ``Text``)."""

from __future__ import annotations

from textual.content import Content


class Parts:
    """``Parts().add("formula ", "dim").add("y = x").content()``"""

    def __init__(self) -> None:
        self._parts: list = []

    def add(self, text: str, style: str = "") -> "Parts":
        if text:
            self._parts.append((text, style) if style else text)
        return self

    def content(self) -> Content:
        return Content.assemble(*self._parts)

    @property
    def plain(self) -> str:
        return "".join(p if isinstance(p, str) else p[0] for p in self._parts)


def update_static(widget, content: Content) -> None:
    """``Static.update`` that asks for a layout pass only when the height changes.

    A layout pass repaints the whole screen; most steps change the text but not its
    height, so skipping it keeps a keypress's redraw small.
    """
    width = widget.content_size.width or widget.size.width
    height = content.get_height(widget.styles, width) if width else None
    previous = getattr(widget, "_content_height", None)
    widget._content_height = height
    widget.update(content, layout=height is None or height != previous)
