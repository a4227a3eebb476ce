"""The op card: formula, local derivative, shapes, and one element worked through."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.ops.base import Worked

from ..stepview import StepView, shape_text

PHASE_STYLE = {"forward": "bold cyan", "backward": "bold magenta", "update": "bold green"}


class OpCard(Static):
    """What the current op does, its derivative, and the numbers of one element."""

    def show(self, view: StepView, worked: Worked | None, sentence: str | None = None,
             compact: bool = False) -> None:
        """``compact`` (80×24) drops the title line (the status bar has it) and the sentence."""
        text = Text(no_wrap=False)
        if not compact:
            text.append(f"{view.op_name}", style=PHASE_STYLE[view.phase])
            text.append(f"  {view.name}\n", style="bold")
        text.append("formula  ", style="dim")
        text.append(view.formula + "\n")
        text.append("local ∂  ", style="dim")
        text.append(view.derivative + "\n")
        text.append("shapes   ", style="dim")
        text.append("   ".join(f"{label.split(' = ')[0]} {shape_text(shape)}"
                               for label, shape in view.shapes) + "\n")
        if worked is not None:
            text.append("worked   ", style="dim")
            text.append(f"{worked.target} = ", style="bold")
            text.append(f"{worked.symbolic} = ", style="italic")
            text.append(f"{worked.numeric} = ")
            text.append(_value(worked.value), style="bold yellow")
            text.append("\n")
        for line in view.accumulations:
            text.append("adds up  ", style="dim")
            text.append(line + "\n", style="yellow")
        if not compact:
            text.append(sentence if sentence is not None else view.sentence, style="dim italic")
        elif sentence:
            text.append(sentence, style="italic")
        text.rstrip()
        self.update(text)


def _value(x: float) -> str:
    from engine.ops.base import fmt

    return fmt(x)
