"""The optimisers: Adam against torch.optim.Adam step by step, SGD against its
closed form w − lr·g, and the checks on a learning rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import ModelConfig, Transformer
from engine.optim import Adam, apply, check_learning_rate, sgd_updates
from engine.tasks import make_batch

SHAPES = {"w": (3, 4), "b": (4,), "scalar": ()}


def gradient_sequence(steps, seed=0):
    """Gradients of changing size and sign, so m and v really differ per element."""
    rng = np.random.default_rng(seed)
    return [{n: rng.normal(scale=10.0 ** rng.integers(-3, 2), size=s) for n, s in SHAPES.items()}
            for _ in range(steps)]


@pytest.mark.parametrize("settings", [
    dict(),
    dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6),
])
def test_adam_matches_torch_adam_step_by_step_in_float64(settings):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    start = {n: rng.normal(size=s) for n, s in SHAPES.items()}
    tensors = {n: torch.tensor(v, requires_grad=True) for n, v in start.items()}
    torch_adam = torch.optim.Adam(tensors.values(), **settings)
    betas = settings.get("betas", (0.9, 0.999))
    adam = Adam(lr=settings.get("lr", 1e-3), beta1=betas[0], beta2=betas[1],
                eps=settings.get("eps", 1e-8))
    params = dict(start)
    for step, grads in enumerate(gradient_sequence(6), start=1):
        params = apply(params, adam.updates(params, grads))
        for name, t in tensors.items():
            t.grad = torch.tensor(grads[name])
        torch_adam.step()
        for name, t in tensors.items():
            np.testing.assert_allclose(params[name], t.detach().numpy(), rtol=1e-13, atol=1e-15,
                                       err_msg=f"{name} after step {step}")
    assert adam.t == 6


def test_adams_first_step_moves_each_weight_by_about_lr_against_its_gradient_sign():
    # at t = 1, m̂ = g and v̂ = g², so the direction is g / (|g| + ε): ±1 for |g| ≫ ε
    g = np.array([3.0, -2e-3, 1e-9, 0.0])
    w = np.zeros(4)
    (step,) = Adam(lr=0.01).updates({"w": w}, {"w": g})
    np.testing.assert_allclose(step.after, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12, atol=0)
    np.testing.assert_allclose(step.direction, g / (np.abs(g) + 1e-8), rtol=1e-10, atol=1e-18)
    assert step.optimizer == "adam" and np.array_equal(w, np.zeros(4))


def test_sgd_step_is_w_minus_lr_g_exactly_and_leaves_the_old_weights_alone():
    rng = np.random.default_rng(2)
    params = {n: rng.normal(size=s) for n, s in SHAPES.items()}
    copies = {n: v.copy() for n, v in params.items()}
    grads = {n: rng.normal(size=s) for n, s in SHAPES.items()}
    steps = sgd_updates(params, grads, 0.125)
    assert [s.name for s in steps] == list(params)
    for s in steps:
        assert np.array_equal(s.after, copies[s.name] - 0.125 * grads[s.name])
        assert s.before is params[s.name] and np.array_equal(s.before, copies[s.name])
        np.testing.assert_allclose(s.direction, grads[s.name], rtol=1e-12, atol=1e-15)
    new = apply(params, steps)
    assert new is not params and all(np.array_equal(params[n], copies[n]) for n in params)
    assert all(new[s.name] is s.after for s in steps)


def test_a_small_sgd_step_lowers_the_models_loss_by_about_lr_times_grad_squared():
    model = Transformer(ModelConfig(), seed=4)
    batch = make_batch("sort", 4, 6, np.random.default_rng(4))
    run = model.run(*batch)
    lr = 1e-3
    after = model.with_params(apply(model.params, sgd_updates(model.params, run.grads, lr)))
    new_loss = after.loss(*batch)
    assert new_loss < run.loss
    first_order = -lr * math.fsum(float((g * g).sum()) for g in run.grads.values())
    assert (new_loss - run.loss) / first_order == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf"), "fast", None])
def test_a_bad_learning_rate_is_refused_with_its_value(bad):
    with pytest.raises(ValueError, match="learning rate"):
        check_learning_rate(bad)
    with pytest.raises(ValueError, match="learning rate"):
        Adam(lr=bad)
    with pytest.raises(ValueError, match="learning rate"):
        sgd_updates({"w": np.zeros(1)}, {"w": np.zeros(1)}, bad)


def test_a_good_learning_rate_comes_back_as_a_float():
    assert check_learning_rate("0.5") == 0.5 and check_learning_rate(1) == 1.0
