"""What the stepper shows at a cursor position, as plain data.

The screen and its widgets only draw this; the teaching logic — which tensors a step
has, what each panel is called, which element the op card works through, what the
PyTorch line is — lives here, so tests can check it without a terminal.

Every tensor is named as it is in the run (``w``, ``q_proj.weight``, ``scaled_scores``),
never by the op's generic letters: the op's formula, local derivative and worked line
are rewritten with the run's names (``y = a · b`` at ``c = b * w`` reads ``c = b · w``).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple

import numpy as np

from engine.ops.base import NOISE, Worked, fmt, idx, paren
from engine.tape import Tensor
from engine.timeline import OP_LEVEL, Step, Timeline
from tutor.views.cells import clip_index

PHASE_TITLES = {"forward": "FORWARD", "backward": "BACKWARD", "update": "UPDATE"}

PHASE_SENTENCES = {
    "forward": "Forward: this op computes its output from its inputs.",
    "backward": ("Backward: the gradient arriving from above (upstream, ∂L/∂output) times this "
                 "op's local derivative gives each input's gradient (downstream)."),
    "update": "Update: each weight takes a step against its gradient: w ← w − lr · ∂L/∂w.",
}


class Role(str, Enum):
    """What a panel shows."""

    INPUT = "input"
    OUTPUT = "output"
    UPSTREAM = "upstream"  # ∂L/∂output arriving at a backward step
    DOWNSTREAM = "downstream"  # what the step sends one input: upstream × local
    TOTAL = "total"  # an input's gradient so far, where it feeds several ops
    BEFORE = "before"  # an update: the weight before
    GRADIENT = "gradient"  # an update: the weight's gradient
    AFTER = "after"  # an update: the weight after


GRADIENT_ROLES = (Role.UPSTREAM, Role.DOWNSTREAM, Role.TOTAL, Role.GRADIENT)


class PanelKey(NamedTuple):
    """Which panel of a step: its role, and for inputs and their gradients the input's
    position among the op's inputs."""

    role: Role
    input_index: int | None = None


class TensorSlot(NamedTuple):
    """One tensor panel: what it is, and its value (None = not computed yet).

    ``tensor`` is the tensor the panel stands for: the value shown, or for a gradient
    panel the tensor whose gradient it is (a nudge moves that tensor)."""

    key: PanelKey
    label: str  # "upstream ∂L/∂c", "input w", "b before", …
    name: str  # the tensor's full name in the run
    value: np.ndarray | None
    tensor: Tensor | None = None
    note: str = ""
    shape_only: bool = False  # recorded with --shapes-only: the value is a placeholder
    noise: float = 0.0  # |value| at or below this is rounding noise of an exact 0: shown as 0
    hidden: np.ndarray | None = None  # elements a waiting quiz asks for: shown as ?
    concealed: bool = False  # the whole panel is what a waiting quiz asks about

    @property
    def role(self) -> Role:
        return self.key.role

    @property
    def is_gradient(self) -> bool:
        return self.key.role in GRADIENT_ROLES


class Accumulation(NamedTuple):
    """Input ``input_index`` feeds several ops: its gradient so far plus this step's
    contribution is the new total."""

    name: str
    input_index: int
    before: np.ndarray
    contribution: np.ndarray
    after: np.ndarray

    def line(self, index: tuple) -> str:
        """``∂L/∂x[0,3]: 0.12 so far + 0.05 from here = 0.17``"""
        at = clip_index(index, self.after.shape)
        return (f"∂L/∂{self.name}{idx(at)}: {fmt(self.before[at])} so far + "
                f"{paren(self.contribution[at])} from here = {fmt(self.after[at])}")


class StepView(NamedTuple):
    position: int
    total: int
    phase: str
    name: str
    op_name: str
    unit_path: tuple[str, ...]
    depth_label: str
    formula: str
    derivative: str
    shapes: list[tuple[str, tuple]]  # (the run's name, shape)
    slots: list[TensorSlot]
    torch_line: str
    sentence: str
    accumulations: list[Accumulation]

    @property
    def status(self) -> str:
        return f"{PHASE_TITLES[self.phase]}  step {self.position + 1}/{self.total}"

    def slot(self, key: PanelKey) -> TensorSlot | None:
        return next((s for s in self.slots if s.key == key), None)


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def shape_text(shape: tuple | str) -> str:
    """``(3, 4)``, ``(5,)``, ``scalar``; a shape a quiz asks for is already ``?``."""
    if isinstance(shape, str):
        return shape
    return "scalar" if shape == () else _shape_text(shape)


def depth_label(timeline: Timeline) -> str:
    if timeline.depth >= OP_LEVEL:
        return "op by op"
    path = timeline.unit_path()
    return "by " + (path[-1] if len(path) > 1 else "phase")


# names ------------------------------------------------------------------------------

def short_name(tensor) -> str:
    """``encoder.layers.0.self_attn.q_proj.weight`` → ``q_proj.weight``; activations keep
    their last part (``scaled_scores``)."""
    parts = tensor.name.split(".")
    return ".".join(parts[-2:]) if tensor.kind == "param" else parts[-1]


