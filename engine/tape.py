"""A small recording autograd: every op call becomes a node, every backward
step becomes a record.

``Tape`` is usable for any small graph (``a * b + b ** 3``) as well as the whole
transformer. Forward records each op as a ``Node`` with a hierarchical name built
from the open scopes (``decoder.layers.1.cross_attn.softmax``). ``backward`` walks
the nodes in exact reverse order and records one ``BackwardStep`` per node: the
upstream gradient ∂L/∂y, and for each input its contribution ∂L/∂y · ∂y/∂x. Where
a tensor feeds several consumers its gradient is the sum of their contributions;
each addition after the first is kept as an explicit accumulation event
(``Contribution.before`` → ``Contribution.after``).
"""

from __future__ import annotations

from contextlib import contextmanager
from numbers import Number

import numpy as np

from engine.buffers import pooled
from engine.ops import (Add, Argmax, CrossEntropy, Divide, Embedding, Exp, LayerNorm, Linear, Log,
                  MaskedFill, MatMul, Mean, MergeHeads, Multiply, Negate, Power, Relu, Reshape,
                  Scale, Softmax, SplitHeads, Subtract, Sum, Tanh, Transpose)
from engine.ops.base import Op, fmt


class Tensor:
    """A value recorded on a tape. ``.value`` is an ndarray; ``.grad`` is filled by
    ``Tape.backward`` (zeros for a tensor the output does not depend on)."""

    __slots__ = ("tape", "id", "value", "name", "kind", "node", "requires_grad", "grad")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, tape, value, name, kind, node=None, requires_grad=False):
        self.tape = tape
        self.id = len(tape.tensors)
        self.value = value
        self.name = name
        self.kind = kind  # "input", "param", "const" or "activation"
        self.node = node
        self.requires_grad = requires_grad
        self.grad = None
        tape.tensors.append(self)

    @property
    def shape(self) -> tuple:
        return self.value.shape

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, shape={self.shape})"

    def named(self, label: str) -> "Tensor":
        """Give this tensor (and the node that made it) a readable name."""
        if self.node is None:
            self.name = label
        else:
            self.tape._rename(self.node, label)
        return self

    # arithmetic: numbers on either side become constants
    def __add__(self, other):
        return self.tape.apply(Add, self, other)

    def __radd__(self, other):
        return self.tape.apply(Add, other, self)

    def __sub__(self, other):
        return self.tape.apply(Subtract, self, other)

    def __rsub__(self, other):
        return self.tape.apply(Subtract, other, self)

    def __mul__(self, other):
        return self.tape.apply(Multiply, self, other)

    def __rmul__(self, other):
        return self.tape.apply(Multiply, other, self)

    def __truediv__(self, other):
        return self.tape.apply(Divide, self, other)

    def __rtruediv__(self, other):
        return self.tape.apply(Divide, other, self)

    def __pow__(self, p):
        if not isinstance(p, Number):
            raise TypeError("only a number can be an exponent: x ** 2, not x ** tensor")
        return self.tape.apply(Power, self, p=float(p))

    def __neg__(self):
        return self.tape.apply(Negate, self)

    def __matmul__(self, other):
        return self.tape.apply(MatMul, self, other)

    def __rmatmul__(self, other):
        return self.tape.apply(MatMul, other, self)

    def relu(self):
        return self.tape.apply(Relu, self)

    def exp(self):
        return self.tape.apply(Exp, self)

    def log(self):
        return self.tape.apply(Log, self)

    def tanh(self):
        return self.tape.apply(Tanh, self)

    def sum(self, axis=None, keepdims=False):
        return self.tape.apply(Sum, self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return self.tape.apply(Mean, self, axis=axis, keepdims=keepdims)

    def softmax(self):
        return self.tape.apply(Softmax, self)

    def transpose(self, dim0=-2, dim1=-1):
        return self.tape.apply(Transpose, self, dim0=dim0, dim1=dim1)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        return self.tape.apply(Reshape, self, shape=tuple(shape))


class Node:
    """One recorded op call: ``output = op(*inputs, **attrs)`` at scope ``path``."""

    __slots__ = ("index", "op", "path", "name", "inputs", "output", "attrs", "saved")

    def __init__(self, index, op, path, inputs, attrs):
        self.index = index
        self.op = op
        self.path = path
        self.name = ".".join(path)
        self.inputs = inputs
        self.output = None
        self.attrs = attrs
        self.saved = None

    def __repr__(self) -> str:
        return f"Node({self.index}, {self.name!r}, {self.op.name})"

    @property
    def scope(self) -> tuple:
        return self.path[:-1]


class Contribution:
    """Input ``input_index`` of a node receives ``value`` = upstream · local derivative.

    ``before`` is the tensor's gradient total before this contribution (``None``
    for the first one); ``after`` is the total with it added. ``before`` not None
    is an accumulation event: the tensor fed several consumers.
    """

    __slots__ = ("input_index", "tensor", "value", "before", "after")

    def __init__(self, input_index, tensor, value, before, after):
        self.input_index = input_index
        self.tensor = tensor
        self.value = value
        self.before = before
        self.after = after

    @property
    def accumulates(self) -> bool:
        return self.before is not None


class BackwardStep:
    """The backward pass through one node: upstream ∂L/∂y in, one contribution per
    differentiable input out."""

    __slots__ = ("index", "node", "upstream", "contributions")

    def __init__(self, index, node, upstream, contributions):
        self.index = index
        self.node = node
        self.upstream = upstream
        self.contributions = contributions

    def __repr__(self) -> str:
        return f"BackwardStep({self.index}, {self.node.name!r})"


class Tape:
    """Records op calls as nodes; ``backward`` records one step per node.

    ``origin`` says who ran the ops: "engine" (each op's ``forward`` can run again, so
    the run can be replayed with a number changed) or "pytorch" (a learner's model,
    recorded; see ``engine.pytorch.record``). ``shapes_only`` marks a record that kept
    shapes but no values."""

    origin = "engine"
    shapes_only = False

    def __init__(self):
        self.nodes: list[Node] = []
        self.tensors: list[Tensor] = []
        self.steps: list[BackwardStep] = []
        self.loss: Tensor | None = None
        self._scope: list[str] = []
        self._names: set[str] = set()

    # leaves ---------------------------------------------------------------
    def input(self, name: str, value, requires_grad: bool = True) -> Tensor:
        """A named input. Numbers and arrays become float64 unless they are integer ids."""
        return Tensor(self, _as_array(value, integer_ok=not requires_grad), name, "input",
                      requires_grad=requires_grad)

    def param(self, name: str, value) -> Tensor:
        return Tensor(self, _as_array(value), name, "param", requires_grad=True)

    def constant(self, name: str | None, value) -> Tensor:
        value = _as_array(value, integer_ok=True)
        if name is None:
            name = fmt(value) if value.ndim == 0 else f"const{value.shape}"
        return Tensor(self, value, name, "const")

    # scopes ---------------------------------------------------------------
    @contextmanager
    def scope(self, name: str):
        """Group the ops recorded inside under ``name`` (nested scopes join with '.')."""
        self._scope.append(name)
        try:
            yield
        finally:
            self._scope.pop()

    def _unique(self, path: tuple) -> tuple:
        name = ".".join(path)
        if name in self._names:
            n = 2
            while f"{name}_{n}" in self._names:
                n += 1
            path = path[:-1] + (f"{path[-1]}_{n}",)
            name = ".".join(path)
        self._names.add(name)
        return path

    def _rename(self, node: Node, label: str) -> None:
        self._names.discard(node.name)
        node.path = self._unique(node.path[:-1] + (label,))
        node.name = ".".join(node.path)
        node.output.name = node.name

    # recording ------------------------------------------------------------
    def apply(self, op: type[Op], *inputs, label: str | None = None, **attrs) -> Tensor:
        """Run ``op`` forward on ``inputs`` and record it as a node."""
        tensors = [x if isinstance(x, Tensor) else self.constant(None, x) for x in inputs]
        for x in tensors:
            if x.tape is not self:
                raise ValueError(f"tensor {x.name!r} belongs to another tape")
        path = self._unique(tuple(self._scope) + (label or op.name,))
        node = Node(len(self.nodes), op, path, tensors, attrs)
        value, node.saved = op.forward(*[x.value for x in tensors], **attrs)
        needs_grad = any(x.requires_grad and d for x, d in zip(tensors, op.differentiable))
        node.output = Tensor(self, np.asarray(value), node.name, "activation", node, needs_grad)
        self.nodes.append(node)
        return node.output

    # the backward pass ------------------------------------------------------
    def backward(self, y: Tensor, seed=None) -> None:
        """Record ∂y/∂(everything) one node at a time, in exact reverse order."""
        if y.tape is not self:
            raise ValueError("backward needs a tensor recorded on this tape")
        if self.steps:
            raise RuntimeError("backward already ran on this tape; record a new one")
        seed = seed_gradient(y, seed)
        self.loss = y
        last = y.node.index if y.node is not None else -1
        nodes = self.nodes[:last + 1]

        def record(call_index: int, g, contributions) -> None:
            node = nodes[call_index]
            self.steps.append(BackwardStep(len(self.steps), node, g, contributions))
            node.saved = None

        grads = backpropagate([(n.op, n.inputs, n.output, n.saved) for n in nodes], y, seed,
                              record)
        for t in self.tensors:
            if t.requires_grad:
                g = grads.get(t.id)
                t.grad = g if g is not None else np.zeros_like(t.value, dtype=float)

    # the ops a model needs, by name ----------------------------------------
    def linear(self, x, weight, bias, label=None):
        return self.apply(Linear, x, weight, bias, label=label)

    def matmul(self, a, b, label=None):
        return self.apply(MatMul, a, b, label=label)

    def scale(self, x, c: float, label=None):
        return self.apply(Scale, x, c=float(c), label=label)

    def add(self, a, b, label=None):
        return self.apply(Add, a, b, label=label)

    def relu(self, x, label=None):
        return self.apply(Relu, x, label=label)

    def softmax(self, x, label=None):
        return self.apply(Softmax, x, label=label)

    def layer_norm(self, x, weight, bias, eps=1e-5, label=None):
        return self.apply(LayerNorm, x, weight, bias, eps=eps, label=label)

    def embedding(self, ids, weight, label=None):
        return self.apply(Embedding, ids, weight, label=label)

    def masked_fill(self, x, mask, value=-np.inf, label=None):
        return self.apply(MaskedFill, x, mask=mask, value=value, label=label)

    def split_heads(self, x, heads: int, label=None):
        return self.apply(SplitHeads, x, heads=heads, label=label)

    def merge_heads(self, x, label=None):
        return self.apply(MergeHeads, x, label=label)

    def transpose(self, x, dim0=-2, dim1=-1, label=None):
        return self.apply(Transpose, x, dim0=dim0, dim1=dim1, label=label)

    def cross_entropy(self, logits, targets, label=None):
        return self.apply(CrossEntropy, logits, targets, label=label)

    def argmax(self, x, label=None):
        return self.apply(Argmax, x, label=label)

    def exp(self, x, label=None):
        return self.apply(Exp, x, label=label)

    def log(self, x, label=None):
        return self.apply(Log, x, label=label)

    def tanh(self, x, label=None):
        return self.apply(Tanh, x, label=label)

    def mul(self, a, b, label=None):
        return self.apply(Multiply, a, b, label=label)

    def div(self, a, b, label=None):
        return self.apply(Divide, a, b, label=label)

    def sub(self, a, b, label=None):
        return self.apply(Subtract, a, b, label=label)

    def neg(self, x, label=None):
        return self.apply(Negate, x, label=label)

    def mean(self, x, axis=None, keepdims=False, label=None):
        return self.apply(Mean, x, axis=axis, keepdims=keepdims, label=label)

    def sum(self, x, axis=None, keepdims=False, label=None):
        return self.apply(Sum, x, axis=axis, keepdims=keepdims, label=label)


def seed_gradient(y: Tensor, seed=None) -> np.ndarray:
    """∂y/∂y: ones for a number (a loss); a tensor needs its seed given."""
    if seed is None:
        if y.value.size != 1:
            raise ValueError(f"backward from {y.name!r} of shape {y.shape} needs a seed "
                             "gradient of the same shape (or reduce it to a number first)")
        return np.ones_like(y.value, dtype=float)
    return np.asarray(seed, dtype=float)


def backpropagate(calls, y: Tensor, seed: np.ndarray, record=None,
                  keep: bool = True) -> dict[int, np.ndarray]:
    """The chain rule over recorded calls ``(op, inputs, output, saved)``, in reverse.

    Each call whose output has a gradient g sends each input upstream × local,
    ``op.backward(g, saved)``; where a tensor feeds several calls the contributions
    add up (``after = before + dx``). ``record(call index, g, contributions)`` sees
    every step (the recorded ``Tape``); ``keep=False`` drops a gradient once its call
    has used it (a ``LeanTape``, which needs only the leaves'). Returns tensor id →
    ∂y/∂tensor.
    """
    grads = {y.id: seed}
    for index in range(len(calls) - 1, -1, -1):
        op, inputs, output, saved = calls[index]
        g = grads.get(output.id) if keep else grads.pop(output.id, None)
        if g is None:
            continue
        contributions = []
        for i, (x, dx) in enumerate(zip(inputs, op.backward(g, saved))):
            if dx is None or not x.requires_grad:
                continue
            dx = np.asarray(dx)
            before = grads.get(x.id)
            after = dx if before is None else pooled(np.add, before, dx)
            grads[x.id] = after
            if record is not None:
                contributions.append(Contribution(i, x, dx, before, after))
        if record is not None:
            record(index, g, contributions)
    return grads


def _as_array(value, integer_ok: bool = False) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind in "iub" and integer_ok:
        return array
    if array.dtype.kind not in "iufb":
        raise ValueError(f"expected numbers, got {array.dtype} ({value!r:.40})")
    return array.astype(np.float64, copy=False)
