"""Nudge experiments: the gradient's promise ε·g kept by re-measured losses, a
descent step re-checked by torch, and the learning-rate lab's labels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import ModelConfig, Transformer
from engine.probes import (DescentTrail, LabCurve, classify_curve, descend_losses, lab_curves,
                           nudge_table)
from engine.tasks import make_batch
from tests.references import sgd_losses

SMALL = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=8, n_encoder_layers=1,
                    n_decoder_layers=1, max_len=6)


@pytest.fixture(scope="module")
def small_run():
    model = Transformer(SMALL, seed=11)
    batch = make_batch("reverse", 3, 5, np.random.default_rng(11))
    return model, batch, model.run(*batch)


def test_every_parameter_keeps_the_gradients_promise_as_eps_shrinks(small_run):
    """For random elements of every parameter, (L(w+ε) − L(w−ε))/2 ÷ (ε·g) → 1."""
    model, _, run = small_run
    rng = np.random.default_rng(0)
    checked = 0
    for name, shape in SMALL.parameter_shapes().items():
        for _ in range(2):
            index = tuple(int(rng.integers(n)) for n in shape)
            g = float(run.grads[name][index])
            rows = nudge_table(run.tape, name, index, epsilons=(1e-2, 1e-3, 1e-4, 1e-5))
            assert [r.eps for r in rows] == [1e-2, 1e-3, 1e-4, 1e-5]
            assert all(r.loss == run.loss and r.predicted_delta == g * r.eps for r in rows)
            if abs(g) < 1e-9:
                # e.g. key biases (softmax ignores a shift shared by all keys) and the
                # embedding rows of tokens absent from the batch: nothing moves
                assert all(abs(r.central_delta) < 1e-14 for r in rows), (name, index)
                continue
            errors = [abs(r.central_ratio - 1) for r in rows]
            assert errors[-1] < 1e-5, (name, index, g, errors)
            assert errors[-1] <= errors[0] + 1e-9, (name, index, errors)
            assert abs(rows[-1].central_gradient - g) <= 1e-5 * abs(g) + 1e-11
            checked += 1
    assert checked >= len(SMALL.parameter_shapes())  # most elements have a real gradient


def test_a_generator_bias_nudge_equals_the_closed_form_and_errors_scale_as_eps_powers(small_run):
    """Shifting generator.bias[j] by ε adds ε to every logit in column j: the loss is
    recomputed here from the recorded logits with no model at all."""
    _, batch, run = small_run
    j = 4
    targets = batch[2].reshape(-1)

    def cross_entropy(shift):
        z = run.logits.reshape(-1, SMALL.vocab_size).copy()
        z[:, j] += shift
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -logp[np.arange(targets.size), targets].mean()

    rows = nudge_table(run.tape, "generator.bias", (j,), epsilons=(1e-1, 1e-2, 1e-3))
    for r in rows:
        assert r.loss_plus == pytest.approx(cross_entropy(r.eps), rel=1e-13)
        assert r.loss_minus == pytest.approx(cross_entropy(-r.eps), rel=1e-13)
        assert r.measured_delta == r.loss_plus - run.loss
        assert r.ratio == r.measured_delta / r.predicted_delta
    one_sided = [abs(r.ratio - 1) for r in rows]
    central = [abs(r.central_ratio - 1) for r in rows]
    assert 7 < one_sided[0] / one_sided[1] < 13 and 7 < one_sided[1] / one_sided[2] < 13
    assert 70 < central[0] / central[1] < 130
    assert all(c < o for c, o in zip(central, one_sided))


def test_nudging_a_hidden_activation_measures_its_recorded_gradient(small_run):
    _, _, run = small_run
    checked = 0
    for step_name in ("encoder.layers.0.ff.relu", "decoder.layers.0.cross_attn.weights",
                      "decoder.norm"):
        node = next(n for n in run.tape.nodes if n.name == step_name)
        grad = node.output.grad
        index = np.unravel_index(int(np.argmax(np.abs(grad))), grad.shape)
        for target in (node.output, node.output.id, step_name):
            (row,) = nudge_table(run.tape, target, index, epsilons=(1e-5,))
            assert row.central_gradient == pytest.approx(float(grad[index]), rel=1e-6)
        checked += 1
    assert checked == 3


def test_a_nudge_of_a_fresh_recording_is_the_same_and_changes_nothing(small_run):
    model, batch, run = small_run
    a = nudge_table(model.run(*batch).tape, "decoder.layers.0.linear2.weight", (1, 2))
    b = nudge_table(run.tape, "decoder.layers.0.linear2.weight", (1, 2))
    c = nudge_table(run.tape, "decoder.layers.0.linear2.weight", (1, 2), grad=2.0)
    assert a == b
    assert [r.predicted_delta for r in c] == [2.0 * e for e in (1e-1, 1e-2, 1e-3, 1e-4)]
    assert model.params["decoder.layers.0.linear2.weight"][1, 2] == \
        run.params["decoder.layers.0.linear2.weight"].value[1, 2]  # nothing was changed


@pytest.mark.parametrize("kwargs,message", [
    (dict(target="nope.weight", index=(0,)), "no tensor named 'nope.weight'"),
    (dict(target="generator.bias", index=(12,)), r"index \(12,\) is outside"),
    (dict(target="generator.bias", index=(0, 0)), "is outside"),
    (dict(target="generator.bias", index="a"), "is outside|element index"),
    (dict(target="src", index=(0, 0)), "token ids"),
    (dict(target="generator.bias", index=(0,), epsilons=(0.0,)), "positive"),
])
def test_bad_nudges_say_what_is_wrong(small_run, kwargs, message):
    _, _, run = small_run
    with pytest.raises(ValueError, match=message):
        nudge_table(run.tape, **kwargs)


def test_a_model_or_an_unrecorded_tape_is_refused(small_run):
    model, _, _ = small_run
    with pytest.raises(ValueError, match="recorded Tape"):
        nudge_table(model, "generator.bias", (0,))
    from engine import Tape

    with pytest.raises(ValueError, match="no loss"):
        nudge_table(Tape(), "x", (0,))


# steps of descent --------------------------------------------------------------------
def test_a_descent_step_is_w_minus_lr_g_and_torch_agrees_on_the_loss_after(small_run):
    torch = pytest.importorskip("torch")
    from engine.pytorch.twin import TorchTwin

    model, batch, run = small_run
    trail = DescentTrail.start(run.tape, 0.05)
    trail.step()
    assert trail.steps == 1 and trail.losses[0] == run.loss
    twin = TorchTwin(model)
    loss, torch_grads = twin.loss_and_grads(*batch)
    assert trail.losses[0] == pytest.approx(loss, rel=1e-12)
    for p in run.params.values():
        assert np.array_equal(trail.weights[1][p.id], p.value - 0.05 * p.grad)
    # the loss after, by torch with torch's own gradients applied to the weights
    state = {name: value - 0.05 * torch_grads[name]
             for name, value in model.torch_state_dict().items()}
    twin.load(state)
    with torch.no_grad():
        logits = twin.logits(batch[0], batch[1])
        expected = torch.nn.functional.cross_entropy(
            logits.reshape(-1, SMALL.vocab_size), torch.as_tensor(batch[2]).reshape(-1)).item()
    assert trail.losses[1] == pytest.approx(expected, rel=1e-10)
    assert trail.losses[1] < trail.losses[0]


def test_a_tiny_descent_step_changes_the_loss_by_the_first_order_prediction(small_run):
    _, _, run = small_run
    trail = DescentTrail.start(run.tape, 1e-4)
    trail.step()
    squared = sum(float((g * g).sum()) for g in run.grads.values())
    assert trail.predicted_delta() == pytest.approx(-1e-4 * squared, rel=1e-12)
    delta = trail.losses[1] - trail.losses[0]
    assert delta / trail.predicted_delta() == pytest.approx(1.0, abs=1e-2)


# the learning-rate lab ------------------------------------------------------------------
def test_descent_losses_equal_recorded_sgd_steps_exactly(small_run):
    model, batch, run = small_run
    assert descend_losses(run.tape, 0.2, 3) == sgd_losses(model, batch, 0.2, 3)


def test_the_default_lab_shows_all_four_behaviours_on_the_tutor_model():
    model = Transformer(ModelConfig(), seed=0)
    batch = make_batch("reverse", 8, 6, np.random.default_rng(0))
    curves = lab_curves(model.run(*batch).tape, (0.003, 0.1, 0.3, 1.0), "sgd")
    assert [c.label for c in curves] == ["crawls", "converges", "oscillates", "diverges"]
    assert all(isinstance(c, LabCurve) and c.losses[0] == curves[0].losses[0] for c in curves)
    diverged = curves[-1]
    assert "stopped at step" in diverged.note and not math.isfinite(diverged.final)
    assert len(diverged.losses) <= 41 and all(math.isfinite(x) for x in diverged.losses[:-1])
    assert all(len(c.losses) == 41 for c in curves[:3])


@pytest.mark.parametrize("losses,label", [
    ([2.0 * 0.9 ** k for k in range(41)], "converges"),  # 98% gone, never up
    ([2.0 - 0.01 * k for k in range(41)], "crawls"),  # 20% gone
    ([2.0 * 0.95 ** k * (1.3 if k % 2 else 1.0) for k in range(41)], "oscillates"),
    ([2.0 + 0.1 * k for k in range(41)], "diverges"),  # ends above the start
    ([2.0, 1.5, 3.0, 9.0, float("inf")], "diverges"),
    ([2.0, 1.0, float("nan")], "diverges"),
    ([1.0, 1.0 + 1e-6, 0.3], "converges"),  # a rounding-size rise is not a bounce
])
def test_curve_labels_follow_their_stated_rules(losses, label):
    assert classify_curve(losses)[0] == label


def test_a_stopped_curve_says_where_and_why():
    label, note = classify_curve([2.0, 5.0, float("inf")])
    assert label == "diverges" and note == "stopped at step 2: the loss became inf"


def test_lab_arguments_are_checked(small_run):
    _, _, run = small_run
    with pytest.raises(ValueError, match="steps"):
        lab_curves(run.tape, (0.1,), "sgd", steps=0)
    with pytest.raises(ValueError, match="learning rate"):
        lab_curves(run.tape, (0.1, -1.0), "sgd")
    with pytest.raises(ValueError, match="two losses"):
        classify_curve([1.0])