def display_names(tensors) -> dict[int, str]:
    """A short name per tensor id, long enough that the step's tensors differ."""
    names = {t.id: short_name(t) for t in tensors}
    for _ in range(8):
        seen: dict[str, list] = {}
        for t in tensors:
            seen.setdefault(names[t.id], []).append(t)
        clashes = [group for group in seen.values()
                   if len({t.id for t in group}) > 1]
        if not clashes:
            break
        for group in clashes:
            for t in group:
                parts = t.name.split(".")
                count = len(names[t.id].split(".")) + 1
                names[t.id] = ".".join(parts[-count:])
    return names


FORMULA_NAME_LIMIT = 8  # longer names stay letters in the formula (the shapes line binds them)


def fits(op, node, names: dict[int, str], longest: int = FORMULA_NAME_LIMIT) -> bool:
    """Are the step's names short enough to write the formula with them?"""
    tensors = list(node.inputs) + [node.output]
    return max(len(names.get(t.id, short_name(t))) for t in tensors) <= longest


def formula_letter(op, where) -> str:
    """The letter the op's formula uses for input ``where`` (or "output")."""
    letters = [s for s, w in op.symbol_map().items() if w == where]
    for letter in letters:
        if re.search(r"(?<![A-Za-z0-9_])" + re.escape(letter) + r"(?![A-Za-z0-9_])",
                     op.formula):
            return letter
    return letters[0] if letters else "y"


def renamer(op, node, names: dict[int, str], longest: int | None = None):
    """A function rewriting the op's letters (``a``, ``W``, ``y``) as the run's names;
    with ``longest``, only if every name is that short (else the letters stay)."""
    mapping = {}
    for symbol, where in op.symbol_map().items():
        tensor = node.output if where == "output" else (
            node.inputs[where] if where < len(node.inputs) else None)
        if tensor is not None:
            mapping[symbol] = names.get(tensor.id, short_name(tensor))
    if not mapping or (longest is not None and not fits(op, node, names, longest)):
        return lambda text: text
    pattern = re.compile(r"(?<![A-Za-z0-9_.\u0300-\u036f])(" + "|".join(
        re.escape(s) for s in sorted(mapping, key=len, reverse=True)) +
        r")(?![A-Za-z0-9_\u0300-\u036f])")
    return lambda text: pattern.sub(lambda m: mapping[m.group(1)], text)


# the view ---------------------------------------------------------------------------

def build_view(timeline: Timeline, position: int | None = None) -> StepView:
    """Everything the stepper draws for the step at ``position`` (default: the cursor)."""
    position = timeline.position if position is None else position
    step = timeline.steps[position]
    if step.phase == "update":
        return _update_view(timeline, step)
    node = step.node
    op = node.op
    names = display_names(list(node.inputs) + [node.output])
    rename = renamer(op, node, names, FORMULA_NAME_LIMIT)
    slots: list[TensorSlot] = []
    accumulations: list[Accumulation] = []
    out = names[node.output.id]
    shapes = [(names[x.id], x.shape) for x in node.inputs] + [(out, node.output.shape)]
    if not fits(op, node, names):  # the formula keeps its letters: say which is which
        letters = [formula_letter(op, i) for i in range(len(node.inputs))] + \
            [formula_letter(op, "output")]
        shapes = [(f"{letter} = {name}", shape) for letter, (name, shape) in zip(letters, shapes)]
    if step.phase == "forward":
        for i, x in enumerate(node.inputs):
            slots.append(TensorSlot(PanelKey(Role.INPUT, i), f"{names[x.id]} · input", x.name,
                                    x.value, x))
        slots.append(TensorSlot(PanelKey(Role.OUTPUT), f"{out} · output", node.output.name,
                                node.output.value, node.output))
    else:
        b = step.backward
        slots.append(TensorSlot(PanelKey(Role.UPSTREAM), f"∂L/∂{out} · upstream",
                                node.output.name, b.upstream, node.output))
        for c in b.contributions:
            name = names[c.tensor.id]
            note = "adds to the gradient already there" if c.accumulates else ""
            slots.append(TensorSlot(PanelKey(Role.DOWNSTREAM, c.input_index),
                                    f"∂L/∂{name} · downstream", c.tensor.name, c.value, c.tensor,
                                    note))
            if c.accumulates:
                accumulations.append(Accumulation(name, c.input_index, c.before, c.value, c.after))
                slots.append(TensorSlot(PanelKey(Role.TOTAL, c.input_index),
                                        f"∂L/∂{name} · total so far", c.tensor.name, c.after,
                                        c.tensor))
        for i, x in enumerate(node.inputs):
            if not any(c.input_index == i for c in b.contributions):
                slots.append(TensorSlot(PanelKey(Role.INPUT, i),
                                        f"{names[x.id]} · input, no gradient", x.name, x.value,
                                        x))
    slots = _mark_noise(_mark_shape_only(timeline, slots))
    return StepView(
        position=position, total=len(timeline), phase=step.phase, name=step.name,
        op_name=op.name, unit_path=timeline.unit_path() if position == timeline.position
        else step.path, depth_label=depth_label(timeline), formula=rename(op.formula),
        derivative=rename(op.derivative), shapes=shapes, slots=slots,
        torch_line=_torch_line(step, names), sentence=PHASE_SENTENCES[step.phase],
        accumulations=accumulations)


