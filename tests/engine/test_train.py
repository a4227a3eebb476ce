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
from engine.train import (DEFAULT_BATCH, LeanTape, evaluate, greedy_decode, learning_rate_at,
                          load_weights, loss_and_grads, save_weights, train, weights_path)

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


def test_lean_greedy_decoding_gives_generates_tokens_exactly(trained):
    examples = held_out("copy")
    for model, src, steps in ((trained.model, examples.src[:200], 6),
                              (Transformer(SMALL, seed=2), examples.src[:7, :5], 7),
                              (Transformer(ModelConfig(), seed=1), examples.src[:3], 1)):
        expected = model.generate(src, BOS, steps).tokens
        assert np.array_equal(greedy_decode(model, src, BOS, steps), expected)
    with pytest.raises(ValueError, match="steps must be in"):
        greedy_decode(trained.model, examples.src[:2], BOS, 16)


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


# weight files -------------------------------------------------------------------------
def test_weights_round_trip_exactly_in_the_documented_format(tmp_path):
    model = Transformer(SMALL, seed=9)
    path = save_weights(tmp_path / "deep" / "sort.weights", model)
    assert path == tmp_path / "deep" / "sort.weights" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["sort.weights"]  # no temp file left
    with np.load(path, allow_pickle=False) as data:  # readable without the engine
        assert json.loads(str(data["config"])) == {
            "vocab_size": 12, "d_model": 8, "n_heads": 2, "d_ff": 12, "n_encoder_layers": 1,
            "n_decoder_layers": 2, "max_len": 8}
        assert set(data.files) == {"config"} | set(model.params)
    loaded = load_weights(path)
    assert loaded.config == SMALL
    for name, value in model.params.items():
        assert np.array_equal(loaded.params[name], value)
    data = make_batch("sort", 2, 6, np.random.default_rng(0))
    assert loaded.loss(*data) == model.loss(*data)


def test_weights_path_puts_each_task_under_weights(tmp_path):
    assert weights_path("reverse", tmp_path) == tmp_path / "weights" / "reverse.npz"
    with pytest.raises(ValueError, match="unknown task"):
        weights_path("../x", tmp_path)


def _save_raw(path, config=None, **arrays):
    with open(path, "wb") as handle:
        if config is None:
            np.savez(handle, **arrays)
        else:
            np.savez(handle, config=config, **arrays)
    return path


@pytest.mark.parametrize("breakage,message", [
    ("missing", "no weights file at"),
    ("directory", "no weights file at"),
    ("garbage", "is not a weights file"),
    ("truncated", "is not a weights file"),
    ("no_config", "has no model config"),
    ("bad_json", "unusable model config"),
    ("not_object", "unusable model config"),
    ("unknown_field", "unusable model config"),
    ("bad_field", "unusable model config.*n_heads"),
    ("missing_param", "missing parameter"),
    ("wrong_shape", "has shape"),
    ("nan", "non-finite"),
    ("extra", "not a parameter of this model"),
    ("text_array", "not numeric"),
])
def test_a_broken_weights_file_gets_a_clear_error(tmp_path, breakage, message):
    model = Transformer(SMALL, seed=0)
    good_config = json.dumps({"vocab_size": 12, "d_model": 8, "n_heads": 2, "d_ff": 12,
                              "n_encoder_layers": 1, "n_decoder_layers": 2, "max_len": 8})
    params = dict(model.params)
    path = tmp_path / "w.npz"
    if breakage == "missing":
        path = tmp_path / "nowhere.npz"
    elif breakage == "directory":
        path.mkdir()
    elif breakage == "garbage":
        path.write_bytes(b"not a zip file at all" * 10)
    elif breakage == "truncated":
        save_weights(path, model)
        path.write_bytes(path.read_bytes()[:300])
    elif breakage == "no_config":
        _save_raw(path, None, **params)
    elif breakage == "bad_json":
        _save_raw(path, "{vocab", **params)
    elif breakage == "not_object":
        _save_raw(path, "[1, 2]", **params)
    elif breakage == "unknown_field":
        _save_raw(path, good_config[:-1] + ', "colour": 3}', **params)
    elif breakage == "bad_field":
        _save_raw(path, good_config.replace('"n_heads": 2', '"n_heads": 3'), **params)
    elif breakage == "missing_param":
        params.pop("generator.bias")
        _save_raw(path, good_config, **params)
    elif breakage == "wrong_shape":
        params["generator.bias"] = np.zeros(13)
        _save_raw(path, good_config, **params)
    elif breakage == "nan":
        params["encoder.norm.weight"] = params["encoder.norm.weight"] * np.nan
        _save_raw(path, good_config, **params)
    elif breakage == "extra":
        _save_raw(path, good_config, **params, **{"decoder.layers.7.norm1.weight": np.ones(8)})
    elif breakage == "text_array":
        params["generator.bias"] = np.array(["a"] * 12)
        _save_raw(path, good_config, **params)
    with pytest.raises(ValueError, match=message):
        load_weights(path)


def test_a_zip_without_arrays_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.npy", b"nonsense")
    with pytest.raises(ValueError, match="is not a weights file"):
        load_weights(path)
