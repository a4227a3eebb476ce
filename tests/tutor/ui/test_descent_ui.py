"""The descent tool (d, < >) and the learning-rate lab (L): every weight after a step is
w − lr·g exactly, the losses are the model's own forward pass on the new weights, and the
lab's curves are gradient descent recomputed here by other code paths (full recorded runs
and the optimiser's updates, a closed form, torch.optim.Adam)."""

from __future__ import annotations

import asyncio
import math
from argparse import Namespace

import numpy as np
import pytest

from engine.probes import (ADAM_RATES, LABELS, classify_curve, descend_losses, lab_curves,
                           parameters, pick_shown, rerun)
from tests.references import sgd_losses
from tutor.lessons.scenarios import build_scenario
from tutor.ui.app import TutorApp
from tutor.ui.screens.lr_lab import LrLabScreen
from tutor.ui.screens.stepper import StepperScreen
from tutor.views.session import Session, explore_session
from tutor.ui.tools.descent import DescentTool
from tests.tutor.ui.tools import shown_tool

SMALL = "d_model=8,n_heads=2,d_ff=16,n_encoder_layers=1,n_decoder_layers=1"


def options(**kw):
    base = dict(src=None, tgt=None, seed=0, config=None, weights=None, lr=0.1)
    base.update(kw)
    return Namespace(**base)


def drive(session, script, size=(120, 40)):
    async def main():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return await script(pilot, app)

    return asyncio.run(main())


def pane_of(screen):
    return shown_tool(screen)


def batch_of(session):
    return session.run.src, session.run.tgt_in, session.run.tgt_out


def test_one_step_moves_every_weight_by_minus_lr_g_and_reports_the_new_loss():
    session = explore_session(options())
    model, run = session.model, session.run
    relu = next(s.index for s in session.timeline.steps if s.op_name == "relu")

    async def script(pilot, app):
        app.screen.go_to(relu)
        await pilot.press("d")
        await pilot.pause()
        return pane_of(app.screen)

    pane = drive(session, script)
    assert isinstance(pane, DescentTool)
    trail = pane.trail
    assert trail.lr == 0.1 and trail.steps == 1
    by_id = {p.id: p.name for p in parameters(run.tape)}
    after = {by_id[i]: w for i, w in trail.weights[1].items()}
    assert set(after) == set(model.params)
    for name, w in model.params.items():
        assert np.array_equal(after[name], w - 0.1 * run.grads[name]), name
    expected = model.with_params(after).loss(*batch_of(session))
    assert trail.losses == [run.loss, pytest.approx(expected, abs=1e-12)]
    text = pane.plain
    assert "lr 0.1" in text and f"loss {run.loss:.7g} → {trail.losses[1]:.7g}" in text
    squared = math.fsum(float(np.sum(g * g)) for g in run.grads.values())
    assert trail.predicted_delta() == pytest.approx(-0.1 * squared, rel=1e-12)
    # the element shown: before − lr × gradient = after, digit for digit
    focus = pane.element
    w = model.params[focus.name][focus.index]
    g = run.grads[focus.name][focus.index]
    assert (focus.before, focus.grad, focus.after) == (w, g, w - 0.1 * g)
    assert f"before {focus.before:+.7g}" in text and f"= {focus.after:+.7g}" in text


def test_lr_keys_rescale_and_d_steps_on_like_plain_gradient_descent():
    session = explore_session(options(config=SMALL))

    async def script(pilot, app):
        await pilot.press("d", "less_than_sign", "less_than_sign", "d")
        await pilot.pause()
        return pane_of(app.screen).trail

    trail = drive(session, script)
    assert trail.lr == 0.025 and trail.steps == 2
    reference = sgd_losses(session.model, batch_of(session), 0.025, 2)
    assert trail.losses == reference


def test_the_update_phase_shows_the_step_of_the_weight_under_the_cursor():
    session = explore_session(options(config=SMALL))
    timeline = session.timeline

    async def script(pilot, app):
        app.screen.go_to(timeline.update_start + 3)
        await pilot.pause()
        return pane_of(app.screen)

    pane = drive(session, script)
    update = timeline.steps[timeline.update_start + 3].update
    assert pane.element.name == update.name
    assert pane.element.after == update.after[pane.element.index]  # the timeline's own update
    assert pane.trail.lr == update.lr


def test_rerun_gives_back_the_recorded_loss_and_gradients():
    session = explore_session(options(config=SMALL))
    loss, grads = rerun(session.run.tape, {})
    assert loss == session.run.loss
    for p in parameters(session.run.tape):
        assert np.array_equal(grads[p.id], session.run.grads[p.name])


