"""The status line: phase, step K/N, where the cursor is, how it steps."""

from __future__ import annotations

from tutor.views.step import StepView
from tutor.ui.widgets.parts import Parts
from tutor.ui.widgets.prepared_static import PreparedStatic

PHASE_STYLE = {"forward": "bold black on cyan", "backward": "bold black on magenta",
               "update": "bold black on green"}


class StatusBar(PreparedStatic):
    """Most important first, so a narrow terminal cuts the least: the phase and step, what
    the caller adds (``L3 · quizzes 1/6``), the step's name and op, how the cursor steps,
    and the run's title."""

    def show(self, view: StepView, title: str, extra: str = "") -> None:
        text = self.text(view, title, extra)
        self.plain = text.plain
        self.show_parts(text, layout=False)

    def prepare(self, view: StepView, title: str, extra: str = "") -> None:
        """Draw what ``show`` with these arguments shows, before it is shown."""
        self.prepare_parts(self.text(view, title, extra))

    @staticmethod
    def text(view: StepView, title: str, extra: str = "") -> Parts:
        text = Parts()
        text.add(f" {view.phase.upper()} ", PHASE_STYLE[view.phase])
        text.add(f" step {view.position + 1}/{view.total} ", "bold")
        if extra:
            text.add(f"· {extra} ", "yellow")
        text.add(f" {view.name} ", "bold")
        text.add(f"· {view.op_name} ", "dim")
        text.add(f"· {view.depth_label} ", "dim")
        text.add(f"  {title}", "dim")
        return text
