"""The op card: formula, local derivative, shapes, and one element worked through."""

from __future__ import annotations

from tutor.views.secret import NOTHING, Concealment, WorkedLine
from tutor.views.step import StepView, shape_text
from tutor.ui.widgets.parts import Parts
from tutor.ui.widgets.prepared_static import PreparedStatic

PHASE_STYLE = {"forward": "bold cyan", "backward": "bold magenta", "update": "bold green"}


class OpCard(PreparedStatic):
    """What the current op does, its derivative, and the numbers of one element."""

    worked: WorkedLine | None = None
    adds_up: list[str] = []

    def show(self, view: StepView, worked: WorkedLine | None, sentence: str | None = None,
             index: tuple = (), compact: bool = False,
             conceal: Concealment = NOTHING) -> None:
        """``compact`` (80×24) drops the title line (the status bar has it) and the worked
        line's symbols (the formula above has them), and puts the numbers right after the
        formula: the local derivative and the shapes come last, where the card is cut.
        ``conceal`` hides what a waiting quiz asks (``worked`` comes concealed already)."""
        self.worked = worked  # what it shows, for readers of the card (notes, tests)
        self.adds_up = [conceal.text(a.line(index)) for a in view.accumulations]
        text = self.text(view, worked, sentence, index, compact, conceal)
        self.plain = text.plain.rstrip()
        self.show_parts(text)

    def prepare(self, *args, **kwargs) -> None:
        """Draw what ``show`` with these arguments shows, before it is shown."""
        self.prepare_parts(self.text(*args, **kwargs))

    @classmethod
    def text(cls, view: StepView, worked: WorkedLine | None, sentence: str | None = None,
             index: tuple = (), compact: bool = False,
             conceal: Concealment = NOTHING) -> Parts:
        adds_up = [conceal.text(a.line(index)) for a in view.accumulations]
        text = Parts()
        if not compact:
            text.add(f"{view.op_name}", PHASE_STYLE[view.phase])
            text.add(f"  {view.name}\n", "bold")
        text.add("formula  ", "dim").add(view.formula + "\n")
        if not compact:
            text.add("local ∂  ", "dim").add(view.derivative + "\n")
            cls._shapes(text, view)
        if worked is not None:
            text.add("worked   ", "dim")
            text.add(f"{worked.target} = ", "bold")
            if not compact:
                text.add(f"{worked.symbolic} = ", "italic")
            if worked.numeric:  # a lookup's number is its result
                text.add(f"{worked.numeric}{worked.joiner}")
            text.add(worked.result, "bold yellow")
            text.add("\n")
        for line in adds_up:
            text.add("adds up  ", "dim")
            text.add(line + "\n", "yellow")
        if compact:  # what is cut at 80×24 is the least needed: the panels have the shapes
            text.add("local ∂  ", "dim").add(view.derivative + "\n")
            cls._shapes(text, view)
            if sentence:
                text.add(sentence, "italic")
        else:
            text.add(sentence if sentence is not None else view.sentence, "dim italic")
        return text

    @staticmethod
    def _shapes(text: Parts, view: StepView) -> None:
        text.add("shapes   ", "dim")
        text.add("   ".join(f"{name} {shape_text(shape)}" for name, shape in view.shapes) + "\n")
