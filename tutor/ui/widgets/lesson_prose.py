"""The lesson's text beside the step: Markdown that scrolls (keys when focused, the mouse
wheel, PageUp/PageDown from anywhere in a lesson) and says when more follows."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown

MORE = "↓ more (PgDn)"
ABOVE = "↑ more above (PgUp)"


class LessonProse(VerticalScroll, can_focus=True):
    """Tab reaches it; ↑ ↓ PgUp PgDn Home End scroll it."""

    DEFAULT_CSS = """
    LessonProse > Markdown { margin: 0; padding: 0; }
    """

    more = ""  # what the border says is hidden: MORE, ABOVE or nothing

    def compose(self) -> ComposeResult:
        yield Markdown("")

    def show(self, text: str) -> None:
        """New text, from its top."""
        self.query_one(Markdown).update(text)
        self.scroll_home(animate=False)
        self.call_after_refresh(self._mark)

    @property
    def text(self) -> str:
        return self.query_one(Markdown).source

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
