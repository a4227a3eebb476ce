"""What the PyTorch twin shows at a step, as plain data (no Textual here).

For the step under the cursor: the PyTorch code for it (``code_lines``), torch's own
result on the recorded inputs beside the engine's (``check_step``), and where the
selected tensor lives in PyTorch (``torch_name_of``). Every comparison is judged by the
one rule of ``engine.pytorch.match``. Torch is imported only by ``check_step``,
``check_update``, ``check_every_step`` and ``autograd_nodes``, through
``engine.pytorch.import_torch``; the app runs them in a helper process
(``tutor.views.twin_checks``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from engine.model import torch_location
from engine.ops.base import idx
from engine.optim import UpdateStep
from engine.pytorch import import_torch
from engine.pytorch.match import TOLERANCE, Match, match
from engine.pytorch.names import activation_torch_name, python_name, torch_line, torch_operands
from engine.pytorch.steps import CheckReport, twin_backward, twin_forward
from engine.pytorch.steps import check_every_step as check_steps
from engine.timeline import Step, Timeline
from tutor.views.step import PanelKey, Role


@dataclass(frozen=True)
class TwinResult:
    """The step redone in PyTorch. ``message`` says why nothing was compared (a step
    with no values, an op with nothing to replay). On backward steps ``grad_fns`` are
    the autograd nodes torch built for this op alone, from the output's ``grad_fn``
    towards the inputs (``AddmmBackward0``; ``ViewBackward0, AddmmBackward0, …`` for
    an engine op that torch spells as several)."""

    position: int
    phase: str
    name: str
    code: tuple[str, ...]
    comparisons: tuple[Match, ...] = ()
    grad_fns: tuple[str, ...] = ()
    message: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.comparisons) and all(c.ok for c in self.comparisons)

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.comparisons), default=0.0)


# the code -------------------------------------------------------------------------

def code_lines(step: Step) -> tuple[str, ...]:
    """The PyTorch lines for a step, runnable with the recorded values bound to the
    names (``import math, torch``; ``import torch.nn.functional as F``)."""
    if step.phase == "update":
        return update_code(step.update)
    node = step.node
    line = torch_line(node)
    if step.phase == "forward":
        return (line,)
    operands = torch_operands(node)
    wrt = [operands[c.input_index] for c in step.backward.contributions]
    if not wrt or not getattr(node.op, "replayable", True):
        return (line,)
    inputs = f"({wrt[0]},)" if len(wrt) == 1 else f"({', '.join(wrt)})"
    return (line, f"grads = torch.autograd.grad({python_name(node.output.name)}, {inputs}, "
                  f"grad_outputs=upstream)")


def update_code(u: UpdateStep) -> tuple[str, ...]:
    w = python_name(u.name)
    if u.optimizer == "adam":
        return (f"torch.optim.Adam([{w}], lr={u.lr!r}).step()",)
    return (f"lr = {u.lr!r}", f"with torch.no_grad(): {w} -= lr * {w}.grad")


# the check -----------------------------------------------------------------------

def _input_label(node, i: int) -> str:
    """An input as the step's comparisons name it: a recorded PyTorch op's by its tensor
    (``fc2.bias``, not ``self``), an engine op's by its letter."""
    if getattr(node.op, "level", None) is not None and i < len(node.inputs):
        return node.inputs[i].name
    return node.op.inputs[i] if i < len(node.op.inputs) else f"input {i}"


def not_comparable(timeline: Timeline, step: Step) -> str:
    """Why this step cannot be replayed in torch ("" when it can)."""
    if step.phase == "update":
        if step.update.optimizer != "sgd":
            return (f"not replayed: {step.update.optimizer}'s running averages are not part of "
                    "the record, so only plain SGD updates are redone in torch")
        return ""
    if timeline.tape.shapes_only:
        return ("shape only: this record holds shapes, no values (--shapes-only): nothing "
                "to compare")
    op = step.node.op
    if getattr(op, "random", False):
        return (f"random: recorded value, not re-run — {op.name} draws random numbers (or "
                "reads uninitialised memory); the steps after it are checked on this value")
    if not getattr(op, "replayable", True):
        return (f"not replayable: {op.name} has no forward op to run again ({op.formula})")
    if step.phase == "backward" and not step.backward.contributions:
        return "no input of this op needs a gradient: nothing is sent back, nothing to compare"
    return ""


def check_step(timeline: Timeline, position: int) -> TwinResult:
    """Redo the step at ``position`` in PyTorch on its recorded inputs.

    Raises ``engine.pytorch.TorchMissing`` when torch is not installed."""
    step = timeline.steps[position]
    code = code_lines(step)
    base = dict(position=position, phase=step.phase, name=step.name, code=code)
    reason = not_comparable(timeline, step)
    if reason:
        return TwinResult(**base, message=reason)
    if step.phase == "update":
        return TwinResult(**base, comparisons=(check_update(step.update),))
    import_torch()
    node = step.node
    if step.phase == "forward":
        return TwinResult(**base, comparisons=(twin_forward(node),))
    contributions = {c.input_index: c for c in step.backward.contributions}
    comparisons = [dataclasses.replace(m, label=f"∂L/∂{_input_label(node, i)}")
                   for i, m in twin_backward(step.backward)]
    return TwinResult(**base, comparisons=tuple(comparisons),
                      grad_fns=autograd_nodes(node, list(contributions)))


