"""The screen tells the truth: each check drives the app with the keys a learner would press
and compares what is drawn with numbers worked out here by hand (closed forms).

The little run used throughout is lesson 3's, whose names collide with the ops' own letters:
    a = w·x,  b = a − 5,  c = b·w,  loss = c²    with w = 2, x = 4
so a = 8, b = 3, c = 6, loss = 36; ∂L/∂c = 2c = 12; ∂L/∂b = 12·w = 24; ∂L/∂w through c is
12·b = 36; ∂L/∂a = 24; ∂L/∂w through a is 24·x = 96, total 132; ∂L/∂x = 24·w = 48.
"""

from __future__ import annotations

import asyncio

import pytest

from tutor.lessons.catalog import find_lesson, load_lessons
from tutor.lessons.run import start
from tutor.lessons.scenarios import build_scenario
from tutor.storage.progress import ProgressStore
from tutor.ui.app import TutorApp
from tutor.ui.screens.help import HelpScreen
from tutor.ui.screens.home import HomeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.quiz import QuizScreen
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.tools.nudge import NudgeTool
from tutor.ui.widgets.lesson_prose import MORE, LessonProse
from tutor.ui.widgets.op_card import OpCard
from tutor.ui.widgets.status_bar import StatusBar
from tutor.ui.widgets.panel_grid import PanelGrid
from tutor.ui.widgets.tensor_panel import TensorPanel
from tutor.views.session import Session

from tests.tutor.ui.tools import quiz_ready, tool_text

W, X = 2.0, 4.0
A, B, C = W * X, W * X - 5, (W * X - 5) * W
DL_DC = 2 * C
DL_DB = DL_DC * W
DL_DW_VIA_C = DL_DC * B
DL_DA = DL_DB
DL_DW_VIA_A = DL_DA * X
LESSONS, _ = load_lessons()


def chain_rule_run(lr=None):
    spec = {"kind": "expression", "inputs": {"w": W, "x": X}, "params": ["w"],
            "program": "a = w * x\nb = a - 5\nc = b * w\nloss = c ** 2"}
    if lr is not None:
        spec["lr"] = lr
    return build_scenario(spec).timeline()


def drive(screen_factory, script, size=(120, 40)):
    async def main():
        app = TutorApp(screen_factory)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return await script(pilot, app)
    return asyncio.run(main())


def labels(screen) -> list[str]:
    return [str(w.border_title) for w in screen.query_one(PanelGrid).shown]


def step_named(timeline, phase, name) -> int:
    return next(s.index for s in timeline.steps if s.phase == phase and s.name == name)


# 1. lesson text scrolls ---------------------------------------------------------------------

@pytest.mark.parametrize("number, size", [("2", (120, 40)), ("1", (80, 24)), ("3", (80, 24))])
def test_the_lesson_text_scrolls_to_its_end_and_says_more_follows(number, size, tmp_path):
    lesson = find_lesson(number, LESSONS)

    async def script(pilot, app):
        lesson_screen = app.screen_stack[0]
        prose = lesson_screen.query_one(LessonProse)
        for _ in range(60):  # walk on until the longest section is shown (quizzes: skipped)
            if isinstance(app.screen, QuizScreen):
                await quiz_ready(pilot, app.screen)
                await pilot.press("f3", "escape")
            elif prose.max_scroll_y > 0:
                break
            await pilot.press("n")
            await pilot.pause()
        await pilot.pause()
        assert prose.max_scroll_y > 0 and prose.more == MORE
        assert MORE in str(prose.border_subtitle)
        for _ in range(40):
            if prose.scroll_y >= prose.max_scroll_y:
                break
            await pilot.press("pagedown")
            await pilot.pause()
        assert prose.scroll_y == prose.max_scroll_y  # the last line can be read
        assert prose.more != MORE

    drive(lambda: LessonScreen(start(lesson), ProgressStore(tmp_path)), script, size)


