"""The op card's worked element for every op kind a small transformer uses, at both levels
(the call the learner wrote and the aten op it ran): the value it states is torch's (the
op run again on the recorded inputs; its gradient by torch autograd), and the arithmetic
it prints — four significant digits a number — comes to that value."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from engine.expr import ExpressionError, evaluate  # noqa: E402
from engine.pytorch.record import record_module  # noqa: E402

from tests.engine.test_ops import _as_arithmetic  # noqa: E402

F = torch.nn.functional
nn = torch.nn

KINDS = {"linear", "addmm", "matmul", "add", "sub", "mul", "div", "relu", "gelu", "tanh",
         "sigmoid", "exp", "log", "softmax", "log_softmax", "layer_norm", "embedding", "sum",
         "mean", "nll", "cross_entropy", "sdpa"}
FUNCTIONS = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "max": np.maximum,
             "relu": lambda x: np.maximum(x, 0.0)}


class Everything(nn.Module):
    """Every kind once or more, in a few lines of a transformer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 4, padding_idx=0)
        self.lin = nn.Linear(4, 4)
        self.proj = nn.Linear(4, 4, bias=False)
        self.norm = nn.LayerNorm(4)

    def forward(self, ids):
        h = self.norm(self.lin(self.emb(ids)))
        a = F.gelu(h) + torch.tanh(h) * torch.sigmoid(h) - F.relu(h) / (torch.exp(h) + 1.0)
        a = self.proj(a) + torch.log(torch.exp(h) + 2) - 0.5
        q = a.view(2, 3, 2, 2).transpose(1, 2)
        att = F.scaled_dot_product_attention(q, q * 2, q + 1, is_causal=True)
        p = F.softmax(q @ q.transpose(-2, -1), dim=-1) @ F.softmax(att, dim=1)
        lp = F.log_softmax(a, dim=-1)
        return p.mean(dim=(1, 2)).sum() + lp.sum(dim=-1).mean() + \
            F.gelu(h, approximate="tanh").sum()


class Losses(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)

    def forward(self, x):
        return self.lin(x)


def records():
    torch.manual_seed(0)
    yield record_module(Everything().double(), torch.tensor([[1, 0, 3], [4, 4, 2]]))
    torch.manual_seed(1)
    target = torch.tensor([0, 3, 1])

    def losses(z):
        return F.cross_entropy(z, target) + F.nll_loss(F.log_softmax(z, -1), target,
                                                       reduction="sum")

    yield record_module(Losses().double(), torch.randn(3, 3, dtype=torch.float64), losses)


@pytest.fixture(scope="module")
def recorded():
    return list(records())


def torch_forward(node):
    xs = [torch.tensor(np.array(t.value)) for t in node.inputs]
    with torch.no_grad():
        return node.op.torch_forward(torch, *xs, **node.attrs).numpy()


def torch_gradients(step):
    """{input index: ∂L/∂input} for the step, by torch autograd on the node alone."""
    node = step.node
    leaves, xs = {}, []
    wanted = {c.input_index for c in step.contributions}
    for i, t in enumerate(node.inputs):
        key = t.id if node.op.level != "aten" else i
        if key not in leaves:
            floating = np.asarray(t.value).dtype.kind == "f"
            leaves[key] = torch.tensor(np.array(t.value), requires_grad=floating and any(
                j in wanted and (node.inputs[j].id == t.id if node.op.level != "aten"
                                 else j == i) for j in range(len(node.inputs))))
        xs.append(leaves[key])
    y = node.op.torch_forward(torch, *xs, **node.attrs)
    order = sorted(wanted)
    grads = torch.autograd.grad(y, [xs[i] for i in order],
                                grad_outputs=torch.tensor(np.array(step.upstream)),
                                allow_unused=True)
    return {i: g.numpy() for i, g in zip(order, grads)}


def indices(shape, seed):
    rng = np.random.default_rng(seed)
    first = tuple(0 for _ in shape)
    last = tuple(n - 1 for n in shape)
    some = tuple(int(rng.integers(0, n)) for n in shape)
    return [first, last, some]


NUMBER = re.compile(r"(?<![\w.])(?<!\*\*)(\d+(?:\.\d*)?(?:e[-+]?\d+)?)")


