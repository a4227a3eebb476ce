"""Ops that move numbers without changing them: their backward moves the gradient
back the same way."""

from __future__ import annotations

import numpy as np

from engine.buffers import copy
from engine.ops.base import Op, Worked, idx, paren


def _source_index(op, index, x_shape, attrs):
    """Where output element ``index`` came from in the input."""
    marker = np.arange(int(np.prod(x_shape))).reshape(x_shape)
    moved, _ = op.forward(marker, **attrs)
    return tuple(int(i) for i in np.unravel_index(int(moved[index]), x_shape))


class _Move(Op):
    """Forward copies each element to a new place; backward copies the gradient back."""

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        src = _source_index(cls, index, xs[0].shape, attrs)
        return Worked(f"y{idx(index)}", f"x{idx(src)}", paren(xs[0][src]), float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        marker = np.arange(int(np.prod(xs[0].shape))).reshape(xs[0].shape)
        moved, _ = cls.forward(marker, **attrs)
        flat = int(np.ravel_multi_index(index, xs[0].shape)) if xs[0].ndim else 0
        dst = tuple(int(i) for i in np.argwhere(moved == flat)[0])
        return Worked(f"∂L/∂x{idx(index)}", f"upstream{idx(dst)}", paren(g[dst]),
                      float(grad[index]))


class Transpose(_Move):
    name = "transpose"
    formula = "y = x with axes dim0 and dim1 swapped"
    derivative = "∂L/∂x = (∂L/∂y) with the same axes swapped back"
    torch = "{x}.transpose({dim0}, {dim1})"

    @staticmethod
    def forward(x, dim0=-2, dim1=-1):
        return np.swapaxes(x, dim0, dim1), (dim0, dim1)

    @staticmethod
    def backward(g, saved):
        dim0, dim1 = saved
        return (np.swapaxes(g, dim0, dim1),)

    @staticmethod
    def torch_forward(torch, x, dim0=-2, dim1=-1):
        return x.transpose(dim0, dim1)


class Reshape(_Move):
    name = "reshape"
    formula = "y = x read in row-major order into a new shape"
    derivative = "∂L/∂x = (∂L/∂y) reshaped back to x's shape"
    torch = "{x}.reshape{shape}"

    @staticmethod
    def forward(x, shape):
        return x.reshape(shape), x.shape

    @staticmethod
    def backward(g, x_shape):
        return (g.reshape(x_shape),)

    @staticmethod
    def torch_forward(torch, x, shape):
        return x.reshape(shape)


class SplitHeads(_Move):
    name = "split_heads"
    formula = "(B, T, h·dₖ) → view (B, T, h, dₖ) → transpose → (B, h, T, dₖ)"
    derivative = "∂L/∂x = merge_heads(∂L/∂y): the same numbers moved back"
    torch = "{x}.view(B, T, {heads}, -1).transpose(1, 2)"

    @staticmethod
    def forward(x, heads):
        b, t, d = x.shape
        return x.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3), None

    @staticmethod
    def backward(g, saved):
        b, h, t, dk = g.shape
        return (copy(g.transpose(0, 2, 1, 3)).reshape(b, t, h * dk),)

    @staticmethod
    def torch_forward(torch, x, heads):
        b, t, d = x.shape
        return x.view(b, t, heads, d // heads).transpose(1, 2)


class MergeHeads(_Move):
    name = "merge_heads"
    formula = "(B, h, T, dₖ) → transpose → (B, T, h, dₖ) → reshape (B, T, h·dₖ)  (concat heads)"
    derivative = "∂L/∂x = split_heads(∂L/∂y): the same numbers moved back"
    torch = "{x}.transpose(1, 2).reshape(B, T, -1)"

    @staticmethod
    def forward(x):
        b, h, t, dk = x.shape
        return copy(x.transpose(0, 2, 1, 3)).reshape(b, t, h * dk), h

    @staticmethod
    def backward(g, heads):
        b, t, d = g.shape
        return (g.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3),)

    @staticmethod
    def torch_forward(torch, x):
        b, h, t, dk = x.shape
        return x.transpose(1, 2).reshape(b, t, h * dk)
