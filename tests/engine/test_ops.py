"""Every primitive op's backward against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ops import ALL_OPS, OPS

RNG = np.random.default_rng(1234)


def away_from_zero(shape, low=0.3, high=2.0):
    return RNG.uniform(low, high, shape) * RNG.choice([-1.0, 1.0], shape)


def positive(shape):
    return RNG.uniform(0.3, 2.0, shape)


def normal(shape):
    return RNG.normal(size=shape)


ids = lambda shape, vocab=5: RNG.integers(0, vocab, shape)  # noqa: E731

# (op name, inputs, attrs): shapes include broadcasting on both sides
CASES = [
    ("add", [normal((3, 4)), normal((4,))], {}),
    ("add", [normal((2, 1, 4)), normal((3, 1))], {}),
    ("add", [normal(()), normal((2, 3))], {}),
    ("sub", [normal((2, 3, 4)), normal((1, 3, 1))], {}),
    ("sub", [normal((5,)), normal((2, 5))], {}),
    ("mul", [normal((3, 4)), normal((3, 1))], {}),
    ("mul", [normal((2, 3)), normal(())], {}),
    ("div", [normal((3, 4)), away_from_zero((4,))], {}),
    ("div", [normal((2, 1)), away_from_zero((2, 3))], {}),
    ("neg", [normal((3, 2))], {}),
    ("pow", [positive((3, 4))], {"p": 2.5}),
    ("pow", [normal((4,))], {"p": 3.0}),
    ("pow", [positive((2, 2))], {"p": -1.0}),
    ("scale", [normal((2, 3))], {"c": -0.7}),
    ("exp", [normal((3, 3))], {}),
    ("log", [positive((3, 3))], {}),
    ("tanh", [normal((2, 5))], {}),
    ("relu", [away_from_zero((3, 4))], {}),
    ("matmul", [normal((3, 4)), normal((4, 2))], {}),
    ("matmul", [normal((2, 3, 3, 4)), normal((2, 3, 4, 5))], {}),
    ("matmul", [normal((2, 3, 4)), normal((4, 2))], {}),
    ("matmul", [normal((4,)), normal((4, 3))], {}),
    ("matmul", [normal((3, 4)), normal((4,))], {}),
    ("linear", [normal((2, 3, 4)), normal((5, 4)), normal((5,))], {}),
    ("linear", [normal((3, 4)), normal((2, 4)), normal((2,))], {}),
    ("sum", [normal((3, 4))], {"axis": None, "keepdims": False}),
    ("sum", [normal((2, 3, 4))], {"axis": 1, "keepdims": False}),
    ("sum", [normal((2, 3, 4))], {"axis": (0, 2), "keepdims": True}),
    ("mean", [normal((3, 4))], {"axis": None, "keepdims": False}),
    ("mean", [normal((2, 3, 4))], {"axis": -1, "keepdims": True}),
    ("mean", [normal((2, 3, 4))], {"axis": (0, 1), "keepdims": False}),
    ("transpose", [normal((2, 3, 4))], {"dim0": -2, "dim1": -1}),
    ("transpose", [normal((2, 3, 4, 5))], {"dim0": 1, "dim1": 2}),
    ("reshape", [normal((2, 6))], {"shape": (3, 4)}),
    ("split_heads", [normal((2, 3, 6))], {"heads": 3}),
    ("merge_heads", [normal((2, 3, 4, 2))], {}),
    ("softmax", [normal((2, 3, 5))], {}),
    ("layer_norm", [normal((2, 3, 6)), normal((6,)), normal((6,))], {"eps": 1e-5}),
    ("masked_fill", [normal((2, 4, 4))],
     {"mask": np.triu(np.ones((4, 4), dtype=bool), 1), "value": 0.0}),
    ("cross_entropy", [normal((2, 3, 5)), ids((2, 3))], {}),
    ("embedding", [np.array([[0, 2, 2], [4, 0, 2]]), normal((5, 3))], {}),
]


def numeric_grad(op, xs, attrs, which, upstream, h=1e-6):
    """∂/∂x_which of Σ upstream · op(xs) by central differences."""
    x = xs[which].astype(float).copy()
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        values = []
        for delta in (h, -h):
            x[i] = old + delta
            args = list(xs)
            args[which] = x
            y, _ = op.forward(*args, **attrs)
            values.append(float(np.sum(upstream * y)))
        x[i] = old
        grad[i] = (values[0] - values[1]) / (2 * h)
    return grad


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)


def case_id(case):
    name, xs, _ = case
    return f"{name}-" + "x".join(str(x.shape) for x in xs)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_backward_matches_finite_differences(case):
    name, xs, attrs = case
    op = OPS[name]
    y, saved = op.forward(*xs, **attrs)
    upstream = RNG.normal(size=np.shape(y))
    grads = op.backward(upstream, saved)
    assert len(grads) == len(xs)
    for which, (x, g, diff) in enumerate(zip(xs, grads, op.differentiable)):
        if not diff:
            assert g is None
            continue
        assert np.shape(g) == x.shape, f"∂L/∂{op.inputs[which]} has the wrong shape"
        expected = numeric_grad(op, xs, attrs, which, upstream)
        assert relative_error(np.asarray(g), expected) <= 1e-6, op.inputs[which]


def test_every_op_has_a_case_and_its_texts():
    tested = {c[0] for c in CASES}
    for op in ALL_OPS:
        assert op.formula and op.derivative and op.torch, op.name
        if op.name != "argmax":
            assert op.name in tested, f"{op.name} has no finite-difference case"


def test_softmax_with_minus_infinity_gives_exact_zeros():
    scores = np.array([[1.0, 2.0, -np.inf], [0.5, -np.inf, -np.inf]])
    p, saved = OPS["softmax"].forward(scores)
    assert p[0, 2] == 0.0 and p[1, 1] == 0.0 and p[1, 2] == 0.0
    assert np.allclose(p.sum(axis=-1), 1.0)
    (g,) = OPS["softmax"].backward(np.ones_like(p) * 3.0 + np.arange(3), saved)
    assert g[0, 2] == 0.0 and g[1, 1] == 0.0


def test_embedding_gradient_adds_repeated_ids():
    ids_ = np.array([[1, 1, 1]])
    w = RNG.normal(size=(3, 2))
    _, saved = OPS["embedding"].forward(ids_, w)
    upstream = np.arange(6.0).reshape(1, 3, 2)
    _, dw = OPS["embedding"].backward(upstream, saved)
    assert np.array_equal(dw[1], upstream[0].sum(axis=0))
    assert np.array_equal(dw[0], [0.0, 0.0])


def test_cross_entropy_closed_form_is_p_minus_y_over_n():
    logits = RNG.normal(size=(1, 4, 6))
    targets = np.array([[0, 5, 2, 2]])
    loss, saved = OPS["cross_entropy"].forward(logits, targets)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = -np.mean(np.log(p[0, np.arange(4), targets[0]]))
    assert abs(float(loss) - expected) < 1e-12
    g, _ = OPS["cross_entropy"].backward(np.array(1.0), saved)
    onehot = np.eye(6)[targets]
    assert np.allclose(g, (p - onehot) / 4, atol=1e-15)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_worked_elements_carry_torchs_numbers(case):
    """The op card's worked element states the number PyTorch computes for that element:
    the output by the op's torch forward, each gradient by torch autograd."""
    torch = pytest.importorskip("torch")
    name, xs, attrs = case
    op = OPS[name]
    y, saved = op.forward(*xs, **attrs)
    y = np.asarray(y)
    upstream = RNG.normal(size=y.shape)
    grads = op.backward(upstream, saved)
    leaves = [torch.tensor(np.array(x), requires_grad=np.asarray(x).dtype.kind == "f"
                           and g is not None) for x, g in zip(xs, grads)]
    torch_y = op.torch_forward(torch, *leaves, **attrs)
    index = tuple(int(RNG.integers(0, n)) for n in y.shape)
    worked = op.worked_forward(index, xs, y, attrs)
    assert worked.value == pytest.approx(float(torch_y.detach().numpy()[index]), abs=1e-12)
    assert str(worked).startswith(worked.target)
    wanted = [leaf for leaf in leaves if leaf.requires_grad]
    torch_grads = iter(torch.autograd.grad(torch_y, wanted, grad_outputs=torch.tensor(upstream))
                       if wanted else [])
    for which, g in enumerate(grads):
        if g is None:
            continue
        reference = next(torch_grads).numpy()
        g = np.asarray(g)
        gi = tuple(int(RNG.integers(0, n)) for n in g.shape)
        worked = op.worked_backward(which, gi, xs, y, upstream, g, attrs)
        assert worked.value == pytest.approx(float(reference[gi]), abs=1e-12)
        assert "∂L/∂" in worked.target


