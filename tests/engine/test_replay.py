"""Replaying a tape: exact reproduction, and central finite differences that check
the recorded gradients of parameters and of hidden activations."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from engine import ModelConfig, Tape, Transformer
from engine.replay import replay, replayed_output

CONFIG = ModelConfig(vocab_size=7, d_model=8, n_heads=2, d_ff=12, n_encoder_layers=1,
                     n_decoder_layers=2, max_len=6)
MODEL = Transformer(CONFIG, seed=5)
RUN = MODEL.run([[1, 2, 3, 4], [6, 5, 0, 2]], [[0, 3, 1], [0, 2, 2]], [[3, 1, 4], [2, 2, 6]])
TAPE = RUN.tape
EPS = 1e-5


def central_difference(tape, key, index, eps=EPS):
    """(L(x + ε) − L(x − ε)) / 2ε for one element of the tensor ``key``."""
    base = next(t for t in tape.tensors if t.name == key).value
    plus, minus = base.copy(), base.copy()
    plus[index] += eps
    minus[index] -= eps
    high = float(replayed_output(tape, {key: plus}))
    low = float(replayed_output(tape, {key: minus}))
    return (high - low) / (2 * eps)


def close(estimate, exact, rel=1e-6):
    return abs(estimate - exact) <= rel * max(abs(exact), 1e-3)


def snapshot(tape):
    return [t.value.copy() for t in tape.tensors]


def test_replay_without_overrides_recomputes_every_value_exactly():
    before = snapshot(TAPE)
    values = replay(TAPE, {}, recompute_all=True)
    assert set(values) == {t.id for t in TAPE.tensors}
    for t in TAPE.tensors:
        assert values[t.id].shape == t.value.shape
        assert np.array_equal(values[t.id], t.value), t.name
    assert float(replayed_output(TAPE, {})) == RUN.loss
    for old, t in zip(before, TAPE.tensors):
        assert np.array_equal(old, t.value)


def test_overriding_a_leaf_with_its_own_value_reproduces_everything_downstream():
    name = "encoder.layers.0.self_attn.q_proj.weight"
    values = replay(TAPE, {name: MODEL.params[name].copy()})
    for t in TAPE.tensors:
        assert np.array_equal(values[t.id], t.value), t.name


PARAMS = ["encoder.layers.0.self_attn.q_proj.weight", "decoder.layers.1.cross_attn.v_proj.bias",
          "decoder.layers.0.linear1.weight", "encoder.layers.0.norm2.weight",
          "tgt_embed.weight", "generator.bias"]


@pytest.mark.parametrize("name", PARAMS)
def test_nudging_a_parameter_matches_its_recorded_gradient(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    grad = RUN.grads[name]
    for _ in range(3):
        index = tuple(int(rng.integers(n)) for n in grad.shape)
        if name == "tgt_embed.weight":  # a row only moves the loss if its token is used
            index = (int(rng.choice([0, 2, 3])),) + index[1:]
        estimate = central_difference(TAPE, name, index)
        assert close(estimate, grad[index]), (name, index, estimate, grad[index])


@pytest.mark.parametrize("activation", ["encoder.layers.0.ff.linear1",
                                        "decoder.layers.1.ff.linear1",
                                        "decoder.layers.0.self_attn.scores"])
def test_nudging_a_hidden_activation_matches_its_total_gradient(activation):
    tensor = next(t for t in TAPE.tensors if t.name == activation)
    rng = np.random.default_rng(1)
    checked = 0
    while checked < 4:
        index = tuple(int(rng.integers(n)) for n in tensor.shape)
        if activation.endswith("linear1") and abs(tensor.value[index]) < 1e-3:
            continue  # a ReLU kink inside ±ε would make the difference one-sided
        estimate = central_difference(TAPE, activation, index)
        assert close(estimate, tensor.grad[index]), (index, estimate, tensor.grad[index])
        checked += 1


def test_an_activation_override_replaces_the_output_and_only_later_nodes_change():
    relu_in = next(t for t in TAPE.tensors if t.name == "encoder.layers.0.ff.linear1")
    new = np.full(relu_in.shape, -1.0)
    values = replay(TAPE, {relu_in.id: new})
    assert np.array_equal(values[relu_in.id], new)
    relu_out = next(t for t in TAPE.tensors if t.name == "encoder.layers.0.ff.relu")
    assert np.array_equal(values[relu_out.id], np.zeros(relu_out.shape))
    for t in TAPE.tensors:  # everything recorded before the override is untouched
        if t.node is not None and t.node.index < relu_in.node.index:
            assert values[t.id] is not t.value and np.array_equal(values[t.id], t.value)
    assert float(replayed_output(TAPE, {relu_in.id: new})) != RUN.loss


def test_a_small_graph_by_hand():
    t = Tape()
    a, b = t.input("a", 3.0), t.input("b", -2.0)
    y = (a * b + b ** 3).named("y")
    t.backward(y)
    # y(a, b) = a b + b³; at a = 5, b = 1: 5 + 1 = 6
    assert float(replayed_output(t, {"a": 5.0, "b": 1.0})) == 6.0
    assert float(replayed_output(t, {a.id: 5.0}, tensor="y")) == 5 * -2 + (-2) ** 3
    assert float(y.value) == 3 * -2 + (-2) ** 3


def test_returned_recorded_values_cannot_be_written_through():
    values = replay(TAPE, {})
    some = TAPE.tensors[-1]
    with pytest.raises(ValueError):
        values[some.id][...] = 0


@pytest.mark.parametrize("overrides,message", [
    ({"no.such.tensor": 1.0}, r"no tensor named 'no.such.tensor'"),
    ({10**6: 1.0}, r"no tensor with id 1000000"),
    ({"generator.bias": np.zeros(3)}, r"override for 'generator.bias' has shape \(3,\), "
                                      r"but the tensor has shape \(7,\)"),
    ({"generator.bias": ["a"] * 7}, r"must hold numbers"),
    ({"src": np.full((2, 4), 1.5)}, r"must hold whole numbers"),
    ({2.5: 1.0}, r"a tensor is named by its id"),
])
def test_bad_overrides_are_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        replay(TAPE, overrides)


def test_ambiguous_names_ask_for_an_id():
    t = Tape()
    x = t.input("x", 1.0)
    y = x * 2 + x * 2  # two constants named "2"
    t.backward(y)
    with pytest.raises(ValueError, match=r"2 tensors are named '2'"):
        replay(t, {"2": 3.0})


def test_a_tape_without_backward_needs_a_named_output():
    t = Tape()
    x = t.input("x", 2.0)
    (x * x).named("square")
    with pytest.raises(ValueError, match="no loss yet"):
        replayed_output(t, {"x": 3.0})
    assert float(replayed_output(t, {"x": 3.0}, tensor="square")) == 9.0
