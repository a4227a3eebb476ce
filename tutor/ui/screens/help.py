"""`?`: every key of the screen underneath, with what it does, and how to read the panels."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

READING = """\
[b]Reading the screen[/b]
• The [b]status line[/b] says the phase (forward, backward, update) and step K/N.
• The [b]tree[/b] (t in compact mode) is the whole run: phases → encoder/decoder → layers →
  sub-layers → ops. The highlighted line is where you are. Click an op to go there.
• The [b]op card[/b] gives the op's formula, its local derivative, the shapes, and one
  element worked through with the real numbers. Tab into a tensor panel and move with the
  arrow keys to choose the element; [ and ] change the slice of a 3-D/4-D tensor.
• [b]Tensor panels[/b]: red is positive, blue negative, stronger colour = larger magnitude.
  Every number carries its sign, so colour is never needed. An exact zero prints as 0.
  "not yet" means the value or gradient has not been computed at this step.
• In the [b]backward[/b] pass: upstream = ∂L/∂(this op's output), arriving from above;
  downstream = upstream × local derivative, sent to each input. Where a tensor feeds
  several ops, its gradient is the sum of what each sends back (an accumulation).
• The [b]map[/b] (a in compact mode) shows the architecture and where you are; data flows
  down in the forward pass and gradients flow up in the backward pass.
• The bottom line is the same op written in PyTorch.
"""


class HelpScreen(ModalScreen):
    """Keys and how to read the screen. Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape", "close", "close"),
        Binding("q", "close", "close", show=False),
        Binding("question_mark", "close", "close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        table = Table(title="Keys", show_header=True, header_style="bold", box=None, expand=True)
        table.add_column("key", style="bold yellow", no_wrap=True)
        table.add_column("what it does")
        seen = set()
        for binding in self.under.BINDINGS:
            if binding.action in seen:
                continue
            seen.add(binding.action)
            keys = [b.key_display or b.key for b in self.under.BINDINGS if b.action == binding.action]
            table.add_row(" / ".join(_key_name(k) for k in keys), _describe(binding))
        table.add_row("tab / shift+tab", "move between the tensor panels (then arrows move the cell)")
        table.add_row("ctrl+p", "command palette: go to a step by name, and more")
        self.keys_table = table
        with VerticalScroll():
            yield Static(table)
            yield Static(Text.from_markup(READING))

    @property
    def text(self) -> str:
        """The help as plain text (for tests)."""
        from io import StringIO

        from rich.console import Console

        console = Console(width=100, file=StringIO(), record=True)
        console.print(self.keys_table)
        console.print(Text.from_markup(READING))
        return console.export_text()

    def action_close(self) -> None:
        self.app.pop_screen()


KEY_NAMES = {"right": "→", "left": "←", "question_mark": "?", "home": "Home", "end": "End"}
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


def _key_name(key: str) -> str:
    return KEY_NAMES.get(key, key)


def _describe(binding: Binding) -> str:
    return LONG.get(binding.action, binding.description)
