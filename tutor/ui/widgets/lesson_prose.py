"""The lesson's text beside the step: Markdown that scrolls (keys when focused, the mouse
wheel, PageUp/PageDown from anywhere in a lesson) and says when more follows.

The text is drawn by Rich's Markdown into one widget, not Textual's Markdown widget (a
widget per block): a section's numbers change at almost every step, and rebuilding a
tree of widgets each time cost a layout pass and left garbage whose collection paused a
held key (lesson 11 at 120×40: held n 82 → 22 ms, p90 61 → 37 ms).
"""

from __future__ import annotations

from rich.markdown import Heading, Markdown
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

MORE = "↓ more (PgDn)"
ABOVE = "↑ more above (PgUp)"


class LeftHeading(Heading):
    """Headings at the left edge, like the text under them (Rich centres a title), in
    bold (a section's title is underlined too)."""

    LEVEL_ALIGN = {tag: "left" for tag in Heading.LEVEL_ALIGN}

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.style_name = "bold underline" if tag == "h1" else "bold"


class ProseMarkdown(Markdown):
    elements = {**Markdown.elements, "heading_open": LeftHeading}


class LessonProse(VerticalScroll, can_focus=True):
    """Tab reaches it; ↑ ↓ PgUp PgDn Home End scroll it."""

    DEFAULT_CSS = """
    LessonProse > Static { height: auto; padding-right: 1; }
    """

    more = ""  # what the border says is hidden: MORE, ABOVE or nothing

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""  # the Markdown shown

    def compose(self) -> ComposeResult:
        yield Static("")

    def show(self, text: str) -> None:
        """New text, from its top."""
        self.text = text
        self.query_one(Static).update(ProseMarkdown(text, hyperlinks=False))
        self.scroll_home(animate=False)
        self.call_after_refresh(self._mark)

    def page(self, direction: int) -> None:
        if direction > 0:
            self.scroll_page_down(animate=False)
        else:
            self.scroll_page_up(animate=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._mark()

    def on_resize(self) -> None:
        self._mark()

    def watch_virtual_size(self) -> None:
        """The text laid out (it takes a moment after ``show``): is there more below?"""
        self.call_after_refresh(self._mark)

    def _mark(self) -> None:
        """The border says when text is hidden below (or above)."""
        below = self.scroll_y < self.max_scroll_y - 0.5
        above = self.scroll_y > 0.5
        mark = MORE if below else (ABOVE if above else "")
        if mark != self.more:  # only on change: a new subtitle repaints the border
            self.more = mark
            self.border_subtitle = mark
