"""The status line: phase, step K/N, where the cursor is, how it steps."""

from __future__ import annotations

from textual.widgets import Static

from tutor.views.step import StepView
from tutor.ui.widgets.parts import Parts

PHASE_STYLE = {"forward": "bold black on cyan", "backward": "bold black on magenta",
               "update": "bold black on green"}


class StatusBar(Static):
    """Most important first, so a narrow terminal cuts the least: the phase and step, what
    the caller adds (``L3 · quizzes 1/6``), the step's name and op, how the cursor steps,
    and the run's title."""

    def show(self, view: StepView, title: str, extra: str = "") -> None:
        text = Parts()
        text.add(f" {view.phase.upper()} ", PHASE_STYLE[view.phase])
        text.add(f" step {view.position + 1}/{view.total} ", "bold")
        if extra:
            text.add(f"· {extra} ", "yellow")
        text.add(f" {view.name} ", "bold")
        text.add(f"· {view.op_name} ", "dim")
        text.add(f"· {view.depth_label} ", "dim")
        text.add(f"  {title}", "dim")
        self.plain = text.plain
        self.update(text.content(), layout=False)
