"""Feel the gradient: nudge one number, or step every weight, and watch the loss.

Everything here works on any recorded tape with a scalar loss — the full model, a
lesson's two-line expression, one attention layer — by re-running the tape's own
nodes (``engine.replay`` for a forward pass, ``rerun`` for forward and backward).

A gradient is a promise: change x by a small ε and the loss changes by about ε·∂L/∂x.
``nudge_table`` keeps it to account for shrinking ε::

    one-sided   L(x + ε) − L(x)            = ε·g + ε²·L''/2 + …   (error ∝ ε)
    central     (L(x + ε) − L(x − ε)) / 2  = ε·g + ε³·L'''/6 + … (error ∝ ε²)

so both ratios to ε·g tend to 1, the central one much faster, until ε is so small
that rounding in L (about 1e-16·L) is comparable to ε·g.

``DescentTrail`` takes steps of gradient descent, w ← w − lr·g, from the recorded
weights; ``lab_curves`` runs the same start at a ladder of learning rates (SGD or
Adam), and ``classify_curve`` labels each curve: crawls, converges, oscillates or
diverges. Each curve also keeps the path of one weight, the steepest element at the
start (``watched_element``): a loss can fall steadily while that weight zigzags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from engine.lean import LeanTape
from engine.optim import Adam, check_learning_rate
from engine.replay import replayed_output, resolve_tensor
from engine.tape import Tape, Tensor

DEFAULT_EPSILONS = (1e-1, 1e-2, 1e-3, 1e-4)
LABELS = ("crawls", "converges", "oscillates", "diverges")  # the lab's order too
LAB_STEPS = 40
LAB_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
ADAM_RATES = (1e-3, 3e-3, 0.01, 0.03, 0.1)


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


def _recorded_tape(tape) -> Tape:
    if not isinstance(tape, Tape):
        raise ValueError(f"nudge a recorded Tape (run.tape), not {type(tape).__name__}")
    if tape.loss is None:
        raise ValueError("the tape has no loss: run backward first (Transformer.run does)")
    return tape


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


def nudge_table(tape: Tape, target, index, grad: float | None = None,
                epsilons=DEFAULT_EPSILONS) -> list[NudgeRow]:
    """Nudge element ``index`` of ``target`` by ±ε for each ε; measure the loss each time.

    ``tape`` is a recorded tape with its loss. ``target`` names a parameter
    (``"decoder.layers.0.linear1.weight"``) or an activation (a ``Tensor`` of the
    tape, its id or its step name): nudging a hidden value asks "what if this
    activation had been a little larger?". ``grad`` defaults to the recorded ∂L/∂x.
    """
    tape = _recorded_tape(tape)
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


# stepping every weight ------------------------------------------------------------
def parameters(tape) -> list[Tensor]:
    """The tape's weights: its leaves of kind ``param``."""
    return [t for t in tape.tensors if t.kind == "param"]


def rerun(tape, values: dict[int, np.ndarray]) -> tuple[float, dict[int, np.ndarray]]:
    """The loss and ∂L/∂(every parameter) with parameter ``id → value`` replaced.

    Replays the tape's nodes, in their recorded order, on a ``LeanTape`` (the same
    ``op.forward`` and ``op.backward`` calls as the recorded run, without the
    records), so with unchanged values it returns the recorded loss and gradients.
    """
    lean = LeanTape()
    mapped: dict[int, Tensor] = {}
    for t in tape.tensors:
        if t.node is None:
            value = values.get(t.id, t.value)
            mapped[t.id] = Tensor(lean, np.asarray(value), t.name, t.kind, None, t.requires_grad)
    last = tape.loss.node.index if tape.loss.node is not None else -1
    for node in tape.nodes[:last + 1]:
        mapped[node.output.id] = lean.apply(node.op, *[mapped[x.id] for x in node.inputs],
                                            **node.attrs)
    loss = mapped[tape.loss.id]
    grads = lean.backward(loss)
    return (float(loss.value),
            {p.id: grads.get(mapped[p.id].id, np.zeros_like(p.value)) for p in parameters(tape)})


