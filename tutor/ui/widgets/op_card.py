"""The op card: formula, local derivative, shapes, and one element worked through."""

from __future__ import annotations

from textual.widgets import Static

from engine.ops.base import Worked

from tutor.views.step import StepView, shape_text
from tutor.ui.widgets.parts import Parts, update_static

PHASE_STYLE = {"forward": "bold cyan", "backward": "bold magenta", "update": "bold green"}


class OpCard(Static):
    """What the current op does, its derivative, and the numbers of one element."""

    def show(self, view: StepView, worked: Worked | None, sentence: str | None = None,
             index: tuple = (), compact: bool = False) -> None:
        """``compact`` (80×24) drops the title line (the status bar has it) and the worked
        line's symbols (the formula above has them), and puts the numbers right after the
        formula: the local derivative and the shapes come last, where the card is cut."""
        text = Parts()
        if not compact:
            text.add(f"{view.op_name}", PHASE_STYLE[view.phase])
            text.add(f"  {view.name}\n", "bold")
        text.add("formula  ", "dim").add(view.formula + "\n")
        if not compact:
            text.add("local ∂  ", "dim").add(view.derivative + "\n")
            self._shapes(text, view)
        if worked is not None:
            text.add("worked   ", "dim")
            text.add(f"{worked.target} = ", "bold")
            if not compact:
                text.add(f"{worked.symbolic} = ", "italic")
            if worked.numeric != _value(worked.value):  # a lookup's number is its value
                text.add(f"{worked.numeric}{worked.result_joiner}")
            text.add(_value(worked.value), "bold yellow")
            text.add("\n")
        for accumulation in view.accumulations:
            text.add("adds up  ", "dim")
            text.add(accumulation.line(index) + "\n", "yellow")
        if compact:  # what is cut at 80×24 is the least needed: the panels have the shapes
            text.add("local ∂  ", "dim").add(view.derivative + "\n")
            self._shapes(text, view)
            if sentence:
                text.add(sentence, "italic")
        else:
            text.add(sentence if sentence is not None else view.sentence, "dim italic")
        self.plain = text.plain.rstrip()
        update_static(self, text.content())

    @staticmethod
    def _shapes(text: Parts, view: StepView) -> None:
        text.add("shapes   ", "dim")
        text.add("   ".join(f"{name} {shape_text(shape)}" for name, shape in view.shapes) + "\n")


def _value(x: float) -> str:
    from engine.ops.base import fmt

    return fmt(x)
