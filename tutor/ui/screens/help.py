"""`?`: every key of the screen underneath, with what it does, and how to read the panels."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static
from tutor.ui.screens.closing import close_once

# One paragraph per item: the terminal wraps them to its width (no hard line breaks).
READING = [
    ("Reading the screen", None),
    ("Status line", "the phase (forward, backward, update) and step K/N."),
    ("Tree", "(t in compact mode) the whole run: phases → encoder/decoder → layers → "
             "sub-layers → ops. The highlighted line is where you are. Click an op to go there."),
    ("Op card", "the op's formula, its local derivative, the shapes, and one element "
                "worked through with the real numbers, all in the run's own names. Tab into a "
                "tensor panel (or click it) and move with the arrow keys to choose the element; "
                "[ and ] change the slice of a 3-D/4-D tensor."),
    ("Tensor panels", "red is positive, blue negative, stronger colour = larger magnitude. "
                      "Every number carries its sign, so colour is never needed. An exact zero "
                      "prints as 0. \"not yet\" means the value or gradient has not been "
                      "computed at this step."),
    ("Backward pass", "upstream = ∂L/∂(this op's output), arriving from above; downstream = "
                      "upstream × local derivative, sent to each input. Where a tensor feeds "
                      "several ops, its gradient is the sum of what each sends back (an "
                      "accumulation)."),
    ("Map", "(a in compact mode) the architecture and where you are; data flows down in "
            "the forward pass and gradients flow up in the backward pass."),
    ("Bottom line", "the same op written in PyTorch."),
]

KEY_NAMES = {"right": "→", "left": "←", "up": "↑", "down": "↓", "question_mark": "?",
             "home": "Home", "end": "End", "plus": "+", "equals_sign": "=", "minus": "−",
             "less_than_sign": "<", "greater_than_sign": ">", "escape": "Esc",
             "enter": "Enter", "space": "Space", "tab": "Tab", "pageup": "PgUp",
             "pagedown": "PgDn", "left_square_bracket": "[", "right_square_bracket": "]",
             "f2": "F2", "f3": "F3"}
LONG = {
    "next": "next step (at the current level: op, sub-layer, layer …) — step over",
    "previous": "previous step — step backward in time",
    "step_into": "step into the current block (one level finer)",
    "step_out": "step out: finish the enclosing block (one level coarser)",
    "other_half": "jump between an op's forward step and its backward step",
    "backward_start": "jump to the start of the backward pass",
    "go": "go to a step by name (fuzzy search)",
    "back": "undo the last move",
    "continue": "run to the next quiz or bookmark",
    "note": "append this step's card (formula, shapes, worked numbers) to your notes file",
    "toggle_tree": "show/hide the timeline tree (compact layout)",
    "toggle_map": "show/hide the architecture map (compact layout)",
    "help": "this help",
    "quit": "quit",
}


TABLED_BELOW = {"focus_back"}  # Shift+Tab: in the Tab / Shift+Tab row


def key_name(key: str) -> str:
    """A key as the learner types it: ``+`` not ``plus``, ``<`` not ``less_than_sign``."""
    return ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


class DrawnOnce(Widget):
    """A Rich renderable drawn once per width (a ``Static`` draws a table up to three
    times as it opens: for its width, its height, then its lines — ~20 ms of ``?``)."""

    DEFAULT_CSS = "DrawnOnce { height: auto; }"

    def __init__(self, renderable) -> None:
        super().__init__()
        self.renderable = renderable
        self._drawn: tuple[tuple, list[Strip]] | None = None

    def lines(self, width: int) -> list[Strip]:
        base = self.rich_style  # the widget's colours under the renderable's own
        if self._drawn is None or self._drawn[0] != (width, base):
            options = self.app.console_options.update_width(width).update(highlight=False)
            rows = self.app.console.render_lines(self.renderable, options, pad=True)
            self._drawn = ((width, base), [Strip(row, width).apply_style(base) for row in rows])
        return self._drawn[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))

    def render_line(self, y: int) -> Strip:
        lines = self.lines(self.size.width)
        return lines[y] if y < len(lines) else Strip.blank(self.size.width)


class HelpScreen(ModalScreen):
    """Keys and how to read the screen. Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape", "close", "close"),
        Binding("q", "close", "close", show=False),
        Binding("question_mark", "close", "close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
        scrollbar-gutter: stable;  /* its width known before the scrollbar: one drawing */
    }
    """

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        self.keys_table = self._keys()
        with VerticalScroll():
            yield DrawnOnce(self.keys_table)
            yield Static(self._reading())

    def _keys(self) -> Table:
        table = Table(title="Keys", show_header=True, header_style="bold", box=None, expand=True)
        table.add_column("key", style="bold yellow", no_wrap=True)
        table.add_column("what it does")
        rows: dict[str, list] = {}
        for binding in self.under.BINDINGS:
            if binding.action in TABLED_BELOW:
                continue
            row = rows.setdefault(binding.action, [[], binding])
            row[0].append(key_name(binding.key))
        for keys, binding in rows.values():
            table.add_row(" / ".join(dict.fromkeys(keys)),
                          LONG.get(binding.action, binding.description))
        table.add_row("Tab / Shift+Tab", "move between the tensor panels (then arrows move the cell)")
        table.add_row("Ctrl+P", "command palette: go to a step by name")
        return table

    @staticmethod
    def _reading() -> Text:
        text = Text()
        for title, body in READING:
            if body is None:
                text.append(f"\n{title}\n", style="bold")
            else:
                text.append("• ")
                text.append(f"{title}:", style="bold")
                text.append(f" {body}\n")
        return text

    @property
    def text(self) -> str:
        """The help as plain text (for tests)."""
        from io import StringIO

        from rich.console import Console

        console = Console(width=100, file=StringIO(), record=True)
        console.print(self.keys_table)
        console.print(self._reading())
        return console.export_text()

    def action_close(self) -> None:
        close_once(self)  # a second close key in the same burst does nothing
