"""The training view: it plots engine.train.Trainer as it runs, any past step opens in the
stepper as a full recorded run with the logged loss, pause stops the counter."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engine import ModelConfig
from engine.train import train
from engine.weights import load_weights
from tutor.ui.app import TutorApp
from tutor.ui.screens.training import TrainingScreen, TrainingStepScreen, binned
from engine.train import Trainer

TINY = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=16, n_encoder_layers=1,
                   n_decoder_layers=1, max_len=8)


def test_binned_means():
    assert binned([1.0, 2.0, 3.0], 5) == ([1, 2, 3], [1.0, 2.0, 3.0])
    xs, ys = binned([1.0, 3.0, 5.0, 7.0, 9.0], 2)  # bins of 3: [1,3,5], [7,9]
    assert xs == [2.0, 4.5] and ys == [3.0, 8.0]


def test_pause_stops_the_counter_and_open_step_shows_the_logged_loss(tmp_path):
    run = Trainer("reverse", 5000, seed=0, config=TINY, eval_every=10_000)
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
            opened = (session.run.loss, int(session.title.split()[2].split("/")[0]), session.title)
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
    run = Trainer("copy", 8, seed=3, config=TINY, eval_every=4)
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
