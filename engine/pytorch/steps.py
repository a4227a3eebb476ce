"""Op by op: every forward node and every backward step of a recorded tape redone by
torch on its recorded inputs, and the whole graph rebuilt in torch autograd.

Each op carries its own ``torch_forward``; ``twin_forward`` runs it on the node's
inputs, ``twin_backward`` asks ``torch.autograd.grad`` for the step's contributions,
``check_every_step`` judges all of them by the one rule (``engine.pytorch.match``),
and ``replay_torch`` rebuilds any tape end to end so its gradients come from torch
autograd alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.pytorch import import_torch
from engine.pytorch.match import TOLERANCE, Match, combined, match, tolerance_for

__all__ = ["twin_forward", "twin_backward", "StepCheck", "CheckReport", "check_every_step",
           "replay_torch"]


def _leaf(torch, value, requires_grad: bool = False):
    """A fresh torch tensor holding a copy of a recorded value (dtype kept: float64
    stays float64, token ids stay integers)."""
    tensor = torch.tensor(np.array(value, copy=True))
    return tensor.requires_grad_(True) if requires_grad else tensor


def _check_values(node) -> None:
    if node.output.tape.shapes_only:
        raise ValueError("this record holds shapes only, no values: nothing to replay")


def _run_op(torch, node, xs):
    return node.op.torch_forward(torch, *xs, **node.attrs)


def _tolerance(node, tolerance: float) -> float:
    """``tolerance`` for float64 steps; wider where the step's values are float32."""
    return tolerance_for([t.value for t in node.inputs] + [node.output.value], tolerance)


def twin_forward(node, tolerance: float = TOLERANCE) -> Match:
    """Run ``node``'s op in torch on its recorded inputs, against the engine's output."""
    torch = import_torch()
    _check_values(node)
    xs = [_leaf(torch, t.value) for t in node.inputs]
    with torch.no_grad():
        y = _run_op(torch, node, xs)
    return match("output", node.output.value, y.detach().numpy().copy(),
                 _tolerance(node, tolerance))


def twin_backward(step, tolerance: float = TOLERANCE) -> list[tuple[int, Match]]:
    """The backward step redone by torch on that node alone.

    The node's inputs become fresh leaves, the op runs forward, and
    ``torch.autograd.grad(y, inputs, grad_outputs=upstream)`` gives ∂L/∂y · ∂y/∂x for
    each input that received a contribution: [(input index, its match)]. A learner-level
    call given one tensor twice (``F.linear(x, x)``) gets one leaf for it: what it is
    sent is the sum over both places, as its parts sent it.
    """
    torch = import_torch()
    node = step.node
    _check_values(node)
    wanted = [c.input_index for c in step.contributions]
    if not wanted:
        return []
    by_tensor = getattr(node.op, "level", "aten") in ("function", "custom")
    needs = {node.inputs[i].id if by_tensor else i for i in wanted}
    leaves, xs = {}, []
    for i, t in enumerate(node.inputs):
        key = t.id if by_tensor else i
        if key not in leaves:
            floating = np.asarray(t.value).dtype.kind in "fc"
            leaves[key] = _leaf(torch, t.value, requires_grad=floating and key in needs)
        xs.append(leaves[key])
    y = _run_op(torch, node, xs)
    upstream = torch.tensor(np.array(step.upstream, dtype=float, copy=True), dtype=y.dtype)
    grads = torch.autograd.grad(y, [xs[i] for i in wanted], grad_outputs=upstream,
                                allow_unused=True)
    tolerance = _tolerance(node, tolerance)
    out = []
    for c, g in zip(step.contributions, grads):
        value = (np.zeros(np.shape(node.inputs[c.input_index].value)) if g is None
                 else g.detach().numpy().copy())
        out.append((c.input_index, match(f"input {c.input_index}", c.value, value, tolerance,
                                         accumulates=c.accumulates)))
    return out


@dataclass(frozen=True)
class StepCheck:
    """One step checked: ``phase`` "forward" (``index`` is the node index) or
    "backward" (``index`` is the backward step index). ``match`` is None for a step
    not run again: ``random`` (its recorded value is taken as it is), ``error`` (torch
    refused to run it again: the one-line reason) or neither (an op with nothing to
    replay, ``skipped``; see engine.pytorch.record)."""

    phase: str
    index: int
    name: str
    op: str
    match: Match | None
    random: bool = False
    error: str = ""

    @property
    def skipped(self) -> bool:
        return self.match is None and not self.error

    @property
    def max_abs_diff(self) -> float:
        if self.error:
            return float("inf")
        return 0.0 if self.match is None else self.match.max_abs_diff

    @property
    def ok(self) -> bool:
        return not self.error and (self.match is None or self.match.ok)

    @property
    def reason(self) -> str:
        """Why the step failed, in one line ("" when it did not)."""
        if self.error:
            return f"PyTorch could not run it again: {self.error}"
        if self.match is not None and not self.match.ok:
            return (f"max |recorded − torch| {self.match.max_abs_diff:.3g} > allowed "
                    f"{self.match.allowed:.3g}")
        return ""


