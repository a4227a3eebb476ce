"""What every primitive op has, and the small helpers they share.

An op is a class of static methods and strings, one per primitive, holding:

- ``forward(*xs, **attrs) -> (y, saved)``: the value, plus what backward needs;
- ``backward(g, saved) -> (dx1, dx2, ...)``: the vector–Jacobian product, one
  gradient per input (``None`` for an input that has no gradient, like token ids);
- ``formula`` and ``derivative``: one line each, shown on the op card;
- ``torch``: the PyTorch spelling, a template over the input names;
- ``torch_forward(torch, *xs, **attrs)``: the same op run by PyTorch (the module is
  passed in, so nothing here imports torch);
- ``worked_forward`` / ``worked_backward``: one element computed with its numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Worked(NamedTuple):
    """One element of an op worked through: ``target = symbolic = numeric = value``."""

    target: str
    symbolic: str
    numeric: str
    value: float
    result_joiner: str = " = "  # " → " where the result is chosen, not computed (argmax)

    def __str__(self) -> str:
        value = fmt(self.value)
        numeric = "" if self.numeric == value else f"{self.numeric}{self.result_joiner}"
        return f"{self.target} = {self.symbolic} = {numeric}{value}"


class Op:
    name = ""
    formula = ""
    derivative = ""
    torch = ""
    inputs: tuple[str, ...] = ("x",)
    differentiable: tuple[bool, ...] = (True,)
    symbols: dict = {}  # other letters the formula uses: → input index, "output" or None

    @classmethod
    def symbol_map(cls) -> dict:
        """Each letter the formula, derivative and worked lines use for a tensor: the input
        index it stands for, or "output" (``y`` unless said otherwise)."""
        out: dict = {name: i for i, name in enumerate(cls.inputs)}
        out["y"] = "output"
        out.update(cls.symbols)
        return {k: v for k, v in out.items() if v is not None}

    @staticmethod
    def forward(*xs, **attrs):  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def backward(g, saved):  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def torch_forward(torch, *xs, **attrs):  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def torch_line(cls, names: list[str], attrs: dict) -> str:
        """The line a learner would write in PyTorch, with this node's input names."""
        fields = dict(zip(cls.inputs, names))
        fields.update({k: _attr_text(v) for k, v in attrs.items()})
        try:
            return cls.torch.format(**fields)
        except (KeyError, IndexError):
            return cls.torch

    @classmethod
    def worked_forward(cls, index, xs, y, attrs) -> Worked:
        return Worked(f"y{idx(index)}", cls.formula.split("=", 1)[-1].strip(), "…",
                      float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs) -> Worked:
        """∂L/∂x_which[index], given upstream ``g`` and the computed gradient ``grad``."""
        return Worked(f"∂L/∂{cls.inputs[which]}{idx(index)}", "Σ upstream × local", "…",
                      float(grad[index]))


def _attr_text(value) -> str:
    if isinstance(value, float):
        if np.isinf(value):
            return "float('-inf')" if value < 0 else "float('inf')"
        return fmt(value)
    if isinstance(value, np.ndarray):
        return "mask"
    return str(value)


NOISE = 1e-12  # relative: below this fraction of its operands' size a result is rounding


def fmt(x, scale: float = 1.0) -> str:
    """A number as the tutor prints it: 4 significant digits, and 0 for zero.

    ``scale`` is the size of the numbers ``x`` was computed from. A result within
    ``NOISE × scale`` of zero is rounding noise of a quantity that is zero in exact
    arithmetic (the mean of a layer norm's input gradient, say): one CPU gives 0.0,
    another 1e-17, and both print ``0``. The tutor's numbers are of order one, so
    the default scale is 1.
    """
    x = float(x)
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    if abs(x) <= NOISE * max(float(scale), 0.0):
        return "0"
    return f"{x:.4g}"


def paren(x, scale: float = 1.0) -> str:
    """A number ready to sit in a product: negatives in parentheses."""
    text = fmt(x, scale)
    return f"({text})" if text.startswith("-") else text


def idx(index) -> str:
    """``(0, 3)`` → ``[0,3]``; a scalar index → ``""``."""
    if index == () or index is None:
        return ""
    if isinstance(index, (int, np.integer)):
        return f"[{int(index)}]"
    return "[" + ",".join(str(int(i)) for i in index) + "]"


def sum_terms(terms: list[str], limit: int = 3) -> str:
    """``a + b + c + … (n terms)``: long sums show their first few terms."""
    if len(terms) <= limit + 1:
        return " + ".join(terms)
    return " + ".join(terms[:limit]) + f" + … ({len(terms)} terms)"


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes broadcasting added or stretched, so it has ``shape``.

    Broadcasting copies a value to many positions; each copy sends back a gradient
    and the copies' gradients add up (the chain rule at a fan-out).
    """
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def broadcast_positions(in_shape: tuple, out_shape: tuple, index) -> list[tuple]:
    """The output positions that read input element ``index`` under broadcasting."""
    selected = np.zeros(in_shape, dtype=bool)
    selected[index] = True
    return [tuple(p) for p in np.argwhere(np.broadcast_to(selected, out_shape))]


def elementwise_worked(name: str, g, local, in_shape, out_shape, index, local_label: str,
                       grad) -> Worked:
    """∂L/∂x[i] = Σ over the outputs that read x[i] of upstream × local derivative."""
    positions = broadcast_positions(in_shape, out_shape, index)
    local = np.broadcast_to(local, out_shape)
    symbolic = f"upstream × {local_label}"
    terms = [f"{paren(g[p])} × {paren(local[p])}" for p in positions]
    if len(positions) > 1:
        symbolic = f"Σ {symbolic} (over {len(positions)} broadcast copies)"
    return Worked(f"∂L/∂{name}{idx(index)}", symbolic, sum_terms(terms), float(grad[index]))
