"""The lesson's text beside the step: Markdown that scrolls (keys when focused, the mouse
wheel, PageUp/PageDown from anywhere in a lesson) and says when more follows.

Rich's Markdown is rendered to lines here and drawn line by line, rather than by
Textual's Markdown widget (a widget per block): a section's numbers change at almost
every step, and rebuilding a tree of widgets cost a layout pass each time and left
garbage whose collection paused a held key. A new text of as many lines as the last
needs no layout at all, nor does one that fits the view either way.
"""

from __future__ import annotations

from rich.markdown import Heading, Markdown
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tutor.ui.widgets.kept_lines import KeptLines

MORE = "↓ more (PgDn)"
ABOVE = "↑ more above (PgUp)"


class LeftHeading(Heading):
    """Headings at the left edge, like the text under them (Rich centres a title), in
    bold (a lesson's title is underlined too)."""

    LEVEL_ALIGN = {tag: "left" for tag in Heading.LEVEL_ALIGN}

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.style_name = "bold underline" if tag == "h1" else "bold"


class ProseMarkdown(Markdown):
    elements = {**Markdown.elements, "heading_open": LeftHeading}


class LessonProse(KeptLines, ScrollView, can_focus=True):
    """Tab reaches it; ↑ ↓ PgUp PgDn Home End scroll it (ScrollView's keys)."""

    # the scrollbar's column is kept whether or not it shows, so the text's width (and
    # where it wraps) does not change when a section grows past the bottom
    DEFAULT_CSS = "LessonProse { scrollbar-gutter: stable; }"

    more = ""  # what the border says is hidden: MORE, ABOVE or nothing

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""  # the Markdown shown
        self._lines: list[Strip] = []
        self._width = 0  # the width the lines were drawn for

    def show(self, text: str) -> None:
        """New text, from its top."""
        self.text = text
        self._draw()
        self.scroll_to(y=0, animate=False, immediate=True)
        self.call_after_refresh(self._mark)

    def _draw(self) -> None:
        """Render the Markdown to lines at the current width (a column spare on the
        right, so text never touches the scrollbar)."""
        width = self.scrollable_content_region.width - 1
        self._width = self.scrollable_content_region.width
        if not self.text or width < 1:  # not laid out yet: drawn on its first resize
            self._lines = []
        else:
            console = self.app.console
            options = console.options.update(width=width, highlight=False)
            rows = console.render_lines(ProseMarkdown(self.text, hyperlinks=False), options,
                                        style=self.rich_style, pad=False)
            self._lines = [Strip(Segment.simplify(row)) for row in rows]
            while self._lines and not self._lines[-1].text.strip():
                self._lines.pop()  # Rich ends with a blank line: no scrolling onto it
        self._fit()
        self.refresh()

    def _fit(self) -> None:
        """The scrollable height: the text's, but never less than the view's, so a text
        that fits needs no new size (each new size is a layout pass of the whole screen,
        20–35 ms in a lesson; a section's length changes with its numbers)."""
        width = max(self.scrollable_content_region.width - 1, 0)
        height = max(len(self._lines), self.scrollable_content_region.height)
        if (width, height) != tuple(self.virtual_size):
            self.virtual_size = Size(width, height)

    def render_line(self, y: int) -> Strip:
        index = y + round(self.scroll_offset.y)
        width = self.scrollable_content_region.width
        if 0 <= index < len(self._lines):
            return self._lines[index].crop_extend(0, width, self.rich_style)
        return Strip.blank(width, self.rich_style)

    def page(self, direction: int) -> None:
        if direction > 0:
            self.scroll_page_down(animate=False)
        else:
            self.scroll_page_up(animate=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._mark()

    def on_resize(self) -> None:
        if self.scrollable_content_region.width != self._width:
            self._draw()  # wrapped again at the new width (or first laid out)
        else:
            self._fit()  # a new height: does the text still fit?
        self._mark()

    def watch_virtual_size(self) -> None:
        """The text laid out: is there more below?"""
        self.call_after_refresh(self._mark)

    def _mark(self) -> None:
        """The border says when text is hidden below (or above)."""
        below = self.scroll_y < self.max_scroll_y - 0.5
        above = self.scroll_y > 0.5
        mark = MORE if below else (ABOVE if above else "")
        if mark != self.more:  # only on change: a new subtitle repaints the border
            self.more = mark
            self.border_subtitle = mark
