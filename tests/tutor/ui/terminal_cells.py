"""A terminal in a test: the cells an app's frames leave on the screen.

A frame that redraws only the rows that change leaves the others as the terminal has
them. Whether that is right is a question about the terminal, not about any widget: here
every update the app sends (Textual's ``_display``) is played onto a grid of cells, as a
terminal would play its bytes (moves, lines, characters with their style), and compared
with the whole screen drawn at once.
"""

from __future__ import annotations


from rich.cells import cell_len
from rich.console import Console
from rich.segment import ControlType
from textual._compositor import CompositorUpdate

from tutor.ui.app import TutorApp


class Cells:
    """``width`` × ``height`` cells of (character, style)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [[(" ", None)] * width for _ in range(height)]

    def play(self, update, console: Console) -> None:
        """Write ``update``'s segments where a terminal would: from its cursor moves."""
        x = y = 0
        for segment in console.render(update, console.options):
            if segment.control:
                for code in segment.control:
                    if code[0] == ControlType.CURSOR_MOVE_TO:
                        x, y = code[1], code[2]
                continue
            for char in segment.text:
                if char == "\n":
                    x, y = 0, y + 1
                    continue
                if 0 <= y < self.height and 0 <= x < self.width:
                    self.rows[y][x] = (char, segment.style)
                    if cell_len(char) == 2 and x + 1 < self.width:
                        self.rows[y][x + 1] = ("", segment.style)
                x += cell_len(char)

    def text(self) -> list[str]:
        return ["".join(char for char, _ in row) for row in self.rows]


class WatchedApp(TutorApp):
    """The tutor, with a terminal of cells fed every frame it sends."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cells: Cells | None = None
        self.updates: list = []  # every frame sent, in order

    def _display(self, screen, renderable) -> None:
        if isinstance(renderable, CompositorUpdate):
            if self.cells is None or (self.cells.width, self.cells.height) != tuple(self.size):
                self.cells = Cells(*self.size)
            self.cells.play(renderable, self.console)
            self.updates.append(renderable)
        super()._display(screen, renderable)

    def drawn_whole(self) -> Cells:
        """The screen drawn at once, every widget asked for every line."""
        screen = self.screen
        cells = Cells(*self.size)
        update = screen._compositor.render_update(full=True,
                                                  screen_stack=self._background_screens)
        cells.play(update, self.console)
        return cells


def differences(app: WatchedApp) -> list[str]:
    """Rows where the terminal differs from the screen drawn whole (empty: none)."""
    shown, whole = app.cells, app.drawn_whole()
    found = []
    for y, (row, expected) in enumerate(zip(shown.rows, whole.rows)):
        if row != expected:
            columns = [x for x, (a, b) in enumerate(zip(row, expected)) if a != b]
            found.append(f"row {y} cols {columns[0]}–{columns[-1]}: "
                         f"{shown.text()[y]!r} ≠ {whole.text()[y]!r}")
    return found
