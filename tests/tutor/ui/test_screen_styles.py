"""Each screen's styles come with the screen (ui/styles.py): the lesson list's launch
reads none of the stepper's, the stepper's none of the quiz's; and rules that moved from
the app's stylesheet into a screen's still win where they should (the quiz lets the
lesson show through it, help does not)."""

from __future__ import annotations

import asyncio

import pytest

from tutor.lessons.catalog import load_lessons
from tutor.storage.progress import ProgressStore
from tutor.ui.app import TutorApp
from tutor.ui.screens.help import HelpScreen
from tutor.ui.screens.home import HomeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.quiz import QuizScreen

from tests.paths import FIXTURES
from tests.tutor.ui.tools import quiz_ready


def styles_read(app) -> set[str]:
    """The screens whose stylesheets the app has read so far."""
    return {name.split(".")[0] for _, name in app.stylesheet.source
            if name.endswith("Screen.DEFAULT_CSS")}


def test_each_screen_reads_its_styles_when_it_first_opens(tmp_path):
    found, problems = load_lessons(FIXTURES / "lessons" / "good")
    assert not problems

    async def go():
        app = TutorApp(lambda: HomeScreen(found, ProgressStore(tmp_path)))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            at_home = styles_read(app)
            await pilot.press("enter")  # lesson 01
            for _ in range(100):
                await pilot.pause()
                if isinstance(app.screen, LessonScreen):
                    break
            in_lesson = styles_read(app)
            lesson = app.screen
            for _ in range(60):  # to the lesson's first quiz
                if isinstance(app.screen, QuizScreen):
                    break
                await pilot.press("n")
                await pilot.pause()
            quiz = app.screen
            assert isinstance(quiz, QuizScreen)
            await quiz_ready(pilot, quiz)
            at_quiz = styles_read(app)
            quiz_background = quiz.styles.background
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is lesson
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            help_background = app.screen.styles.background
        return at_home, in_lesson, at_quiz, quiz_background, help_background

    at_home, in_lesson, at_quiz, quiz_background, help_background = asyncio.run(go())
    assert TutorApp.CSS_PATH is None  # nothing read at launch for every screen
    assert "HomeScreen" in at_home and not {"StepperScreen", "QuizScreen"} & at_home
    assert "StepperScreen" in in_lesson and "QuizScreen" not in in_lesson
    assert "QuizScreen" in at_quiz
    # quiz.tcss's translucent background beats Textual's Screen default (an app-wide
    # `Screen { background }` rule once hid the lesson behind every quiz)
    assert 0 < quiz_background.a < 1
    assert help_background.a == 1  # help is read on its own: nothing shows through


def computed_styles(screen) -> list:
    from textual.css.styles import RULE_NAMES

    return [(type(w).__name__, w.id, sorted(w.classes),
             [repr(getattr(w.styles, rule)) for rule in sorted(RULE_NAMES)])
            for w in screen.walk_children(with_self=True)]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
@pytest.mark.parametrize("kind", ["explore", "lesson", "home"])
def test_no_widget_keeps_a_stale_style_when_a_screen_skips_its_first_restyle(
        kind, size, tmp_path):
    """The stepper and the lesson list tell Textual not to restyle every widget when they
    first show (``StyledOnMount``: each was styled as it mounted): restyling the whole
    screen afterwards changes nothing."""
    import argparse

    from tutor.lessons.run import start
    from tutor.ui.screens.stepper import StepperScreen
    from tutor.views.session import explore_session

    if kind == "explore":
        session = explore_session(argparse.Namespace())
        make = lambda: StepperScreen(session)  # noqa: E731
    elif kind == "lesson":
        found, _ = load_lessons(FIXTURES / "lessons" / "good")
        run = start(found[0])
        make = lambda: LessonScreen(run, ProgressStore(tmp_path))  # noqa: E731
    else:
        found, _ = load_lessons(FIXTURES / "lessons" / "good")
        make = lambda: HomeScreen(found, ProgressStore(tmp_path))  # noqa: E731

    async def go():
        app = TutorApp(make)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.3)
            screen = app.screen
            assert isinstance(screen, (StepperScreen, HomeScreen)) and screen._resumed
            before = computed_styles(screen)
            screen.update_node_styles(animate=False)
            await pilot.pause(0.1)
            return before, computed_styles(screen)

    before, after = asyncio.run(go())
    assert len(before) >= 6  # the screen and its widgets
    assert before == after


def test_only_the_first_resume_skips_the_restyle():
    from types import SimpleNamespace

    from tutor.ui.styles import StyledOnMount

    screen = StyledOnMount()
    resumes = [SimpleNamespace(refresh_styles=True) for _ in range(2)]
    for event in resumes:
        screen.on_screen_resume(event)
    assert [event.refresh_styles for event in resumes] == [False, True]
    kept = SimpleNamespace(refresh_styles=False)  # Textual's own choice stands after that
    screen.on_screen_resume(kept)
    assert kept.refresh_styles is False
