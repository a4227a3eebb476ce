"""The nudge tool in the stepper (+ / − / e): the loss change it shows is the loss of a
forward pass re-run with that one number moved, recomputed here independently."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from argparse import Namespace

import numpy as np
import pytest

from tests.keys import key
from tests.paths import FIXTURES

from engine.replay import replayed_output
from tutor.ui.app import TutorApp
from tutor.ui.screens.stepper import StepperScreen
from tutor.views.session import explore_session
from tutor.ui.tools.nudge import DEFAULT_EPSILON, EPSILONS
from tutor.ui.tools.nudge import NudgeTool
from tests.tutor.ui.tools import shown_tool


def options(**kw):
    base = dict(src=None, tgt=None, seed=0, config=None, weights=None, lr=0.1)
    base.update(kw)
    return Namespace(**base)


def drive(session, script, size=(120, 40)):
    """Run ``script(pilot, screen)`` (a coroutine function) inside the stepper app."""

    async def main():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return await script(pilot, app.screen)

    return asyncio.run(main())


async def select(pilot, screen, position: int, slot_key: str, index: tuple) -> None:
    """Go to step ``position`` and pick element ``index`` of panel ``slot_key``."""
    screen.go_to(position)
    screen.selected = (key(slot_key), index)
    screen.refresh_step()
    await pilot.pause()


def pane_of(screen):
    return shown_tool(screen)


def shown_number(text: str, pattern: str) -> float:
    return float(re.search(pattern, text).group(1))


def table_rows(text: str) -> dict[float, list[float]]:
    """ε → [one-sided ΔL, central ΔL, ε·g, one-sided ratio, central ratio] as printed."""
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 6:
            try:
                numbers = [float(p) for p in parts]
            except ValueError:
                continue
            rows[numbers[0]] = numbers[1:]
    return rows


def test_nudging_a_weight_shows_the_replayed_loss_change_beside_the_gradients_promise():
    session = explore_session(options())
    run, model = session.run, session.model
    timeline = session.timeline
    q_proj = next(s.index for s in timeline.steps
                  if s.name == "encoder.layers.0.self_attn.q_proj")
    name, index = "encoder.layers.0.self_attn.q_proj.weight", (3, 5)
    recorded = run.params[name].value.copy()

    async def script(pilot, screen):
        await select(pilot, screen, q_proj, "in1", index)
        await pilot.press("plus")
        await pilot.pause()
        return pane_of(screen)

    pane = drive(session, script)
    assert isinstance(pane, NudgeTool) and pane.report is not None
    report = pane.report
    assert (report.name, report.index, report.eps, report.sign) == (name, index,
                                                                     DEFAULT_EPSILON, 1)
    # independently: replay the tape with the weight moved, and (another path) the model's
    # own forward pass with that weight
    moved = recorded.copy()
    moved[index] += DEFAULT_EPSILON
    replayed = float(replayed_output(run.tape, {name: moved}))
    direct = model.with_params({**model.params, name: moved}).loss(run.src, run.tgt_in,
                                                                   run.tgt_out)
    assert replayed == pytest.approx(direct, abs=1e-13)
    assert report.loss == run.loss and report.loss_after == replayed
    assert report.measured == replayed - run.loss
    gradient = float(run.grads[name][index])
    assert report.predicted == DEFAULT_EPSILON * gradient
    text = pane.plain
    shown = shown_number(text, r"ΔL = L\(w\+ε\) − L\(w\) = ([-+0-9.e]+)")
    assert shown == pytest.approx(replayed - run.loss, rel=1e-3)
    assert shown_number(text, r"ΔL ≈ \+ε·∂L/∂w = ([-+0-9.e]+)") == pytest.approx(
        DEFAULT_EPSILON * gradient, rel=1e-3)
    assert shown_number(text, r"ratio ([0-9.]+)") == pytest.approx(
        (replayed - run.loss) / (DEFAULT_EPSILON * gradient), abs=2e-6)
    assert f"loss {run.loss:.7g} → {replayed:.7g}" in text
    assert "restored" in text
    assert np.array_equal(run.params[name].value, recorded)  # the run is unchanged
    # the table: one row per ε, central ratio → 1 as ε shrinks (each row re-measured here)
    rows = table_rows(text)
    assert sorted(rows) == sorted(EPSILONS)
    for eps, (one_sided, central, predicted, ratio, central_ratio) in rows.items():
        plus, minus = recorded.copy(), recorded.copy()
        plus[index] += eps
        minus[index] -= eps
        l_plus = float(replayed_output(run.tape, {name: plus}))
        l_minus = float(replayed_output(run.tape, {name: minus}))
        assert one_sided == pytest.approx(l_plus - run.loss, rel=1e-3)
        assert central == pytest.approx((l_plus - l_minus) / 2, rel=1e-3)
        assert predicted == pytest.approx(eps * gradient, rel=1e-3)
        assert central_ratio == pytest.approx((l_plus - l_minus) / 2 / (eps * gradient),
                                              abs=2e-6)
    assert abs(rows[1e-4][4] - 1) < 1e-5 and abs(rows[1e-4][3] - 1) < abs(rows[1e-1][3] - 1)


def test_nudging_an_activation_down_uses_its_total_gradient_and_e_changes_epsilon():
    session = explore_session(options())
    run = session.run
    timeline = session.timeline
    relu = next(s.index for s in timeline.steps if s.op_name == "relu")
    tensor = timeline.steps[relu].node.output
    index = tuple(int(i) for i in np.argwhere(tensor.value > 0)[0])  # a live unit

    async def script(pilot, screen):
        await select(pilot, screen, relu, "out", index)
        await pilot.press("e")  # ε 1e-3 → 1e-4
        await pilot.press("minus")
        await pilot.pause()
        return pane_of(screen)

    pane = drive(session, script)
    report = pane.report
    assert (report.name, report.kind, report.eps, report.sign) == (tensor.name, "activation",
                                                                   1e-4, -1)
    moved = tensor.value.copy()
    moved[index] -= 1e-4
    expected = float(replayed_output(run.tape, {tensor.id: moved})) - run.loss
    assert report.measured == expected
    assert report.predicted == -1e-4 * float(tensor.grad[index])
    assert shown_number(pane.plain, r"ΔL = L\(x−ε\) − L\(x\) = ([-+0-9.e]+)") == \
        pytest.approx(expected, rel=1e-3)
    assert abs(report.ratio - 1) < 1e-3


def test_a_gradient_panel_nudges_the_value_it_belongs_to_and_moving_on_closes_the_pane():
    session = explore_session(options())
    run = session.run
    timeline = session.timeline
    generator = timeline.backward_index[next(n.index for n in run.tape.nodes
                                             if n.name == "generator")]
    name = "generator.weight"

    async def script(pilot, screen):
        await select(pilot, screen, generator, "down1", (2, 7))
        await pilot.press("plus")
        await pilot.pause()
        pane = pane_of(screen)
        await pilot.press("n")
        await pilot.pause()
        return pane, pane_of(screen)

    pane, after_move = drive(session, script)
    assert pane.report.name == name and pane.report.from_gradient_panel
    assert "this panel is a gradient" in pane.plain
    moved = run.params[name].value.copy()
    moved[2, 7] += DEFAULT_EPSILON
    assert pane.report.measured == float(replayed_output(run.tape, {name: moved})) - run.loss
    assert after_move is None


@pytest.mark.parametrize("slot,words", [("in0", "token ids"),
                                        ("in1", "has no gradient")])
def test_a_panel_without_a_gradient_says_what_to_select(slot, words):
    """src_embed.lookup reads token ids; add_position adds the constant positional table."""
    session = explore_session(options())
    steps = {s.name: s.index for s in session.timeline.steps}
    position = steps["src_embed.lookup" if slot == "in0" else "src_embed.add_position"]

    async def script(pilot, screen):
        await select(pilot, screen, position, slot, (0, 0))
        await pilot.press("plus")
        await pilot.pause()
        return pane_of(screen)

    pane = drive(session, script)
    assert isinstance(pane, NudgeTool) and pane.report is None
    assert words in pane.plain and "Select a weight or an activation panel" in pane.plain


def test_a_decoding_run_has_no_loss_to_nudge():
    from engine import ModelConfig, Transformer
    from engine.timeline import Timeline
    from tutor.views.session import Session

    model = Transformer(ModelConfig(), seed=0)
    decoding = model.generate(np.array([[3, 1, 4]]), 10, 2)
    session = Session(Timeline(decoding.tape), "decode", model)

    async def script(pilot, screen):
        await pilot.press("plus")
        await pilot.pause()
        return pane_of(screen)

    assert "has no loss" in drive(session, script).plain


def test_the_compact_pane_fits_80_columns():
    session = explore_session(options())
    relu = next(s.index for s in session.timeline.steps if s.op_name == "relu")

    async def script(pilot, screen):
        await select(pilot, screen, relu, "in0", (0, 0, 0))
        await pilot.press("plus")
        await pilot.pause()
        return pane_of(screen)

    pane = drive(session, script, size=(80, 24))
    lines = pane.plain.splitlines()
    assert len(lines) <= 7 and max(len(line) for line in lines) <= 78


def test_the_tools_add_no_import_to_the_stepper_start():
    code = ("import sys, tutor.ui.screens.stepper, tutor.ui.tools.nudge, tutor.ui.tools.descent, "
            "tutor.ui.tools.decode; "
            "print(sorted(m for m in ('engine.replay', 'engine.probes', 'engine.train', "
            "'textual_plotext', 'plotext', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_run_recorded_from_pytorch_says_it_cannot_be_re_run():
    pytest.importorskip("torch")
    from pathlib import Path

    from tutor.views.session import Session
    from tutor.commands.torch_model import prepare

    fixture = FIXTURES / "torch_models" / "mlp.py"
    timeline, title, _ = prepare(Namespace(target=str(fixture), shapes_only=False))
    session = Session(timeline, title)

    async def script(pilot, screen):
        texts = []
        for key in ("plus", "d"):
            await pilot.press(key)
            await pilot.pause()
            texts.append(pane_of(screen).plain)
        return texts

    for text in drive(session, script):
        assert "recorded from PyTorch" in text
