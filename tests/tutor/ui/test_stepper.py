"""The stepper screen driven by keys (Textual Pilot): what it shows is the engine's record."""

from __future__ import annotations

import asyncio
from argparse import Namespace

import numpy as np
import pytest

from tests.keys import code
from tests.paths import FIXTURES

from engine.ops.base import fmt
from tutor.ui.app import TutorApp
from tutor.views.cells import cell_text
from tutor.ui.screens.stepper import StepperScreen
from tutor.views.session import explore_session
from tutor.ui.widgets.op_card import OpCard
from tutor.ui.widgets.status_bar import StatusBar
from tutor.ui.widgets.panel_grid import PanelGrid


def options(**kw):
    base = dict(src=None, tgt=None, seed=0, config=None, weights=None, lr=0.1)
    base.update(kw)
    return Namespace(**base)


def text_of(widget) -> str:
    return widget.plain if hasattr(widget, "plain") else str(widget.render())


def panel_texts(screen) -> dict[str, str]:
    return {code(w.slot.key): "\n".join(w.text_lines())
            for w in screen.query_one(PanelGrid).shown}


def run(coro):
    return asyncio.run(coro)


async def _drive(session, keys, size=(120, 40), check=None):
    app = TutorApp(lambda: StepperScreen(session))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        return check(app.screen) if check else app.screen


def test_next_shows_the_op_its_shape_and_engine_values():
    session = explore_session(options())
    timeline = session.timeline

    def check(screen):
        step = timeline.step
        assert step.name == "encoder.layers.0.self_attn.weights"
        status = text_of(screen.query_one(StatusBar))
        assert "FORWARD" in status and f"step {step.index + 1}/{len(timeline)}" in status
        assert "encoder.layers.0.self_attn.weights" in status
        card = text_of(screen.query_one(OpCard))
        assert "softmax" in card and "(1, 4, 8, 8)" in card
        # the worked element is output[0,0,0,0], computed independently here
        scores = step.node.inputs[0].value[0, 0, 0]
        expected = np.exp(scores[0]) / np.exp(scores).sum()
        assert f"= {fmt(expected)}" in card
        panels = panel_texts(screen)
        assert cell_text(float(expected)) in panels["out"]
        return True

    assert run(_drive(session, ["n"] * 12, check=check))


def test_backward_panels_show_upstream_and_downstream():
    session = explore_session(options())
    timeline = session.timeline

    def check(screen):
        step = timeline.step
        assert step.phase == "backward" and step.name == "generator"
        panels = panel_texts(screen)
        assert {"upstream", "down0", "down1", "down2"} <= set(panels)
        # upstream of the generator = ∂L/∂logits = (softmax − onehot)/T, recomputed here
        logits = step.node.output.value[0]
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        target = session.run.tgt_out[0]
        expected = (p - np.eye(logits.shape[-1])[target]) / len(target)
        assert cell_text(float(expected[0, 0])) in panels["upstream"]
        assert "BACKWARD" in text_of(screen.query_one(StatusBar))
        return True

    assert run(_drive(session, ["B", "n"], check=check))


def test_twin_key_jumps_between_forward_and_backward():
    session = explore_session(options())
    timeline = session.timeline

    def check(screen):
        return timeline.step.phase, timeline.step.name

    phase, name = run(_drive(session, ["n"] * 5 + ["b"], check=check))
    assert phase == "backward" and name == timeline.steps[5].name


def test_step_out_into_and_over_blocks():
    session = explore_session(options())
    timeline = session.timeline

    def check(screen):
        return screen.session.timeline.unit_path(), text_of(screen.query_one(StatusBar))

    # four ops into layer 0's self-attention, step out: the whole block has run
    path, status = run(_drive(session, ["n"] * 4 + ["o"], check=check))
    assert path == ("forward", "encoder", "layers.0", "self_attn")
    assert "by self_attn" in status
    # …then n steps over the next block, s opens it
    path, _ = run(_drive(explore_session(options()), ["n"] * 4 + ["o", "n", "s"], check=check))
    assert path == ("forward", "encoder", "layers.0", "add_norm1", "residual")


