"""Feel the gradient: nudge one number and watch the loss move.

A gradient is a promise: change wᵢ by a small ε and the loss changes by about
ε · ∂L/∂wᵢ. ``nudge_table`` keeps the promise to account — for shrinking ε it
re-measures the loss with wᵢ + ε and wᵢ − ε (``engine.replay`` re-runs only what
depends on wᵢ) and sets the change beside the prediction:

    one-sided   L(w + ε) − L(w)            = ε·g + ε²·L''/2 + …   (error ∝ ε)
    central     (L(w + ε) − L(w − ε)) / 2  = ε·g + ε³·L'''/6 + … (error ∝ ε²)

so both ratios to ε·g tend to 1, the central one much faster, until ε is so
small that rounding in L (about 1e-16 · L) is comparable to ε·g.

``descent_step`` is one step of gradient descent, w ← w − lr·g, with the loss
before and after; ``lr_lab`` runs the same start with several learning rates to
show a step size that crawls, one that converges, one that oscillates and one
that diverges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from engine.model import Run, Transformer
from engine.optim import UpdateStep, apply, check_learning_rate, sgd_updates
from engine.replay import replayed_output, resolve_tensor
from engine.tape import Tape, Tensor
from engine.train import loss_and_grads

DEFAULT_EPSILONS = (1e-1, 1e-2, 1e-3, 1e-4)
DEFAULT_LAB_RATES = (0.003, 0.1, 0.3, 1.0)
LABELS = ("crawls", "converges", "oscillates", "diverges")


# nudging one number -----------------------------------------------------------------
@dataclass(frozen=True)
class NudgeRow:
    """One ε of a nudge experiment on one number x (a weight or a hidden value)."""

    eps: float
    loss: float  # L(x), as recorded
    loss_plus: float  # L(x + ε)
    loss_minus: float  # L(x − ε)
    measured_delta: float  # L(x + ε) − L(x): what the nudge did
    predicted_delta: float  # ε · ∂L/∂x: what the gradient promised
    ratio: float  # measured / predicted (nan when the gradient is 0)

    @property
    def central_delta(self) -> float:
        """(L(x + ε) − L(x − ε)) / 2: the symmetric measurement, error ∝ ε²."""
        return (self.loss_plus - self.loss_minus) / 2.0

    @property
    def central_ratio(self) -> float:
        return _ratio(self.central_delta, self.predicted_delta)

    @property
    def central_gradient(self) -> float:
        """(L(x + ε) − L(x − ε)) / 2ε: the finite-difference estimate of ∂L/∂x."""
        return (self.loss_plus - self.loss_minus) / (2.0 * self.eps)


def _ratio(measured: float, predicted: float) -> float:
    return measured / predicted if predicted != 0 else math.nan


def _recorded_tape(source, batch) -> Tape:
    if isinstance(source, Run):
        return source.tape
    if isinstance(source, Tape):
        if source.loss is None:
            raise ValueError("the tape has no loss: run backward first (Transformer.run does)")
        return source
    if isinstance(source, Transformer):
        if batch is None:
            raise ValueError("nudging a model needs a batch: batch=(src, tgt_in, tgt_out)")
        return source.run(*batch).tape
    raise ValueError(f"nudge a recorded Run, Tape or a Transformer with a batch, "
                     f"not {type(source).__name__}")


def _element(tensor: Tensor, index) -> tuple:
    shape = tensor.shape
    if isinstance(index, Integral) and not isinstance(index, bool):
        index = (int(index),)
    try:
        index = tuple(int(i) for i in index)
    except (TypeError, ValueError):
        raise ValueError(f"an element index is a tuple of whole numbers, got {index!r}") from None
    if len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape)):
        raise ValueError(f"index {index} is outside {tensor.name!r} of shape {shape}")
    return index


def nudge_table(source, target, index, grad: float | None = None,
                epsilons=DEFAULT_EPSILONS, *, batch=None) -> list[NudgeRow]:
    """Nudge element ``index`` of ``target`` by ±ε for each ε; measure the loss each time.

    ``source`` is a recorded ``Run`` or ``Tape`` (with its loss), or a
    ``Transformer`` plus ``batch``. ``target`` names a parameter
    (``"decoder.layers.0.linear1.weight"``) or an activation (a ``Tensor`` of the
    tape, its id or its step name): nudging a hidden value asks "what if this
    activation had been a little larger?". ``grad`` defaults to the recorded ∂L/∂x.
    """
    tape = _recorded_tape(source, batch)
    tensor = resolve_tensor(tape, target)
    if tensor.value.dtype.kind != "f":
        raise ValueError(f"{tensor.name!r} holds whole numbers (token ids); only real "
                         "values can be nudged")
    index = _element(tensor, index)
    if grad is None:
        if tensor.grad is None:
            raise ValueError(f"{tensor.name!r} has no gradient: the loss does not depend on it")
        grad = float(tensor.grad[index])
    grad = float(grad)
    base = float(tape.loss.value)
    rows = []
    for eps in epsilons:
        eps = float(eps)
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"every ε must be a positive number, got {eps}")
        plus, minus = tensor.value.copy(), tensor.value.copy()
        plus[index] += eps
        minus[index] -= eps
        loss_plus = float(replayed_output(tape, {tensor.id: plus}))
        loss_minus = float(replayed_output(tape, {tensor.id: minus}))
        measured = loss_plus - base
        predicted = grad * eps
        rows.append(NudgeRow(eps, base, loss_plus, loss_minus, measured, predicted,
                             _ratio(measured, predicted)))
    return rows


# one step of descent -----------------------------------------------------------------
@dataclass(frozen=True)
class DescentStep:
    """w ← w − lr·g for every parameter, and what it did to the loss."""

    lr: float
    loss_before: float
    loss_after: float
    predicted_delta: float  # first order: ΔL ≈ g·Δw = −lr·Σ g²
    updates: list[UpdateStep]  # per parameter: before, grad, after
    model_after: Transformer

    @property
    def delta(self) -> float:
        return self.loss_after - self.loss_before


def descent_step(model: Transformer, batch, lr: float) -> DescentStep:
    """One step of plain gradient descent on ``batch`` (src, tgt_in, tgt_out)."""
    lr = check_learning_rate(lr)
    run = model.run(*batch)
    updates = sgd_updates(model.params, run.grads, lr)
    squared = math.fsum(float(np.sum(g * g)) for g in run.grads.values())
    after = model.with_params(apply(model.params, updates))
    return DescentStep(lr, run.loss, after.loss(*batch), -lr * squared, updates, after)


# the learning-rate lab ----------------------------------------------------------------
@dataclass(frozen=True)
class LrCurve:
    """Loss after 0, 1, 2, … steps of w ← w − lr·g from the same start, and its label."""

    lr: float
    losses: list[float]
    label: str  # one of LABELS
    note: str  # why the label; for a stopped curve, where it stopped

    @property
    def stopped(self) -> bool:
        return not math.isfinite(self.losses[-1])


def classify_curve(losses) -> tuple[str, str]:
    """Label a loss curve, with the reason.

    - diverges: the loss became inf/nan, or ended above where it started;
    - oscillates: it went *up* on at least a quarter of the steps (by more than
      0.1%: rounding is not a bounce) — the steps overshoot the valley;
    - crawls: steady, but after all the steps less than half the loss is gone;
    - converges: at least half the loss gone, rising on fewer than a quarter of steps.
    """
    losses = [float(x) for x in losses]
    if len(losses) < 2:
        raise ValueError("a curve needs at least two losses to be labelled")
    start, end = losses[0], losses[-1]
    steps = len(losses) - 1
    if not math.isfinite(end):
        return "diverges", f"stopped at step {steps}: the loss became {end}"
    if end > start:
        return "diverges", f"the loss rose from {start:.4g} to {end:.4g}"
    rises = sum(1 for a, b in zip(losses, losses[1:]) if b > a * (1 + 1e-3))
    if rises * 4 >= steps:
        return "oscillates", f"the loss went up on {rises} of {steps} steps"
    kept = end / start if start > 0 else 0.0
    if kept > 0.5:
        return "crawls", f"after {steps} steps {kept:.0%} of the loss is still there"
    return "converges", f"{1 - kept:.0%} of the loss gone in {steps} steps, up on {rises}"


def descend(model: Transformer, batch, lr: float, steps: int) -> list[float]:
    """Losses of plain gradient descent on one fixed batch: L₀, L₁, …, L_steps.

    Stops early (the last entry inf or nan) when the loss or the weights stop being
    finite numbers.
    """
    lr = check_learning_rate(lr)
    trial = Transformer(model.config, model.seed, model.params)
    params = trial.params = {n: v.copy() for n, v in model.params.items()}
    losses = []
    with np.errstate(all="ignore"):
        for step in range(steps + 1):
            loss, grads = loss_and_grads(trial, *batch)
            losses.append(loss)
            if not math.isfinite(loss) or step == steps:
                break
            for name, g in grads.items():
                params[name] -= lr * g
            if not all(np.all(np.isfinite(p)) for p in params.values()):
                losses.append(math.nan)
                break
    return losses


def lr_lab(model: Transformer, batch, lrs=DEFAULT_LAB_RATES,
           steps: int = 40) -> dict[float, LrCurve]:
    """Gradient descent from the same weights on the same batch, once per learning rate."""
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
        raise ValueError(f"steps must be a whole number ≥ 1, got {steps!r}")
    curves = {}
    for lr in lrs:
        losses = descend(model, batch, lr, steps)
        label, note = classify_curve(losses)
        curves[float(lr)] = LrCurve(float(lr), losses, label, note)
    return curves
