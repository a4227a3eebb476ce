"""The numbers of descent: re-running a recorded tape with new weights (``rerun``), steps
of w ← w − lr·g from the recorded weights, and the learning-rate lab's curves. Imported
on the first ``d`` or ``L``, so the stepper's start does not pay for it.

``rerun`` replays the tape's own nodes rather than a particular model's code, so all
of this works on any recorded tape with a scalar loss: the full model, a lesson's
two-line expression, one attention layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.tape import Tensor

LAB_STEPS = 40
LAB_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
ADAM_RATES = (1e-3, 3e-3, 0.01, 0.03, 0.1)
LABEL_ORDER = ("crawls", "converges", "oscillates", "diverges")


def parameters(tape) -> list[Tensor]:
    """The tape's weights: its leaves of kind ``param``."""
    return [t for t in tape.tensors if t.kind == "param"]


def rerun(tape, values: dict[int, np.ndarray]) -> tuple[float, dict[int, np.ndarray]]:
    """The loss and ∂L/∂(every parameter) with parameter ``id → value`` replaced.

    Replays the tape's nodes, in their recorded order, on a ``LeanTape`` (the same
    ``op.forward`` and ``op.backward`` calls as the recorded run, without the
    records), so with unchanged values it returns the recorded loss and gradients.
    """
    from engine.lean import LeanTape

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


@dataclass(frozen=True)
class ElementStep:
    """One weight element in the last step: after = before − lr · gradient."""

    name: str
    index: tuple
    before: float
    grad: float
    after: float
    note: str = ""


def element_step(trail: DescentTrail, tensor: Tensor, index: tuple, note: str = "") -> ElementStep:
    k = trail.steps
    return ElementStep(tensor.name, index, float(trail.weights[k - 1][tensor.id][index]),
                       float(trail.grads[k - 1][tensor.id][index]),
                       float(trail.weights[k][tensor.id][index]), note)


def focus_parameter(screen) -> tuple[Tensor, tuple, str]:
    """The weight whose numbers the pane shows: the selected one if it is a weight, else
    the first weight this step uses (or updates), else the run's first weight."""
    from tutor.views.nudge import find_target

    timeline = screen.session.timeline
    slot, index = screen.selected_element()
    target = find_target(timeline, slot, index or ())
    if not isinstance(target, str) and target.tensor.kind == "param":
        return target.tensor, target.index, ""
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


@dataclass(frozen=True)
class LabCurve:
    """Losses after 0, 1, … steps from the recorded weights with one optimiser and lr."""

    optimizer: str  # "sgd" | "adam"
    lr: float
    losses: list[float]
    label: str
    note: str

    @property
    def final(self) -> float:
        return self.losses[-1]

    @property
    def title(self) -> str:
        name = "SGD" if self.optimizer == "sgd" else "Adam"
        return f"{name} lr {self.lr:g}"


def descend_losses(tape, lr: float, steps: int, optimizer: str = "sgd",
                   cancelled=lambda: False) -> list[float]:
    """L₀ … L_steps for ``steps`` updates from the recorded weights (SGD or Adam); stops
    early, ending in nan or inf, once the loss or a weight stops being finite."""
    from engine.optim import Adam

    params = parameters(tape)
    weights = {p.id: p.value for p in params}
    grads = {p.id: p.grad for p in params}
    losses = [float(tape.loss.value)]
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
            if not all(np.all(np.isfinite(w)) for w in weights.values()):
                losses.append(math.nan)
                break
            loss, grads = rerun(tape, weights)
            losses.append(loss)
            if not math.isfinite(loss):
                break
    return losses


def lab_curves(tape, rates, optimizer: str, steps: int = LAB_STEPS, progress=None,
               cancelled=lambda: False) -> list[LabCurve]:
    """One labelled curve per learning rate (``progress(done, total)`` after each)."""
    from engine.probes import classify_curve

    curves = []
    for n, lr in enumerate(rates):
        losses = descend_losses(tape, lr, steps, optimizer, cancelled)
        if cancelled():
            break
        label, note = classify_curve(losses)
        curves.append(LabCurve(optimizer, float(lr), losses, label, note))
        if progress is not None:
            progress(n + 1, len(rates))
    return curves


def pick_shown(curves: list[LabCurve]) -> list[LabCurve]:
    """One curve per label, in the order crawls, converges, oscillates, diverges: the
    fastest crawler, the converging one with the lowest final loss, the gentlest
    oscillation and the gentlest divergence."""
    shown = []
    for label in LABEL_ORDER:
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
    for label in LABEL_ORDER:
        rates = sorted(c.lr for c in curves if c.label == label)
        if rates:
            span = f"{rates[0]:g}" if len(rates) == 1 else f"{rates[0]:g}–{rates[-1]:g}"
            parts.append(f"{label} {span}")
    return " · ".join(parts)