def test_cell_cursor_changes_the_worked_element():
    # tab into the first panel (input x), two cells right, one down → x[0,1,2]
    session2 = explore_session(options())
    relu = next(s.index for s in session2.timeline.steps if s.op_name == "relu")
    keys = ["n"] * relu + ["tab", "right", "right", "down"]
    card, x = run(_drive(session2, keys, check=lambda screen: (
        text_of(screen.query_one(OpCard)),
        float(session2.timeline.step.node.inputs[0].value[0, 1, 2]))))
    assert "relu[0,1,2] = relu(linear1[0,1,2])" in card  # the run's names
    assert f"relu({fmt(x)})" in card
    assert f"= {fmt(max(x, 0.0))}" in card


async def send_keys(pilot, key: str, count: int) -> None:
    """Send ``count`` key events through the app's normal key dispatch, then let the app
    settle once (Pilot.press waits after every key, which is slow for a whole run)."""
    from textual import events

    app = pilot.app
    for _ in range(count):
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
    await pilot.pause()


def test_walk_the_whole_run_forward_and_back_again():
    """Every step of forward, backward and update, then all the way back: same screen."""
    session = explore_session(options(config="d_model=8,n_heads=2,d_ff=8,n_encoder_layers=1,"
                                              "n_decoder_layers=1", src="1,2,3", tgt="3,2,1"))
    timeline = session.timeline
    n = len(timeline)
    seen = []

    async def walk():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screen = app.screen
            original = screen.refresh_step

            def record():
                original()
                seen.append((timeline.position, screen.query_one(StatusBar).plain))

            screen.refresh_step = record
            first = screen.query_one(OpCard).plain
            await send_keys(pilot, "n", n - 1)
            assert timeline.position == n - 1
            assert "UPDATE" in screen.query_one(StatusBar).plain
            await send_keys(pilot, "p", n - 1)
            assert timeline.position == 0
            assert screen.query_one(OpCard).plain == first

    run(walk())
    positions = [p for p, _ in seen]
    assert positions == list(range(1, n)) + list(range(n - 2, -1, -1))
    # each redraw's status line names the step the cursor was on
    for position, status in seen:
        step = timeline.steps[position]
        assert f"step {position + 1}/{n}" in status and step.name in status


def test_help_lists_every_key():
    session = explore_session(options())

    def check(screen):
        from tutor.ui.screens.help import HelpScreen
        assert isinstance(screen, HelpScreen)
        return screen.text

    text = run(_drive(session, ["question_mark"], check=check))
    for phrase in ("step into", "step out", "backward pass", "go to a step", "quit"):
        assert phrase in text


def test_too_small_terminal_says_so():
    session = explore_session(options())

    def check(screen):
        return screen.has_class("too-small"), str(screen.query_one("#too-small").render())

    small, message = run(_drive(session, [], size=(50, 15), check=check))
    assert small and "at least 70×20" in message


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_compact_layout_only_when_small(size):
    session = explore_session(options())
    compact = run(_drive(session, [], size=size, check=lambda s: s.has_class("compact")))
    assert compact == (size == (80, 24))


def test_go_to_a_step_by_name_through_the_palette():
    session = explore_session(options())
    timeline = session.timeline

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("g")
            await pilot.pause()
            await pilot.press(*"cross_attn.weights")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await pilot.pause()
            return timeline.step.name

    assert run(go()).endswith("cross_attn.weights")


def test_clicking_an_op_in_the_tree_jumps_there():
    session = explore_session(options())

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.2)
            tree = app.screen.query_one("#tree")
            line = tree.line_of(("forward", "src_embed", "add_position"))
            await pilot.click("#tree", offset=(8, 1 + line))
            await pilot.pause(0.2)
            return session.timeline.step.name

    assert run(go()) == "src_embed.add_position"


