"""Screens as pictures: a change to what the learner sees shows up as a failing snapshot.

Update deliberately with `pytest tests/test_snapshots.py --snapshot-update` and look at
the SVGs in tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

from argparse import Namespace

import pytest

from tutor.ui.app import TutorApp
from tutor.ui.screens.stepper import StepperScreen
from tutor.views.session import explore_session

SIZES = [(80, 24), (120, 40)]


def app():
    session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                        lr=0.1))
    return TutorApp(lambda: StepperScreen(session))


def keys_then_settle(*keys):
    """Press the keys, then wait until the screen has caught up with them (the tree
    follows the cursor a moment later), so the picture never depends on timing."""
    async def run(pilot):
        await pilot.pause()
        await pilot.press(*keys)
        for _ in range(200):
            await pilot.pause(0.05)
            if getattr(pilot.app.screen, "settled", True):
                break
        await pilot.pause()
    return run


settle = keys_then_settle()


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_forward_step(snap_compare, size):
    assert snap_compare(app(), terminal_size=size, run_before=keys_then_settle(*["n"] * 12))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_backward_step(snap_compare, size):
    assert snap_compare(app(), terminal_size=size,
                        run_before=keys_then_settle("B", "n", "n", "n"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_help(snap_compare, size):
    assert snap_compare(app(), terminal_size=size, run_before=keys_then_settle("question_mark"))


def test_too_small(snap_compare):
    assert snap_compare(app(), terminal_size=(60, 16), run_before=settle)


def lesson_apps(tmp_path):
    import shutil
    from pathlib import Path

    from tutor.lessons.run import lesson_by_query, start
    from tutor.lessons.catalog import load_lessons
    from tutor.storage.progress import ProgressStore
    from tutor.ui.screens.home import HomeScreen
    from tutor.ui.screens.lesson import LessonScreen

    home_dir = Path("/tmp/tutor-snapshot-home")  # the same path on every machine and run,
    shutil.rmtree(home_dir, ignore_errors=True)  # as the lesson list shows it
    store = ProgressStore(home_dir)
    lessons, _ = load_lessons()
    home = TutorApp(lambda: HomeScreen(lessons, store))
    lesson = TutorApp(lambda: LessonScreen(start(lesson_by_query("3")), store))
    return home, lesson


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_lesson_list(snap_compare, size, tmp_path):
    home, _ = lesson_apps(tmp_path)
    assert snap_compare(home, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_lesson_step_with_its_prose(snap_compare, size, tmp_path):
    _, lesson = lesson_apps(tmp_path)
    assert snap_compare(lesson, terminal_size=size, run_before=keys_then_settle("n", "n"))
