"""Steps drawn ahead of their key are the steps drawn on it.

While the learner reads a step, the stepper draws the steps ``n`` and ``p`` go to (the
panel grid, op card, status and torch lines), and keeps panels and grids drawn before by
the arrays they show; a key then swaps in finished lines. Here every screen reached by a
walk of keys (steps, the cell cursor, Tab, the twin, into and out of a block) is drawn a
second time with every kept drawing thrown away, and the two must be the same to the
character and the colour. And a plain ``n`` must find its step drawn already (else the
speed is silently lost).
"""

from __future__ import annotations

import asyncio
from argparse import Namespace

import pytest
from textual.geometry import Region

from tutor.lessons.catalog import find_lesson, load_lessons
from tutor.lessons.run import start
from tutor.storage.progress import ProgressStore
from tutor.ui.app import TutorApp
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.quiz import QuizScreen
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.widgets.arch_map import ArchMap
from tutor.ui.widgets.op_card import OpCard
from tutor.ui.widgets.panel_grid import PanelGrid
from tutor.ui.widgets.prepared_static import PreparedStatic
from tutor.ui.widgets.status_bar import StatusBar
from tutor.views.recent import Recent
from tutor.views.session import explore_session

from tests.tutor.ui.tools import quiz_ready

WALK = ["n", "n", "n", "p", "n", "tab", "right", "down", "escape", "n", "n", "b", "p", "s",
        "n", "o", "n", "end", "p", "home", "n"]


def explore():
    return explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                     lr=0.1))


def drawn(widget) -> list[list[tuple]]:
    """The widget's lines as the compositor gets them: (text, style) per segment."""
    lines = widget.render_lines(Region(0, 0, *widget.region.size))
    return [[(s.text, s.style) for s in line] for line in lines]


def drawn_afresh(screen) -> dict[str, list]:
    """Every stepper line drawn with nothing kept; the kept drawings are put back."""
    grid, arch = screen.query_one(PanelGrid), screen.query_one(ArchMap)
    texts = [screen.query_one(OpCard), screen.query_one(StatusBar),
             screen.query_one("#torch", PreparedStatic)]
    kept = (grid._built, grid._drawn, [w._frames for w in texts], arch._frames)
    try:
        grid._built, grid._drawn = Recent(64), Recent(8)
        for panel in grid.panels:
            panel.cache, panel._lines = grid._built, None
        grid._rows = None
        for widget in texts:
            widget._frames = Recent(8)
            widget._text_key = None  # drawn as a plain Static draws it
            widget.refresh()
        arch._frames, arch._strips = Recent(12), {}
        arch._styles_cache.clear()
        return {type(w).__name__ + str(w.id): drawn(w) for w in [grid, *texts, arch]}
    finally:
        grid._built, grid._drawn = kept[0], kept[1]
        for widget, frames in zip(texts, kept[2]):
            widget._frames = frames
        arch._frames = kept[3]
        for panel in grid.panels:
            panel.cache, panel._lines = grid._built, None
        grid._rows = None


def shown(screen) -> dict[str, list]:
    widgets = [screen.query_one(PanelGrid), screen.query_one(OpCard),
               screen.query_one(StatusBar), screen.query_one("#torch", PreparedStatic),
               screen.query_one(ArchMap)]
    return {type(w).__name__ + str(w.id): drawn(w) for w in widgets}


def same_afresh(screen) -> None:
    before = shown(screen)
    texts = (screen.query_one(OpCard), screen.query_one(StatusBar))
    text_keys = [w._text_key for w in texts]
    afresh = drawn_afresh(screen)
    for widget, text_key in zip(texts, text_keys):
        widget._text_key = text_key
    for name in before:
        assert before[name] == afresh[name], name


def walk_and_compare(screen_factory, size, walk=WALK):
    """Press the keys of ``walk``; after each, the stepper's lines as kept and afresh. A
    quiz that opens is compared beneath (its answers hidden), then skipped (revealed)."""
    async def main():
        app = TutorApp(screen_factory)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            checked = 0
            for key in walk:
                await pilot.press(key)
                await pilot.pause()
                stepper = next(s for s in app.screen_stack if isinstance(s, StepperScreen))
                same_afresh(stepper)
                checked += 1
                for _ in range(5):  # a step may hold more than one quiz
                    if not isinstance(app.screen, QuizScreen):
                        break
                    await quiz_ready(pilot, app.screen)
                    await pilot.press("f3", "enter")  # skipped and closed: shown
                    await pilot.pause()
                    same_afresh(stepper)
                    checked += 1
            return checked
    return asyncio.run(main())


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_every_step_shown_from_kept_lines_is_the_step_drawn_afresh(size):
    assert walk_and_compare(lambda: StepperScreen(explore()), size) == len(WALK)


