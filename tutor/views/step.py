"""What the stepper shows at a cursor position, as plain data.

The screen and its widgets only draw this; the teaching logic — which tensors a
step has, which element the op card works through, what the PyTorch line is —
lives here, so tests can check it without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.ops.base import NOISE, Worked, fmt, idx
from engine.timeline import OP_LEVEL, Step, Timeline

PHASE_TITLES = {"forward": "FORWARD", "backward": "BACKWARD", "update": "UPDATE"}

PHASE_SENTENCES = {
    "forward": "Forward: this op computes its output from its inputs.",
    "backward": ("Backward: the gradient arriving from above (upstream, ∂L/∂output) times this "
                 "op's local derivative gives each input's gradient (downstream)."),
    "update": "Update: each weight takes a step against its gradient: w ← w − lr · ∂L/∂w.",
}


@dataclass(frozen=True)
class TensorSlot:
    """One tensor panel: what it is, and its value (None = not computed yet)."""

    key: str  # stable id within the step: "in0", "out", "upstream", "down1", "before", …
    label: str  # "input x", "output", "upstream ∂L/∂y", …
    name: str  # the tensor's name in the run
    value: np.ndarray | None
    role: str  # "input" | "output" | "upstream" | "downstream" | "total" | "param"
    note: str = ""
    shape_only: bool = False  # recorded with --shapes-only: the value is a placeholder
    noise: float = 0.0  # |value| at or below this is rounding noise of an exact 0: shown as 0


@dataclass(frozen=True)
class StepView:
    position: int
    total: int
    phase: str
    name: str
    op_name: str
    unit_path: tuple[str, ...]
    depth_label: str
    formula: str
    derivative: str
    shapes: list[tuple[str, tuple]]
    slots: list[TensorSlot]
    torch_line: str
    sentence: str
    accumulations: list[str]

    @property
    def status(self) -> str:
        return f"{PHASE_TITLES[self.phase]}  step {self.position + 1}/{self.total}"


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def shape_text(shape: tuple) -> str:
    return "scalar" if shape == () else _shape_text(shape)


def depth_label(timeline: Timeline) -> str:
    if timeline.depth >= OP_LEVEL:
        return "op by op"
    path = timeline.unit_path()
    return "by " + (path[-1] if len(path) > 1 else "phase")


def build_view(timeline: Timeline, position: int | None = None) -> StepView:
    """Everything the stepper draws for the step at ``position`` (default: the cursor)."""
    position = timeline.position if position is None else position
    step = timeline.steps[position]
    if step.phase == "update":
        return _update_view(timeline, step)
    node = step.node
    op = node.op
    slots: list[TensorSlot] = []
    accumulations: list[str] = []
    shapes = [(f"{op.inputs[i] if i < len(op.inputs) else i} = {x.name}", x.shape)
              for i, x in enumerate(node.inputs)]
    shapes.append((f"output = {node.output.name}", node.output.shape))
    if step.phase == "forward":
        for i, x in enumerate(node.inputs):
            label = op.inputs[i] if i < len(op.inputs) else f"input {i}"
            slots.append(TensorSlot(f"in{i}", f"input {label}", x.name, x.value, "input"))
        slots.append(TensorSlot("out", "output", node.output.name, node.output.value, "output"))
    else:
        b = step.backward
        slots.append(TensorSlot("upstream", "upstream ∂L/∂output", node.output.name, b.upstream,
                                "upstream"))
        for c in b.contributions:
            label = op.inputs[c.input_index] if c.input_index < len(op.inputs) else str(c.input_index)
            note = ""
            if c.accumulates:
                note = "adds to the gradient already there"
                accumulations.append(
                    f"{c.tensor.name} feeds several ops: its gradient so far "
                    f"+ this contribution = new total")
            slots.append(TensorSlot(f"down{c.input_index}", f"downstream ∂L/∂{label}",
                                    c.tensor.name, c.value, "downstream", note))
            if c.accumulates:
                slots.append(TensorSlot(f"total{c.input_index}", f"total ∂L/∂{label} so far",
                                        c.tensor.name, c.after, "total"))
        for i, x in enumerate(node.inputs):
            if not any(c.input_index == i for c in b.contributions):
                label = op.inputs[i] if i < len(op.inputs) else f"input {i}"
                slots.append(TensorSlot(f"in{i}", f"input {label} (no gradient)", x.name,
                                        x.value, "input"))
    slots = _mark_noise(_mark_shape_only(timeline, slots))
    return StepView(
        position=position, total=len(timeline), phase=step.phase, name=step.name,
        op_name=op.name, unit_path=timeline.unit_path() if position == timeline.position else step.path,
        depth_label=depth_label(timeline), formula=op.formula, derivative=op.derivative,
        shapes=shapes, slots=slots, torch_line=_torch_line(step), sentence=PHASE_SENTENCES[step.phase],
        accumulations=accumulations)


def short_name(tensor) -> str:
    """``encoder.layers.0.self_attn.q_proj.weight`` → ``q_proj.weight``; activations keep
    their last part (``scaled_scores``)."""
    parts = tensor.name.split(".")
    return ".".join(parts[-2:]) if tensor.kind == "param" else parts[-1]


def _mark_shape_only(timeline: Timeline, slots: list[TensorSlot]) -> list[TensorSlot]:
    """A PyTorch model recorded with --shapes-only has shapes but no values."""
    if not timeline.tape.shapes_only:
        return slots
    return [replace(slot, shape_only=True) if slot.value is not None and
            np.asarray(slot.value).dtype.kind == "f" else slot for slot in slots]


GRADIENT_ROLES = ("upstream", "downstream", "total")


def _mark_noise(slots: list[TensorSlot]) -> list[TensorSlot]:
    """Gradients that are 0 in exact arithmetic (a key bias's, say) come out of a backward
    pass as ±1e-17 or as 0.0, depending on the CPU. Judged against the largest number of
    the step, such values are shown as 0 on every machine."""
    scale = 0.0
    for slot in slots:
        if slot.value is not None and not slot.shape_only:
            value = np.asarray(slot.value)
            if value.dtype.kind == "f" and value.size:
                finite = np.abs(value[np.isfinite(value)])
                if finite.size:
                    scale = max(scale, float(finite.max()))
    noise = NOISE * scale
    return [replace(slot, noise=noise) if slot.role in GRADIENT_ROLES else slot
            for slot in slots]


def _torch_line(step: Step) -> str:
    """The line a learner would write in PyTorch for this step, with short names."""
    node = step.node
    names = [short_name(x) for x in node.inputs]
    out = short_name(node.output)
    line = f"{out} = {node.op.torch_line(names, node.attrs)}"
    if step.phase == "backward":
        wrt = ", ".join(names[c.input_index] for c in step.backward.contributions)
        return f"grads = torch.autograd.grad({out}, ({wrt},), grad_outputs=upstream)   # {line}"
    return line


def _update_view(timeline: Timeline, step: Step) -> StepView:
    u = step.update
    slots = [TensorSlot("before", "before", u.name, u.before, "param"),
             TensorSlot("grad", "gradient ∂L/∂w", u.name, u.grad, "downstream"),
             TensorSlot("after", "after", u.name, u.after, "param")]
    if u.optimizer == "adam":
        formula = "w ← w − lr · m̂ / (√v̂ + ε)"
        derivative = "m̂, v̂: running averages of g and g² (bias-corrected)"
        torch_line = f"torch.optim.Adam(params, lr={fmt(u.lr)}).step()"
    else:
        formula = f"w ← w − lr · ∂L/∂w   (lr = {fmt(u.lr)})"
        derivative = "a small step against the gradient lowers the loss by about lr·|g|²"
        torch_line = f"with torch.no_grad(): {u.name.split('.')[-1]} -= {fmt(u.lr)} * w.grad"
    slots = _mark_noise(_mark_shape_only(timeline, slots))
    return StepView(
        position=step.index, total=len(timeline), phase="update", name=step.name,
        op_name=u.optimizer, unit_path=step.path, depth_label=depth_label(timeline),
        formula=formula, derivative=derivative, shapes=[(u.name, u.before.shape)], slots=slots,
        torch_line=torch_line, sentence=PHASE_SENTENCES["update"], accumulations=[])


def worked_element(timeline: Timeline, position: int, slot_key: str, index: tuple) -> Worked | None:
    """The op card's worked example for the element ``index`` of panel ``slot_key``."""
    step = timeline.steps[position]
    if timeline.tape.shapes_only:
        return None  # no values were recorded to work through
    if step.phase == "update":
        u = step.update
        if slot_key not in ("before", "grad", "after") or u.optimizer != "sgd":
            return None
        return Worked(f"w{idx(index)} after", "w − lr · ∂L/∂w",
                      f"{fmt(u.before[index])} − {fmt(u.lr)} × {_paren(u.grad[index])}",
                      float(u.after[index]))
    node = step.node
    xs = [x.value for x in node.inputs]
    y = node.output.value
    try:
        if step.phase == "forward":
            return node.op.worked_forward(index if slot_key == "out" else _clip(index, y.shape),
                                          xs, y, node.attrs)
        b = step.backward
        if slot_key.startswith(("down", "total")):
            which = int(slot_key.removeprefix("down").removeprefix("total"))
        elif b.contributions:
            which = b.contributions[0].input_index
        else:
            return None
        contribution = next(c for c in b.contributions if c.input_index == which)
        index = _clip(index, contribution.value.shape)
        return node.op.worked_backward(which, index, xs, y, b.upstream, contribution.value,
                                       node.attrs)
    except (IndexError, ValueError, TypeError, KeyError):
        return None


def _clip(index: tuple, shape: tuple) -> tuple:
    """``index`` made valid for ``shape`` (the panels differ in shape)."""
    if len(shape) == 0:
        return ()
    index = tuple(index)[-len(shape):] if index else ()
    index = (0,) * (len(shape) - len(index)) + index
    return tuple(min(max(int(i), 0), n - 1) for i, n in zip(index, shape))


def _paren(x) -> str:
    text = fmt(x)
    return f"({text})" if text.startswith("-") else text


def summarize(value: np.ndarray | None) -> str:
    """``mean 0.12  min −1.3  max 2.4`` for a trace line; a scalar as itself."""
    if value is None:
        return "not yet"
    value = np.asarray(value)
    if value.size == 1:
        return fmt(value.reshape(()))
    if value.dtype.kind in "iub":
        flat = value.reshape(-1)
        head = ", ".join(str(int(v)) for v in flat[:8])
        return f"[{head}{', …' if flat.size > 8 else ''}]"
    finite = value[np.isfinite(value)]
    extra = ""
    if finite.size < value.size:
        extra = f"  non-finite {value.size - finite.size}"
    if finite.size == 0:
        return "all non-finite"
    return (f"mean {fmt(finite.mean())}  min {fmt(finite.min())}  max {fmt(finite.max())}"
            f"{extra}")
