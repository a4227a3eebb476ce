"""A frame that redraws only the rows a step changes leaves the terminal right.

The panel grid and the text widgets (op card, status line, torch line) send only the rows
where the new step's lines differ from the last; the map, only its marked rows. Here
every frame the app sends is played onto a terminal of cells (``terminal_cells``), and
after each key of a walk (steps, the cell cursor, Tab and Esc, the twin, into and out,
end and home, a tool's pane, the tree and the map toggled, a resize, a theme, a lesson
with its quizzes) the terminal must show what
the whole screen drawn at once shows, to the character and the style.
"""

from __future__ import annotations

import asyncio
from argparse import Namespace

import pytest

from tutor.lessons.catalog import find_lesson, load_lessons
from tutor.lessons.run import start
from tutor.storage.progress import ProgressStore
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.quiz import QuizScreen
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.widgets.op_card import OpCard
from tutor.ui.widgets.panel_grid import PanelGrid
from tutor.views.session import explore_session

from tests.tutor.ui.terminal_cells import WatchedApp, differences
from tests.tutor.ui.tools import quiz_ready

WALK = ["n", "n", "n", "p", "n", "tab", "right", "down", "tab", "escape", "n", "n", "b",
        "p", "s", "n", "o", "n", "end", "p", "p", "home", "n", "n",
        "plus", "minus", "n",  # the nudge's pane opens under the panels, a step closes it
        "t", "n", "t", "a", "n", "a", "n"]  # the tree and the map, shown and hidden


def explore():
    return explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                     lr=0.1))


async def settled(pilot) -> None:
    """Until no widget waits to be drawn (a frame may make another)."""
    for _ in range(20):
        await pilot.pause()
        screen = pilot.app.screen
        if not screen._dirty_widgets and not screen._compositor._dirty_regions:
            return


def walk(make_screen, size, keys):
    """Press ``keys``; after each, the rows where the terminal is wrong. A quiz that opens
    is compared too, then skipped."""
    async def main():
        app = WatchedApp(make_screen)
        wrong, checked = [], 0
        async with app.run_test(size=size) as pilot:
            await settled(pilot)
            for key in keys:
                if isinstance(key, tuple):
                    if key[0] == "resize":
                        await pilot.resize_terminal(*key[1:])
                    else:
                        app.theme = key[1]
                else:
                    await pilot.press(key)
                await settled(pilot)
                wrong += [(key, row) for row in differences(app)]
                checked += 1
                for _ in range(5):  # a step may hold more than one quiz
                    if not isinstance(app.screen, QuizScreen):
                        break
                    await quiz_ready(pilot, app.screen)
                    await pilot.press("f3", "enter")
                    await settled(pilot)
                    wrong += [("quiz", row) for row in differences(app)]
                    checked += 1
        return wrong, checked
    return asyncio.run(main())


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_the_terminal_shows_the_whole_screen_after_every_key(size):
    keys = WALK + [("resize", 100, 30), "n", "p", ("theme", "textual-light"), "n", "n",
                   ("resize", *size), "p"]
    wrong, checked = walk(lambda: StepperScreen(explore()), size, keys)
    assert wrong == []
    assert checked == len(keys)


@pytest.mark.parametrize("number", ["3", "11"])
def test_a_lessons_terminal_shows_the_whole_screen_after_every_key(number, tmp_path):
    lesson = find_lesson(number, load_lessons()[0])
    store = ProgressStore(tmp_path)
    keys = ["n"] * 12 + ["p", "p", "n", "n"]
    wrong, checked = walk(lambda: LessonScreen(start(lesson), store), (120, 40), keys)
    assert wrong == []
    assert checked > len(keys)  # a quiz opened, was compared, and was skipped


def test_a_step_sends_only_the_rows_it_changes():
    """The speed is not silently lost: after ``n`` between two steps of one kind, the
    frame leaves the op card's top edge and the rows of panels the steps share alone,
    while the status line (the step number) is sent."""
    async def main():
        app = WatchedApp(lambda: StepperScreen(explore()))
        async with app.run_test(size=(120, 40)) as pilot:
            await settled(pilot)
            card, grid = app.screen.query_one(OpCard), app.screen.query_one(PanelGrid)
            edge, body = card.region.y, range(grid.region.y, grid.region.bottom)

            def covers(span, y, region) -> bool:
                return span[0] == y and span[1] < region.right and span[2] > region.x

            sent = []
            for _ in range(6):
                app.updates.clear()
                await pilot.press("n")
                await settled(pilot)
                spans = [span for update in app.updates for span in getattr(update, "spans", ())]
                full = any(not hasattr(update, "spans") for update in app.updates)
                sent.append((full, any(covers(span, 0, app.screen.region) for span in spans),
                             any(covers(span, edge, card.region) for span in spans),
                             all(any(covers(span, y, grid.region) for span in spans)
                                 for y in body)))
            return sent
    sent = asyncio.run(main())
    assert all(not full for full, *_ in sent)  # no key redrew the whole screen
    assert all(status for _, status, _, _ in sent)
    assert not any(card_edge for _, _, card_edge, _ in sent)
    assert not all(whole_grid for *_, whole_grid in sent)