def test_an_open_quiz_leaves_the_lesson_text_readable_and_pagedown_scrolls_it(tmp_path):
    lesson = find_lesson("2", LESSONS)

    async def script(pilot, app):
        await pilot.press("end")
        for _ in range(40):
            if isinstance(app.screen, QuizScreen):
                break
            await pilot.pause(0.05)
        quiz = app.screen
        prose = app.screen_stack[0].query_one(LessonProse)
        await pilot.pause()
        assert not quiz.query_one("#quiz").region.overlaps(prose.region)
        before = prose.scroll_y
        await pilot.press("pagedown")
        await pilot.pause()
        assert prose.scroll_y > before

    drive(lambda: LessonScreen(start(lesson), ProgressStore(tmp_path)), script)


# 2. the run's names ---------------------------------------------------------------------

@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_cards_titles_and_worked_lines_use_the_runs_names(size):
    timeline = chain_rule_run()

    async def script(pilot, app):
        screen = app.screen
        screen.go_to(step_named(timeline, "backward", "c"))
        await pilot.pause()
        card = " ".join(screen.query_one(OpCard).plain.split())
        symbols = "" if size[0] < 110 else "upstream × w = "  # 80×24: the formula has them
        assert f"∂L/∂b = {symbols}{DL_DC:g} × {W:g} = {DL_DB:g}" in card
        assert {"∂L/∂c · upstream", "∂L/∂b · downstream", "∂L/∂w · downstream"} <= set(
            labels(screen))
        screen.go_to(step_named(timeline, "backward", "a"))
        await pilot.pause()
        card = " ".join(screen.query_one(OpCard).plain.split())
        total = DL_DW_VIA_C + DL_DW_VIA_A
        assert f"∂L/∂w: {DL_DW_VIA_C:g} so far + {DL_DW_VIA_A:g} from here = {total:g}" in card
        assert "∂L/∂w · total so far" in labels(screen)
        totals = [w for w in screen.query_one(PanelGrid).shown
                  if str(w.border_title) == "∂L/∂w · total so far"]
        assert totals[0].value_cells()[0][1] == f"+{total:.1f}"

    drive(lambda: StepperScreen(Session(timeline, "chain rule")), script, size)


# 3. update steps name their parameter -------------------------------------------------------

def test_an_update_step_names_its_parameter_in_card_panels_and_pytorch_line():
    scenario = build_scenario({"kind": "expression", "inputs": {"w": 3.0, "b": 1.0, "x": 2.0,
                                                                "y": 5.0}, "params": ["w", "b"],
                               "program": "wx = w * x\npred = wx + b\nerr = pred - y\n"
                                          "loss = err ** 2", "lr": 0.01})
    timeline = scenario.timeline()
    dl_db = 2 * (3.0 * 2.0 + 1.0 - 5.0)  # 2·err = 4

    async def script(pilot, app):
        await pilot.press("end")  # the last step: the update of b
        await pilot.pause()
        screen = app.screen
        assert labels(screen) == ["b · before", "∂L/∂b · gradient", "b · after"]
        card = " ".join(screen.query_one(OpCard).plain.split())
        assert f"b after = b − lr · ∂L/∂b = 1 − 0.01 × {dl_db:g} = {1 - 0.01 * dl_db:g}" in card
        assert "b -= 0.01 * b.grad" in str(screen.query_one("#torch").render())

    drive(lambda: StepperScreen(Session(timeline, "update")), script)


# 4. nudge acts on what is selected ------------------------------------------------------------

def test_tab_selects_a_scalar_panel_and_plus_nudges_that_tensor():
    timeline = chain_rule_run()

    async def script(pilot, app):
        screen = app.screen
        screen.go_to(0)  # a = w * x: panels w, x, a
        await pilot.pause()
        await pilot.press("tab")  # the first panel: w
        await pilot.pause()
        assert screen.selection().slot.name == "w"
        await pilot.press("plus")
        await pilot.pause()
        assert "nudge w by +0.001" in tool_text(screen)
        await pilot.press("shift+tab", "shift+tab")  # back past x to… the panel before
        await pilot.pause()
        screen.go_to(step_named(timeline, "forward", "loss"))
        screen.selected = (screen.view.slots[-1].key, ())  # the loss itself
        screen.refresh_step()
        await pilot.pause()
        await pilot.press("plus")
        await pilot.pause()
        text = tool_text(screen)
        assert "ratio" not in text and "loss" in text  # it says why the loss is not nudged

    drive(lambda: StepperScreen(Session(timeline, "nudge")), script)