@pytest.mark.parametrize("number, size", [("3", (120, 40)), ("11", (120, 40)),
                                          ("11", (120, 34))])  # the map cut to a window
def test_a_lessons_steps_with_their_hidden_answers_are_drawn_afresh_alike(number, size,
                                                                          tmp_path):
    lessons, _ = load_lessons()
    lesson = find_lesson(number, lessons)
    store = ProgressStore(tmp_path)
    walk = ["n"] * 12 + ["p", "p", "n", "n"]
    checked = walk_and_compare(lambda: LessonScreen(start(lesson), store), size, walk)
    assert checked > len(walk)  # a quiz opened on the way, hid its answer, and was skipped


def test_n_finds_its_step_drawn_before_the_key():
    async def main():
        app = TutorApp(lambda: StepperScreen(explore()))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            results = []
            for _ in range(4):
                screen = app.screen
                for _ in range(200):  # the learner reads: the next step is drawn meanwhile
                    if screen.ahead.done:
                        break
                    await pilot.pause(0.01)
                assert screen.ahead.done
                grid, card = screen.query_one(PanelGrid), screen.query_one(OpCard)
                kept_rows = {id(rows) for rows, _ in grid._drawn._items.values()}
                kept_cards = {id(frame) for frame in card._frames._items.values()}
                await pilot.press("n")
                await pilot.pause()
                frame = card._frames.get(card._frame_key(card._text_key))
                results.append((id(grid._rows) in kept_rows, id(frame) in kept_cards))
            return results
    assert asyncio.run(main()) == [(True, True)] * 4


def test_after_a_resize_or_a_new_theme_nothing_drawn_before_is_shown():
    """Lines kept from before a resize (the card loses its border at 80×24) or a theme
    change (every colour changes) must not come back."""
    async def main():
        app = TutorApp(lambda: StepperScreen(explore()))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            steps = [("n",), ("resize", 80, 24), ("n",), ("p",), ("theme", "textual-light"),
                     ("n",), ("p",), ("resize", 120, 40), ("n",), ("theme", "textual-dark"),
                     ("p",), ("n",)]
            for step in steps:
                if step[0] == "resize":
                    await pilot.resize_terminal(*step[1:])
                elif step[0] == "theme":
                    app.theme = step[1]
                else:
                    await pilot.press(step[0])
                await pilot.pause()
                await pilot.pause()
                same_afresh(app.screen)
            return len(steps)
    assert asyncio.run(main()) == 12


def test_text_given_to_a_text_widget_directly_is_drawn_as_given():
    """``update`` (not ``show_parts``) leaves the kept lines: what it was given shows."""
    async def main():
        app = TutorApp(lambda: StepperScreen(explore()))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            torch = app.screen.query_one("#torch", PreparedStatic)
            torch.update("a line given directly")
            await pilot.pause()
            return "".join(s.text for s in torch.render_lines(torch.outer_size.region)[0])
    assert "a line given directly" in asyncio.run(main())


def test_the_tree_draws_its_lines_in_the_theme_shown():
    """The tree keeps its style between lines; a new theme must reach every line."""
    from tutor.ui.widgets.timeline_tree import TimelineTree

    async def main():
        app = TutorApp(lambda: StepperScreen(explore()))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            tree = app.screen.query_one(TimelineTree)
            seen = []
            for theme in ("textual-light", "textual-dark"):
                app.theme = theme
                await pilot.press("n")
                await pilot.pause()
                await pilot.pause(0.1)  # the tree follows the cursor a moment later
                backgrounds = {s.style.bgcolor for y in range(tree.size.height)
                               for s in tree.render_line(y) if s.style is not None}
                seen.append((backgrounds, tree.rich_style.bgcolor))
            return seen
    seen = asyncio.run(main())
    assert seen[0][1] != seen[1][1]  # the two themes differ
    for backgrounds, expected in seen:
        assert expected in backgrounds
        assert seen[0][1] not in backgrounds or expected == seen[0][1]
