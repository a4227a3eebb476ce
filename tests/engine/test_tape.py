"""The Tape as a small autograd: micrograd's classic expressions against torch,
and the record it keeps."""

from __future__ import annotations

import numpy as np
import pytest

from engine import ModelConfig, Tape, Transformer


def micrograd_sanity(lib, x):
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    return h + q + q * x


def micrograd_more_ops(lib, a, b):
    c = a + b
    d = a * b + b ** 3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g = g + 10.0 / f
    return g


def test_micrograd_sanity_check_against_torch():
    torch = pytest.importorskip("torch")
    t = Tape()
    x = t.input("x", -4.0)
    y = micrograd_sanity(None, x)
    t.backward(y)
    xt = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    yt = micrograd_sanity(torch, xt)
    yt.backward()
    assert float(y.value) == pytest.approx(yt.item(), rel=1e-15)
    assert float(x.grad) == pytest.approx(xt.grad.item(), rel=1e-15)


def test_micrograd_more_ops_against_torch():
    torch = pytest.importorskip("torch")
    t = Tape()
    a, b = t.input("a", -4.0), t.input("b", 2.0)
    g = micrograd_more_ops(None, a, b)
    t.backward(g)
    at = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    gt = micrograd_more_ops(torch, at, bt)
    gt.backward()
    assert float(g.value) == pytest.approx(gt.item(), rel=1e-12)
    assert float(a.grad) == pytest.approx(at.grad.item(), rel=1e-12)
    assert float(b.grad) == pytest.approx(bt.grad.item(), rel=1e-12)


def test_arrays_matmul_and_reductions_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xv, wv = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))

    def expression(x, w, sum_rows):
        return ((x @ w).tanh().exp().mean() + (sum_rows(x) ** 2).sum() / 7).log()

    t = Tape()
    x, w = t.input("x", xv), t.input("w", wv)
    loss = expression(x, w, lambda x: x.sum(axis=0))
    t.backward(loss)
    xt = torch.tensor(xv, requires_grad=True)
    wt = torch.tensor(wv, requires_grad=True)
    expression(xt, wt, lambda x: x.sum(dim=0)).backward()
    assert np.allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert np.allclose(w.grad, wt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_backward_records_one_step_per_node_in_exact_reverse_order():
    t = Tape()
    x = t.input("x", 3.0)
    y = (x * x + x.relu()).tanh()
    t.backward(y)
    assert [s.node.index for s in t.steps] == list(reversed(range(len(t.nodes))))
    assert float(t.steps[0].upstream) == 1.0


def test_fan_out_is_an_explicit_accumulation_event():
    t = Tape()
    x = t.input("x", 3.0)
    y = x * x + x  # x feeds three places: two mul inputs and the add
    t.backward(y)
    events = [c for s in t.steps for c in s.contributions if c.tensor is x]
    assert len(events) == 3
    assert [e.accumulates for e in events] == [False, True, True]
    for e in events[1:]:
        assert np.array_equal(e.after, e.before + e.value)
    assert float(x.grad) == 2 * 3.0 + 1
    assert float(events[-1].after) == float(x.grad)


def test_scopes_name_nodes_hierarchically_and_uniquely():
    t = Tape()
    x = t.input("x", [1.0, -2.0])
    with t.scope("encoder"):
        with t.scope("layers.0"):
            a = x.relu()
            b = a.relu()
    assert [n.name for n in t.nodes] == ["encoder.layers.0.relu", "encoder.layers.0.relu_2"]
    assert t.nodes[0].path == ("encoder", "layers.0", "relu")
    b.named("hidden")
    assert t.nodes[1].name == "encoder.layers.0.hidden"


def test_model_records_accumulation_for_qkv_residuals_and_memory():
    config = ModelConfig(6, 8, 2, 8, 1, 2, 6)
    run = Transformer(config).run([[1, 2, 3]], [[0, 1]], [[1, 2]])
    accumulated = {c.tensor.name for s in run.tape.steps for c in s.contributions if c.accumulates}
    # the encoder output feeds K and V of every decoder layer's cross-attention
    assert "encoder.norm" in accumulated
    # Q, K, V all read the embedded input; the residual branch reads it too
    assert "src_embed.add_position" in accumulated
    # parameters used once have no accumulation event
    assert "generator.weight" not in accumulated


def test_non_scalar_backward_needs_a_seed():
    t = Tape()
    y = t.input("x", [1.0, 2.0]) * 2
    with pytest.raises(ValueError, match="seed"):
        t.backward(y)
    t.backward(y, seed=np.array([1.0, 0.5]))
    assert np.array_equal(t.tensors[0].grad, [2.0, 1.0])


def test_tensors_from_two_tapes_do_not_mix():
    a, b = Tape(), Tape()
    with pytest.raises(ValueError, match="another tape"):
        a.input("x", 1.0) + b.input("y", 2.0)


def test_backward_twice_is_refused():
    t = Tape()
    y = t.input("x", 1.0) * 2
    t.backward(y)
    with pytest.raises(RuntimeError, match="already"):
        t.backward(y)


def test_unused_inputs_get_zero_grad():
    t = Tape()
    x, unused = t.input("x", 2.0), t.input("u", 5.0)
    t.backward(x * 3)
    assert float(unused.grad) == 0.0 and float(x.grad) == 3.0