@dataclass
class DescentTrail:
    """Steps of w ← w − lr·g from the recorded weights: ``weights[k]`` after k steps,
    ``grads[k]`` and ``losses[k]`` measured there."""

    tape: object
    lr: float
    weights: list[dict[int, np.ndarray]] = field(default_factory=list)
    grads: list[dict[int, np.ndarray]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    @classmethod
    def start(cls, tape, lr: float) -> "DescentTrail":
        """Step 0 is the recorded run: its weights, its gradients, its loss."""
        params = parameters(tape)
        return cls(tape, float(lr), [{p.id: p.value for p in params}],
                   [{p.id: p.grad for p in params}], [float(tape.loss.value)])

    @property
    def steps(self) -> int:
        return len(self.weights) - 1

    def step(self) -> None:
        """One more step: every weight moves by −lr·g; loss and gradients re-measured."""
        weights, grads = self.weights[-1], self.grads[-1]
        after = {i: weights[i] - self.lr * grads[i] for i in weights}
        with np.errstate(all="ignore"):
            loss, new_grads = rerun(self.tape, after)
        self.weights.append(after)
        self.grads.append(new_grads)
        self.losses.append(loss)

    def predicted_delta(self, k: int | None = None) -> float:
        """First order: ΔL ≈ Σ g·Δw = −lr · Σ g² for step ``k`` (default the last)."""
        k = self.steps if k is None else k
        return -self.lr * math.fsum(float(np.sum(g * g)) for g in self.grads[k - 1].values())



# the learning-rate lab --------------------------------------------------------------
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


@dataclass(frozen=True)
class LabCurve:
    """Losses after 0, 1, … steps from the recorded weights with one optimiser and lr."""

    optimizer: str  # "sgd" | "adam"
    lr: float
    losses: list[float]
    label: str
    note: str
    path: list[float] = field(default_factory=list)  # the watched weight after 0, 1, … steps

    @property
    def final(self) -> float:
        return self.losses[-1]

    @property
    def title(self) -> str:
        name = "SGD" if self.optimizer == "sgd" else "Adam"
        return f"{name} lr {self.lr:g}"


def watched_element(tape) -> tuple[Tensor, tuple]:
    """The weight element a lab curve follows: the one with the largest |∂L/∂w| at the
    start (the first such in the tape's order)."""
    best = None
    for p in parameters(tape):
        if p.grad is None or p.value.size == 0:
            continue
        flat = int(np.argmax(np.abs(p.grad)))
        size = float(np.abs(p.grad).flat[flat])
        if best is None or size > best[0]:
            best = (size, p, tuple(int(i) for i in np.unravel_index(flat, p.shape)))
    if best is None:
        raise ValueError("the tape has no weights with a gradient to follow")
    return best[1], best[2]


def descend_losses(tape, lr: float, steps: int, optimizer: str = "sgd",
                   cancelled=lambda: False) -> list[float]:
    """L₀ … L_steps for ``steps`` updates from the recorded weights (SGD or Adam); stops
    early, ending in nan or inf, once the loss or a weight stops being finite."""
    return descend(tape, lr, steps, optimizer, cancelled)[0]


def descend(tape, lr: float, steps: int, optimizer: str = "sgd", cancelled=lambda: False,
            watch: tuple[Tensor, tuple] | None = None) -> tuple[list[float], list[float]]:
    """``descend_losses`` and the path of the ``watch`` element (a parameter and an index;
    default ``watched_element``): its value after 0, 1, … steps, as long as the losses."""
    lr = check_learning_rate(lr)
    params = parameters(tape)
    tensor, index = watch if watch is not None else watched_element(tape)
    weights = {p.id: p.value for p in params}
    grads = {p.id: p.grad for p in params}
    losses = [float(tape.loss.value)]
    path = [float(weights[tensor.id][index])]
    adam = Adam(lr=lr) if optimizer == "adam" else None
    with np.errstate(all="ignore"):
        for _ in range(steps):
            if cancelled():
                break
            if adam is not None:
                updates = adam.updates({str(i): w for i, w in weights.items()},
                                       {str(i): g for i, g in grads.items()})
                weights = {int(u.name): u.after for u in updates}
            else:
                weights = {i: w - lr * grads[i] for i, w in weights.items()}
            path.append(float(weights[tensor.id][index]))
            if not all(np.all(np.isfinite(w)) for w in weights.values()):
                losses.append(math.nan)
                break
            loss, grads = rerun(tape, weights)
            losses.append(loss)
            if not math.isfinite(loss):
                break
    return losses, path


def lab_curves(tape, rates, optimizer: str, steps: int = LAB_STEPS, progress=None,
               cancelled=lambda: False) -> list[LabCurve]:
    """One labelled curve per learning rate (``progress(done, total)`` after each)."""
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
        raise ValueError(f"steps must be a whole number ≥ 1, got {steps!r}")
    curves = []
    watch = watched_element(tape)
    for n, lr in enumerate(rates):
        losses, path = descend(tape, lr, steps, optimizer, cancelled, watch)
        if cancelled():
            break
        label, note = classify_curve(losses)
        curves.append(LabCurve(optimizer, float(lr), losses, label, note, path))
        if progress is not None:
            progress(n + 1, len(rates))
    return curves


def pick_shown(curves: list[LabCurve]) -> list[LabCurve]:
    """One curve per label, in the order crawls, converges, oscillates, diverges: the
    fastest crawler, the converging one with the lowest final loss, the gentlest
    oscillation and the gentlest divergence."""
    shown = []
    for label in LABELS:
        group = [c for c in curves if c.label == label]
        if not group:
            continue
        if label == "crawls":
            shown.append(max(group, key=lambda c: c.lr))
        elif label == "converges":
            shown.append(min(group, key=lambda c: c.final))
        else:
            shown.append(min(group, key=lambda c: c.lr))
    return shown


def best_adam(curves: list[LabCurve]) -> LabCurve | None:
    finite = [c for c in curves if math.isfinite(c.final)]
    return min(finite, key=lambda c: c.final) if finite else None


def lab_rates(current_lr: float) -> tuple[float, ...]:
    """The ladder of learning rates, with the learner's own lr among them."""
    return tuple(sorted(set(LAB_RATES) | {float(current_lr)}))


def scan_summary(curves: list[LabCurve]) -> str:
    """``crawls 1e-4–3e-4 · converges 1e-3–0.3 · oscillates 1 · diverges 3–10``"""
    parts = []
    for label in LABELS:
        rates = sorted(c.lr for c in curves if c.label == label)
        if rates:
            span = f"{rates[0]:g}" if len(rates) == 1 else f"{rates[0]:g}–{rates[-1]:g}"
            parts.append(f"{label} {span}")
    return " · ".join(parts)
