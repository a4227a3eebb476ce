"""The numbers of a nudge: which tensor a selected panel stands for, the measurement
(``engine.probes.nudge_table``) and how its numbers are written. Imported on the first
nudge, so the stepper's start does not pay for it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.tape import Tensor

from tutor.views.step import TensorSlot
from tutor.views.cells import clip_index


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
    rows: list  # engine.probes.NudgeRow, one per ε of EPSILONS
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


def find_target(slot: TensorSlot | None, index) -> Target | str:
    """The tensor behind the selected panel, or a sentence saying what to select."""
    what_to_select = ("Select a weight or an activation panel (Tab or a click, then the "
                      "arrow keys) and press + or −.")
    tensor = slot.tensor if slot is not None else None
    if tensor is None:
        return what_to_select
    if tensor.value.dtype.kind != "f":
        return (f"{tensor.name} holds token ids (whole numbers): there is no 'a little more' "
                f"of a token. {what_to_select}")
    if tensor.grad is None:
        return (f"{tensor.name} has no gradient (a constant or data the loss is not "
                f"differentiated by), so there is nothing to compare a nudge with. "
                f"{what_to_select}")
    if tensor.tape.loss is not None and tensor is tensor.tape.loss:
        return (f"{tensor.name} is the loss itself: nudging it by ε moves it by ε, which "
                f"says nothing about a gradient. {what_to_select}")
    return Target(tensor, clip_index(tuple(index), tensor.shape), slot.is_gradient)


EPSILONS = (1e-1, 1e-2, 1e-3, 1e-4)
DEFAULT_EPSILON = 1e-3


def not_replayable_reason(tape) -> str | None:
    """A run recorded from PyTorch (``tutor torch``) keeps PyTorch's ops, whose forward the
    engine does not re-run; say so instead of failing."""
    if tape.origin == "pytorch":
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
    from engine.probes import nudge_table

    epsilons = EPSILONS if eps in EPSILONS else EPSILONS + (eps,)
    rows = nudge_table(tape, target.tensor, target.index, epsilons=epsilons)
    row = next(r for r in rows if r.eps == eps)
    grad = float(target.tensor.grad[target.index])
    return NudgeReport(
        name=target.tensor.name, kind=target.tensor.kind, index=target.index, eps=eps,
        sign=1 if sign > 0 else -1, value=float(target.tensor.value[target.index]),
        loss=row.loss, loss_after=row.loss_plus if sign > 0 else row.loss_minus, grad=grad,
        rows=[r for r in rows if r.eps in EPSILONS], from_gradient_panel=target.from_gradient_panel)


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
