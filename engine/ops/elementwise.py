"""Element-by-element ops. Binary ones broadcast; their backward sums the gradient
back over the broadcast axes (``unbroadcast``)."""

from __future__ import annotations

import numpy as np

from engine.buffers import pooled
from engine.ops.base import Op, Worked, elementwise_worked, fmt, idx, paren, unbroadcast


class Add(Op):
    name = "add"
    formula = "y = a + b"
    derivative = "∂y/∂a = 1, ∂y/∂b = 1 (broadcast copies add up)"
    torch = "{a} + {b}"
    inputs = ("a", "b")
    differentiable = (True, True)

    @staticmethod
    def forward(a, b):
        return pooled(np.add, a, b), (a.shape, b.shape)

    @staticmethod
    def backward(g, saved):
        a_shape, b_shape = saved
        return unbroadcast(g, a_shape), unbroadcast(g, b_shape)

    @staticmethod
    def torch_forward(torch, a, b):
        return a + b

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        a, b = (np.broadcast_to(x, y.shape) for x in xs)
        return Worked(f"y{idx(index)}", f"a{idx(index)} + b{idx(index)}",
                      f"{paren(a[index])} + {paren(b[index])}", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        return elementwise_worked(cls.inputs[which], g, 1.0, xs[which].shape, y.shape, index,
                                  "1", grad)


class Subtract(Op):
    name = "sub"
    formula = "y = a − b"
    derivative = "∂y/∂a = 1, ∂y/∂b = −1"
    torch = "{a} - {b}"
    inputs = ("a", "b")
    differentiable = (True, True)

    @staticmethod
    def forward(a, b):
        return pooled(np.subtract, a, b), (a.shape, b.shape)

    @staticmethod
    def backward(g, saved):
        a_shape, b_shape = saved
        return unbroadcast(g, a_shape), unbroadcast(-g, b_shape)

    @staticmethod
    def torch_forward(torch, a, b):
        return a - b

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        a, b = (np.broadcast_to(x, y.shape) for x in xs)
        return Worked(f"y{idx(index)}", f"a{idx(index)} − b{idx(index)}",
                      f"{paren(a[index])} − {paren(b[index])}", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        local = 1.0 if which == 0 else -1.0
        return elementwise_worked(cls.inputs[which], g, local, xs[which].shape, y.shape, index,
                                  fmt(local), grad)


class Multiply(Op):
    name = "mul"
    formula = "y = a · b"
    derivative = "∂y/∂a = b, ∂y/∂b = a"
    torch = "{a} * {b}"
    inputs = ("a", "b")
    differentiable = (True, True)

    @staticmethod
    def forward(a, b):
        return pooled(np.multiply, a, b), (a, b)

    @staticmethod
    def backward(g, saved):
        a, b = saved
        return (unbroadcast(pooled(np.multiply, g, b), a.shape),
                unbroadcast(pooled(np.multiply, g, a), b.shape))

    @staticmethod
    def torch_forward(torch, a, b):
        return a * b

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        a, b = (np.broadcast_to(x, y.shape) for x in xs)
        return Worked(f"y{idx(index)}", f"a{idx(index)} · b{idx(index)}",
                      f"{paren(a[index])} × {paren(b[index])}", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        other = xs[1 - which]
        return elementwise_worked(cls.inputs[which], g, other, xs[which].shape, y.shape, index,
                                  cls.inputs[1 - which], grad)


class Divide(Op):
    name = "div"
    formula = "y = a / b"
    derivative = "∂y/∂a = 1/b, ∂y/∂b = −a/b²"
    torch = "{a} / {b}"
    inputs = ("a", "b")
    differentiable = (True, True)

    @staticmethod
    def forward(a, b):
        return a / b, (a, b)

    @staticmethod
    def backward(g, saved):
        a, b = saved
        return unbroadcast(g / b, a.shape), unbroadcast(-g * a / (b * b), b.shape)

    @staticmethod
    def torch_forward(torch, a, b):
        return a / b

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        a, b = (np.broadcast_to(x, y.shape) for x in xs)
        return Worked(f"y{idx(index)}", f"a{idx(index)} / b{idx(index)}",
                      f"{paren(a[index])} / {paren(b[index])}", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        a, b = xs
        if which == 0:
            return elementwise_worked("a", g, 1.0 / b, a.shape, y.shape, index, "1/b", grad)
        return elementwise_worked("b", g, -a / (b * b), b.shape, y.shape, index, "(−a/b²)", grad)


class Negate(Op):
    name = "neg"
    formula = "y = −x"
    derivative = "∂y/∂x = −1"
    torch = "-{x}"

    @staticmethod
    def forward(x):
        return -x, None

    @staticmethod
    def backward(g, saved):
        return (-g,)

    @staticmethod
    def torch_forward(torch, x):
        return -x

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        return Worked(f"y{idx(index)}", f"−x{idx(index)}", f"−{paren(xs[0][index])}",
                      float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        return elementwise_worked("x", g, -1.0, xs[0].shape, y.shape, index, "(−1)", grad)


class Power(Op):
    name = "pow"
    formula = "y = xᵖ"
    derivative = "∂y/∂x = p·xᵖ⁻¹"
    torch = "{x} ** {p}"

    @staticmethod
    def forward(x, p):
        return x ** p, (x, p)

    @staticmethod
    def backward(g, saved):
        x, p = saved
        return (g * p * x ** (p - 1),)

    @staticmethod
    def torch_forward(torch, x, p):
        return x ** p

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        p = attrs["p"]
        return Worked(f"y{idx(index)}", f"x{idx(index)}^{fmt(p)}",
                      f"{paren(xs[0][index])}^{fmt(p)}", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        p, x = attrs["p"], xs[0]
        return Worked(f"∂L/∂x{idx(index)}", f"upstream × {fmt(p)}·x^{fmt(p - 1)}",
                      f"{paren(g[index])} × {fmt(p)} × {paren(x[index])}^{fmt(p - 1)}",
                      float(grad[index]))


class Scale(Op):
    name = "scale"
    formula = "y = c · x   (c a fixed number)"
    derivative = "∂y/∂x = c"
    torch = "{x} * {c}"

    @staticmethod
    def forward(x, c):
        return pooled(np.multiply, x, c), c

    @staticmethod
    def backward(g, c):
        return (pooled(np.multiply, g, c),)

    @staticmethod
    def torch_forward(torch, x, c):
        return x * c

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        c = attrs["c"]
        return Worked(f"y{idx(index)}", f"{fmt(c)} · x{idx(index)}",
                      f"{fmt(c)} × {paren(xs[0][index])}", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        c = attrs["c"]
        return Worked(f"∂L/∂x{idx(index)}", "upstream × c",
                      f"{paren(g[index])} × {fmt(c)}", float(grad[index]))


class _Unary(Op):
    """A unary elementwise op whose local derivative is an array ``local(x, y)``."""

    local_label = ""

    @staticmethod
    def local(x, y):  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        return Worked(f"y{idx(index)}", f"{cls.name}(x{idx(index)})",
                      f"{cls.name}({fmt(xs[0][index])})", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        x = xs[0]
        local = cls.local(x[index], y[index])
        label = cls.local_label.format(x=fmt(x[index]), y=fmt(y[index]), xp=paren(x[index]),
                                       yp=paren(y[index]))
        symbolic = cls.local_label.format(x="x", y="y", xp="x", yp="y")
        return Worked(f"∂L/∂x{idx(index)}", f"upstream × {symbolic}",
                      f"{paren(g[index])} × {label} = {paren(g[index])} × {paren(local)}",
                      float(grad[index]))


class Exp(_Unary):
    name = "exp"
    formula = "y = eˣ"
    derivative = "∂y/∂x = eˣ = y"
    torch = "torch.exp({x})"
    local_label = "exp({x})"

    @staticmethod
    def forward(x):
        y = np.exp(x)
        return y, y

    @staticmethod
    def backward(g, y):
        return (g * y,)

    @staticmethod
    def local(x, y):
        return y

    @staticmethod
    def torch_forward(torch, x):
        return torch.exp(x)


class Log(_Unary):
    name = "log"
    formula = "y = ln x"
    derivative = "∂y/∂x = 1/x"
    torch = "torch.log({x})"
    local_label = "1/{xp}"

    @staticmethod
    def forward(x):
        return np.log(x), x

    @staticmethod
    def backward(g, x):
        return (g / x,)

    @staticmethod
    def local(x, y):
        return 1.0 / x

    @staticmethod
    def torch_forward(torch, x):
        return torch.log(x)


class Tanh(_Unary):
    name = "tanh"
    formula = "y = tanh x"
    derivative = "∂y/∂x = 1 − tanh²x = 1 − y²"
    torch = "torch.tanh({x})"
    local_label = "(1 − {yp}²)"

    @staticmethod
    def forward(x):
        y = np.tanh(x)
        return y, y

    @staticmethod
    def backward(g, y):
        return (g * (1.0 - y * y),)

    @staticmethod
    def local(x, y):
        return 1.0 - y * y

    @staticmethod
    def torch_forward(torch, x):
        return torch.tanh(x)


class Relu(_Unary):
    name = "relu"
    formula = "y = max(0, x)"
    derivative = "∂y/∂x = 1 where x > 0, else 0"
    torch = "torch.relu({x})"
    local_label = "relu′({x})"

    @staticmethod
    def forward(x):
        return pooled(np.maximum, x, 0.0), x

    @staticmethod
    def backward(g, x):
        return (pooled(np.multiply, g, x > 0),)

    @staticmethod
    def local(x, y):
        return 1.0 if x > 0 else 0.0

    @staticmethod
    def torch_forward(torch, x):
        return torch.relu(x)