@dataclass
class CheckReport:
    """Every step of a tape against torch, each judged by the one rule."""

    tolerance: float
    steps: list[StepCheck] = field(default_factory=list)

    @property
    def forward(self) -> list[StepCheck]:
        return [s for s in self.steps if s.phase == "forward"]

    @property
    def backward(self) -> list[StepCheck]:
        return [s for s in self.steps if s.phase == "backward"]

    @property
    def first_mismatch(self) -> StepCheck | None:
        return next((s for s in self.steps if not s.ok), None)

    @property
    def mismatches(self) -> list[StepCheck]:
        return [s for s in self.steps if not s.ok]

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None

    @property
    def skipped(self) -> list[StepCheck]:
        """Steps not run again: random ones and ones with nothing to replay."""
        return [s for s in self.steps if s.skipped]

    @property
    def random(self) -> list[StepCheck]:
        return [s for s in self.steps if s.random]

    @property
    def compared(self) -> list[StepCheck]:
        return [s for s in self.steps if s.match is not None or s.error]

    @property
    def max_diff(self) -> float:
        return max((s.max_abs_diff for s in self.steps), default=0.0)

    def summary(self) -> str:
        bad = self.first_mismatch
        head = (f"{len(self.forward)} forward and {len(self.backward)} backward steps against "
                f"PyTorch: largest difference {self.max_diff:.2e}")
        if self.random:
            head += f" ({len(self.random)} random: recorded value, not re-run)"
        plain = len(self.skipped) - len(self.random)
        if plain:
            head += f" ({plain} with no op to replay, skipped)"
        if bad is None:
            return f"{head}, all within {self.tolerance:g} × max(1, |value|)"
        return f"{head}; first mismatch at {bad.phase} step {bad.index} {bad.name} " \
               f"({bad.op}): {bad.reason}"


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _not_run(phase, index, node):
    op = node.op
    if getattr(op, "random", False):
        return StepCheck(phase, index, node.name, op.name, None, random=True)
    if not getattr(op, "replayable", True):
        return StepCheck(phase, index, node.name, op.name, None)
    return None


def check_forward(node, tolerance: float = TOLERANCE) -> StepCheck:
    found = _not_run("forward", node.index, node)
    if found is not None:
        return found
    try:
        result = twin_forward(node, tolerance)
    except Exception as error:  # torch refused: a failed check, said in one line
        return StepCheck("forward", node.index, node.name, node.op.name, None,
                         error=_one_line(error))
    return StepCheck("forward", node.index, node.name, node.op.name,
                     combined(node.name, [result]))


def check_backward(step, tolerance: float = TOLERANCE) -> StepCheck:
    node = step.node
    found = _not_run("backward", step.index, node)
    if found is not None:
        return found
    try:
        results = [m for _, m in twin_backward(step, tolerance)]
    except Exception as error:
        return StepCheck("backward", step.index, node.name, node.op.name, None,
                         error=_one_line(error))
    return StepCheck("backward", step.index, node.name, node.op.name,
                     combined(node.name, results) if results else
                     Match(node.name, 0.0, 0.0, _tolerance(node, tolerance)))


def check_every_step(tape, tolerance: float = TOLERANCE, progress=None) -> CheckReport:
    """Replay every forward node and every backward step of ``tape`` in torch, one at a
    time, on the recorded inputs. ``progress(i, n)`` is called after each of the n steps.
    Random steps (dropout) are taken as recorded, and what follows them is checked on
    the recorded values."""
    if tape.shapes_only:
        raise ValueError("this record holds shapes only, no values: nothing to replay")
    report = CheckReport(tolerance)
    jobs = [(check_forward, n) for n in tape.nodes] + [(check_backward, s) for s in tape.steps]
    for done, (check, item) in enumerate(jobs, 1):
        report.steps.append(check(item, tolerance))
        if progress is not None:
            progress(done, len(jobs))
    return report


def replay_torch(tape) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
    """The whole graph rebuilt in torch from the leaves, then ``backward`` from ``tape.loss``.

    Returns {tensor id: (value, gradient)} with gradients computed by torch autograd
    alone (``retain_grad`` on every activation): ``None`` for a tensor that needs no
    gradient, zeros for one the loss does not depend on (the engine's convention).
    """
    torch = import_torch()
    if tape.shapes_only:
        raise ValueError("this record holds shapes only, no values: nothing to replay")
    values = {}
    for t in tape.tensors:
        if t.node is None:
            floating = np.asarray(t.value).dtype.kind == "f"
            values[t.id] = _leaf(torch, t.value, requires_grad=t.requires_grad and floating)
            continue
        node = t.node
        y = _run_op(torch, node, [values[x.id] for x in node.inputs])
        if y.requires_grad:
            y.retain_grad()
        values[t.id] = y
    if tape.loss is not None:
        loss = values[tape.loss.id]
        first = tape.steps[0] if tape.steps else None
        seed = (first.upstream if first is not None and first.node.output is tape.loss
                else np.ones(np.shape(tape.loss.value)))
        if loss.requires_grad:
            loss.backward(torch.tensor(np.array(seed, dtype=float, copy=True), dtype=loss.dtype))
    out = {}
    for t in tape.tensors:
        v = values[t.id]
        grad = None
        if tape.loss is not None and t.requires_grad:
            grad = (v.grad.detach().numpy().copy() if v.grad is not None
                    else np.zeros(np.shape(t.value)))
        out[t.id] = (v.detach().numpy().copy(), grad)
    return out

