"""The record reads like the learner's model: each call they wrote (``F.linear``, ``+``,
``@``, ``x.view``) is a step named by their module tree, with its arguments named as in
its signature and its tensors by their names; the aten ops it ran are one level down."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from engine.pytorch.match import max_abs_diff  # noqa: E402
from engine.pytorch.names import torch_line, torch_operands  # noqa: E402
from engine.pytorch.record import record_module  # noqa: E402
from engine.pytorch.steps import check_every_step, twin_backward  # noqa: E402
from engine.timeline import OP_LEVEL, Timeline  # noqa: E402

from tests.engine.pytorch.test_record import load_fixture  # noqa: E402

F = torch.nn.functional


@pytest.fixture(scope="module")
def mlp_record():
    return record_module(*load_fixture("mlp").make())


@pytest.fixture(scope="module")
def gpt_record():
    return record_module(*load_fixture("gpt").make())


def by_name(record, name):
    return next(n for n in record.nodes if n.name == name)


def run_line(node):
    """Execute the node's torch line on tensors named like its inputs (test only)."""
    namespace = {"torch": torch, "F": F, "math": math}
    for name, t in zip(torch_operands(node), node.inputs):
        namespace[name] = torch.tensor(np.array(t.value))
    line = torch_line(node)
    exec(compile(line, node.name, "exec"), namespace)  # noqa: S102 - test only
    value = namespace[line.split(" = ", 1)[0]]
    if isinstance(value, tuple):
        value = next(v for v in value if isinstance(v, torch.Tensor))
    return value.detach().numpy()


def test_a_call_is_a_node_after_its_aten_ops(mlp_record):
    call = by_name(mlp_record, "fc1.linear")
    assert call.op.name == "F.linear" and call.op.level == "function"
    assert call.op.inputs == ("input", "weight", "bias")  # F.linear's own argument names
    assert [t.name for t in call.inputs] == ["input", "fc1.weight", "fc1.bias"]
    parts = [n for n in mlp_record.nodes if mlp_record.parent.get(n.index) is call]
    assert [(n.name, n.op.name) for n in parts] == [("fc1.linear.t", "aten.t"),
                                                   ("fc1.linear.addmm", "aten.addmm")]
    assert all(p.index < call.index for p in parts)
    assert call.output is parts[-1].output and call.output.name == "fc1.linear"
    assert torch_line(call) == "fc1_linear = F.linear(input, fc1_weight, fc1_bias)"


def test_a_calls_backward_step_sends_what_its_parts_sent(mlp_record):
    call = by_name(mlp_record, "fc2.linear")
    steps = [s for s in mlp_record.steps if s.node is call or
             mlp_record.parent.get(s.node.index) is call]
    assert [s.node.name for s in steps] == ["fc2.linear.addmm", "fc2.linear.t", "fc2.linear"]
    own = steps[-1]
    sent = {c.tensor.name: c.value for c in own.contributions}
    parts = {c.tensor.name: c.value for s in steps[:-1] for c in s.contributions}
    assert sent.keys() == {"relu", "fc2.weight", "fc2.bias"}
    for name, value in sent.items():
        assert np.array_equal(value, parts[name])
    # closed forms of F.linear's backward: ∂x = G W, ∂W = Gᵀ x, ∂b = Σ G
    g = own.upstream
    x, w, _ = (t.value for t in call.inputs)
    assert np.allclose(sent["relu"], g @ w, rtol=0, atol=1e-15)
    assert np.allclose(sent["fc2.weight"], g.T @ x, rtol=0, atol=1e-15)
    assert np.allclose(sent["fc2.bias"], g.sum(axis=0), rtol=0, atol=1e-15)
    assert all(m.ok for _, m in twin_backward(own, tolerance=1e-13))
    # its running totals: the gradient before the call began, and after it
    weight = next(c for c in own.contributions if c.tensor.name == "fc2.weight")
    assert weight.before is None and np.array_equal(weight.after, weight.value)


