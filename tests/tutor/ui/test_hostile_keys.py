"""No key sequence takes the tutor down: bursts that close a screen twice, keys that reach a
closing modal, modals stacked on the step finder, the finder's own keys, and a crash that
says so. Each burst is one ``pilot.press`` call; afterwards the app is alive, shows the
screen it should, and did not crash."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import sys

import pytest

from tutor.lessons.catalog import find_lesson, load_lessons
from tutor.lessons.run import start
from tutor.lessons.scenarios import build_scenario
from tutor.storage.progress import ProgressStore
from tutor.ui.app import StepFinder, TutorApp, run_app
from tutor.ui.screens.help import HelpScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.lr_lab import LrLabScreen
from tutor.ui.screens.quiz import QuizScreen
from tutor.ui.screens.stepper import StepperScreen
from tutor.views.session import Session

from tests.tutor.ui.tools import quiz_ready

LESSONS, _ = load_lessons()


def lesson_app(tmp_path, number="1"):
    run = start(find_lesson(number, LESSONS))
    return TutorApp(lambda: LessonScreen(run, ProgressStore(tmp_path)))


def descent_app():
    timeline = build_scenario({"kind": "expression", "inputs": {"w": 3.0, "x": 2.0},
                               "params": ["w"], "program": "wx = w * x\nloss = wx ** 2",
                               "lr": 0.1}).timeline()
    return TutorApp(lambda: StepperScreen(Session(timeline, "descent")))


def play(app, script, size=(120, 40)):
    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            first = app.screen_stack[0]  # the app's own screen, at the bottom
            await script(pilot, app)
            await pilot.pause()
            assert app.is_running and app.crash is None, app.crash
            assert app.screen_stack[0] is first  # never closed by a stray key
    asyncio.run(main())
    assert app.crash is None, app.crash


async def open_quiz(pilot, app) -> QuizScreen:
    for _ in range(40):
        if isinstance(app.screen, QuizScreen):
            await quiz_ready(pilot, app.screen)
            return app.screen
        await pilot.press("n")
        await pilot.pause()
    raise AssertionError("no quiz opened")


# a screen is dismissed once --------------------------------------------------------------

def test_enters_after_a_finished_quiz_close_it_once(tmp_path):
    async def script(pilot, app):
        first = await open_quiz(pilot, app)
        await pilot.press("f3", "enter", "enter", "enter", "enter")
        await pilot.pause()
        lesson = app.screen_stack[0]
        assert isinstance(lesson, LessonScreen) and first not in app.screen_stack
        # the next quiz waiting at this step may have opened: on top of the lesson, once
        assert app.screen is lesson or (isinstance(app.screen, QuizScreen)
                                        and len(app.screen_stack) == 2)

    play(lesson_app(tmp_path), script)


@pytest.mark.parametrize("opener, closer, screen_type", [
    ("question_mark", "escape", HelpScreen), ("question_mark", "question_mark", HelpScreen),
    ("L", "escape", LrLabScreen), ("g", "escape", StepFinder)])
def test_two_close_keys_in_one_burst_close_one_screen(opener, closer, screen_type):
    async def script(pilot, app):
        stepper = app.screen
        await pilot.press(opener)
        await pilot.pause()
        if opener == "L":
            for _ in range(40):
                if isinstance(app.screen, screen_type):
                    break
                await pilot.pause(0.05)
        assert isinstance(app.screen, screen_type)
        await pilot.press(closer, closer, closer)
        assert app.screen is stepper

    play(descent_app(), script)


def test_the_step_finder_opens_while_the_one_just_closed_is_taken_down():
    """A burst can close the finder and ask for it again before the closed one has left
    the DOM (the monkey found it: the two had one id)."""
    async def script(pilot, app):
        stepper = app.screen
        await pilot.press("ctrl+p")
        await pilot.pause()
        first = app.screen
        assert isinstance(first, StepFinder)
        app.pop_screen()
        app.action_command_palette()  # at once: the first is still being removed
        await pilot.pause()
        assert isinstance(app.screen, StepFinder) and app.screen is not first
        assert app.screen_stack[-2] is stepper and app.crash is None

    play(descent_app(), script)


# keys reaching a closing modal -------------------------------------------------------------

@pytest.mark.parametrize("burst", [("escape", "f3"), ("escape", "f2"), ("f3", "escape", "f2"),
                                   ("escape", "enter", "f3")])
def test_keys_after_escape_do_not_reach_the_closed_quiz(tmp_path, burst):
    async def script(pilot, app):
        await open_quiz(pilot, app)
        await pilot.press(*burst)
        await pilot.resize_terminal(90, 30)
        await pilot.press(*burst)

    play(lesson_app(tmp_path), script)


def test_c_then_escape_while_the_quiz_opens(tmp_path):
    async def script(pilot, app):
        await pilot.press("c", "escape", "f3", "c", "escape")

    play(lesson_app(tmp_path), script)


@pytest.mark.parametrize("close", ["action_close", "action_skip"])
def test_a_close_before_the_quiz_has_mounted_is_ignored(tmp_path, close):
    """Under load, Escape can arrive while the quiz is still being built: closing it then
    ran its on_mount on a screen whose widgets were gone (NoMatches '#hint')."""
    async def script(pilot, app):
        await pilot.press("c")
        await pilot.pause()
        quiz = await open_quiz(pilot, app)
        await pilot.press("escape")
        await pilot.pause()
        lesson = app.screen
        lesson.action_quiz()  # the quiz is pushed; its screen has not mounted yet
        opening = app.screen
        assert isinstance(opening, QuizScreen) and opening is not quiz
        getattr(opening, close)()  # a close key in the same burst
        await pilot.pause()
        assert app.screen is opening and opening.is_mounted  # still open, whole
        opening.query_one("#hint")
        await quiz_ready(pilot, opening)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is lesson

    play(lesson_app(tmp_path), script)



def test_w_in_the_burst_that_opens_the_lr_lab_does_nothing_until_it_is_built():
    """L then w in one burst: the w was meant for the stepper, not for a lab not yet built."""
    async def script(pilot, app):
        stepper = app.screen
        lab = LrLabScreen(stepper.session.timeline.tape, 0.1, "descent")
        app.push_screen(lab)
        lab.action_toggle_plot()  # not mounted yet
        assert lab.plotting == "loss"
        for _ in range(40):
            if lab.is_mounted:
                break
            await pilot.pause(0.05)
        await pilot.press("w")
        await pilot.pause()
        assert lab.plotting == "weight"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is stepper

    play(descent_app(), script)

# modals never stack on the step finder -----------------------------------------------------

def test_c_then_g_then_ctrl_p_never_stacks_two_finders_or_a_quiz_on_one(tmp_path):
    async def script(pilot, app):
        await pilot.press("c", "g", "ctrl+p", "ctrl+p")
        await pilot.pause()
        finders = [s for s in app.screen_stack if isinstance(s, StepFinder)]
        assert len(finders) <= 1
        if finders:
            assert app.screen is finders[0]  # nothing on top of it
        await pilot.press("escape", "escape", "escape")

    play(lesson_app(tmp_path), script)


def test_the_training_view_open_step_then_ctrl_p(tmp_path):
    from engine.train import Trainer
    from tutor.ui.screens.training import TrainingScreen

    run = Trainer("reverse", 40, seed=0, lr=0.01, optimizer="adam")

    async def script(pilot, app):
        for _ in range(100):  # a few steps logged
            if run.steps_done >= 2:
                break
            await pilot.pause(0.05)
        await pilot.press("space", "o", "ctrl+p", "ctrl+p")
        await pilot.pause()
        finders = [s for s in app.screen_stack if isinstance(s, StepFinder)]
        assert len(finders) <= 1
        await pilot.press("escape", "escape", "escape", "escape")
        await pilot.pause()

    play(TutorApp(lambda: TrainingScreen(run, tmp_path / "w.npz")), script)


# the step finder is only a step finder ---------------------------------------------------------

def test_pagedown_in_an_empty_finder_and_before_it_is_laid_out():
    async def script(pilot, app):
        await pilot.press("g", "pagedown", "pageup")
        await pilot.press(*"zzzzqq", "pagedown", "pageup", "pagedown")
        await pilot.press("escape")

    play(descent_app(), script)


def test_g_q_enter_does_not_quit_and_extra_enters_do_no_harm():
    async def script(pilot, app):
        stepper = app.screen
        await pilot.press("g", "q", "enter")
        await pilot.pause()
        assert app.is_running
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is stepper
        await pilot.press("g", *"loss", "enter", "enter", "enter")
        await pilot.pause()
        assert app.screen is stepper and stepper.session.timeline.step.name == "loss"

    play(descent_app(), script)


# a crash says so -------------------------------------------------------------------------------

def test_a_crash_exits_1_and_names_its_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))

    def broken(self) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(StepperScreen, "action_next", broken)
    timeline = build_scenario({"kind": "expression", "inputs": {"w": 1.0},
                               "program": "loss = w ** 2"}).timeline()
    app = TutorApp(lambda: StepperScreen(Session(timeline, "broken")))

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause()

    def run(self):  # App.run prints an exception and returns; run_test re-raises it
        try:
            asyncio.run(main())
        except RuntimeError:
            pass

    monkeypatch.setattr(TutorApp, "run", run)
    assert run_app(app) == 1
    err = capsys.readouterr().err
    assert "tutor stopped because of an error (RuntimeError: boom)" in err
    log = next(tmp_path.glob("crash-*.log"))
    assert "boom" in log.read_text() and str(log) in err


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_lesson_exits_without_a_stray_traceback(tmp_path):
    """Quit a lesson in a real terminal a few times: exit status 0, nothing printed after."""
    from tests.tutor.ui.test_terminal import Tmux

    for attempt in range(3):
        command = (f"TUTOR_HOME={shlex.quote(str(tmp_path))} {shlex.quote(sys.executable)} "
                   f"-m tutor 1; echo EXIT=$?; sleep 30")
        session = Tmux(command, 100, 30)
        try:
            session.wait_for(" step ", first_line=True)
            session.keys("p" if attempt % 2 else "Home")
            session.keys("q")
            screen = session.wait_for("EXIT=")
        finally:
            session.close()
        assert "EXIT=0" in screen, screen
        assert "Traceback" not in screen and "CancelledError" not in screen, screen