def check_update(u: UpdateStep) -> Match:
    """``with torch.no_grad(): w -= lr * w.grad`` run in torch on the recorded weight
    and gradient, against the engine's weight after the step."""
    torch = import_torch()
    w = torch.tensor(np.array(u.before, dtype=float, copy=True), requires_grad=True)
    w.grad = torch.tensor(np.array(u.grad, dtype=float, copy=True))
    with torch.no_grad():
        w -= u.lr * w.grad
    value = w.detach().numpy().copy()
    return match("after", u.after, value)


def autograd_nodes(node, wanted: list[int], limit: int = 6) -> tuple[str, ...]:
    """The autograd nodes torch builds when it runs ``node``'s op on inputs of which
    those in ``wanted`` need gradients: ``y.grad_fn`` first (``AddmmBackward0``), then
    the nodes it leads to, breadth first, without the leaves' ``AccumulateGrad``."""
    torch = import_torch()
    xs = []
    for i, t in enumerate(node.inputs):
        x = torch.tensor(np.array(t.value, copy=True))
        if i in wanted and x.is_floating_point():
            x.requires_grad_(True)
        xs.append(x)
    y = node.op.torch_forward(torch, *xs, **node.attrs)
    names, seen, queue = [], set(), [getattr(y, "grad_fn", None)]
    while queue and len(names) < limit:
        fn = queue.pop(0)
        if fn is None or id(fn) in seen or type(fn).__name__ == "AccumulateGrad":
            continue
        seen.add(id(fn))
        names.append(fn.name().rsplit("::", 1)[-1])
        queue.extend(next_fn for next_fn, _ in fn.next_functions)
    return tuple(names)


def position_of(timeline: Timeline, check) -> int:
    """Where an ``engine.pytorch.steps.StepCheck`` sits on the timeline."""
    if check.phase == "forward":
        return timeline.forward_index[check.index]
    return timeline.backward_start + check.index


@dataclass(frozen=True)
class EveryStep:
    """Every step checked: the forward/backward report of
    ``engine.pytorch.steps.check_every_step`` and the SGD updates redone by ``check_update``."""

    report: CheckReport
    updates: tuple  # ((timeline position, Match, or None: not SGD, skipped), …)


def check_every_step(timeline: Timeline, progress=None) -> EveryStep:
    """Every forward and backward step of the run redone in PyTorch, op by op
    (``engine.pytorch.steps.check_every_step``), then every update (SGD redone by
    ``check_update``; another optimizer's update is skipped). ``progress(done, total)``
    follows each step."""
    tape = timeline.tape
    updates = timeline.steps[timeline.update_start:]
    total = len(tape.nodes) + len(tape.steps) + len(updates)
    tick = progress or (lambda done, total: None)
    report = check_steps(tape, progress=lambda done, _n: tick(done, total))
    checked = []
    for done, step in enumerate(updates, len(report.steps) + 1):
        sgd = step.update.optimizer == "sgd"
        checked.append((step.index, check_update(step.update) if sgd else None))
        tick(done, total)
    return EveryStep(report, tuple(checked))


def every_step_summary(timeline: Timeline, outcome: EveryStep) -> tuple[str, int | None]:
    """The report's text, and the timeline position of the first mismatch (None: all pass)."""
    report = outcome.report
    updates = [(p, c) for p, c in outcome.updates if c is not None]
    random = len(report.random)
    skipped = len(report.skipped) - random + len(outcome.updates) - len(updates)
    largest = max([max((s.max_abs_diff for s in report.steps if not s.error), default=0.0)] +
                  [c.max_abs_diff for _, c in updates])
    text = (f"{len(report.steps) + len(outcome.updates)} steps checked in PyTorch "
            f"({len(report.forward)} forward, {len(report.backward)} backward, "
            f"{len(outcome.updates)} update), each op alone on its recorded inputs: "
            f"largest difference {_diff(largest)}")
    if random:
        text += f"; {random} random steps taken as recorded (not re-run)"
    if skipped:
        text += f"; {skipped} with nothing to replay, skipped"
    mismatches = [(position_of(timeline, s), s) for s in report.steps if not s.ok]
    mismatches += [(p, c) for p, c in updates if not c.ok]
    if not mismatches:
        return f"✓ {text}, all within {TOLERANCE:g} (× max(1, |value|)).", None
    position, found = min(mismatches, key=lambda m: m[0])  # the first on the timeline
    step = timeline.steps[position]
    judged = getattr(found, "match", None) or found  # a step's Match, or an update's
    why = (found.reason if getattr(found, "error", "") else
           f"max |engine − torch| {found.max_abs_diff:.3g} > {judged.allowed:.3g}")
    return (f"✗ {text}.\n  First mismatch: step {position + 1}/{len(timeline)}, {step.phase} "
            f"{step.name} ({step.op_name}): {why}. "
            "The stepper jumped there: press x to see it in PyTorch.", position)


