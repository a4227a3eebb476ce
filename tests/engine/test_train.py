"""Training: the lean pass against the recorded one, the loop against the same loop
in torch, held-out accuracy against torch's greedy decoding, and weight files."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest

from engine import ModelConfig, Tape, Transformer
from engine.optim import apply, sgd_updates
from engine.tasks import BOS, held_out, make_batch
from engine.lean import LeanTape
from engine.train import DEFAULT_BATCH, Trainer, evaluate, learning_rate_at, loss_and_grads, train

SMALL = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=12, n_encoder_layers=1,
                    n_decoder_layers=2, max_len=8)


# the lean pass ----------------------------------------------------------------------
@pytest.mark.parametrize("config,batch,seed", [
    (ModelConfig(), 16, 0),
    (SMALL, 3, 1),
    (ModelConfig(vocab_size=12, d_model=15, n_heads=3, d_ff=7, n_encoder_layers=3,
                 n_decoder_layers=1, max_len=8), 5, 2),
])
def test_lean_loss_and_gradients_equal_the_recorded_run_bit_for_bit(config, batch, seed):
    model = Transformer(config, seed=seed)
    data = make_batch("reverse", batch, 6, np.random.default_rng(seed))
    run = model.run(*data)
    loss, grads = loss_and_grads(model, *data)
    assert loss == run.loss
    assert list(grads) == list(run.grads)
    for name, g in grads.items():
        assert np.array_equal(g, run.grads[name]), name


def test_lean_tape_matches_tape_on_a_graph_with_fan_out_and_broadcasting():
    def expression(tape, x, w, b):
        h = tape.linear(x, w, b).relu()  # b broadcasts over rows
        y = h * x.sum(axis=-1, keepdims=True) + h.tanh()  # x and h feed several ops
        return (y ** 2).mean() + (h * 3.0).sum()

    rng = np.random.default_rng(0)
    values = [rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)]
    recorded = Tape()
    leaves = [recorded.input(n, v) for n, v in zip("xwb", values)]
    out = expression(recorded, *leaves)
    recorded.backward(out)
    lean = LeanTape()
    lean_leaves = [lean.input(n, v) for n, v in zip("xwb", values)]
    lean_out = expression(lean, *lean_leaves)
    grads = lean.backward(lean_out)
    assert lean_out.value == out.value and not lean.nodes and not lean.steps
    for a, b in zip(leaves, lean_leaves):
        assert np.array_equal(grads[b.id], a.grad)


# the loop ---------------------------------------------------------------------------
def torch_training_loop(config, task, steps, seed, lr, warmup, batch):
    """The same loop written in torch: twin model, torch.optim.Adam, same batches and lr."""
    torch = pytest.importorskip("torch")
    from engine.pytorch.twin import TorchTwin

    model = Transformer(config, seed=seed)
    twin = TorchTwin(model)
    params = twin.named_parameters()
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        src, tgt_in, tgt_out = make_batch(task, batch, 6, rng)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, steps, lr, warmup)
        optimizer.zero_grad()
        logits = twin.logits(src, tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, config.vocab_size),
                                                 torch.as_tensor(tgt_out).reshape(-1))
        loss.backward()
        optimizer.step()
    return {name: p.detach().numpy().copy() for name, p in params.items()}, model


def test_adam_training_steps_equal_the_same_loop_in_torch():
    result = train("sort", steps=4, seed=3, lr=0.01, warmup=2, batch=5, config=SMALL,
                   eval_every=100)
    reference, model = torch_training_loop(SMALL, "sort", 4, 3, 0.01, 2, 5)
    ours = model.torch_state_dict(result.params)
    assert set(ours) == set(reference)
    # atol: ∂L/∂(key bias) is 0 in exact arithmetic (softmax ignores a shift shared by
    # all keys), so both sides' key biases hold only rounding noise, ~1e-12 after Adam
    for name, value in reference.items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-10, atol=1e-10, err_msg=name)
    assert not np.array_equal(result.params["generator.bias"],
                              Transformer(SMALL, seed=3).params["generator.bias"])


def test_sgd_training_steps_equal_recorded_runs_and_sgd_updates_exactly():
    result = train("copy", steps=3, seed=1, lr=0.2, optimizer="sgd", warmup=0, batch=4,
                   config=SMALL, eval_every=100)
    model = Transformer(SMALL, seed=1)
    rng = np.random.default_rng(1)
    losses = []
    for step in range(3):
        data = make_batch("copy", 4, 6, rng)
        run = model.run(*data)
        losses.append(run.loss)
        rate = learning_rate_at(step, 3, 0.2, 0)
        model = model.with_params(apply(model.params, sgd_updates(model.params, run.grads, rate)))
    assert result.losses == losses
    for name, value in model.params.items():
        assert np.array_equal(result.params[name], value), name


def test_learning_rate_warms_up_linearly_then_decays_by_cosine_to_a_tenth():
    lr, steps, warmup = 0.01, 110, 10
    rates = [learning_rate_at(s, steps, lr, warmup) for s in range(steps)]
    assert rates[:10] == pytest.approx([lr * k / 10 for k in range(1, 11)], rel=1e-15)
    assert rates[10] == pytest.approx(lr, rel=1e-15)
    assert rates[60] == pytest.approx(lr * (0.1 + 0.9 * 0.5), rel=1e-12)  # halfway: cos = 0
    assert learning_rate_at(steps, steps, lr, warmup) == pytest.approx(lr / 10, rel=1e-12)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))


@pytest.fixture(scope="module")
def trained():
    """A short real run: enough to learn most of `copy` (about 2 s)."""
    return train("copy", steps=300, seed=0, eval_every=150)


def test_a_short_training_run_lowers_the_loss_and_learns_some_of_the_task(trained):
    losses = trained.losses
    assert len(losses) == trained.steps_done == 300 and not trained.stopped_early
    assert np.mean(losses[-20:]) < 0.25 * np.mean(losses[:20])
    assert losses[0] == pytest.approx(math.log(12), rel=0.3)  # about uniform at the start
    assert [s for s, _ in trained.accuracies] == [150, 300]
    assert trained.final_accuracy >= 0.5
    assert trained.steps_per_second > 0 and trained.eval_time < trained.wall_time


def test_held_out_accuracy_equals_torch_greedy_decoding(trained):
    pytest.importorskip("torch")
    from engine.pytorch.twin import TorchTwin

    examples = held_out("copy")
    tokens = TorchTwin(trained.model).generate(examples.src, BOS, 6)[:, 1:]
    expected = float(np.mean(np.all(tokens == examples.tgt_out, axis=1)))
    assert 0.5 <= expected < 1  # partly trained: right and wrong answers both occur
    assert evaluate(trained.model, "copy") == expected == trained.final_accuracy


def test_unrecorded_greedy_decoding_gives_the_recorded_tokens_exactly(trained):
    examples = held_out("copy")
    for model, src, steps in ((trained.model, examples.src[:200], 6),
                              (Transformer(SMALL, seed=2), examples.src[:7, :5], 7),
                              (Transformer(ModelConfig(), seed=1), examples.src[:3], 1)):
        expected = model.generate(src, BOS, steps).tokens
        lean = model.generate(src, BOS, steps, record=False)
        assert np.array_equal(lean.tokens, expected) and lean.tape is None
    with pytest.raises(ValueError, match="steps must be in"):
        trained.model.generate(examples.src[:2], BOS, 16, record=False)


def test_a_forward_only_lean_tape_keeps_nothing_and_refuses_backward():
    tape = LeanTape(for_backward=False)
    x = tape.input("x", np.ones(3))
    y = (x * 2.0).sum()
    assert len(tape.tensors) == 4 and x.id == 0 and y.id == 3 and not tape.calls
    with pytest.raises(RuntimeError, match="kept nothing"):
        tape.backward(y)


def test_training_depends_only_on_the_seed():
    a = train("reverse", steps=3, seed=5, config=SMALL, batch=4)
    b = train("reverse", steps=3, seed=5, config=SMALL, batch=4)
    c = train("reverse", steps=3, seed=6, config=SMALL, batch=4)
    assert a.losses == b.losses and a.losses != c.losses
    assert all(np.array_equal(a.params[n], b.params[n]) for n in a.params)


def test_the_callback_sees_every_step_and_can_stop_training():
    seen = []

    def callback(progress):
        seen.append(progress)
        return progress.step == 4

    result = train("copy", steps=50, seed=0, config=SMALL, batch=4, eval_every=2,
                   callback=callback)
    assert [p.step for p in seen] == [1, 2, 3, 4]
    assert [p.accuracy is not None for p in seen] == [False, True, False, True]
    assert result.stopped_early and result.steps_done == 4 and len(result.losses) == 4
    assert result.accuracies[-1][0] == 4
    assert all(p.steps == 50 and p.loss == l for p, l in zip(seen, result.losses))


def test_training_stops_once_the_target_accuracy_is_reached():
    result = train("copy", steps=30, seed=0, config=SMALL, batch=4, eval_every=5,
                   stop_at_accuracy=0.0)
    assert result.steps_done == 5 and result.stopped_early


@pytest.mark.parametrize("kwargs,message", [
    (dict(steps=0), "steps must be a whole number ≥ 1"),
    (dict(steps=2.5), "steps must be"),
    (dict(lr=0), "learning rate"),
    (dict(lr=-1e-3), "learning rate"),
    (dict(lr=float("nan")), "learning rate"),
    (dict(optimizer="rmsprop"), "optimizer must be one of adam, sgd"),
    (dict(batch=0), "batch must be"),
    (dict(warmup=-1), "warmup must be"),
    (dict(length=9), "longer than the model's max_len 8"),
    (dict(eval_every=0), "eval_every must be"),
    (dict(config=ModelConfig(vocab_size=10, d_model=8, n_heads=2)), "vocab_size ≥ 11"),
])
def test_impossible_settings_are_refused_before_any_work(kwargs, message):
    settings = dict(task="copy", steps=2, config=SMALL) | kwargs
    with pytest.raises(ValueError, match=message):
        train(**settings)
    with pytest.raises(ValueError, match="unknown task"):
        train("shuffle", steps=1)


def test_defaults_are_the_tutor_scale_model():
    result = train("copy", steps=1, batch=2, eval_every=10)
    assert result.model.config == ModelConfig(12, 32, 4, 64, 2, 2, 16)
    assert result.settings["batch"] == 2 and DEFAULT_BATCH >= 1


TINY_TASK = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=16, n_encoder_layers=1,
                        n_decoder_layers=1, max_len=8)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_trainer_stepped_by_hand_is_train_bit_for_bit(optimizer):
    reference = train("copy", steps=45, seed=2, optimizer=optimizer, config=TINY_TASK, eval_every=20)
    run = Trainer("copy", 45, seed=2, optimizer=optimizer, config=TINY_TASK, eval_every=20)
    while not run.finished:
        run.advance()
    assert run.losses == reference.losses
    assert run.accuracies == reference.accuracies
    final = run.final_model()
    for name, value in reference.model.params.items():
        assert np.array_equal(final.params[name], value), name


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_recorded_step_has_the_logged_loss_and_the_update_training_made(optimizer):
    run = Trainer("reverse", 50, seed=1, optimizer=optimizer, config=TINY_TASK,
                      eval_every=1000, snapshot_every=20)
    while not run.finished:
        run.advance()
    for step in (1, 20, 21, 33, 50):
        recorded = run.record_step(step)
        assert recorded.run.loss == run.losses[step - 1]
        assert recorded.rate == run.rates[step - 1]
    # the updates of step 33 land exactly on the weights step 34 starts from
    this, following = run.record_step(33), run.record_step(34)
    for update in this.updates:
        assert update.optimizer == optimizer
        assert np.array_equal(update.after, following.model.params[update.name]), update.name
    if optimizer == "sgd":
        for update in this.updates:
            grad = this.run.grads[update.name]
            assert np.array_equal(update.after, update.before - this.rate * grad)
    with pytest.raises(ValueError, match="has not been taken yet"):
        run.record_step(51)
