"""The training view (``tutor train --ui``): the loss and held-out accuracy plotted live
as training runs in a worker; space pauses, ``o`` opens any step in the stepper."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from engine.train import Trainer
from tutor.ui.widgets.parts import Parts
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.screens.closing import close_once
from tutor.ui.widgets.key_bar import KeyBar
from tutor.ui.styles import screen_styles

REFRESH = 0.25  # seconds between redraws of the plot
MAX_POINTS = 400  # the plot averages the loss over bins beyond this many steps


class TrainingStepScreen(StepperScreen):
    """The stepper on one training step; Esc (or q) goes back to the training view."""

    BINDINGS = [b for b in StepperScreen.BINDINGS if b.key != "q"] + [
        Binding("escape", "back_to_training", "back to training"),
        Binding("q", "back_to_training", "back", show=False),
    ]

    def action_back_to_training(self) -> None:
        close_once(self)


class TrainingScreen(Screen):
    DEFAULT_CSS = screen_styles("training.tcss")  # parsed when the screen first opens
    SCOPED_CSS = False

    BINDINGS = [
        Binding("space", "pause", "pause/resume"),
        Binding("o", "open_step", "open step"),
        Binding("enter", "open_step", "open step", show=False),
        Binding("left", "select(-1)", "step −1", show=False),
        Binding("right", "select(1)", "step +1", show=False),
        Binding("pageup", "select(-50)", "step −50", show=False),
        Binding("pagedown", "select(50)", "step +50", show=False),
        Binding("home", "select_first", "first step", show=False),
        Binding("end", "select_latest", "latest step", show=False),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, run: Trainer, out: Path | None = None) -> None:
        super().__init__()
        self.training = run
        self.out = out
        self.running = threading.Event()
        self.running.set()
        self.selected: int | None = None  # None: follow the latest step
        self.saved: Path | None = None
        self.problem: str | None = None
        self.started = time.perf_counter()
        self.train_time = 0.0
        self._shown_steps = -1
        self._opening = False

    # layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        from tutor.ui.widgets.loss_plot import LossPlot

        yield Static("", id="train-status")
        yield LossPlot(id="train-plot")
        yield Static("", id="train-step")
        yield KeyBar()

    def on_mount(self) -> None:
        self.train()
        self.set_interval(REFRESH, self.refresh_view)
        self.refresh_view()

    # the worker --------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="training")
    def train(self) -> None:
        worker = get_current_worker()
        run = self.training
        try:
            while not run.finished and not worker.is_cancelled:
                if not self.running.wait(0.1):
                    continue
                tick = time.perf_counter()
                run.advance()
                self.train_time += time.perf_counter() - tick
        except FloatingPointError as error:
            self.problem = f"{error}; nothing saved"
        if worker.is_cancelled or self.problem:
            return
        if self.out is not None:
            from tutor.storage.weights import save_weights

            try:
                self.saved = save_weights(self.out, run.final_model())
            except OSError as error:
                self.problem = (f"could not save the weights to {self.out}: "
                                f"{error.strerror or error}")

    # drawing -------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.training.finished

    def state_text(self) -> str:
        if self.problem:
            return "stopped"
        if self.finished:
            return "done"
        return "running" if self.running.is_set() else "paused"

    def refresh_view(self) -> None:
        run = self.training
        done = run.steps_done
        status = Parts()
        state = self.state_text()
        status.add(f" {state.upper()} ", {"running": "bold black on green",
                                          "paused": "bold black on yellow",
                                          "done": "bold black on cyan"}.get(state,
                                                                          "bold white on red"))
        status.add(f" {run.task} · step {done}/{run.steps}", "bold")
        if run.losses:
            status.add(" · loss ", "dim").add(f"{run.losses[-1]:.4f}")
        if run.accuracies:
            step, accuracy = run.accuracies[-1]
            status.add(" · held-out ", "dim").add(f"{accuracy:.0%}")
            status.add(f" @{step}", "dim")
        if self.train_time > 0 and done:
            status.add(f" · {done / self.train_time:.0f}/s", "dim")
        status.add(f"\n{run.optimizer} lr {run.lr:g} · ", "dim")
        if self.saved is not None:
            status.add(f"weights saved to {self.saved}", "green")
        elif self.problem:
            status.add(self.problem, "red")
        elif self.out is not None and not self.finished:
            status.add(f"saves to {self.out} when done; q before saves nothing", "dim")
        self.query_one("#train-status", Static).update(status.content())
        self.query_one("#train-step", Static).update(self._step_line().content())
        key = (done, self.selected)
        if key != self._shown_steps:
            self._shown_steps = key
            self._plot()

    def selected_step(self) -> int | None:
        done = self.training.steps_done
        if done == 0:
            return None
        return done if self.selected is None else min(max(self.selected, 1), done)

    def _step_line(self) -> Parts:
        text = Parts()
        step = self.selected_step()
        if step is None:
            return text.add("waiting for the first step …", "dim")
        run = self.training
        text.add("step ", "dim").add(f"{step}", "bold yellow")
        text.add(f" · loss {run.losses[step - 1]:.6f} · lr {run.rates[step - 1]:.3g}")
        text.add("   ← → choose · o open in the stepper", "dim")
        return text

    def _plot(self) -> None:
        from tutor.ui.widgets.loss_plot import LossPlot, Series

        run = self.training
        losses = list(run.losses)
        if not losses:
            return
        xs, ys = binned(losses, MAX_POINTS)
        series = [Series("loss", xs, [math.log10(y) if y > 0 else math.nan for y in ys],
                         "cyan")]
        accuracies = list(run.accuracies)
        if accuracies:
            series.append(Series("held-out exact match", [s for s, _ in accuracies],
                                 [a for _, a in accuracies], "green", yside="right"))
        self.query_one(LossPlot).show(
            series, title="log10 loss (left) · held-out exact match (right)",
            ylabel="log10 loss", right_ylabel="exact match", right_ylim=(0.0, 1.0),
            marker_x=self.selected_step() if self.selected is not None else None)

    # actions ------------------------------------------------------------------------------
    def action_pause(self) -> None:
        if self.finished:
            self.notify("Training is done.", timeout=2)
            return
        if self.running.is_set():
            self.running.clear()
        else:
            self.running.set()
        self.refresh_view()

    def action_select(self, delta: int) -> None:
        step = self.selected_step()
        if step is None:
            return
        self.selected = min(max(step + delta, 1), self.training.steps_done)
        self.refresh_view()

    def action_select_first(self) -> None:
        if self.training.steps_done:
            self.selected = 1
            self.refresh_view()

    def action_select_latest(self) -> None:
        self.selected = None
        self.refresh_view()

    def action_open_step(self) -> None:
        """Pause, record the selected step in full (in a worker), then open the stepper."""
        step = self.selected_step()
        if step is None or self._opening:
            return
        self.selected = step
        if self.running.is_set() and not self.finished:
            self.running.clear()
            self.notify("Training paused while you look; space resumes.", timeout=4)
        self._opening = True
        self.query_one("#train-step", Static).update(f"recording step {step} …")
        self.record(step)

    @work(thread=True, exclusive=True, group="record")
    def record(self, step: int) -> None:
        recorded = self.training.record_step(step)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._open, recorded)

    def _open(self, recorded) -> None:
        from engine.timeline import Timeline

        from tutor.views.session import Session

        self._opening = False
        run = self.training
        title = (f"training step {recorded.step}/{run.steps} · {run.task} · loss "
                 f"{recorded.run.loss:.6f} (logged {recorded.logged_loss:.6f}) · "
                 f"{run.optimizer} lr {recorded.rate:.3g}")
        session = Session(Timeline(recorded.run.tape, recorded.updates), title, recorded.model,
                          recorded.run, recorded.rate)
        self.app.push_screen(TrainingStepScreen(session))

    def action_quit(self) -> None:
        self.running.set()  # a paused worker must wake to see that it is cancelled
        self.workers.cancel_group(self, "training")
        self.app.exit()


def binned(values: list[float], limit: int) -> tuple[list[float], list[float]]:
    """(step, value) pairs, steps from 1; beyond ``limit`` points, means over equal bins
    (each at its bin's middle step)."""
    n = len(values)
    if n <= limit:
        return list(range(1, n + 1)), list(values)
    size = math.ceil(n / limit)
    xs, ys = [], []
    for start in range(0, n, size):
        chunk = values[start:start + size]
        xs.append(start + (len(chunk) + 1) / 2)
        ys.append(math.fsum(chunk) / len(chunk))
    return xs, ys