def rounding_slack(text: str) -> float:
    """How far the expression can move when each printed number is off by its rounding
    (four significant digits: at most 5e-4 relative): the largest change over random
    roundings of every number (not exponents), with room to spare."""
    base = float(evaluate(text, FUNCTIONS))
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(24):
        moved = NUMBER.sub(lambda m: repr(float(m.group(1)) * float(1 + rng.choice([-6e-4, 6e-4]))),
                           text)
        worst = max(worst, abs(float(evaluate(moved, FUNCTIONS)) - base))
    return 2 * worst + 1e-12


def check_arithmetic(worked, where):
    """Each side of the printed numbers evaluates to the stated value, up to the rounding
    of the numbers printed (unless a sum is elided with …)."""
    assert worked.numeric != "…", where
    if "…" in worked.numeric:
        return False
    for part in worked.numeric.split(" = "):
        text = _as_arithmetic(part)
        try:
            value = float(evaluate(text, FUNCTIONS))
        except ExpressionError as error:
            pytest.fail(f"{where}: cannot read {part!r}: {error}")
        assert abs(value - worked.value) <= rounding_slack(text), (where, str(worked))
    return True


def test_every_kind_is_worked_at_both_levels_with_torchs_numbers(recorded):
    seen, evaluated = set(), 0
    for record in recorded:
        for node in record.nodes:
            if node.op.kind not in KINDS:
                continue
            seen.add((node.op.kind, node.op.level))
            xs = [t.value for t in node.inputs]
            y = node.output.value
            reference = torch_forward(node)
            for index in indices(np.shape(y), node.index):
                worked = node.op.worked_forward(index, xs, y, node.attrs)
                where = f"{node.name} ({node.op.name}) forward {index}"
                assert worked.value == pytest.approx(float(reference[index]), abs=1e-12), where
                evaluated += check_arithmetic(worked, where)
        for step in record.steps:
            node = step.node
            if node.op.kind not in KINDS:
                continue
            xs = [t.value for t in node.inputs]
            reference = torch_gradients(step)
            for c in step.contributions:
                if c.input_index != min(j for j, t in enumerate(node.inputs) if t is c.tensor):
                    continue
                for index in indices(np.shape(c.value), step.index)[1:]:
                    worked = node.op.worked_backward(c.input_index, index, xs,
                                                     node.output.value, step.upstream,
                                                     c.value, node.attrs)
                    where = f"{node.name} ({node.op.name}) ∂{node.op.inputs[c.input_index]}"
                    if worked.numeric == "…":  # x * x: one tensor in two places
                        assert node.op.level != "aten", where
                        continue
                    assert worked.value == pytest.approx(
                        float(reference[c.input_index][index]), abs=1e-12), where
                    assert worked.target.startswith("∂L/∂"), where
                    evaluated += check_arithmetic(worked, where)
    kinds = {kind for kind, _ in seen}
    assert kinds == KINDS
    calls = {kind for kind, level in seen if level == "function"}
    assert calls >= KINDS - {"addmm", "nll"}  # aten-only kinds, and nll_loss via F.nll_loss
    assert evaluated > 300


def test_a_padding_rows_gradient_is_zero_and_says_why(recorded):
    record = recorded[0]
    step = next(s for s in record.steps if s.node.op.name == "F.embedding")
    (c,) = step.contributions
    worked = step.node.op.worked_backward(c.input_index, (0, 1), [t.value for t in
                                                                    step.node.inputs],
                                          step.node.output.value, step.upstream, c.value,
                                          step.node.attrs)
    assert worked.value == 0.0 and "padding_idx" in worked.symbolic


def test_gelu_and_attention_match_closed_forms(recorded):
    """Φ(x) from math.erf; attention weights P = softmax(Q Kᵀ/√d) with the causal mask."""
    record = recorded[0]
    gelu = next(n for n in record.nodes if n.op.name == "F.gelu" and
                n.attrs.get("approximate", "none") == "none")
    x = gelu.inputs[0].value
    phi = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    assert np.allclose(gelu.output.value, x * phi, rtol=0, atol=1e-15)
    sdpa = next(n for n in record.nodes if n.op.name == "F.scaled_dot_product_attention")
    q, k, v = (t.value for t in sdpa.inputs[:3])
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    assert np.allclose(sdpa.output.value, p @ v, rtol=0, atol=1e-14)
