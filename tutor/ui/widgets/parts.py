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
    def key(self) -> tuple:
        """The text and its styles, as a dictionary key (equal text, equal look)."""
        return tuple(self._parts)

    @property
    def plain(self) -> str:
        return "".join(p if isinstance(p, str) else p[0] for p in self._parts)


def update_static(widget, content: Content) -> None:
    """``Static.update`` that asks for a layout pass only when the widget's height changes.

    A layout pass reflows and repaints much of the screen (20–30 ms in a real terminal);
    most steps change the text but not the height: a fixed height (CSS ``height: 12``)
    never changes, and an auto height only when the text's height changes below its
    ``max-height`` (in cells, or as it was drawn when the cap is a percentage).
    """
    rule = widget.styles.height
    if rule is not None and not rule.is_auto:
        widget.update(content, layout=False)
        return
    width = widget.content_size.width or widget.size.width
    height = content.get_height(widget.styles, width) if width else None
    cap = widget.styles.max_height
    if height is not None and cap is not None and cap.is_cells:
        height = min(height, int(cap.value))
    previous = getattr(widget, "_content_height", None)
    widget._content_height = height
    # a text taller than the widget at its cap (a max-height in %, say) is cut there:
    # taller again, it stays as it is
    shown = widget.content_size.height
    clipped = (previous is not None and height is not None
               and 0 < shown < previous and shown <= height)
    widget.update(content, layout=not clipped and (height is None or height != previous))
