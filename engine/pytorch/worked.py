"""One element of a recorded PyTorch op worked through with its numbers, for the op card.

Each *kind* (``engine.pytorch.texts``) has a forward and a backward here, written once
for both levels a learner meets — the call they wrote (``F.linear``, ``+``) and the aten
op it ran (``aten.addmm``, ``aten.add``) — through ``Args``, which finds an argument by
its name at either level. The letters are those of the kind's formula (``x``, ``W``,
``b``; ``A``, ``B``; ``Q``, ``K``, ``V``), so the stepper can rename them after the
run's tensors. The value stated is the recorded one; the arithmetic shown comes to it
(tested against torch and closed forms). A configuration not worked here (a weighted
loss, a broadcast batch of matrices) returns None: the card then shows the formula.
"""

from __future__ import annotations

import math

import numpy as np

from engine.ops.base import Worked, elementwise_worked, fmt, idx, paren, sum_terms


class Args:
    """A recorded call's arguments by name: tensors from the inputs, the rest from attrs."""

    def __init__(self, op, xs, attrs):
        self.names = tuple(op.inputs)
        self.xs = xs
        self.attrs = attrs

    def tensor(self, *names, position: int | None = None):
        for name in names:
            if name in self.names:
                return np.asarray(self.xs[self.names.index(name)], dtype=float)
        if position is not None and position < len(self.xs) and not any(
                n in self.attrs for n in names):
            return np.asarray(self.xs[position], dtype=float)
        return None

    def operand(self, name: str, position: int):
        """A tensor argument, or a number given in its place (``x + 2``)."""
        found = self.tensor(name, position=position)
        if found is not None:
            return found
        value = self.attrs.get(name)
        return None if value is None else np.asarray(value, dtype=float)

    def value(self, name: str, default=None):
        return self.attrs.get(name, default)

    def role(self, which: int) -> str:
        return self.names[which] if which < len(self.names) else ""


def worked_forward(op, index, xs, y, attrs) -> Worked | None:
    found = FORWARD.get(op.kind) if not getattr(op, "random", False) else None
    if found is None:
        return None
    return found(Args(op, xs, attrs), tuple(index), np.asarray(y))


def worked_backward(op, which, index, xs, y, g, grad, attrs) -> Worked | None:
    found = BACKWARD.get(op.kind) if not getattr(op, "random", False) else None
    if found is None:
        return None
    if op.level != "aten" and any(x is xs[which] for j, x in enumerate(xs) if j != which):
        return None  # one tensor in two places (x * x): its gradient is the sum of both
    return found(Args(op, xs, attrs), which, tuple(index), np.asarray(y), np.asarray(g),
                 np.asarray(grad))


def _dot(u, v) -> str:
    return sum_terms([f"{paren(p)}×{paren(q)}" for p, q in zip(u, v)])


# linear and matrix products ------------------------------------------------------------

def _linear_forward(a, index, y):
    x, w, b = a.tensor("input", position=0), a.tensor("weight"), a.tensor("bias")
    *pos, j = index
    text = _dot(x[tuple(pos)], w[j]) + (f" + {paren(b[j])}" if b is not None else "")
    extra = f" + b[{j}]" if b is not None else ""
    return Worked(f"y{idx(index)}", f"Σₖ x[…,k]·W[{j},k]{extra}", text, float(y[index]))


def _linear_backward(a, which, index, y, g, grad):
    x, w = a.tensor("input", position=0), a.tensor("weight")
    role = a.role(which)
    g2 = g.reshape(-1, g.shape[-1])
    if role == "weight":
        j, k = index
        x2 = x.reshape(-1, x.shape[-1])
        return Worked(f"∂L/∂W{idx(index)}", f"Σ over positions upstream[p,{j}]·x[p,{k}]",
                      _dot(g2[:, j], x2[:, k]), float(grad[index]))
    if role == "bias":
        (j,) = index
        return Worked(f"∂L/∂b{idx(index)}", f"Σ over positions upstream[p,{j}]",
                      sum_terms([paren(v) for v in g2[:, j]]), float(grad[index]))
    *pos, k = index
    return Worked(f"∂L/∂x{idx(index)}", f"Σⱼ upstream[…,j]·W[j,{k}]",
                  _dot(g[tuple(pos)], w[:, k]), float(grad[index]))


def _scaled(c, text: str) -> str:
    return text if c == 1 else f"{fmt(c)} × ({text})"


def _addmm_forward(a, index, y):
    bias, m1, m2 = a.tensor("self", position=0), a.tensor("mat1"), a.tensor("mat2")
    beta, alpha = a.value("beta", 1), a.value("alpha", 1)
    i, j = index
    b = np.broadcast_to(bias, y.shape)[index]
    text = f"{_scaled(beta, fmt(b))} + {_scaled(alpha, _dot(m1[i], m2[:, j]))}"
    return Worked(f"Y{idx(index)}", f"bias[{j}] + Σₖ A[{i},k]·B[k,{j}]", text, float(y[index]))


