"""Six ways a recording used to go wrong, each from a minimal model: the record must agree
with PyTorch's own ``loss.backward()``, every step must replay in torch, and every backward
step must be paired with the node whose gradient it received."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from engine.pytorch.match import max_abs_diff  # noqa: E402
from engine.pytorch.record import record_module  # noqa: E402
from engine.pytorch.steps import check_every_step, twin_backward, twin_forward  # noqa: E402

nn = torch.nn


def plain_grads(model, inputs, loss_fn):
    """``.grad`` of every parameter after an ordinary forward and ``loss.backward()``."""
    model.zero_grad()
    out = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
    loss_fn(out).backward()
    grads = {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return grads


def assert_leaf_grads(record, expected, tolerance):
    got = {t.name: t.grad for t in record.tensors if t.kind == "param"}
    assert set(got) == set(expected)
    for name, grad in expected.items():
        scale = max(1.0, float(np.abs(grad).max()))
        assert max_abs_diff(got[name], grad) <= tolerance * scale, name


def assert_upstreams_are_what_arrived(record, tolerance=1e-12):
    """Each aten op's backward step receives as upstream exactly what the steps before it
    sent its output (the loss gets the seed 1). A step paired with the wrong node breaks
    this."""
    arrived: dict[int, np.ndarray] = {}
    for step in record.steps:
        if step.node.op.level != "aten":
            continue  # a call's step repeats what its parts sent
        out = step.node.output
        if out is record.loss:
            expected = np.ones(np.shape(step.upstream))
        else:
            expected = arrived.get(out.id)
        assert expected is not None, f"{step.node.name} got an upstream nothing sent"
        assert max_abs_diff(step.upstream, expected) <= tolerance * max(
            1.0, float(np.abs(expected).max())), step.node.name
        for c in step.contributions:
            arrived[c.tensor.id] = arrived.get(c.tensor.id, 0) + c.value


def test_a_float32_lstm_records_and_its_gradients_are_torchs():
    """Failure 1: a float32 LSTM runs aten.mkldnn_rnn_layer, whose outputs each get a
    gradient; splitting them ran the autograd node with grad mode on."""
    torch.manual_seed(0)
    lstm, x = nn.LSTM(3, 4, batch_first=True), torch.randn(2, 5, 3)

    def loss_fn(output):
        out, (h, c) = output
        return out.pow(2).mean() + h.sum() + c.sum()

    record = record_module(lstm, x, loss_fn)
    assert any(n.op.name == "aten.mkldnn_rnn_layer" for n in record.nodes)
    assert record.notes == []
    assert_leaf_grads(record, plain_grads(lstm, x, loss_fn), 1e-5)
    report = check_every_step(record)
    assert report.ok and not report.skipped, report.summary()


class Accumulate(nn.Module):
    """micrograd style: a running total built with += (aten.add_)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64))

    def forward(self, x):
        total = torch.zeros((), dtype=torch.float64)
        for i in range(3):
            total += self.w[i] * x[i]
        return total.sigmoid()


def test_in_place_ops_replay_on_copies_of_their_inputs():
    """Failure 2: replaying add_ ran it on a leaf that needs a gradient."""
    model, x = Accumulate(), torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)
    record = record_module(model, x)
    add_steps = [s for s in record.steps if s.node.op.name == "aten.add_"]
    assert len(add_steps) == 3
    for step in add_steps:
        before = step.node.inputs[0].value.copy()
        assert twin_forward(step.node).ok
        assert all(m.ok for _, m in twin_backward(step))
        assert np.array_equal(step.node.inputs[0].value, before)
    report = check_every_step(record)
    assert report.ok and len(report.compared) == len(report.steps), report.summary()
    # independently: d sigmoid(w·x) / dw = σ'(w·x) x
    s = 1 / (1 + np.exp(-float(model.w.detach() @ x)))
    w = next(t for t in record.tensors if t.name == "w")
    assert np.allclose(w.grad, s * (1 - s) * x.numpy(), rtol=0, atol=1e-14)


