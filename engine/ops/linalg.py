"""Matrix products and reductions."""

from __future__ import annotations

import numpy as np

from engine.buffers import matmul
from engine.ops.base import Op, Worked, fmt, idx, paren, sum_terms, unbroadcast


class MatMul(Op):
    name = "matmul"
    formula = "Y = A @ B   (Y[i,j] = Σₖ A[i,k]·B[k,j])"
    derivative = "∂L/∂A = G @ Bᵀ,  ∂L/∂B = Aᵀ @ G"
    torch = "{a} @ {b}"
    inputs = ("a", "b")
    symbols = {"A": 0, "B": 1, "Y": "output"}
    differentiable = (True, True)

    @staticmethod
    def forward(a, b):
        return matmul(a, b), (a, b)

    @staticmethod
    def backward(g, saved):
        a, b = saved
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = matmul(g2, np.swapaxes(b2, -1, -2))
        gb = matmul(np.swapaxes(a2, -1, -2), g2)
        if a.ndim == 1:
            ga = ga[..., 0, :]
        if b.ndim == 1:
            gb = gb[..., :, 0]
        return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)

    @staticmethod
    def torch_forward(torch, a, b):
        return a @ b

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        a, b = xs
        if a.ndim < 2 or b.ndim < 2:
            return super().worked_forward(index, xs, y, attrs)
        *batch, i, j = index
        arow = np.broadcast_to(a, y.shape[:-2] + a.shape[-2:])[tuple(batch) + (i,)]
        bcol = np.broadcast_to(b, y.shape[:-2] + b.shape[-2:])[tuple(batch) + (slice(None), j)]
        terms = [f"{paren(p)}×{paren(q)}" for p, q in zip(arow, bcol)]
        return Worked(f"y{idx(index)}", f"Σₖ a[…,{i},k]·b[…,k,{j}]", sum_terms(terms),
                      float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        a, b = xs
        if a.ndim < 2 or b.ndim < 2 or a.shape[:-2] != y.shape[:-2] or b.shape[:-2] != y.shape[:-2]:
            return super().worked_backward(which, index, xs, y, g, grad, attrs)
        *batch, r, c = index
        batch = tuple(batch)
        if which == 0:  # ∂L/∂A[i,k] = Σ_j G[i,j] B[k,j]
            grow, brow = g[batch + (r,)], b[batch + (c,)]
            terms = [f"{paren(p)}×{paren(q)}" for p, q in zip(grow, brow)]
            sym = f"Σⱼ upstream[…,{r},j]·b[…,{c},j]"
        else:  # ∂L/∂B[k,j] = Σ_i A[i,k] G[i,j]
            acol, gcol = a[batch + (slice(None), r)], g[batch + (slice(None), c)]
            terms = [f"{paren(p)}×{paren(q)}" for p, q in zip(acol, gcol)]
            sym = f"Σᵢ a[…,i,{r}]·upstream[…,i,{c}]"
        return Worked(f"∂L/∂{cls.inputs[which]}{idx(index)}", sym, sum_terms(terms),
                      float(grad[index]))


class Linear(Op):
    name = "linear"
    formula = "y = x Wᵀ + b   (y[…,j] = Σₖ x[…,k]·W[j,k] + b[j])"
    derivative = "∂L/∂x = G W,  ∂L/∂W = Gᵀ x (summed over positions),  ∂L/∂b = Σ G"
    torch = "F.linear({x}, {weight}, {bias})"
    inputs = ("x", "weight", "bias")
    symbols = {"W": 1, "b": 2}
    differentiable = (True, True, True)

    @staticmethod
    def forward(x, w, b):
        # one 2-D product over all positions is faster than a stack of small ones
        x2 = x.reshape(-1, x.shape[-1])
        y = matmul(x2, w.T)
        y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],)), (x2, w)

    @staticmethod
    def backward(g, saved):
        x2, w = saved
        g2 = g.reshape(-1, g.shape[-1])
        dx = matmul(g2, w).reshape(g.shape[:-1] + (w.shape[1],))
        return dx, matmul(g2.T, x2), g2.sum(axis=0)

    @staticmethod
    def torch_forward(torch, x, w, b):
        return torch.nn.functional.linear(x, w, b)

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        x, w, b = xs
        *pos, j = index
        row = x[tuple(pos)]
        terms = [f"{paren(p)}×{paren(q)}" for p, q in zip(row, w[j])]
        text = sum_terms(terms) + (f" + {paren(b[j])}" if b is not None else "")
        return Worked(f"y{idx(index)}", f"Σₖ x[…,k]·W[{j},k] + b[{j}]", text, float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        x, w, b = xs
        if which == 0:  # ∂L/∂x[…,k] = Σ_j G[…,j] W[j,k]
            *pos, k = index
            grow = g[tuple(pos)]
            terms = [f"{paren(p)}×{paren(q)}" for p, q in zip(grow, w[:, k])]
            sym = f"Σⱼ upstream[…,j]·W[j,{k}]"
        elif which == 1:  # ∂L/∂W[j,k] = Σ_positions G[p,j] x[p,k]
            j, k = index
            g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
            terms = [f"{paren(p)}×{paren(q)}" for p, q in zip(g2[:, j], x2[:, k])]
            sym = f"Σ over positions upstream[p,{j}]·x[p,{k}]"
        else:  # ∂L/∂b[j] = Σ_positions G[p,j]
            (j,) = index
            g2 = g.reshape(-1, g.shape[-1])
            terms = [paren(p) for p in g2[:, j]]
            sym = f"Σ over positions upstream[p,{j}]"
        return Worked(f"∂L/∂{cls.inputs[which]}{idx(index)}", sym, sum_terms(terms),
                      float(grad[index]))


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim for a in axis)