def _addmm_backward(a, which, index, y, g, grad):
    bias, m1, m2 = a.tensor("self", position=0), a.tensor("mat1"), a.tensor("mat2")
    beta, alpha = a.value("beta", 1), a.value("alpha", 1)
    role = a.role(which)
    if role == "self":
        return elementwise_worked("bias", g, float(beta), bias.shape, y.shape, index,
                                  fmt(beta), grad)
    r, c = index
    if role == "mat1":
        return Worked(f"∂L/∂A{idx(index)}", f"Σⱼ upstream[{r},j]·B[{c},j]",
                      _scaled(alpha, _dot(g[r], m2[c])), float(grad[index]))
    return Worked(f"∂L/∂B{idx(index)}", f"Σᵢ A[i,{r}]·upstream[i,{c}]",
                  _scaled(alpha, _dot(m1[:, r], g[:, c])), float(grad[index]))


def _matmul_operands(a):
    return a.tensor("self", "input", position=0), a.tensor("mat2", "other", position=1)


def _matmul_forward(a, index, y):
    A, B = _matmul_operands(a)
    if A.ndim == 1 and B.ndim == 1:
        return Worked("Y", "Σₖ A[k]·B[k]", _dot(A, B), float(y))
    if A.ndim == 1:
        *batch, j = index
        col = np.broadcast_to(B, tuple(batch) + B.shape[-2:])[tuple(batch) + (slice(None), j)]
        return Worked(f"Y{idx(index)}", f"Σₖ A[k]·B[…,k,{j}]", _dot(A, col), float(y[index]))
    if B.ndim == 1:
        *batch, i = index
        row = np.broadcast_to(A, tuple(batch) + A.shape[-2:])[tuple(batch) + (i,)]
        return Worked(f"Y{idx(index)}", f"Σₖ A[…,{i},k]·B[k]", _dot(row, B), float(y[index]))
    *batch, i, j = index
    row = np.broadcast_to(A, y.shape[:-2] + A.shape[-2:])[tuple(batch) + (i,)]
    col = np.broadcast_to(B, y.shape[:-2] + B.shape[-2:])[tuple(batch) + (slice(None), j)]
    return Worked(f"Y{idx(index)}", f"Σₖ A[…,{i},k]·B[…,k,{j}]", _dot(row, col),
                  float(y[index]))


def _matmul_backward(a, which, index, y, g, grad):
    A, B = _matmul_operands(a)
    if A.ndim < 2 or B.ndim < 2 or A.shape[:-2] != y.shape[:-2] or B.shape[:-2] != y.shape[:-2]:
        return None  # a broadcast batch or a vector: the card shows the formula
    *batch, r, c = index
    batch = tuple(batch)
    if which == 0:
        return Worked(f"∂L/∂A{idx(index)}", f"Σⱼ upstream[…,{r},j]·B[…,{c},j]",
                      _dot(g[batch + (r,)], B[batch + (c,)]), float(grad[index]))
    return Worked(f"∂L/∂B{idx(index)}", f"Σᵢ A[…,i,{r}]·upstream[…,i,{c}]",
                  _dot(A[batch + (slice(None), r)], g[batch + (slice(None), c)]),
                  float(grad[index]))


# elementwise --------------------------------------------------------------------------------

def _binary(a):
    x, other = a.operand("self", 0), a.operand("other", 1)
    if x is None:
        x = a.tensor("input", position=0)
    return x, other


def _add_like(sign: int, symbol: str):
    def forward(a, index, y):
        x, other = _binary(a)
        alpha = a.value("alpha", 1)
        xa, oa = np.broadcast_to(x, y.shape), np.broadcast_to(other, y.shape)
        part = f"{paren(oa[index])}" if alpha == 1 else f"{fmt(alpha)} × {paren(oa[index])}"
        letter = "b" if alpha == 1 else "alpha·b"
        return Worked(f"y{idx(index)}", f"a{idx(index)} {symbol} {letter}{idx(index)}",
                      f"{paren(xa[index])} {symbol} {part}", float(y[index]))

    def backward(a, which, index, y, g, grad):
        x, other = _binary(a)
        alpha = a.value("alpha", 1)
        if which == 0:
            return elementwise_worked("a", g, 1.0, x.shape, y.shape, index, "1", grad)
        local = sign * float(alpha)
        return elementwise_worked("b", g, local, other.shape, y.shape, index, paren(local), grad)

    return forward, backward