class Gates(nn.Module):
    """The minimal repro: chunks of one tensor changed in place, as torch's CPU GRU and
    LSTM cells do with their gates."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4).double()

    def forward(self, inp):
        x = self.lin(inp)
        a, b = x.unsafe_chunk(2, -1)
        a.sigmoid_()
        b.tanh_()
        return (a * b).sum()


def test_chunks_changed_in_place_pair_with_their_own_autograd_nodes():
    """Failure 3: the second chunk was paired with the in-place op's node (TanhBackward0)
    instead of UnsafeSplitBackward0, so steps were unpaired and upstreams wrong."""
    torch.manual_seed(0)
    model, inp = Gates(), torch.randn(2, 3, dtype=torch.float64)
    record = record_module(model, inp)
    assert record.notes == []
    assert all(s.node.index < len(record.nodes) for s in record.steps)  # no stand-ins
    split = [s for s in record.steps if s.node.op.name == "aten.unsafe_split"]
    assert sorted(s.node.name for s in split) == ["unsafe_chunk.unsafe_split",
                                                  "unsafe_chunk.unsafe_split[1]"]
    for step in split:  # each chunk's (2, 2) upstream sends a (2, 4) gradient to x
        assert step.upstream.shape == (2, 2)
        assert [c.value.shape for c in step.contributions] == [(2, 4)]
    assert_upstreams_are_what_arrived(record)
    assert_leaf_grads(record, plain_grads(model, inp, lambda y: y), 1e-12)
    assert check_every_step(record).ok


def test_a_gru_records_every_step_paired():
    from tests.engine.pytorch.test_record import load_fixture

    model, ids, loss_fn = load_fixture("gru").make()
    record = record_module(model, ids, loss_fn)
    assert record.notes == []
    assert all(s.node.index < len(record.nodes) for s in record.steps)
    assert_upstreams_are_what_arrived(record)
    assert_leaf_grads(record, plain_grads(model, ids, loss_fn), 1e-12)
    assert check_every_step(record).ok


class RoundThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


class Quantised(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3).double()

    def forward(self, x):
        return (RoundThrough.apply(self.lin(x) * 4) * x).sum()


def test_a_custom_function_around_one_op_is_shown_as_the_function():
    """Failure 4: the straight-through Function was shown as aten.round with round's
    derivative (zero), so checking it in torch failed."""
    torch.manual_seed(0)
    model, x = Quantised(), torch.randn(2, 3, dtype=torch.float64)
    record = record_module(model, x)
    report = check_every_step(record)
    assert report.ok, report.summary()
    custom = next(n for n in record.nodes if n.op.name == "RoundThrough.apply")
    assert custom.op.level == "custom" and "your autograd.Function" in custom.op.formula
    rounded = next(n for n in record.nodes if n.op.name == "aten.round")
    call = record.parent[rounded.index]  # torch.round(x), inside the Function
    assert call.op.name == "torch.round" and record.parent[call.index] is custom
    assert rounded.index not in {s.node.index for s in record.steps}
    step = next(s for s in record.steps if s.node is custom)
    (sent,) = step.contributions
    assert np.array_equal(sent.value, step.upstream)  # straight through: g passes on
    assert np.array_equal(step.upstream, x.numpy())  # ∂/∂round(z) of Σ round(z)·x is x
    assert_leaf_grads(record, plain_grads(model, x, lambda y: y), 1e-12)


def test_a_tensor_changed_in_place_is_recorded_as_it_was_before():
    """Failure 5: BatchNorm's buffers were first seen after the op changed them
    (num_batches_tracked 1 → 1, running averages already updated)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double().train()
    x = torch.randn(5, 3, dtype=torch.float64)
    record = record_module(model, x)
    count = next(n for n in record.nodes if n.op.name == "aten.add_")
    assert count.inputs[0].name == "1.num_batches_tracked"
    assert int(count.inputs[0].value) == 0 and int(count.output.value) == 1
    norm = next(n for n in record.nodes if n.op.name == "aten.native_batch_norm")
    running = {t.name: t.value for t in norm.inputs}
    assert np.array_equal(running["1.running_mean"], np.zeros(4))
    assert np.array_equal(running["1.running_var"], np.ones(4))
    hidden = next(n for n in record.nodes if n.op.name == "F.linear").output.value
    assert np.allclose(model[1].running_mean.numpy(), 0.1 * hidden.mean(axis=0), atol=1e-15)
    assert check_every_step(record).ok


def test_random_ops_are_taken_as_recorded_and_what_follows_is_checked():
    """Failure 6: dropout's empty_like and bernoulli_ were run again (uninitialised
    memory, a new random mask) and reported as mismatches."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5)).double().train()
    x = torch.randn(5, 3, dtype=torch.float64)
    record = record_module(model, x)
    report = check_every_step(record)
    assert report.ok, report.summary()
    random = {n.op.name for n in record.nodes if n.op.random}
    assert random == {"aten.empty_like", "aten.bernoulli_", "F.dropout"}
    for n in record.nodes:
        if n.op.random:
            assert n.op.formula.startswith("random: recorded value, not re-run")
    assert {s.op for s in report.random} == random
    mul = next(s for s in report.steps if s.op == "aten.mul" and s.phase == "forward")
    assert mul.match is not None and mul.match.ok  # checked on the recorded mask
    mask = next(n for n in record.nodes if n.op.name == "aten.bernoulli_").output.value
    assert set(np.unique(mask)) <= {0.0, 1.0}
    out = next(n for n in record.nodes if n.op.name == "F.dropout").output.value
    linear = next(n for n in record.nodes if n.op.name == "F.linear").output.value
    assert np.allclose(out, linear * mask / 0.5, rtol=0, atol=1e-15)