class Written(torch.nn.Module):
    """Operators and methods as a learner writes them."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(3, 4, dtype=torch.float64))

    def forward(self, x):
        h = (x @ self.w).view(2, 2, 2)
        g = h[:, 0] + 2 - h[1].T
        return (2 - g) ** 2


def test_operators_and_methods_are_spelled_as_written():
    torch.manual_seed(0)
    record = record_module(Written(), torch.randn(2, 3, dtype=torch.float64))
    calls = [n for n in record.nodes if n.op.level == "function"]
    lines = [torch_line(n).split(" = ", 1)[1] for n in calls]
    assert lines == ["input @ w", "matmul.view(2, 2, 2)", "view[:, 0]", "getitem + 2",
                     "view[1]", "getitem_2.T", "add - T", "2 - sub", "sub_2 ** 2", "pow.sum()"]
    assert [n.op.name for n in calls][:4] == ["@", "Tensor.view", "x[…]", "+"]
    for node in calls:
        assert max_abs_diff(run_line(node), node.output.value) == 0.0, torch_line(node)
    assert check_every_step(record, tolerance=1e-13).ok


def test_a_gpt_reads_like_its_module_tree(gpt_record):
    ops = {n.name: n.op.name for n in gpt_record.nodes}
    assert ops["transformer.wte.embedding"] == "F.embedding"
    assert ops["transformer.h.0.ln_1.layer_norm"] == "F.layer_norm"
    assert ops["transformer.h.0.attn.c_attn.linear"] == "F.linear"
    assert ops["transformer.h.0.attn.scaled_dot_product_attention"] == \
        "F.scaled_dot_product_attention"
    assert ops["transformer.h.1.mlp.gelu.gelu"] == "F.gelu"
    assert ops["transformer.ln_f.layer_norm"] == "F.layer_norm"
    assert ops["loss.cross_entropy"] == "F.cross_entropy"
    # the output layer shares the token embedding's weight: one tensor, one name
    head = by_name(gpt_record, "lm_head.linear")
    wte = by_name(gpt_record, "transformer.wte.embedding")
    assert head.inputs[1] is wte.inputs[1] and head.inputs[1].name == "transformer.wte.weight"
    sdpa = by_name(gpt_record, "transformer.h.0.attn.scaled_dot_product_attention")
    assert sdpa.op.inputs[:3] == ("query", "key", "value") and sdpa.attrs["is_causal"]
    for node in gpt_record.nodes:
        if node.op.level == "function":
            assert max_abs_diff(run_line(node), node.output.value) == 0.0, torch_line(node)


def test_the_cursor_stops_at_calls_and_steps_into_their_aten_ops(mlp_record):
    timeline = Timeline(mlp_record)

    def at():
        return timeline.step.name, timeline.depth - OP_LEVEL

    assert at() == ("fc1.linear", 0)  # the call has run: its aten ops are one unit with it
    assert timeline.next() and at() == ("relu", 0)
    assert timeline.previous() and at() == ("fc1.linear", 0)
    assert timeline.step_into() and at() == ("fc1.linear.t", 1)
    assert timeline.next() and at() == ("fc1.linear.addmm", 1)
    assert timeline.next() and at() == ("fc1.linear", 0)  # back at the caller's level
    assert timeline.step_into() and timeline.step_out() and at() == ("fc1.linear", 0)
    timeline.jump(timeline.forward_index[by_name(mlp_record, "fc2.linear.t").index])
    assert at() == ("fc2.linear.t", 1)
    assert timeline.jump_to_twin() and timeline.step.phase == "backward"
    assert at() == ("fc2.linear.t", 1)
    assert timeline.next() and at() == ("fc2.linear", 0)
    assert timeline.to_start() and at() == ("fc1.linear", 0)
    scope = timeline.scope_tree().children[0]
    assert [c.label for c in scope.children] == ["fc1", "relu", "fc2", "loss"]


class Pair(torch.autograd.Function):
    """A custom Function with two outputs: its backward has no single forward twin."""

    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, a, b):
        return 2 * a + 3 * b


class Twice(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))

    def forward(self, x):
        a, b = Pair.apply(self.w * x)
        c, d = Pair.apply(a + b)
        return (c * d).sum()


def test_a_custom_function_with_two_outputs_is_a_node_per_output():
    record = record_module(Twice(), torch.arange(3.0, dtype=torch.float64))
    assert record.notes == []
    pairs = [n for n in record.nodes if n.op.level == "custom"]
    assert [(n.name, n.op.name, n.op.output_index) for n in pairs] == [
        ("Pair", "Pair.apply", 0), ("Pair[1]", "Pair.apply", 1),
        ("Pair_2", "Pair.apply", 0), ("Pair_2[1]", "Pair.apply", 1)]
    assert all(s.node.index < len(record.nodes) for s in record.steps)
    w = next(t for t in record.tensors if t.name == "w")
    # c·d with c = 2s, d = 3s, s = a + b = 5·w·x: Σ 6 s², so ∂/∂w = 12 s · 5x
    x = np.arange(3.0)
    assert np.allclose(w.grad, 12 * (5 * x) * 5 * x, rtol=0, atol=1e-12)
    assert check_every_step(record, tolerance=1e-13).ok


class Opaque(torch.autograd.Function):
    """A custom Function whose forward torch never sees (NumPy inside), returning two
    tensors: its backward has no forward op to pair with."""

    @staticmethod
    def forward(ctx, x):
        value = x.detach().numpy()
        return torch.from_numpy(value * 2), torch.from_numpy(value * 3)

    @staticmethod
    def backward(ctx, a, b):
        return 2 * a + 3 * b


class OpaqueTwice(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))

    def forward(self, x):
        a, b = Opaque.apply(self.w * x)
        c, d = Opaque.apply(a + b)
        return (c * d).sum()


def test_a_custom_function_torch_never_sees_inside_is_still_paired():
    record = record_module(OpaqueTwice(), torch.arange(3.0, dtype=torch.float64))
    assert record.notes == []
    assert all(s.node.index < len(record.nodes) for s in record.steps)
    opaque = [n.name for n in record.nodes if n.op.level == "custom"]
    assert opaque == ["Opaque", "Opaque[1]", "Opaque_2", "Opaque_2[1]"]
    w = next(t for t in record.tensors if t.name == "w")
    x = np.arange(3.0)
    assert np.allclose(w.grad, 12 * (5 * x) * 5 * x, rtol=0, atol=1e-12)
    assert check_every_step(record, tolerance=1e-13).ok
