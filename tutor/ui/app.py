"""The Textual app: one class, opening whichever screen the command asked for."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App
from textual.screen import Screen


class TutorApp(App):
    """``TutorApp(make_screen)``: the tutor with ``make_screen()`` as its first screen."""

    TITLE = "transformer-tutor"
    CSS_PATH = "tutor.tcss"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, make_screen: Callable[[], Screen], notice: str | None = None,
                 notes_path=None) -> None:
        super().__init__()
        self._make_screen = make_screen
        self._notice = notice
        self.notes_path = notes_path  # None: the default notes file in the data directory

    def on_mount(self) -> None:
        self.push_screen(self._make_screen())
        if self._notice:
            self.notify(self._notice, severity="warning", timeout=8)
