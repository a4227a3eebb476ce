"""Nudge: move the selected number by ±ε, run the forward pass again, and set the change
in the loss beside what the gradient promised.

    measured   ΔL = L(x ± ε) − L(x)          (a re-run of the forward pass, ``engine.replay``)
    predicted  ΔL ≈ ±ε · ∂L/∂x               (∂L/∂x from the recorded backward pass)

The table repeats the experiment for ε = 1e-1 … 1e-4, one-sided and central
(½[L(x + ε) − L(x − ε)], whose error shrinks as ε² instead of ε), so the ratio
measured / predicted visibly walks to 1. Nothing in the recorded run changes: a
replay computes new values beside the record, so the number is "restored" at once.

x is any real value with a gradient: a weight, or an activation (then ∂L/∂x is that
tensor's total gradient, summed over every op that reads it). A gradient panel
stands for the value it is the gradient of.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass


from engine.tape import Tensor
from engine.timeline import Timeline

EPSILONS = (1e-1, 1e-2, 1e-3, 1e-4)
DEFAULT_EPSILON = 1e-3
TOOL = "nudge"

_epsilon: "weakref.WeakKeyDictionary[object, float]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Target:
    """The number a nudge moves: element ``index`` of ``tensor``."""

    tensor: Tensor
    index: tuple
    from_gradient_panel: bool = False  # the learner selected ∂L/∂x; x is nudged


@dataclass(frozen=True)
class NudgeReport:
    """One nudge of ``name[index]`` by ``sign · eps``, and the ε table beside it."""

    name: str
    kind: str  # "param" | "activation" | "input"
    index: tuple
    eps: float
    sign: int
    value: float  # x as recorded
    loss: float  # L(x)
    loss_after: float  # L(x ± ε)
    grad: float  # ∂L/∂x from the backward pass
    rows: list  # engine.nudge.NudgeRow, one per ε of EPSILONS
    from_gradient_panel: bool = False

    @property
    def new_value(self) -> float:
        return self.value + self.sign * self.eps

    @property
    def measured(self) -> float:
        """L(x ± ε) − L(x)"""
        return self.loss_after - self.loss

    @property
    def predicted(self) -> float:
        """±ε · ∂L/∂x"""
        return self.sign * self.eps * self.grad

    @property
    def ratio(self) -> float:
        return self.measured / self.predicted if self.predicted != 0 else math.nan


def find_target(timeline: Timeline, slot, index) -> Target | str:
    """The tensor behind the selected panel, or a sentence saying what to select."""
    what_to_select = ("Select a weight or an activation panel (Tab, then the arrow keys) "
                      "and press + or −.")
    if slot is None:
        return what_to_select
    step = timeline.step
    tensor = None
    gradient_panel = slot.role in ("upstream", "downstream", "total")
    if step.phase == "update":
        tensor = next((t for t in timeline.tape.tensors
                       if t.kind == "param" and t.name == step.update.name), None)
    elif slot.key == "out" or slot.key == "upstream":
        tensor = step.node.output
    elif slot.key.startswith(("in", "down", "total")):
        i = int(slot.key.removeprefix("in").removeprefix("down").removeprefix("total"))
        tensor = step.node.inputs[i] if i < len(step.node.inputs) else None
    if tensor is None:
        return what_to_select
    if tensor.value.dtype.kind != "f":
        return (f"{tensor.name} holds token ids (whole numbers): there is no 'a little more' "
                f"of a token. {what_to_select}")
    if tensor.grad is None:
        return (f"{tensor.name} has no gradient (a constant or data the loss is not "
                f"differentiated by), so there is nothing to compare a nudge with. "
                f"{what_to_select}")
    index = _clip(tuple(index), tensor.shape)
    return Target(tensor, index, gradient_panel)


def _clip(index: tuple, shape: tuple) -> tuple:
    if not shape:
        return ()
    index = index[-len(shape):] if index else ()
    index = (0,) * (len(shape) - len(index)) + index
    return tuple(min(max(int(i), 0), n - 1) for i, n in zip(index, shape))


def not_replayable_reason(tape) -> str | None:
    """A run recorded from PyTorch (``tutor torch``) keeps PyTorch's ops, whose forward the
    engine does not re-run; say so instead of failing."""
    if any(getattr(node.op, "recorded", False) for node in tape.nodes):
        return ("This run was recorded from PyTorch: its ops run in PyTorch, not in the "
                "engine, so the forward pass cannot be re-run here with a number changed. "
                "Try it in `tutor explore` or a lesson.")
    return None


def no_loss_reason(tape) -> str | None:
    """Why this run cannot be nudged (no scalar loss, ops it cannot re-run), or None."""
    if tape.loss is None:
        return ("This run has no loss (a decoding run goes forward only), so there is nothing "
                "to measure. Nudge in `tutor explore` or in a lesson with a backward pass.")
    if tape.loss.value.size != 1:
        return (f"Backward ran from {tape.loss.name}, which is not one number: a nudge "
                "measures the change of a single loss.")
    return not_replayable_reason(tape)


def measure(tape, target: Target, eps: float, sign: int) -> NudgeReport:
    """Nudge ``target`` by each ε of EPSILONS (and ``eps``) both ways; the run is unchanged."""
    from engine.nudge import nudge_table

    epsilons = EPSILONS if eps in EPSILONS else EPSILONS + (eps,)
    rows = nudge_table(tape, target.tensor, target.index, epsilons=epsilons)
    row = next(r for r in rows if r.eps == eps)
    grad = float(target.tensor.grad[target.index])
    return NudgeReport(
        name=target.tensor.name, kind=target.tensor.kind, index=target.index, eps=eps,
        sign=1 if sign > 0 else -1, value=float(target.tensor.value[target.index]),
        loss=row.loss, loss_after=row.loss_plus if sign > 0 else row.loss_minus, grad=grad,
        rows=[r for r in rows if r.eps in EPSILONS], from_gradient_panel=target.from_gradient_panel)


# actions ----------------------------------------------------------------------------
def epsilon(screen) -> float:
    return _epsilon.get(screen, DEFAULT_EPSILON)


def nudge(screen, sign: int = 1) -> None:
    """``+``/``-``: nudge the selected element and show the measurement."""
    from ..widgets.nudge_pane import NudgePane
    from ..widgets.tool_pane import message_pane

    tape = screen.session.timeline.tape
    reason = no_loss_reason(tape)
    target = find_target(screen.session.timeline, *screen.selected_element()) \
        if reason is None else reason
    if isinstance(target, str):
        screen.show_tool(message_pane(TOOL, "nudge", target))
        return
    report = measure(tape, target, epsilon(screen), sign)
    screen.show_tool(NudgePane(report, compact=screen.has_class("compact"),
                               width=tool_width(screen)))


def cycle_epsilon(screen) -> None:
    """``e``: the next ε of 1e-1 → 1e-2 → 1e-3 → 1e-4 → 1e-1; re-measure if a nudge is shown."""
    current = epsilon(screen)
    position = EPSILONS.index(current) if current in EPSILONS else -1
    _epsilon[screen] = EPSILONS[(position + 1) % len(EPSILONS)]
    pane = shown_pane(screen)
    if pane is not None and getattr(pane, "report", None) is not None:
        nudge(screen, pane.report.sign)
    else:
        screen.notify(f"ε = {epsilon(screen):g}: press + or − to nudge the selected number.",
                      timeout=3)


def tool_width(screen) -> int:
    """Columns a pane has: the centre column's width, less the pane's padding."""
    return max(screen.query_one("#center").size.width - 2, 40)


def shown_pane(screen):
    """The nudge pane in the tool area, if one is there."""
    for child in screen.query_one("#tools").children:
        if getattr(child, "tool", None) == TOOL:
            return child
    return None


def attach(screen) -> None:
    """A nudge describes one element of one step: moving the cursor closes it."""

    def close_on_move() -> None:
        if shown_pane(screen) is not None:
            screen.show_tool(None)

    screen.on_step_hooks.append(close_on_move)


def measured_rows(report: NudgeReport) -> list[tuple[float, float, float, float, float, float]]:
    """(ε, one-sided ΔL, central ΔL, ε·∂L/∂x, one-sided ratio, central ratio) per ε."""
    return [(r.eps, r.measured_delta, r.central_delta, r.predicted_delta, r.ratio,
             r.central_ratio) for r in report.rows]


def value_text(x: float) -> str:
    """A nudged value or a loss: enough digits that a change of 1e-4 shows."""
    return f"{x:+.7g}" if abs(x) < 1e6 else f"{x:+.6e}"


def delta_text(x: float) -> str:
    """A difference of losses: 4 significant digits in e-notation."""
    if x == 0.0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    return f"{x:+.3e}"


def ratio_text(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.6f}" if abs(x) < 100 else f"{x:.3g}"


def index_text(index: tuple) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]" if index else ""


def symbol(kind: str) -> str:
    return "w" if kind == "param" else "x"
