"""The learning-rate lab: the same start, a few dozen steps of descent at a ladder of
learning rates, one curve per kind of behaviour (and the learner's own rate), and Adam
beside them. ``w`` switches the plot between the loss and one weight's value per step."""

from __future__ import annotations

import math

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from engine.probes import (ADAM_RATES, LAB_STEPS, LabCurve, best_adam, lab_curves,
                           lab_rates, pick_shown, scan_summary, watched_element)
from tutor.ui.widgets.parts import Parts
from tutor.ui.screens.closing import close_once
from tutor.ui.widgets.key_bar import KeyBar
from tutor.ui.styles import screen_styles

COLORS = {"crawls": "cyan", "converges": "green", "oscillates": "yellow", "diverges": "red"}
ADAM_COLOR = "magenta"
OWN_COLOR = "white"

ADAM_SHORT = (
    "each weight steps by lr · m̂ / (√v̂ + ε), with m and v running averages of its g and "
    "g²: about lr per weight whatever the gradient's size, so steep and flat directions get "
    "similar steps. SGD's step lr · g has to suit the steepest direction and crawls along the "
    "flat ones.")
ADAM_TEXT = (
    "SGD moves every weight by lr × its gradient, so one lr has to suit the steepest "
    "direction (or it overshoots and oscillates) and the flattest (or it crawls). Adam keeps, "
    "for each weight, running averages of its gradient, m ← 0.9·m + 0.1·g, and of its square, "
    "v ← 0.999·v + 0.001·g², and steps by lr · m̂ / (√v̂ + ε): about lr in the direction the "
    "gradient has kept pointing, whatever its size. Steep and flat weights get steps of "
    "similar size, and a gradient that keeps flipping sign averages out to a small step.")