def test_clicking_a_scalar_panel_selects_it():
    timeline = chain_rule_run()

    async def script(pilot, app):
        screen = app.screen
        screen.go_to(0)
        await pilot.pause()
        grid = screen.query_one(PanelGrid)
        x_panel = next(w for w in grid.shown if w.slot.name == "x")
        box = grid.box_of(x_panel)
        await pilot.click(grid, offset=(box.x + 3, box.y + 1))
        await pilot.pause()
        assert screen.selection().slot.name == "x"

    drive(lambda: StepperScreen(Session(timeline, "click")), script)


# 7. keys and messages as typed --------------------------------------------------------------

def test_help_shows_keys_as_typed():
    timeline = chain_rule_run()

    async def script(pilot, app):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        for typed in ("+", "−", "<", ">", "?"):
            assert typed in text
        for spelled in ("plus", "equals_sign", "less_than_sign", "question_mark"):
            assert spelled not in text

    drive(lambda: StepperScreen(Session(timeline, "help")), script)


def test_at_80x24_the_footer_keeps_help_and_quit_and_the_status_keeps_lesson_and_step(tmp_path):
    lesson = find_lesson("3", LESSONS)

    async def script(pilot, app):
        await pilot.pause()
        strips = app.screen._compositor.render_strips()
        footer, status = strips[-1].text, strips[0].text
        assert "? help" in footer and "q quit" in footer
        assert "L3" in status and "step 1/" in status

    drive(lambda: LessonScreen(start(lesson), ProgressStore(tmp_path)), script, (80, 24))


def test_home_titles_elide_at_a_word_and_a_data_dir_with_markup_is_shown_literally(tmp_path):
    home = tmp_path / "odd [/] [b]dir"
    store = ProgressStore(home)

    async def script(pilot, app):
        await pilot.pause()
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "[/] [b]dir" in text
        elided = 0
        for lesson in LESSONS:
            line = next(line for line in text.splitlines()  # inside the list's border
                        if line.strip(" ▊▎").startswith(str(lesson.number) + " "))
            if lesson.title in line:
                continue
            shown = line[:line.index("…")].rstrip()
            kept = next(shown[i:] for i in range(len(shown)) if lesson.title.startswith(
                shown[i:]) and shown[i:])  # the title's part on screen
            assert lesson.title[len(kept)] in " ,;:", (kept, lesson.title)  # cut after a word
            elided += 1
        assert elided

    drive(lambda: HomeScreen(LESSONS, store), script, (60, 24))


# 8. keys pressed while a quiz opens are not typed into it -------------------------------------

def test_a_burst_of_n_does_not_type_into_the_quiz_that_opens(tmp_path):
    lesson = find_lesson("1", LESSONS)

    async def script(pilot, app):
        await pilot.press(*["n"] * 12)
        for _ in range(40):
            if isinstance(app.screen, QuizScreen):
                break
            await pilot.pause(0.05)
        quiz = app.screen
        await quiz_ready(pilot, quiz)
        assert quiz.query_one("Input").value == ""

    drive(lambda: LessonScreen(start(lesson), ProgressStore(tmp_path)), script)


def test_the_status_bar_names_the_lesson_at_80_columns(tmp_path):
    lesson = find_lesson("3", LESSONS)

    async def script(pilot, app):
        await pilot.pause()
        assert "L3" in app.screen.query_one(StatusBar).plain

    drive(lambda: LessonScreen(start(lesson), ProgressStore(tmp_path)), script, (80, 24))


def test_nudge_tool_is_a_widget_that_owns_its_keys():
    assert {b.key for b in NudgeTool.BINDINGS} >= {"plus,equals_sign", "minus"}


# 5. accumulation with numbers, at 80×24 --------------------------------------------------

