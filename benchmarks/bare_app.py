"""The baseline: a bare Textual app that redraws a counter on `n`/`p` (`q` quits).

Run in the same pseudo-terminal and the same way as the tutor by stepper_speed.py, so
the ratio between the two is the tutor's own cost, whatever the machine.
"""

from textual.app import App
from textual.binding import Binding
from textual.widgets import Footer, Static


class Bare(App):
    BINDINGS = [Binding("n", "move(1)", "next"), Binding("p", "move(-1)", "prev"),
                Binding("q", "quit", "quit")]
    count = 0

    def compose(self):
        yield Static("count 0", id="label")
        yield Footer()

    def action_move(self, by: int) -> None:
        self.count += by
        self.query_one("#label", Static).update(f"count {self.count}")


if __name__ == "__main__":
    Bare().run()