def test_a_shapes_only_recording_says_so_instead_of_printing_placeholders():
    pytest.importorskip("torch")
    import importlib.util
    from pathlib import Path

    from engine.timeline import Timeline
    from engine.pytorch.record import record_module
    from tutor.views.session import Session

    spec = importlib.util.spec_from_file_location(
        "fixture_mlp", FIXTURES / "torch_models" / "mlp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model, x, loss_fn = module.make()
    record = record_module(model, x, loss_fn, shapes_only=True)
    session = Session(Timeline(record), "mlp (shapes only)")

    def check(screen):
        panels = panel_texts(screen)
        card = text_of(screen.query_one(OpCard))
        return panels, card

    panels, card = run(_drive(session, ["n", "n"], check=check))
    assert panels and all("shape only" in text and "nan" not in text for text in panels.values())
    assert "worked" not in card


def test_the_run_is_left_out_of_garbage_collections_while_its_stepper_is_open():
    """Full collections walked every object of the recorded run: 15–40 ms pauses during a
    held key. Frozen while the stepper is open, given back when it closes."""
    import gc

    from textual.screen import Screen

    session = explore_session(options())
    seen = {}

    async def go():
        # replaceable: over Textual's blank screen, so that another can take its place
        app = TutorApp(lambda: StepperScreen(session), replaceable=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause()
            seen["open"] = gc.get_freeze_count()
            seen["run"] = any(obj is session.timeline for obj in gc.get_objects())
            await app.switch_screen(Screen())  # the stepper closes
            await pilot.pause()
            seen["closed"] = gc.get_freeze_count()

    try:
        run(go())
    finally:
        gc.unfreeze()
    assert seen["open"] > 10_000 and not seen["run"]  # the run is among the frozen objects
    assert seen["closed"] == 0


def test_the_tree_opens_scopes_to_the_cursor_keeps_it_in_view_and_toggles_on_click():
    session = explore_session(options())
    seen = {}

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.2)
            tree = app.screen.query_one("#tree")
            await pilot.press("end")  # the last step: the update phase, far below
            await pilot.pause(0.3)
            unit = session.timeline.unit_path()
            line = tree.line_of(unit)
            top, height = round(tree.scroll_offset.y), tree.scrollable_content_region.height
            seen["in view"] = line is not None and top <= line < top + height
            seen["open above"] = all(tree.is_expanded(unit[:d]) for d in range(1, len(unit)))
            seen["drawn there"] = unit[-1] in tree.render_line(line - top).text
            await pilot.press("home")
            await pilot.pause(0.3)
            scope = ("forward", "src_embed")
            first_child = ("forward", "src_embed", "lookup")
            seen["child shown"] = tree.line_of(first_child) is not None
            row = 1 + tree.line_of(scope) - round(tree.scroll_offset.y)  # 1: the border
            await pilot.click("#tree", offset=(4, row))
            await pilot.pause(0.1)
            seen["closed by click"] = (not tree.is_expanded(scope)
                                       and tree.line_of(first_child) is None)
            await pilot.click("#tree", offset=(4, row))
            await pilot.pause(0.1)
            seen["opened by click"] = tree.line_of(first_child) is not None
            seen["step unchanged"] = session.timeline.position == 0

    run(go())
    assert seen == {"in view": True, "open above": True, "drawn there": True, "child shown": True,
                    "closed by click": True, "opened by click": True, "step unchanged": True}


def test_at_80x24_t_and_a_bring_the_tree_and_the_map_back_and_l_the_lesson_s_prose(tmp_path):
    from tutor.lessons.run import lesson_by_query, start
    from tutor.storage.progress import ProgressStore
    from tutor.ui.screens.lesson import LessonScreen

    def widths(screen) -> tuple[int, int]:
        """The tree's width and the side column's (its map, or a lesson's prose), 0: hidden."""
        side = screen.query_one("#prose" if isinstance(screen, LessonScreen) else "#map")
        return tuple(w.region.width if w.display and w.parent.display else 0
                     for w in (screen.query_one("#tree"), side))

    async def walk(make_screen, keys):
        app = TutorApp(make_screen)
        seen = []
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            seen.append(widths(app.screen))
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
                seen.append(widths(app.screen))
            compact = app.screen.has_class("compact")
        return compact, seen

    session = explore_session(options())
    compact, seen = run(walk(lambda: StepperScreen(session), ["t", "a", "t", "a"]))
    assert compact
    assert seen == [(0, 0), (34, 0), (34, 36), (0, 36), (0, 0)]  # stepper.tcss's widths

    lesson = start(lesson_by_query("11"))
    compact, seen = run(walk(lambda: LessonScreen(lesson, ProgressStore(tmp_path)), ["l", "l"]))
    prose = 80 * 40 // 100  # the side takes 40% at 80×24 in a lesson
    assert compact and seen == [(0, prose), (0, 0), (0, prose)]