def _expand(g, shape, axis, keepdims):
    if not keepdims:
        for a in sorted(_axes(axis, len(shape))):
            g = np.expand_dims(g, a)
    return np.broadcast_to(g, shape)


class Sum(Op):
    name = "sum"
    formula = "y = Σ x   (over the chosen axes)"
    derivative = "∂y/∂x = 1 for every summed element"
    torch = "{x}.sum(dim={axis})"

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims), (x.shape, axis, keepdims)

    @staticmethod
    def backward(g, saved):
        shape, axis, keepdims = saved
        return (np.array(_expand(g, shape, axis, keepdims)),)

    @staticmethod
    def torch_forward(torch, x, axis=None, keepdims=False):
        if axis is None:
            return x.sum()
        return x.sum(dim=axis, keepdim=keepdims)

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        up = _expand(g, xs[0].shape, attrs.get("axis"), attrs.get("keepdims", False))
        return Worked(f"∂L/∂x{idx(index)}", "upstream × 1", f"{paren(up[index])} × 1",
                      float(grad[index]))


class Mean(Op):
    name = "mean"
    formula = "y = (1/n) Σ x   (over the chosen axes)"
    derivative = "∂y/∂x = 1/n for every averaged element"
    torch = "{x}.mean(dim={axis})"

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        n = int(np.prod([x.shape[a] for a in _axes(axis, x.ndim)]))
        return np.mean(x, axis=axis, keepdims=keepdims), (x.shape, axis, keepdims, n)

    @staticmethod
    def backward(g, saved):
        shape, axis, keepdims, n = saved
        return (np.array(_expand(g, shape, axis, keepdims)) / n,)

    @staticmethod
    def torch_forward(torch, x, axis=None, keepdims=False):
        if axis is None:
            return x.mean()
        return x.mean(dim=axis, keepdim=keepdims)

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        x = xs[0]
        n = int(np.prod([x.shape[a] for a in _axes(attrs.get("axis"), x.ndim)]))
        up = _expand(g, x.shape, attrs.get("axis"), attrs.get("keepdims", False))
        return Worked(f"∂L/∂x{idx(index)}", "upstream × 1/n", f"{paren(up[index])} × 1/{n}",
                      float(grad[index]))