def _diff(d: float) -> str:
    return "0" if d == 0.0 else f"{d:.2e}"


# the names map ---------------------------------------------------------------------

def tensor_of(step: Step, key: PanelKey | None):
    """The engine tensor a panel of this step shows (None for an update's panels)."""
    if step.node is None or key is None:
        return None
    node = step.node
    if key.role in (Role.OUTPUT, Role.UPSTREAM):
        return node.output
    if key.input_index is not None and key.input_index < len(node.inputs):
        return node.inputs[key.input_index]
    return None


def param_torch_name(name: str, index: tuple, d_model: int) -> str:
    """A transformer weight element in ``torch.nn.Transformer``. Q, K and V are packed
    into one ``in_proj_weight`` of 3·d_model rows, so ``…k_proj.weight[i, j]`` is
    ``…in_proj_weight[d_model + i, j]``."""
    location = torch_location(name, d_model)
    where = str(location)
    if location.rows is None:
        return where + (_element(index) if index else "")
    start = location.rows[0]
    short = location.name.rsplit(".", 1)[-1]
    if not index:
        return where
    first, rest = int(index[0]), [int(i) for i in index[1:]]
    inner = ", ".join([f"{start} + {first}"] + [str(i) for i in rest])
    exact = ", ".join(str(i) for i in [start + first] + rest)
    return f"{where}   element {idx(index)} is {short}[{inner}] = {short}[{exact}]"


def _element(index: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def torch_name_of(timeline: Timeline, step: Step, key: PanelKey | None, index: tuple,
                  d_model: int | None) -> str:
    """Where the selected tensor lives in PyTorch, in one line.

    ``d_model`` given: the run is the engine's transformer (its twin is
    ``torch.nn.Transformer``). A ``TorchRecord`` (``tutor torch``) already carries
    torch's own names. Anything else is a small graph of its own."""
    recorded = timeline.tape.origin == "pytorch"
    if step.phase == "update":
        name, kind, node = step.update.name, "param", None
    else:
        tensor = tensor_of(step, key)
        if tensor is None:
            return ""
        name, kind, node = tensor.name, tensor.kind, tensor.node
    index = tuple(int(i) for i in index)
    if recorded:
        return _recorded_name(name, kind, node, index, timeline.tape)
    if d_model is None:
        return (f"{python_name(name)}{_element(index) if index else ''}: this run is a small "
                "graph of its own, not the transformer (in torch, a tensor of its own)")
    if kind == "param":
        return param_torch_name(name, index, d_model)
    if kind == "input":
        return f"{name}: an input you pass to the model (token ids)"
    if kind == "const":
        return f"{name}: a constant (in torch, a tensor made once, not learned)"
    try:
        where = activation_torch_name(name, d_model)
    except KeyError:
        return f"{python_name(name)}: a value inside the step, no module of its own in torch"
    return where + (f"   element {idx(index)}" if index else "")


def _recorded_name(name: str, kind: str, node, index: tuple, tape) -> str:
    """Where a tensor of a recorded model lives: a parameter or buffer of the model, an
    input, or the output of a call the model made inside one of its modules."""
    element = _element(index) if index else ""
    suffix = " (torch's own name)"
    if kind == "param":
        return f"model.{name}{element}{suffix}"
    if kind == "input":
        return f"{name}{element}: the input you passed to the model"
    if kind == "const" and name in getattr(tape, "buffers", ()):
        return f"model.{name}{element}: a buffer of the model (not learned){suffix}"
    if kind == "const" or node is None:
        return f"{name}{element}: a constant the model used (not learned)"
    if not getattr(node.op, "replayable", True) and node.path[:1] == ("unpaired",):
        return (f"{name}: an autograd node with no recorded forward op (a custom "
                "autograd.Function?)")
    modules = getattr(tape, "modules", set())
    scope = node.path[:-1]
    module = next((scope[:n] for n in range(len(scope), 0, -1) if scope[:n] in modules), ())
    call = getattr(tape, "parent", {}).get(node.index)
    if call is not None and call.output is node.output:
        op = f"{call.op.name} (its {node.op.name})"
    elif call is not None:
        op = f"{node.op.name}, a step inside {call.op.name},"
    else:
        op = node.op.name
    if scope[:1] == ("loss",):
        place = "your loss_fn"
    elif module:
        place = f"module model.{'.'.join(module)}"
    else:
        place = "the model's own forward()"
    return f"{name}{element}: the output of {op} inside {place}"