def _mark_shape_only(timeline: Timeline, slots: list[TensorSlot]) -> list[TensorSlot]:
    """A PyTorch model recorded with --shapes-only has shapes but no values."""
    if not timeline.tape.shapes_only:
        return slots
    return [slot._replace(shape_only=True) if slot.value is not None and
            np.asarray(slot.value).dtype.kind == "f" else slot for slot in slots]


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
    return [slot._replace(noise=noise) if slot.is_gradient else slot for slot in slots]


def _torch_line(step: Step, names: dict[int, str]) -> str:
    """The line a learner would write in PyTorch for this step, with the run's names."""
    node = step.node
    inputs = [names[x.id] for x in node.inputs]
    out = names[node.output.id]
    line = f"{out} = {node.op.torch_line(inputs, node.attrs)}"
    if step.phase == "backward":
        wrt = [inputs[c.input_index] for c in step.backward.contributions]
        wanted = f"({wrt[0]},)" if len(wrt) == 1 else f"({', '.join(wrt)})"
        return f"grads = torch.autograd.grad({out}, {wanted}, grad_outputs=upstream)   # {line}"
    return line


def _update_view(timeline: Timeline, step: Step) -> StepView:
    u = step.update
    param = next((t for t in timeline.tape.tensors if t.kind == "param" and t.name == u.name),
                 None)
    w = short_name(param) if param is not None else u.name.split(".")[-1]
    slots = [TensorSlot(PanelKey(Role.BEFORE), f"{w} · before", u.name, u.before, param),
             TensorSlot(PanelKey(Role.GRADIENT), f"∂L/∂{w} · gradient", u.name, u.grad, param),
             TensorSlot(PanelKey(Role.AFTER), f"{w} · after", u.name, u.after, param)]
    if u.optimizer == "adam":
        formula = f"{w} ← {w} − lr · m̂ / (√v̂ + ε)"
        derivative = f"m̂, v̂: running averages of ∂L/∂{w} and its square (bias-corrected)"
        torch_line = f"torch.optim.Adam([{w}], lr={fmt(u.lr)}).step()"
    else:
        formula = f"{w} ← {w} − lr · ∂L/∂{w}   (lr = {fmt(u.lr)})"
        derivative = "a small step against the gradient lowers the loss by about lr·|g|²"
        torch_line = f"with torch.no_grad(): {w} -= {fmt(u.lr)} * {w}.grad"
    slots = _mark_noise(_mark_shape_only(timeline, slots))
    return StepView(
        position=step.index, total=len(timeline), phase="update", name=step.name,
        op_name=u.optimizer, unit_path=step.path, depth_label=depth_label(timeline),
        formula=formula, derivative=derivative, shapes=[(w, u.before.shape)], slots=slots,
        torch_line=torch_line, sentence=PHASE_SENTENCES["update"], accumulations=[])


# the op card's worked element ---------------------------------------------------------

def worked_element(timeline: Timeline, position: int, key: PanelKey | None,
                   index: tuple) -> Worked | None:
    """The op card's worked example for element ``index`` of panel ``key``, in the run's
    names (None where there is nothing to work through)."""
    step = timeline.steps[position]
    if timeline.tape.shapes_only:
        return None  # no values were recorded to work through
    if step.phase == "update":
        return _worked_update(timeline, step, key, index)
    node = step.node
    xs = [x.value for x in node.inputs]
    y = node.output.value
    names = display_names(list(node.inputs) + [node.output])
    rename = renamer(node.op, node, names)
    try:
        if step.phase == "forward":
            at = index if key is not None and key.role is Role.OUTPUT else clip_index(index, y.shape)
            worked = node.op.worked_forward(at, xs, y, node.attrs)
        else:
            b = step.backward
            if key is not None and key.role in (Role.DOWNSTREAM, Role.TOTAL):
                which = key.input_index
            elif b.contributions:
                which = b.contributions[0].input_index
            else:
                return None
            contribution = next(c for c in b.contributions if c.input_index == which)
            at = clip_index(index, contribution.value.shape)
            worked = node.op.worked_backward(which, at, xs, y, b.upstream, contribution.value,
                                             node.attrs)
    except (IndexError, ValueError, TypeError, KeyError, StopIteration):
        return None
    return worked._replace(target=rename(worked.target), symbolic=rename(worked.symbolic))


def _worked_update(timeline: Timeline, step: Step, key, index) -> Worked | None:
    u = step.update
    if u.optimizer != "sgd":
        return None
    param = next((t for t in timeline.tape.tensors if t.kind == "param" and t.name == u.name),
                 None)
    w = short_name(param) if param is not None else u.name.split(".")[-1]
    at = clip_index(index, u.before.shape)
    return Worked(f"{w}{idx(at)} after", f"{w} − lr · ∂L/∂{w}",
                  f"{fmt(u.before[at])} − {fmt(u.lr)} × {paren(u.grad[at])}",
                  float(u.after[at]))


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