def quadratic():
    """L = (w·2 + b − 5)² from w = 3, b = 1: err = 2, and each SGD step multiplies the
    error by (1 − 10·lr), so L_k = 4·(1 − 10·lr)^(2k)."""
    return build_scenario({"kind": "expression", "inputs": {"w": 3.0, "b": 1.0},
                           "program": "wx = w * 2\npred = wx + b\nerr = pred - 5\n"
                                      "loss = err ** 2"})


@pytest.mark.parametrize("lr", [0.001, 0.05, 0.15, 0.25])
def test_descent_on_an_expression_follows_the_closed_form(lr):
    losses = descend_losses(quadratic().tape, lr, 12)
    expected = [4 * (1 - 10 * lr) ** (2 * k) for k in range(13)]
    assert losses == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_adam_curve_equals_torch_optim_adam():
    torch = pytest.importorskip("torch")
    losses = descend_losses(quadratic().tape, 0.1, 15, "adam")
    w = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=0.1)
    expected = []
    for _ in range(16):
        optimizer.zero_grad()
        loss = (w * 2 + b - 5) ** 2
        expected.append(float(loss.detach()))
        loss.backward()
        optimizer.step()
    assert losses == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_lab_labels_are_the_engines_and_one_curve_per_label_is_shown():
    tape = explore_session(options(config=SMALL)).run.tape
    curves = lab_curves(tape, (1e-4, 0.03, 1.0, 10.0), "sgd", steps=30)
    for c in curves:
        assert (c.label, c.note) == classify_curve(c.losses)
    shown = pick_shown(curves)
    assert [c.label for c in shown] == [label for label in LABELS
                                        if any(c.label == label for c in curves)]
    assert len({c.label for c in shown}) == len(shown)


def test_the_lab_screen_plots_the_curves_and_escape_closes_it():
    session = explore_session(options(config=SMALL))

    async def script(pilot, app):
        await pilot.press("L")
        lab = app.screen
        assert isinstance(lab, LrLabScreen)
        for _ in range(1200):
            await pilot.pause(0.05)
            if lab.shown or lab.error:
                break
        table = str(lab.query_one("#lab-table").render())
        result = (lab.shown, lab.adam, lab.sgd, table, lab.lr)
        await pilot.press("escape")
        await pilot.pause()
        return result + (isinstance(app.screen, StepperScreen),)

    shown, adam, sgd, table, lr, back = drive(session, script)
    assert back and shown and len(adam) == len(ADAM_RATES)
    assert lr in [c.lr for c in sgd]  # the learner's own lr is among those tried
    batch = batch_of(session)
    for curve in shown:
        assert curve.losses == sgd_losses(session.model, batch, curve.lr, len(curve.losses) - 1)
        assert curve.title in table and curve.label in table
    assert "Adam lr" in table


def test_no_loss_no_descent():
    from engine import ModelConfig, Transformer
    from engine.timeline import Timeline

    model = Transformer(ModelConfig(), seed=0)
    session = Session(Timeline(model.generate(np.array([[3, 1]]), 10, 2).tape), "decode", model)

    async def script(pilot, app):
        await pilot.press("d")
        await pilot.pause()
        first = pane_of(app.screen).plain
        await pilot.press("L")
        await pilot.pause()
        return first, isinstance(app.screen, LrLabScreen)

    text, lab_opened = drive(session, script)
    assert "has no loss" in text and not lab_opened


def test_the_update_phase_draws_the_step_first_and_the_descent_after_its_frame():
    """The descent step (a forward and a backward pass) waits for the frame that shows
    where the key went; a d pressed meanwhile takes the first step itself, a move out of
    the update phase closes the pane without one."""
    session = explore_session(options(config=SMALL))
    timeline = session.timeline

    async def script(pilot, app):
        screen = app.screen
        screen.go_to(timeline.update_start)
        pane = pane_of(screen)  # not yet drawn: the pane says what it is doing
        waiting = (pane.trail, pane.plain, pane.is_open)
        await pilot.pause()
        first = (pane.trail.steps, pane.element.name)

        screen.go_to(timeline.update_start - 1)  # out of the update phase: closed
        screen.go_to(timeline.update_start)
        pane.action_step()  # d d, before the deferred step (Pilot would wait for it):
        pane.action_step()  # d took the first step, and the deferred one is not taken
        await pilot.pause()
        after_d = pane.trail.steps

        screen.go_to(timeline.update_start + 1)
        screen.go_to(timeline.update_start - 1)  # left again before any step was taken
        await pilot.pause()
        return waiting, first, after_d, pane.is_open

    (trail, text, opened), first, after_d, open_at_end = drive(session, script)
    assert trail is None and opened and "w ← w − lr·∂L/∂w" in text
    assert first == (1, timeline.steps[timeline.update_start].update.name)
    assert after_d == 2  # d's two steps, not started again by the deferred one
    assert not open_at_end
