"""What the descent pane shows beside the numbers of ``engine.probes``: why a run cannot
descend, and one weight element's step, before − lr·gradient = after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.tape import Tensor
from tutor.views.cells import clip_index

if TYPE_CHECKING:  # engine.probes is imported with the first descent step, not at start
    from engine.probes import DescentTrail


def parameters(tape) -> list[Tensor]:
    """The tape's weights: its leaves of kind ``param``."""
    from engine.probes import parameters as weights

    return weights(tape)


def no_descent_reason(tape) -> str | None:
    """Why this run has nothing to descend (no loss, no weights), or None."""
    if tape.loss is None:
        return ("This run has no loss (a decoding run goes forward only): there is no "
                "gradient to step against. Try `tutor explore` or a lesson with a backward pass.")
    if tape.loss.value.size != 1:
        return f"Backward ran from {tape.loss.name}, which is not one number (a loss)."
    if not parameters(tape):
        return "This run has no weights (parameters) to update."
    from tutor.views.nudge import not_replayable_reason

    return not_replayable_reason(tape)


@dataclass(frozen=True)
class ElementStep:
    """One weight element in the last step: after = before − lr · gradient."""

    name: str
    index: tuple
    before: float
    grad: float
    after: float
    note: str = ""


def element_step(trail: "DescentTrail", tensor: Tensor, index: tuple, note: str = "") -> ElementStep:
    k = trail.steps
    return ElementStep(tensor.name, index, float(trail.weights[k - 1][tensor.id][index]),
                       float(trail.grads[k - 1][tensor.id][index]),
                       float(trail.weights[k][tensor.id][index]), note)


def focus_parameter(timeline, slot, index) -> tuple[Tensor, tuple, str]:
    """The weight whose numbers the pane shows: the selected one (``slot``, ``index``) if
    it is a weight, else the first weight this step uses (or updates), else the run's
    steepest weight."""
    tensor = slot.tensor if slot is not None else None
    if tensor is not None and tensor.kind == "param":
        return tensor, clip_index(tuple(index or ()), tensor.shape), ""
    step = timeline.step
    candidates = [x for x in step.node.inputs if x.kind == "param"] if step.node else []
    if candidates:
        tensor = candidates[0]
        index = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(tensor.grad)),
                                                       tensor.shape))
        return tensor, index, "this step's weight, its steepest element; select a weight panel"
    steepest = max(parameters(timeline.tape), key=lambda p: float(np.max(np.abs(p.grad))))
    index = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(steepest.grad)),
                                                   steepest.shape))
    return steepest, index, "the steepest weight; select a weight panel for another"
