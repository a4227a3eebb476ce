"""The exercise pane in the stepper: a wrong file shows the mismatch, saving a right one
turns the pane to "correct" without a restart, and after a restart the exercise is done;
a file that raises, hangs, prints a lot or returns junk gets a clear message while the
TUI keeps running; a lesson opens an exercise at its step; `e` edits the file."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from contextlib import nullcontext

import pytest

import tutor.lessons.exercise_runner
from tests.exercise_solutions import BROKEN, exercise, right, wrong
from tests.tutor.ui.tools import shown_tool, tool_text, tools_mounted
from tutor.lessons.exercise_check import build_run
from tutor.lessons.run import lesson_by_query, start
from tutor.storage.progress import ProgressStore
from tutor.ui.app import TutorApp
from tutor.ui.screens.exercise import ExerciseScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.tools.exercise import ExerciseTool, open_exercise_here
from tutor.views.session import Session

SOFTMAX = "softmax-backward"
WAIT = 600  # × 0.1 s: a check runs Python in a child process


async def result_of(pilot, tool: ExerciseTool, status: str, after: int = 0):
    """Wait until the pane shows a check (finished after the first ``after``) with
    ``status``."""
    for _ in range(WAIT):
        if not tool.checking and tool.checks_done > after and tool.result.status == status:
            return tool.result
        await pilot.pause(0.1)
    raise AssertionError(f"no {status} result; last: {tool.result}")


def save(tool: ExerciseTool, source) -> int:
    """Write a new version of the learner's file, as an editor's save does (a new
    modification time even within the same clock tick); the checks done before it."""
    path = tool.path
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(source.read_text())
    os.utime(path, ns=(before + 10**9, before + 10**9))
    return tool.checks_done


def test_wrong_then_right_without_restart_and_done_after_restart(tmp_path):
    store = ProgressStore(tmp_path)
    softmax = exercise(SOFTMAX)

    async def first_visit():
        app = TutorApp(lambda: ExerciseScreen(build_run(softmax), store, tmp_path / "ws"))
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            screen = app.screen
            tool = screen.query_one(ExerciseTool)
            todo = await result_of(pilot, tool, "todo")
            assert shown_tool(screen) is tool
            assert screen.session.timeline.position == build_run(softmax).position
            assert todo.headline.startswith("not written yet")
            assert str(tool.path) in tool_text(screen)
            mismatch = await result_of(pilot, tool, "wrong", save(tool, wrong(softmax)))
            text = tool_text(screen)
            assert f"wrong: dx{mismatch.mismatch.position} is " in text
            assert f"engine: {mismatch.mismatch.worked}" in text
            await pilot.press("h")
            await pilot.pause()
            assert f"hint 1/{len(softmax.hints)}: {softmax.hints[0]}" in tool_text(screen)
            await result_of(pilot, tool, "correct", save(tool, right(softmax)))
            assert "✓ correct" in tool_text(screen)
            assert "correct: dx matches the engine" in tool_text(screen)

    async def second_visit():
        app = TutorApp(lambda: ExerciseScreen(build_run(softmax), ProgressStore(tmp_path),
                                              tmp_path / "ws"))
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            tool = app.screen.query_one(ExerciseTool)
            await result_of(pilot, tool, "correct")
            assert "(done)" in tool_text(app.screen)
            assert tool.hints_shown == 1  # the hint seen last time is still shown

    asyncio.run(first_visit())
    entry = ProgressStore(tmp_path).exercise(SOFTMAX)
    assert entry["done"] and entry["last"] == "correct" and entry["hints"] == 1
    assert (tmp_path / "ws" / "04-softmax-backward.py").read_text() == right(softmax).read_text()
    asyncio.run(second_visit())


def test_files_that_raise_hang_print_or_return_junk_leave_the_tui_running(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(tutor.lessons.exercise_runner, "TIME_LIMIT", 1.0)
    softmax = exercise(SOFTMAX)
    cases = [("raises.py", "error", "softmax_backward(…) raised ValueError"),
             ("hangs.py", "timeout", "stopped after 1 s"),
             ("prints_a_lot.py", "correct", "your code printed:"),
             ("wrong_shape.py", "wrong", "dx has shape (1, 1, 3)"),
             ("returns_list.py", "error", "dx is a list, not a NumPy array"),
             ("syntax_error.py", "error", "SyntaxError")]

    async def script():
        app = TutorApp(lambda: ExerciseScreen(build_run(softmax), None, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            screen = app.screen
            tool = screen.query_one(ExerciseTool)
            await result_of(pilot, tool, "todo")
            for name, status, words in cases:
                await result_of(pilot, tool, status, save(tool, BROKEN / name))
                assert words in tool_text(screen), (name, tool_text(screen))
                before = screen.session.timeline.position
                await pilot.press("n")  # the stepper still answers keys
                await pilot.pause()
                assert screen.session.timeline.position == before + 1
                await pilot.press("p")
            assert app.is_running

    asyncio.run(script())


def test_enter_in_a_lesson_can_open_the_exercise_at_its_step(tmp_path, monkeypatch):
    """What a lesson calls on Enter: the exercise tied to the step under the cursor."""
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    store = ProgressStore(tmp_path)
    run = start(lesson_by_query("06-attention"))
    softmax = exercise(SOFTMAX)

    async def script():
        app = TutorApp(lambda: LessonScreen(run, store))
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            screen = app.screen
            screen.go_to(0)
            await pilot.pause()
            assert not open_exercise_here(screen, run.lesson.id, store)
            position = build_run(softmax).position
            screen.session.timeline.jump(position)
            screen.refresh_step()
            await pilot.pause()
            assert open_exercise_here(screen, run.lesson.id, store)
            tool = screen.query_one(ExerciseTool)
            assert tool.run.exercise.name == SOFTMAX and tool.run.timeline is run.timeline
            await result_of(pilot, tool, "todo")
            await result_of(pilot, tool, "correct", save(tool, right(softmax)))

    asyncio.run(script())
    assert ProgressStore(tmp_path).exercise(SOFTMAX)["done"]
    assert (tmp_path / "exercises" / "04-softmax-backward.py").exists()


def test_enter_again_where_several_exercises_share_a_step_opens_the_next(tmp_path):
    run = start(lesson_by_query("14-training-step"))
    sgd = build_run(exercise("sgd-step"))

    async def script():
        app = TutorApp(lambda: LessonScreen(run, ProgressStore(tmp_path)))
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            screen = app.screen
            screen.session.timeline.jump(sgd.position)
            opened = []
            for _ in range(4):
                assert open_exercise_here(screen, run.lesson.id)
                opened.append(screen.query_one(ExerciseTool).run.exercise.name)
                await pilot.pause()
            return opened

    assert asyncio.run(script()) == ["sgd-step", "adam-step", "torch-training-step", "sgd-step"]


def test_e_opens_the_file_in_the_editor_and_the_save_is_checked(tmp_path, monkeypatch):
    """The editor (here a script that writes the right answer) runs with the app
    suspended; when it returns, the new file is checked."""
    softmax = exercise(SOFTMAX)
    editor = tmp_path / "editor.py"
    editor.write_text(textwrap.dedent(f"""
        import shutil, sys
        shutil.copy({str(right(softmax))!r}, sys.argv[1])
    """))
    monkeypatch.setenv("VISUAL", f"{sys.executable} {editor}")
    suspended = []

    async def script():
        app = TutorApp(lambda: ExerciseScreen(build_run(softmax), None, tmp_path / "ws"))
        monkeypatch.setattr(app, "suspend", lambda: suspended.append(1) or nullcontext())
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            tool = app.screen.query_one(ExerciseTool)
            done = (await result_of(pilot, tool, "todo")) and tool.checks_done
            await pilot.press("e")
            await result_of(pilot, tool, "correct", done)

    asyncio.run(script())
    assert suspended == [1]
    assert (tmp_path / "ws" / "04-softmax-backward.py").read_text() == right(softmax).read_text()


def test_without_an_exercise_e_still_changes_the_nudges_epsilon():
    run = build_run(exercise(SOFTMAX))

    async def script():
        app = TutorApp(lambda: StepperScreen(Session(run.timeline, "t")))
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            from tutor.ui.tools.nudge import NudgeTool

            nudge = app.screen.query_one(NudgeTool)
            before = nudge.epsilon
            await pilot.press("e")
            await pilot.pause()
            assert nudge.epsilon != before
            assert not app.screen.query_one(ExerciseTool).is_open

    asyncio.run(script())


@pytest.fixture(autouse=True)
def _no_shared_workspace(tmp_path, monkeypatch):
    """Nothing here may touch the real data directory."""
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))


def test_quitting_while_the_learners_code_runs_stops_it(tmp_path, monkeypatch):
    """A hanging file is being checked when the learner quits: its process is stopped
    at once rather than left to its time limit."""
    monkeypatch.setattr(tutor.lessons.exercise_runner, "TIME_LIMIT", 600.0)
    softmax = exercise(SOFTMAX)
    children = []

    async def script():
        app = TutorApp(lambda: ExerciseScreen(build_run(softmax), None, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            tool = app.screen.query_one(ExerciseTool)
            await result_of(pilot, tool, "todo")
            save(tool, BROKEN / "hangs.py")
            for _ in range(WAIT):
                if tool.checking and tool.child is not None:
                    break
                await pilot.pause(0.1)
            children.append(tool.child)
            await pilot.press("q")

    asyncio.run(script())
    child = children[0]
    assert child is not None
    assert child.wait(timeout=60) < 0  # killed by a signal, long before its 600 s


def test_enter_at_an_exercise_step_of_a_lesson_opens_it_once_no_quiz_waits(tmp_path,
                                                                          monkeypatch):
    """The lesson's own Enter: a waiting quiz first (the pane would show its answer), then
    the exercise; the status line says an exercise is here."""
    from tutor.lessons.quiz import QuizResult
    from tutor.ui.screens.quiz import QuizScreen

    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    store = ProgressStore(tmp_path)
    run = start(lesson_by_query("06-attention"))
    position = build_run(exercise(SOFTMAX)).position
    at_step = [q for q in run.placements.quizzes_at.get(position, [])]
    for quiz in run.lesson.quizzes:
        if quiz not in at_step:
            store.record_quiz(run.lesson.id, quiz.id, QuizResult("correct", 1, 0, 1.0))

    async def script():
        app = TutorApp(lambda: LessonScreen(run, store))
        async with app.run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            screen = app.screen
            screen.go_to(position)
            await pilot.pause()
            for _ in at_step:  # a quiz waiting here opens first; skip it
                for _ in range(50):
                    if isinstance(app.screen, QuizScreen):
                        break
                    await pilot.pause(0.05)
                assert isinstance(app.screen, QuizScreen)
                await pilot.press("f3", "escape")
                await pilot.pause()
            assert app.screen is screen
            assert "exercise here (Enter)" in screen.status_extra()
            await pilot.press("enter")
            await pilot.pause()
            tool = screen.query_one(ExerciseTool)
            assert shown_tool(screen) is tool and tool.run.exercise.name == SOFTMAX

    asyncio.run(script())