FUNCTIONS = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0)}


def _as_arithmetic(text: str) -> str:
    """The op card's worked numbers as plain arithmetic the expression parser reads."""
    import re

    text = text.replace("^", "**").replace("²", "**2")
    return re.sub(r"relu′\(([^()]*)\)", r"((\1) > 0)", text)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_worked_arithmetic_evaluates_to_the_value_shown(case):
    """Evaluate the numbers the op card prints (4 significant digits each) with the safe
    expression parser: they must come to the value it states, so the card's arithmetic
    is right, not just its final number."""
    from engine.expr import ExpressionError, evaluate

    name, xs, attrs = case
    op = OPS[name]
    y, saved = op.forward(*xs, **attrs)
    y = np.asarray(y)
    upstream = RNG.normal(size=y.shape)
    grads = op.backward(upstream, saved)
    workeds = [op.worked_forward(tuple(0 for _ in y.shape), xs, y, attrs)]
    for which, g in enumerate(grads):
        if g is not None:
            g = np.asarray(g)
            workeds.append(op.worked_backward(which, tuple(n - 1 for n in g.shape), xs, y,
                                              upstream, g, attrs))
    checked = 0
    for worked in workeds:
        if "…" in worked.numeric or "upstream" in worked.numeric:
            continue  # an elided sum, or a move whose number is a reference
        for part in worked.numeric.split(" = "):  # "a × relu′(x) = a × 1": each side
            try:
                value = evaluate(_as_arithmetic(part), FUNCTIONS)
            except ExpressionError as error:
                pytest.fail(f"{name}: cannot read {part!r}: {error}")
            assert float(value) == pytest.approx(worked.value, rel=5e-3, abs=5e-4), str(worked)
        checked += 1
    assert checked or name in ("embedding", "transpose", "reshape", "split_heads", "merge_heads",
                               "masked_fill", "softmax", "linear", "matmul", "layer_norm")


