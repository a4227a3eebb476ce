"""Live values at a step: the names a lesson expression may use, and templates.

``StepContext(timeline, position)`` is the environment for ``engine.expr.parse`` at
one step of a recorded run. Everything is read from the record *as it stands at
that step*, the same state the stepper shows: ``value(scores)`` is an error before
the step that computes the scores, ``grad(x)`` is the running total ∂L/∂x of the
contributions made so far (an error before the first one), ``upstream`` exists
only at a backward step. The timeline's own cursor is never moved.

``render(template, ctx)`` (from ``tutor.lessons.templates``) fills ``{expression}`` parts
with numbers printed the way the screen prints them.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Mapping

import numpy as np

from engine.timeline import OP_LEVEL, Cursor, Timeline

from engine.expr import ExpressionError, did_you_mean
from tutor.lessons.language import (ARRAY_FUNCTIONS, NAMES, TENSOR_FUNCTIONS, VALUE_NAMES,
                                    split_template)
from tutor.lessons.templates import format_value, render
from engine.expr import parse
from engine.expr.tree import Call, Name, Reference, walk
from tutor.views.cells import as_displayed
from tutor.views.step import PanelKey, Role

__all__ = ["StepContext", "DisplayedContext", "TensorNames", "NAMES", "render", "format_value", "split_template"]



# finding tensors by name ---------------------------------------------------------

class TensorNames:
    """Tensors of a tape by name: leaves by ``tensor.name``, activations by node name
    (the same string). A unique dotted suffix also works: ``weights`` or
    ``self_attn.weights`` when only one name ends that way."""

    def __init__(self, tape):
        self.count = len(tape.tensors)
        self.by_name: dict[str, object] = {}
        for t in sorted(tape.tensors, key=lambda t: t.kind == "const"):
            self.by_name.setdefault(t.name, t)

    def find(self, name: str):
        tensor = self.by_name.get(name)
        if tensor is not None:
            return tensor
        matches = [n for n in self.by_name if n.endswith("." + name)]
        if len(matches) == 1:
            return self.by_name[matches[0]]
        if matches:
            shown = ", ".join(matches[:6]) + (", …" if len(matches) > 6 else "")
            raise ExpressionError(f"{name!r} is ambiguous: it could be {shown}; write the full "
                                  "name")
        candidates = list(self.by_name) + [n.rsplit(".", 1)[-1] for n in self.by_name]
        raise ExpressionError(f"no tensor named {name!r} in this run"
                              f"{did_you_mean(name, candidates)}")


_NAMES_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def tensor_names(tape) -> TensorNames:
    names = _NAMES_CACHE.get(tape)
    if names is None or names.count != len(tape.tensors):
        names = _NAMES_CACHE[tape] = TensorNames(tape)
    return names


def _frozen(array) -> np.ndarray:
    """A read-only view, so nothing downstream can change the record."""
    view = np.asarray(array).view()
    view.flags.writeable = False
    return view


# the environment at one step -------------------------------------------------------

class StepContext(Mapping):
    """The names of the expression language, read from ``timeline`` at ``position``.

    A ``Mapping`` from name to value or function; a value that does not exist at
    this step raises ``ExpressionError`` with a plain reason when it is looked up.
    """

    def __init__(self, timeline: Timeline, position: int | None = None):
        self.timeline = timeline
        self.position = timeline.position if position is None else int(position)
        if not 0 <= self.position < len(timeline.steps):
            raise IndexError(f"step {self.position} is outside 0..{len(timeline.steps) - 1}")
        self.step = timeline.steps[self.position]
        self._view = copy.copy(timeline)  # shares the record; only the cursor differs
        self._view.cursor = Cursor(self.position, OP_LEVEL)
        self._names = tensor_names(timeline.tape)
        self._functions = {name: _one_argument(getattr(self, f"_{name}"), name)
                           for name in TENSOR_FUNCTIONS + ARRAY_FUNCTIONS}

    # Mapping ------------------------------------------------------------------
    def __getitem__(self, name: str):
        if name in self._functions:
            return self._functions[name]
        if name in VALUE_NAMES:
            return getattr(self, f"_get_{name}")()
        raise KeyError(name)

    def __iter__(self):
        return iter(sorted(NAMES))

    def __len__(self) -> int:
        return len(NAMES)

    def __contains__(self, name) -> bool:
        return name in NAMES

    # where we are ---------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.step.phase}:{self.step.name}"

    def _node(self, what: str):
        if self.step.node is None:
            raise ExpressionError(f"{what} exists only at a forward or backward step, and "
                                  f"{self.where} is an update step")
        return self.step.node

    def _backward(self, what: str):
        if self.step.backward is None:
            raise ExpressionError(f"{what} exists only at a backward step, and {self.where} "
                                  f"is a {self.step.phase} step")
        return self.step.backward

    def _update(self, what: str):
        if self.step.update is None:
            raise ExpressionError(f"{what} exists only at an update step, and {self.where} "
                                  f"is a {self.step.phase} step")
        return self.step.update

    def _input_index(self, which, what: str) -> int:
        node = self._node(what)
        if isinstance(which, int):
            if not -len(node.inputs) <= which < len(node.inputs):
                raise ExpressionError(f"{node.op.name} at {self.step.name} has "
                                      f"{len(node.inputs)} input(s): use {what}(0)"
                                      + (f"…{what}({len(node.inputs) - 1})"
                                         if len(node.inputs) > 1 else ""))
            return which % len(node.inputs)
        names = [t.name for t in node.inputs]
        hits = [i for i, n in enumerate(names) if n == which or n.endswith("." + which)]
        if len(hits) != 1:
            raise ExpressionError(f"{which!r} is not an input of {self.step.name} "
                                  f"(its inputs: {', '.join(names)})")
        return hits[0]

    # tensors ------------------------------------------------------------------
    def _tensor(self, name):
        if isinstance(name, int):
            raise ExpressionError(f"a tensor is named, not numbered: value(NAME), not "
                                  f"value({name})")
        return self._names.find(name)

    def _value(self, name):
        tensor = self._tensor(name)
        value = self._view.value(tensor)
        if value is None:
            raise ExpressionError(f"{name} is not computed yet at this step")
        return _frozen(value)

    def _grad(self, name):
        tensor = self._tensor(name)
        if not tensor.requires_grad:
            raise ExpressionError(f"{name} gets no gradient (it is a constant or token ids)")
        grad = self._view.grad(tensor)
        if grad is None:
            raise ExpressionError(f"∂L/∂{name} is not computed yet at this step")
        return _frozen(grad)

    def _final_grad(self, name):
        tensor = self._tensor(name)
        if not tensor.requires_grad:
            raise ExpressionError(f"{name} gets no gradient (it is a constant or token ids)")
        if not self.timeline.tape.steps or tensor.grad is None:
            raise ExpressionError("this run has no backward pass, so there are no gradients")
        return _frozen(tensor.grad)

    def _input(self, which):
        node = self._node("input(…)")
        tensor = node.inputs[self._input_index(which, "input")]
        return _frozen(self._view.value(tensor))

    def _contribution(self, which):
        step = self._backward("contribution(…)")
        i = self._input_index(which, "contribution")
        for c in step.contributions:
            if c.input_index == i:
                return _frozen(c.value)
        raise ExpressionError(f"input {i} ({step.node.inputs[i].name}) of {step.node.op.name} "
                              "receives no gradient (it is a constant or token ids)")

    # which panels an expression reads --------------------------------------------
    def panels_read(self, source: str) -> tuple[frozenset, frozenset]:
        """The stepper panels ``source`` reads at this step: ``PanelKey``s (``input(0)``,
        ``contribution(1)``, ``output``…) and ``(tensor id, is a gradient)`` pairs
        (``value(x)``, ``grad(x)``, ``loss``). What cannot be resolved is left out."""
        keys, tensors = set(), set()
        for node in walk(parse(source).root):
            try:
                if isinstance(node, Call) and node.arguments and isinstance(
                        node.arguments[0], Reference):
                    target = node.arguments[0].target
                    if node.function in ("value", "grad", "final_grad"):
                        tensors.add((self._tensor(target).id, node.function != "value"))
                    elif node.function == "input":
                        keys.add(PanelKey(Role.INPUT, self._input_index(target, "input")))
                    elif node.function == "contribution":
                        which = self._input_index(target, "contribution")
                        keys |= {PanelKey(Role.DOWNSTREAM, which), PanelKey(Role.TOTAL, which)}
                elif isinstance(node, Name) and node.name in _VALUE_PANELS:
                    keys.add(PanelKey(_VALUE_PANELS[node.name]))
                elif isinstance(node, Name) and node.name == "loss" and \
                        self.timeline.tape.loss is not None:
                    tensors.add((self.timeline.tape.loss.id, False))
            except ExpressionError:
                continue
        return frozenset(keys), frozenset(tensors)

    # values -------------------------------------------------------------------
    def _get_output(self):
        return _frozen(self._view.value(self._node("output").output))

    def _get_upstream(self):
        return _frozen(self._backward("upstream").upstream)

    def _get_loss(self):
        loss = self.timeline.tape.loss
        if loss is None:
            raise ExpressionError("this run has no loss (it is forward only)")
        value = self._view.value(loss)
        if value is None:
            raise ExpressionError("the loss is not computed yet at this step")
        return float(np.asarray(value).reshape(()))

    def _get_lr(self):
        for s in self.timeline.steps[self.timeline.update_start:]:
            return float(s.update.lr)
        raise ExpressionError("this run has no update phase (the scenario sets no lr)")

    def _get_before(self):
        return _frozen(self._update("before").before)

    def _get_after(self):
        return _frozen(self._update("after").after)

    def _get_gradient(self):
        return _frozen(self._update("gradient").grad)

    # functions on values --------------------------------------------------------
    @staticmethod
    def _array(x, what: str) -> np.ndarray:
        if isinstance(x, (tuple, frozenset, set)):
            raise ExpressionError(f"{what}(…) works on numbers and arrays")
        return np.asarray(x, dtype=np.float64)

    def _shape(self, x):
        return tuple(int(n) for n in self._array(x, "shape").shape)

    def _size(self, x):
        return float(self._array(x, "size").size)

    def _zeros(self, x):
        """The positions holding exactly 0 (a ReLU's dead units, a masked weight)."""
        a = self._array(x, "zeros")
        if a.ndim == 0:
            raise ExpressionError("zeros(…) needs an array, not a single number")
        return frozenset(tuple(int(i) for i in p) for p in np.argwhere(a == 0))

    def _argmax(self, x):
        """Index of the largest value along the last axis (as the model's argmax)."""
        a = self._array(x, "argmax")
        if a.ndim == 0 or a.shape[-1] == 0:
            raise ExpressionError("argmax(…) needs an array")
        return np.argmax(a, axis=-1).astype(np.float64)

    def _reduce(self, x, what, function):
        a = self._array(x, what)
        if a.size == 0:
            raise ExpressionError(f"{what}(…) of an empty array")
        return float(function(a))

    def _sum(self, x):
        return self._reduce(x, "sum", np.sum)

    def _mean(self, x):
        return self._reduce(x, "mean", np.mean)

    def _max(self, x):
        return self._reduce(x, "max", np.max)

    def _min(self, x):
        return self._reduce(x, "min", np.min)

    def _abs(self, x):
        return np.abs(self._array(x, "abs"))

    def _exp(self, x):
        return np.exp(self._array(x, "exp"))

    def _log(self, x):
        return np.log(self._array(x, "log"))

    def _sqrt(self, x):
        return np.sqrt(self._array(x, "sqrt"))

    def _tanh(self, x):
        return np.tanh(self._array(x, "tanh"))

    def _relu(self, x):
        return np.maximum(self._array(x, "relu"), 0.0)

    def _softmax(self, x):
        """exp(x − max) / Σ exp(x − max) along the last axis (−inf entries give 0)."""
        a = self._array(x, "softmax")
        if a.ndim == 0:
            return 1.0
        shifted = a - np.max(a, axis=-1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=-1, keepdims=True)


_VALUE_PANELS = {"output": Role.OUTPUT, "upstream": Role.UPSTREAM, "before": Role.BEFORE,
                 "after": Role.AFTER, "gradient": Role.GRADIENT}


class DisplayedContext(Mapping):
    """``ctx`` with every tensor and value rounded as the screen writes it (in panels, or
    in lines of text): evaluating an answer here gives what a learner computes from the
    numbers in front of them, so the quiz can accept it."""

    def __init__(self, ctx: StepContext, panel: bool):
        self.ctx = ctx
        self.panel = panel

    def _rounded(self, value):
        if isinstance(value, (float, np.ndarray)) and np.asarray(value).dtype.kind == "f":
            rounded = as_displayed(value, self.panel)
            return float(rounded) if isinstance(value, float) else rounded
        return value

    def __getitem__(self, name: str):
        value = self.ctx[name]
        if name in TENSOR_FUNCTIONS:
            return lambda *arguments: self._rounded(value(*arguments))
        if name in VALUE_NAMES:
            return self._rounded(value)
        return value

    def __iter__(self):
        return iter(self.ctx)

    def __len__(self) -> int:
        return len(self.ctx)

    def __contains__(self, name) -> bool:
        return name in self.ctx


def _one_argument(function, name):
    """Every function takes exactly one argument: say so plainly, not with a TypeError."""
    def checked(*arguments):
        if len(arguments) != 1:
            raise ExpressionError(f"{name}(…) takes one argument, got {len(arguments)}")
        return function(*arguments)
    return checked
