"""A screen's styles, read from the ``.tcss`` file beside the screens."""

from __future__ import annotations

from pathlib import Path

SCREENS = Path(__file__).parent / "screens"


def screen_styles(name: str) -> str:
    """The text of ``screens/<name>``, for a screen's ``DEFAULT_CSS`` (with ``SCOPED_CSS =
    False``: its rules are written with their own selectors).

    Why not the app's or the screen's ``CSS_PATH``: Textual parses a screen's default CSS
    when the screen first opens, and styles only the widgets it adds; the app's CSS_PATH is
    parsed at launch whatever the first screen (every screen's rules: 6 ms of a launch),
    and a screen's own CSS_PATH makes Textual read every stylesheet again and restyle every
    widget of the app when the screen opens."""
    return (SCREENS / name).read_text(encoding="utf-8")


class StyledOnMount:
    """Mixin for a ``Screen`` (put it first): when the screen first shows, Textual does not
    restyle every widget of it. Textual restyles the whole screen on each resume, the
    first one too, just after each widget was styled as it mounted: ~8 ms of a launch.
    Later resumes (back from a quiz or help) restyle as Textual does."""

    _resumed = False

    def on_screen_resume(self, event) -> None:
        event.refresh_styles = event.refresh_styles and self._resumed
        self._resumed = True
