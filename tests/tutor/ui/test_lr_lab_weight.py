"""The lab follows one weight: the steepest element at the start, its value after every
step checked against the closed form of descent on L = (2w + b − 5)² (the model of
lessons 1 and 2), and ``w`` in the lab switches the plot between the loss and that weight;
the learner's own rate is always among the plotted curves."""

from __future__ import annotations

import asyncio

import pytest

from engine.probes import descend, lab_curves, watched_element
from tutor.lessons.catalog import load_lessons
from tutor.lessons.run import start
from tutor.lessons.scenarios import build_scenario
from tutor.storage.progress import ProgressStore
from tutor.ui.app import TutorApp
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.lr_lab import LrLabScreen


def quadratic():
    return build_scenario({"kind": "expression", "inputs": {"w": 3.0, "b": 1.0},
                           "program": "wx = w * 2\npred = wx + b\nerr = pred - 5\n"
                                      "loss = err ** 2"})


def closed_form_w(lr: float, k: int) -> float:
    """err_k = 2·r^k with r = 1 − 10·lr and w_{k+1} = w_k − lr·2·err_k·2, so
    w_k = 3 − 8·lr·(1 − r^k)/(1 − r) = 3 − 0.8·(1 − r^k)."""
    r = 1 - 10 * lr
    return 3 - 0.8 * (1 - r ** k)


def test_the_watched_weight_is_the_steepest_element():
    tape = quadratic().tape
    tensor, index = watched_element(tape)
    assert tensor.name == "w" and index == ()  # ∂L/∂w = 8 beats ∂L/∂b = 4


@pytest.mark.parametrize("lr", [0.01, 0.15, 0.25])
def test_the_weight_path_follows_the_closed_form(lr):
    losses, path = descend(quadratic().tape, lr, 8)
    assert len(path) == len(losses) == 9
    assert path == pytest.approx([closed_form_w(lr, k) for k in range(9)], rel=1e-12)


def test_at_lr_0_15_the_weight_zigzags_while_the_loss_falls_every_step():
    losses, path = descend(quadratic().tape, 0.15, 6)
    steps = [b - a for a, b in zip(path, path[1:])]
    assert all(s1 * s2 < 0 for s1, s2 in zip(steps, steps[1:]))  # the direction flips
    assert all(b < a for a, b in zip(losses, losses[1:]))  # yet every loss is lower
    curve = lab_curves(quadratic().tape, (0.15,), "sgd", steps=6)[0]
    assert curve.path == path and curve.label == "converges"


def test_w_in_the_lab_plots_the_weight_and_the_learners_rate(tmp_path):
    lesson = next(x for x in load_lessons()[0] if x.id == "02-gradient-descent")
    run = start(lesson)

    async def go():
        app = TutorApp(lambda: LessonScreen(run, ProgressStore(tmp_path)))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.push_screen(LrLabScreen(run.timeline.tape, 0.16))
            await pilot.pause()
            lab = app.screen
            for _ in range(1200):
                await pilot.pause(0.05)
                if lab.shown or lab.error:
                    break
            before = lab.plotting
            await pilot.press("w")
            await pilot.pause()
            return lab, before, lab.plotting

    lab, before, after = asyncio.run(go())
    assert lab.error is None and (before, after) == ("loss", "weight")
    assert lab.watched == "w"
    own = [c for c in lab.plotted() if c.lr == 0.16 and c.optimizer == "sgd"]
    assert len(own) == 1
    assert own[0].path == pytest.approx([closed_form_w(0.16, k) for k in range(len(own[0].path))],
                                        rel=1e-12)
