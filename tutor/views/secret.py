"""Predict, then reveal: what a waiting quiz asks stays hidden until it is answered.

A ``Secret`` describes one quiz's answer: for a number, which numbers would be graded
right (``accepts``); for a shape, the shape; for positions or a shape, the panels the
answer is read from (hidden whole). ``Concealment`` holds the secrets of the quizzes at
a step and hides them wherever the stepper would show them — a panel's cells (``?``),
the op card's worked line (it stops at the unknown: ``= 0.5 × (-7.284) = ?``), the
shapes line, the lines that add up a gradient, the lesson's live numbers — while every
other number stays, so the learner can work the answer out.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

import numpy as np

from engine.ops.base import Worked, fmt
from tutor.views.step import PanelKey, StepView, TensorSlot

HIDDEN = "?"


class Secret(NamedTuple):
    """One quiz's answer, as what to hide: numbers it ``accepts``, a ``shape``, and panels
    (by ``PanelKey`` or by ``(tensor id, is a gradient)``) hidden whole."""

    accepts: Callable[[float], bool] | None = None
    shape: tuple | None = None
    keys: frozenset[PanelKey] = frozenset()
    tensors: frozenset[tuple[int, bool]] = frozenset()


class WorkedLine(NamedTuple):
    """The op card's worked line as text: ``target = symbolic = numeric = result``."""

    target: str
    symbolic: str
    numeric: str  # "" when the number is the result itself (a lookup)
    joiner: str
    result: str

    @classmethod
    def of(cls, worked: Worked | None) -> "WorkedLine | None":
        if worked is None:
            return None
        result = fmt(worked.value)
        numeric = "" if worked.numeric == result else worked.numeric
        return cls(worked.target, worked.symbolic, numeric, worked.result_joiner, result)


def worked_text(line: WorkedLine | None) -> str:
    """``target = symbolic = numeric = result`` on one line ("" for none)."""
    if line is None:
        return ""
    numeric = f"{line.numeric}{line.joiner}" if line.numeric else ""
    return f"{line.target} = {line.symbolic} = {numeric}{line.result}"


# a number as the tutor writes one, outside an index like x[0,3]
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.\d*|\.\d+|\d+)(?:e[-+]?\d+)?(?![\w.])")
_INDEX = re.compile(r"(?<=[\w)])\[[^\]]*\]")  # x[0,3]: a position, not values


class Concealment(NamedTuple):
    """The secrets of the quizzes waiting at a step (empty: nothing is hidden)."""

    secrets: tuple[Secret, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.secrets)

    # what is hidden --------------------------------------------------------------
    def hides_number(self, x: float) -> bool:
        return any(s.accepts is not None and s.accepts(float(x)) for s in self.secrets)

    def hides_shape(self, shape) -> bool:
        return any(s.shape is not None and tuple(shape) == s.shape for s in self.secrets)

    def hides_panel(self, slot: TensorSlot) -> bool:
        for s in self.secrets:
            if slot.key in s.keys:
                return True
            if slot.tensor is not None and (slot.tensor.id, slot.is_gradient) in s.tensors:
                return True
        value = slot.value
        return value is not None and self.hides_shape(np.shape(value))

    def mask(self, value) -> np.ndarray | None:
        """Which elements of a panel's values to hide (None: none)."""
        if value is None or not any(s.accepts is not None for s in self.secrets):
            return None
        array = np.asarray(value)
        if array.dtype.kind not in "fiub" or not array.size:
            return None
        hidden = np.vectorize(self.hides_number, otypes=[bool])(array.astype(float))
        return hidden if hidden.any() else None

    # applied to what the stepper shows ----------------------------------------------
    def view(self, view: StepView) -> StepView:
        """The step's view with the secrets hidden in its panels and shapes line."""
        if not self:
            return view
        slots = []
        for slot in view.slots:
            if self.hides_panel(slot):
                slots.append(slot._replace(concealed=True))
            else:
                slots.append(slot._replace(hidden=self.mask(slot.value)))
        shapes = [(name, HIDDEN if self.hides_shape(shape) else shape)
                  for name, shape in view.shapes]
        return view._replace(slots=slots, shapes=shapes)

    def text(self, line: str) -> str:
        """``line`` with every number that gives a secret away written as ``?``."""
        if not self or not any(s.accepts is not None for s in self.secrets):
            return line
        out, start = [], 0
        for index in _INDEX.finditer(line):  # indices are positions, not values
            out.append(self._numbers(line[start:index.start()]))
            out.append(index.group())
            start = index.end()
        out.append(self._numbers(line[start:]))
        return "".join(out)

    def _numbers(self, text: str) -> str:
        def hide(match: re.Match) -> str:
            try:
                return HIDDEN if self.hides_number(float(match.group())) else match.group()
            except ValueError:
                return match.group()
        return _NUMBER.sub(hide, text)

    def worked(self, line: WorkedLine | None) -> WorkedLine | None:
        """The worked line stopping at the unknown: a hidden number anywhere in it hides
        the result too (it would be the answer, or give it away)."""
        if line is None or not self:
            return line
        numeric = self.text(line.numeric)
        result = self.text(line.result)
        if numeric != line.numeric or result != line.result:
            result = HIDDEN
        return line._replace(numeric=numeric, result=result)

    def value(self, value) -> bool:
        """Does a value printed in lesson text give a secret away? (numbers and shapes)"""
        if isinstance(value, tuple):
            return self.hides_shape(value)
        if isinstance(value, (float, int)) and not isinstance(value, bool):
            return self.hides_number(value)
        return False


NOTHING = Concealment()