def test_q_proj_backward_in_explore_at_80x24_shows_rows_and_adds_up_with_numbers():
    from argparse import Namespace

    from engine.ops.base import fmt
    from tutor.views.session import explore_session

    session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                        lr=0.1))
    timeline = session.timeline
    target = step_named(timeline, "backward", "encoder.layers.0.self_attn.q_proj")

    async def script(pilot, app):
        screen = app.screen
        screen.go_to(target)
        await pilot.pause()
        panels = [w for w in screen.query_one(PanelGrid).shown]
        assert panels and all(w.value_cells() for w in panels), [
            (str(w.border_title), w.text_lines()) for w in panels]
        card = screen.query_one(OpCard)
        assert card.adds_up, card.plain
        accumulation = screen.view.accumulations[0]
        index = screen.selection().index
        at = index[-accumulation.after.ndim:]
        line = card.adds_up[0]
        for part in (fmt(accumulation.before[at]), fmt(accumulation.after[at])):
            assert part in line, (part, line)
        # the total is the sum of what was there and what this step sends
        assert accumulation.after[at] == pytest.approx(
            accumulation.before[at] + accumulation.contribution[at], rel=1e-12, abs=1e-15)

    drive(lambda: StepperScreen(session), script, (80, 24))


# 6. readable numbers ------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_short_vectors_are_never_elided_and_wide_panels_use_their_width(size):
    import numpy as np

    from tutor.views.step import PanelKey, Role, TensorSlot

    ids = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    probs = np.full(12, 0.0005 / 11)
    probs[8] = 0.9995
    matrix = np.arange(32 * 4, dtype=float).reshape(4, 32) / 100

    width = size[0]  # a panel across the whole terminal: its box less border and margin
    cells = []
    for name, value in [("src", ids), ("probs", probs), ("scores", matrix)]:
        panel = TensorPanel()
        panel.show(TensorSlot(PanelKey(Role.OUTPUT), f"{name} · output", name, value))
        cells.append(panel.value_cells(width - 3, 6))

    ids_cells, prob_cells, matrix_cells = cells
    assert [text for _, text in ids_cells] == [str(i) for i in ids]  # whole, in order
    assert len(prob_cells) == 12 and dict(prob_cells)[(8,)] == "+1.000"  # 0.9995 at 3 decimals
    columns = {index[1] for index, _ in matrix_cells}
    assert len(columns) >= min(32, (width - 4) // 7 - 1)  # as many columns as fit


def test_row_labels_line_up():
    import numpy as np

    from tutor.views.cells import panel_lines

    lines = panel_lines(np.linspace(-1, 1, 12 * 3).reshape(12, 3), (0, 0), 40, 14)
    rows = ["".join(cell.text for cell in line) for line in lines[1:] if line[0].kind == "axis"]
    labels = [row[:2] for row in rows]
    assert labels[:2] == [" 0", " 1"] and labels[-1] == "11", rows  # right-aligned
    assert len({len(row) for row in rows}) == 1, rows  # so the values line up


# 9. a held key streams; the lesson text catches up when it is let go ----------------------

def test_held_n_defers_the_lesson_text_until_the_keys_pause_then_shows_the_step_landed_on(
        tmp_path):
    from textual import events

    from tutor.ui.screens import lesson as lesson_module

    lesson = find_lesson("11", LESSONS)
    store = ProgressStore(tmp_path)
    for quiz in lesson.quizzes:  # answered: n only steps
        store.record_quiz(lesson.id, quiz.id, {"result": "correct", "attempts": 1})

    async def script(pilot, app):
        screen = app.screen
        filled = []  # each time the section's numbers are filled in for the step shown
        original = screen._section_markdown
        screen._section_markdown = lambda index: (filled.append(index), original(index))[1]

        def section_here() -> str:
            return original(screen.placements.section_of[screen.session.timeline.position])

        for _ in range(20):  # as a terminal delivers a held key: no wait between presses
            app.post_message(events.Key("n", "n"))
        await pilot.pause()
        for _ in range(50):
            if screen.session.timeline.position == 20 and screen.settled:
                break
            await pilot.pause(0.05)
        assert screen.session.timeline.position == 20
        assert len(filled) < 5  # not the text of every step passed over
        assert screen._section_shown == section_here()

        await pilot.pause(2 * lesson_module.PROSE_PAUSE)
        filled.clear()
        for _ in range(10):  # one step at a time, each after a pause: no waiting
            await pilot.press("n")
            await pilot.pause(2 * lesson_module.PROSE_PAUSE)
            assert screen._prose_timer is None
            assert screen._section_shown == section_here()
        assert len(filled) == 10

    drive(lambda: LessonScreen(start(lesson), store), script)