def _mul_forward(a, index, y):
    x, other = (np.broadcast_to(v, y.shape) for v in _binary(a))
    return Worked(f"y{idx(index)}", f"a{idx(index)} · b{idx(index)}",
                  f"{paren(x[index])} × {paren(other[index])}", float(y[index]))


def _mul_backward(a, which, index, y, g, grad):
    x, other = _binary(a)
    mine, theirs, letters = (x, other, "ab") if which == 0 else (other, x, "ba")
    return elementwise_worked(letters[0], g, theirs, mine.shape, y.shape, index, letters[1],
                              grad)


def _div_forward(a, index, y):
    if a.value("rounding_mode") is not None:
        return None
    x, other = (np.broadcast_to(v, y.shape) for v in _binary(a))
    return Worked(f"y{idx(index)}", f"a{idx(index)} / b{idx(index)}",
                  f"{paren(x[index])} / {paren(other[index])}", float(y[index]))


def _div_backward(a, which, index, y, g, grad):
    x, other = _binary(a)
    if which == 0:
        return elementwise_worked("a", g, 1.0 / other, x.shape, y.shape, index, "1/b", grad)
    return elementwise_worked("b", g, -x / (other * other), other.shape, y.shape, index,
                              "(−a/b²)", grad)


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _gelu_parts(x, approximate):
    """(Φ-like factor, its local derivative) for gelu at x."""
    if approximate == "tanh":
        c = math.sqrt(2.0 / math.pi)
        t = math.tanh(c * (x + 0.044715 * x ** 3))
        factor = 0.5 * (1.0 + t)
        local = factor + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * x * x)
        return factor, local
    density = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return _phi(x), _phi(x) + x * density


def _unary(kind: str):
    """Forward ``y = f(x)`` and backward ``upstream × f′(x)`` for one elementwise kind."""

    def forward(a, index, y):
        x = float(a.tensor("self", "input", position=0)[index])
        out = float(y[index])
        if kind == "relu":
            return Worked(f"y{idx(index)}", f"max(0, x{idx(index)})", f"max(0, {fmt(x)})", out)
        if kind == "sigmoid":
            return Worked(f"y{idx(index)}", f"1 / (1 + exp(−x{idx(index)}))",
                          f"1 / (1 + exp({fmt(-x)}))", out)
        if kind == "gelu":
            factor, _ = _gelu_parts(x, a.value("approximate", "none"))
            return Worked(f"y{idx(index)}", f"x{idx(index)}·Φ(x{idx(index)})",
                          f"{paren(x)} × {fmt(factor)}", out)
        return Worked(f"y{idx(index)}", f"{kind}(x{idx(index)})", f"{kind}({fmt(x)})", out)

    def backward(a, which, index, y, g, grad):
        x = float(a.tensor("self", "input", position=0)[index])
        out, up = float(y[index]), paren(g[index])
        if kind == "relu":
            local, label, text = (1.0 if x > 0 else 0.0), "relu′(x)", f"relu′({fmt(x)})"
        elif kind == "tanh":
            local, label, text = 1 - out * out, "(1 − y²)", f"(1 − {paren(out)}²)"
        elif kind == "sigmoid":
            local, label, text = out * (1 - out), "y·(1 − y)", f"{fmt(out)} × (1 − {fmt(out)})"
        elif kind == "exp":
            local, label, text = out, "exp(x)", f"exp({fmt(x)})"
        elif kind == "log":
            local, label, text = 1 / x, "1/x", f"1/{paren(x)}"
        else:  # gelu
            _, local = _gelu_parts(x, a.value("approximate", "none"))
            label, text = "gelu′(x)", fmt(local)
        numeric = f"{up} × {text}" if text == fmt(local) else \
            f"{up} × {text} = {up} × {paren(local)}"
        return Worked(f"∂L/∂x{idx(index)}", f"upstream × {label}", numeric, float(grad[index]))

    return forward, backward


FORWARD: dict = {}
BACKWARD: dict = {}
for _kind in ("relu", "gelu", "tanh", "sigmoid", "exp", "log"):
    FORWARD[_kind], BACKWARD[_kind] = _unary(_kind)
FORWARD["add"], BACKWARD["add"] = _add_like(1, "+")
FORWARD["sub"], BACKWARD["sub"] = _add_like(-1, "−")
FORWARD.update(linear=_linear_forward, addmm=_addmm_forward, matmul=_matmul_forward,
               mul=_mul_forward, div=_div_forward)
BACKWARD.update(linear=_linear_backward, addmm=_addmm_backward, matmul=_matmul_backward,
                mul=_mul_backward, div=_div_backward)

from engine.pytorch import worked_nn  # noqa: E402  (registers the nn kinds)

worked_nn.register(FORWARD, BACKWARD)
