"""The training view: the step-by-step loop is engine.train.train bit for bit, any past
step comes back as a full recorded run with the logged loss, pause stops the counter."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engine import ModelConfig
from engine.train import load_weights, train
from tutor.ui.app import TutorApp
from tutor.ui.screens.training import TrainingScreen, TrainingStepScreen, binned
from tutor.views.training import TrainingRun

TINY = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=16, n_encoder_layers=1,
                   n_decoder_layers=1, max_len=8)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_step_by_step_loop_is_engine_train_bit_for_bit(optimizer):
    reference = train("copy", steps=45, seed=2, optimizer=optimizer, config=TINY, eval_every=20)
    run = TrainingRun("copy", 45, seed=2, optimizer=optimizer, config=TINY, eval_every=20)
    while not run.finished:
        run.advance()
    assert run.losses == reference.losses
    assert run.accuracies == reference.accuracies
    final = run.final_model()
    for name, value in reference.model.params.items():
        assert np.array_equal(final.params[name], value), name


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_recorded_step_has_the_logged_loss_and_the_update_training_made(optimizer):
    run = TrainingRun("reverse", 50, seed=1, optimizer=optimizer, config=TINY,
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


def test_binned_means():
    assert binned([1.0, 2.0, 3.0], 5) == ([1, 2, 3], [1.0, 2.0, 3.0])
    xs, ys = binned([1.0, 3.0, 5.0, 7.0, 9.0], 2)  # bins of 3: [1,3,5], [7,9]
    assert xs == [2.0, 4.5] and ys == [3.0, 8.0]


def test_pause_stops_the_counter_and_open_step_shows_the_logged_loss(tmp_path):
    run = TrainingRun("reverse", 5000, seed=0, config=TINY, eval_every=10_000)
    out = tmp_path / "w.npz"

    async def script():
        app = TutorApp(lambda: TrainingScreen(run, out))
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(3000):
                await pilot.pause(0.02)
                if run.steps_done >= 5:
                    break
            await pilot.press("space")
            await pilot.pause(0.3)  # a step under way when space came may still finish
            paused_at = run.steps_done
            await pilot.pause(0.5)
            still = run.steps_done
            screen = app.screen
            state = screen.state_text()
            await pilot.press("left", "left")
            chosen = screen.selected_step()
            await pilot.press("o")
            for _ in range(3000):
                await pilot.pause(0.02)
                if isinstance(app.screen, TrainingStepScreen):
                    break
            stepper = app.screen
            session = stepper.session
            opened = (session.run.loss, session.extras["training_step"], session.title)
            await pilot.press("escape")
            await pilot.pause()
            back = app.screen is screen
            await pilot.press("space")
            await pilot.pause(0.5)
            resumed = run.steps_done
            await pilot.press("q")
            return paused_at, still, state, chosen, opened, back, resumed

    paused_at, still, state, chosen, opened, back, resumed = asyncio.run(script())
    assert state == "paused" and still == paused_at
    assert chosen == paused_at - 2
    loss, step, title = opened
    assert step == chosen and loss == run.losses[chosen - 1]
    assert f"training step {chosen}/5000" in title and f"loss {loss:.6f}" in title
    assert back and resumed > still
    assert not out.exists()  # stopped before the end: nothing saved


def test_a_finished_run_saves_its_weights(tmp_path):
    run = TrainingRun("copy", 8, seed=3, config=TINY, eval_every=4)
    out = tmp_path / "copy.npz"

    async def script():
        app = TutorApp(lambda: TrainingScreen(run, out))
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(3000):
                await pilot.pause(0.02)
                if app.screen.saved is not None:
                    break
            await pilot.pause(0.3)
            text = str(app.screen.query_one("#train-status").render())
            await pilot.press("q")
            return app.screen.saved if hasattr(app.screen, "saved") else None, text

    saved, text = asyncio.run(script())
    assert saved == out and "DONE" in text and f"weights saved to {out}" in text
    loaded = load_weights(out)
    for name, value in run.final_model().params.items():
        assert np.array_equal(loaded.params[name], value)