def test_rounding_noise_of_an_exact_zero_prints_as_zero_on_every_cpu():
    """A quantity that is 0 in exact arithmetic comes out as 0.0 on one CPU and ±1e-17 on
    another; judged against the numbers it was computed from, both print the same."""
    from engine.ops.base import fmt

    assert fmt(0.0) == fmt(-0.0) == fmt(1e-17) == fmt(-3e-17, scale=0.5) == "0"
    assert fmt(4.372e-09) == "4.372e-09"  # small, but far above the noise of numbers ~1
    assert fmt(2e-13, scale=1e-3) == "2e-13"  # above 1e-12 of the numbers it came from
    assert fmt(2e-13, scale=10.0) == "0"


def test_layer_norm_worked_gradient_does_not_depend_on_last_bits():
    """The upstream of a layer norm that feeds another layer norm has row mean exactly 0;
    whether the CPU's rounding leaves 0.0 or 1e-17, the op card prints the same line."""
    layer_norm = OPS["layer_norm"]
    x, gamma, beta = normal((1, 3, 6)), np.ones(6), np.zeros(6)
    y, saved = layer_norm.forward(x, gamma, beta)
    row = np.array([0.5, -0.25, 0.125, -0.5, 0.25, -0.125])  # sums exactly to 0.0
    g = np.stack([row, row[::-1], -row])[None]  # row means exactly 0.0, as on one CPU
    noisy = g.copy()
    noisy[0, 1, 2] = np.nextafter(noisy[0, 1, 2], 1.0)  # one ulp off, as on another
    lines = set()
    for upstream in (g, noisy):
        dx, _, _ = layer_norm.backward(upstream, layer_norm.forward(x, gamma, beta)[1])
        worked = layer_norm.worked_backward(0, (0, 1, 3), [x, gamma, beta], y, upstream, dx,
                                            {"eps": 1e-5})
        lines.add(worked.numeric)
    assert len(lines) == 1, lines