class LrLabScreen(Screen):
    """Esc closes; the curves are computed in a worker thread."""

    DEFAULT_CSS = screen_styles("lr_lab.tcss")  # parsed when the screen first opens
    SCOPED_CSS = False

    BINDINGS = [
        Binding("escape", "close", "back to the stepper"),
        Binding("q", "close", "back", show=False),
        Binding("w", "toggle_plot", "loss ⇄ weight"),
    ]

    def __init__(self, tape, lr: float, title: str = "", steps: int = LAB_STEPS) -> None:
        super().__init__()
        self.tape = tape
        self.lr = float(lr)
        self.run_title = title
        self.steps = steps
        self.rates = lab_rates(self.lr)
        self.sgd: list[LabCurve] = []
        self.adam: list[LabCurve] = []
        self.shown: list[LabCurve] = []
        self.error: str | None = None
        self.plotting = "loss"  # or "weight": the watched weight's value per step
        try:
            tensor, index = watched_element(tape)
            self.watched = tensor.name + (str(list(index)) if index else "")
        except (ValueError, AttributeError):
            self.watched = "a weight"

    def compose(self) -> ComposeResult:
        from tutor.ui.widgets.loss_plot import LossPlot

        yield Static(self._heading(), id="lab-title")
        yield LossPlot(id="lab-plot")
        yield Static("", id="lab-table")
        yield Static(Parts().add("Adam vs SGD  ", "bold magenta").add(ADAM_TEXT).content(),
                     id="lab-adam", classes="long")
        yield Static(Parts().add("Adam vs SGD  ", "bold magenta").add(ADAM_SHORT).content(),
                     id="lab-adam-short", classes="short")
        yield KeyBar()

    def _heading(self) -> str:
        return f"learning-rate lab · {self.steps} steps of w ← w − lr·∂L/∂w from the same start"

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < 110 or event.size.height < 34, "compact")
        if self.shown:
            self._show_table()

    def on_mount(self) -> None:
        self.set_class(self.size.width < 110 or self.size.height < 34, "compact")
        self.query_one("#lab-table", Static).update(
            f"computing {len(self.rates)} SGD runs and {len(ADAM_RATES)} Adam runs …")
        self.compute()

    @work(thread=True, exclusive=True)
    def compute(self) -> None:
        worker = get_current_worker()
        cancelled = lambda: worker.is_cancelled  # noqa: E731
        total = len(self.rates) + len(ADAM_RATES)

        def progress(done: int, _count: int, offset: int = 0) -> None:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._progress, offset + done, total)

        try:
            sgd = lab_curves(self.tape, self.rates, "sgd", self.steps, progress, cancelled)
            adam = lab_curves(self.tape, ADAM_RATES, "adam", self.steps,
                              lambda d, c: progress(d, c, len(self.rates)), cancelled)
        except (ValueError, TypeError, ArithmeticError) as error:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, str(error))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._done, sgd, adam)

    def _progress(self, done: int, total: int) -> None:
        self.query_one("#lab-table", Static).update(f"computing … {done}/{total} runs done")

    def _failed(self, message: str) -> None:
        self.error = message
        self.query_one("#lab-table", Static).update(
            f"The lab could not re-run this recording: {message}")

    def _done(self, sgd: list[LabCurve], adam: list[LabCurve]) -> None:
        self.sgd, self.adam = sgd, adam
        self.shown = pick_shown(sgd)
        own = next((c for c in sgd if c.lr == self.lr), None)
        if own is not None and own not in self.shown:
            self.shown.append(own)
        self._plot()
        self._show_table()

    def plotted(self) -> list[LabCurve]:
        """The curves on the plot: one per label, the learner's lr, Adam's best."""
        best = best_adam(self.adam)
        return self.shown + ([best] if best is not None else [])

    def _plot(self) -> None:
        from tutor.ui.widgets.loss_plot import LossPlot, Series

        curves = self.plotted()
        if not curves:
            return
        color = self.curve_color
        if self.plotting == "weight":
            series = [Series("", list(range(len(c.path))), c.path, color(c)) for c in curves]
            start = curves[0].path[0]
            bounded = [x for c in curves if c.label != "diverges" for x in c.path
                       if math.isfinite(x)]
            low, high = min([start] + bounded), max([start] + bounded)
            pad = 0.1 * (high - low) or 1.0
            self.query_one(LossPlot).show(series, title=f"{self.watched} after each step",
                                          ylabel="weight", ylim=(low - pad, high + pad))
            return
        start = self.sgd[0].losses[0]
        bounded = [x for c in curves if c.label != "diverges" for x in c.losses if math.isfinite(x)]
        top = max([start] + bounded) * 1.1
        series = [Series("", list(range(len(c.losses))), c.losses, color(c)) for c in curves]
        self.query_one(LossPlot).show(series, title="loss after each step", ylim=(0, top))

    def curve_color(self, curve: LabCurve) -> str:
        """Adam magenta, the learner's own lr white, the others by their label."""
        if curve.optimizer == "adam":
            return ADAM_COLOR
        return OWN_COLOR if curve.lr == self.lr else COLORS[curve.label]

    def action_toggle_plot(self) -> None:
        """``w``: plot the watched weight per step instead of the loss, or back."""
        if not self.is_mounted:  # a w in the burst that opened the lab: no plot to switch yet
            return
        self.plotting = "weight" if self.plotting == "loss" else "loss"
        self._plot()

    def _show_table(self) -> None:
        self.query_one("#lab-table", Static).update(
            self._table(self.plotted(), notes=not self.has_class("compact")).content())

    def _table(self, curves: list[LabCurve], notes: bool = True) -> Parts:
        text = Parts()
        text.add("tried ", "dim").add(scan_summary(self.sgd) + "\n")
        for c in curves:
            color = self.curve_color(c)
            text.add("● ", color).add(f"{c.title:<15}", "bold").add(f"{c.label:<11}", color)
            text.add(_ends(c))
            if notes:
                text.add("  " + c.note, "dim")
            if c.optimizer == "adam":
                text.add(f" (best of {len(ADAM_RATES)} Adam rates)", "dim")
            text.add("\n")
        own = next((c for c in self.sgd if c.lr == self.lr), None)
        if own is not None:
            text.add("your lr ", "dim").add(f"{own.lr:g}", "bold yellow")
            text.add(f": {own.label}, {_ends(own)}", "")
        return text

    def action_close(self) -> None:
        self.workers.cancel_all()
        close_once(self)


def _ends(curve: LabCurve) -> str:
    last = curve.losses[-1]
    if math.isfinite(last):
        return f"loss {curve.losses[0]:.4g} → {last:.4g}"
    return f"loss {curve.losses[0]:.4g} → {last} at step {len(curve.losses) - 1}"
