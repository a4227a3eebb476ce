"""A Static whose frames are kept by text, and can be drawn before they are shown.

A step's op card, status line and torch line are Statics: Textual draws their text, then
their border and padding, line by line, each time they change (3–4 ms of a key). Here the
finished lines of a text are kept (by the text's ``Parts`` and the widget's size and
style), so a text drawn before (or ``prepare``d while the learner reads the step before)
is shown by a lookup. Everything else is Textual's ``Static``: CSS, borders, wrapping.
"""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual
from textual.widgets import Static

from tutor.ui.widgets.kept_lines import changed_rows, kept_frame
from tutor.ui.widgets.parts import Parts, update_static
from tutor.views.recent import Recent


class PreparedStatic(Static):
    """``show_parts(parts)`` shows text; ``prepare_parts(parts)`` draws it off screen."""

    def __init__(self, content: str = "", *, id: str | None = None) -> None:
        super().__init__(content, id=id)
        self._text_key: tuple | None = None  # the Parts shown (None: drawn as a Static)
        self._frames = Recent(8)  # (text, size, style) → the widget's lines, finished
        self._contents = Recent(8)  # text → its Content
        self._drawing: list[Strip] | None = None  # content lines of a text being prepared
        self._showing: tuple | None = None  # the Parts ``update`` is being given
        self._before: list[Strip] | None = None  # the lines shown before that update
        self._style_epoch = 0

    def show_parts(self, parts: Parts, *, layout: bool | None = None) -> None:
        """Show ``parts``; a layout pass only if its height changes (``update_static``)
        unless ``layout`` says."""
        self._showing = parts.key
        if self._text_key is not None and not self.text_selection:
            self._before = self._frames.get(self._frame_key(self._text_key))
        if layout is None:
            update_static(self, self._content_of(parts))
        else:
            self.update(self._content_of(parts), layout=layout)

    def _content_of(self, parts: Parts):
        content = self._contents.get(parts.key)
        if content is None:
            content = parts.content()
            self._contents.put(parts.key, content)
        return content

    def prepare_parts(self, parts: Parts) -> None:
        """Draw ``parts`` at the widget's size now, for ``show_parts`` to find."""
        key = self._frame_key(parts.key)
        if not self.outer_size.area or self._frames.get(key) is not None:
            return
        width, height = self.size
        self._drawing = Visual.to_strips(self, self._content_of(parts), width, height,
                                         self.visual_style)
        self._styles_cache.clear()
        try:
            kept_frame(self, self._frames, key, self.outer_size.region)
        finally:
            self._drawing = None
            self._styles_cache.clear()

    def _frame_key(self, text_key: tuple | None) -> tuple:
        """What the finished lines depend on: the text, the widget's size, its styles
        (``notify_style_update`` comes with every change of its rules; a theme changes
        every widget's) and whether colours are translated to the theme's."""
        return (text_key, self.outer_size, self._style_epoch, self.app.theme,
                self.app.ansi_color)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_epoch += 1  # a theme or a class changed: frames drawn before are stale

    def update(self, content="", *, layout: bool = True) -> None:
        # text not given by ``show_parts`` is drawn as by a plain Static
        self._text_key, self._showing = self._showing, None
        try:
            super().update(content, layout=layout)
        finally:
            self._before = None

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False):
        """A text drawn ahead, at the size it is shown, replacing one drawn the same way:
        only the rows that differ are redrawn (``changed_rows``), the edges of the box and
        what two steps share are not sent again."""
        before, self._before = self._before, None
        after = None
        if (before is not None and not regions and repaint and not layout and not recompose
                and self._text_key is not None):
            after = self._frames.get(self._frame_key(self._text_key))
        changed = None if after is None else changed_rows(before, after)
        if changed is None:
            return super().refresh(*regions, repaint=repaint, layout=layout,
                                   recompose=recompose)
        if not changed:
            return self  # the same lines: nothing to send
        # regions are given in the content's coordinates, the rows in the widget's
        offset = self.content_offset
        return super().refresh(*(region.translate(-offset) for region in changed))

    def render_line(self, y: int) -> Strip:
        if self._drawing is not None:
            if y < len(self._drawing):
                return self._drawing[y]
            return Strip.blank(self.size.width, self.visual_style.rich_style)
        return super().render_line(y)

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._text_key is None or not self.outer_size.area or self.text_selection:
            return super().render_lines(crop)
        return kept_frame(self, self._frames, self._frame_key(self._text_key), crop)

