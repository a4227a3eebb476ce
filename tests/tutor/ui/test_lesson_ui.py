"""A lesson driven by the keyboard: quizzes wait at their steps, answers are graded,
progress survives a restart; the lesson list and notes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tutor.ui.app import TutorApp
from tutor.lessons.catalog import load_lessons
from tutor.storage.progress import ProgressStore
from tutor.ui.screens.home import HomeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.quiz import QuizScreen
from tutor.ui.widgets.status_bar import StatusBar

from tests.paths import FIXTURES as ALL_FIXTURES
from tests.tutor.ui.tools import quiz_ready

FIXTURES = ALL_FIXTURES / "lessons" / "good"

# The fixture lesson 01: L = (w·x − y)² with w = 2, x = 3, y = 1 and lr = 0.1.
W, X, Y, LR = 2.0, 3.0, 1.0, 0.1
DL_DW = 2 * (W * X - Y) * X  # 30: the chain rule by hand
W_AFTER = W - LR * DL_DW  # -1


def lessons():
    found, problems = load_lessons(FIXTURES)
    assert not problems
    return found


async def type_answer(pilot, text: str) -> None:
    await quiz_ready(pilot, pilot.app.screen)
    await pilot.press(*list(text))
    await pilot.press("enter")
    await pilot.pause()


async def walk_to_quiz(pilot, app, limit: int = 100) -> QuizScreen:
    for _ in range(limit):
        if isinstance(app.screen, QuizScreen):
            return app.screen
        await pilot.press("n")
        await pilot.pause()
    raise AssertionError("no quiz appeared")


def test_complete_a_lesson_by_keyboard_and_find_it_done_after_restart(tmp_path):
    store = ProgressStore(tmp_path)
    found = lessons()

    async def first_visit():
        app = TutorApp(lambda: HomeScreen(found, store))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("enter")  # open lesson 01
            await pilot.pause(0.2)
            assert isinstance(app.screen, LessonScreen)
            answers = {"sign": "b", "dloss-dw": "30*1", "new-w": str(W_AFTER)}
            expected = {"sign": 1, "dloss-dw": DL_DW, "new-w": W_AFTER}
            for _ in range(3):
                quiz = await walk_to_quiz(pilot, app)
                quiz_id = quiz.session.quiz.id
                assert quiz.session.expected == pytest.approx(expected[quiz_id])
                if quiz_id == "dloss-dw":  # a wrong answer first, then a hint, then right
                    await type_answer(pilot, "-30")
                    assert "wrong sign" in str(quiz.query_one("#feedback").content)
                    await pilot.press("f2")
                    await pilot.pause()
                if quiz_id == "sign":  # choices are shown shuffled: b where it is now
                    answers["sign"] = "abcd"[quiz.session.order.index(1)]
                await type_answer(pilot, answers[quiz_id])
                assert quiz.session.state == "correct"
                assert "Why:" in str(quiz.query_one("#explanation").content)
                await pilot.press("enter")  # continue
                await pilot.pause()
            lesson_screen = app.screen
            assert isinstance(lesson_screen, LessonScreen)
            assert "quizzes 3/3" in lesson_screen.query_one(StatusBar).plain
            await pilot.press("escape")  # back to the list
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    asyncio.run(first_visit())
    restarted = ProgressStore(tmp_path)
    assert restarted.is_done("01-derivative")
    results = restarted.quiz_results("01-derivative")
    assert results["dloss-dw"]["result"] == "correct_after_hints"
    assert results["dloss-dw"]["attempts"] == 2
    assert results["sign"]["result"] == "correct"

    async def second_visit():
        app = TutorApp(lambda: HomeScreen(found, restarted))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            row = str(app.screen.query_one("#lessons").get_option("01-derivative").prompt)
            assert "✓ done" in row and "3/3 (3 right)" in row

    asyncio.run(second_visit())


def test_a_quiz_blocks_stepping_past_until_answered_or_skipped(tmp_path):
    store = ProgressStore(tmp_path)
    from tutor.lessons.run import start

    run = start(lessons()[0])

    async def go():
        app = TutorApp(lambda: LessonScreen(run, store))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            quiz = await walk_to_quiz(pilot, app)
            position = run.timeline.position
            await pilot.press("escape")  # answer later
            await pilot.pause()
            await pilot.press("n")  # may not pass: the quiz comes back
            await pilot.pause()
            assert isinstance(app.screen, QuizScreen)
            assert run.timeline.position == position
            await pilot.press("f3")  # skip
            await pilot.pause()
            assert "Skipped. The answer is" in str(app.screen.query_one("#feedback").content)
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause()
            assert run.timeline.position == position + 1
            # jumping to the end stops at the next waiting quiz instead
            await pilot.press("end")
            await pilot.pause()
            assert isinstance(app.screen, QuizScreen)
            assert run.timeline.position < len(run.timeline) - 1
            return quiz.session.quiz.id

    assert asyncio.run(go()) == "sign"
    assert ProgressStore(tmp_path).quiz_results("01-derivative")["sign"]["result"] == "skipped"


def test_unreadable_answers_are_not_counted(tmp_path):
    from tutor.lessons.run import start

    run = start(lessons()[0])

    async def go():
        app = TutorApp(lambda: LessonScreen(run, ProgressStore(tmp_path)))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            quiz = await walk_to_quiz(pilot, app)
            await type_answer(pilot, "__import__('os')")
            assert quiz.session.attempts == 0 and not quiz.session.finished
            await type_answer(pilot, "zz")
            assert quiz.session.attempts == 0

    asyncio.run(go())


def test_position_is_restored_when_the_lesson_reopens(tmp_path):
    from tutor.lessons.run import start

    lesson = lessons()[1]

    async def visit(keys):
        run = start(lesson)
        app = TutorApp(lambda: LessonScreen(run, ProgressStore(tmp_path)))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            for key in keys:
                if isinstance(app.screen, QuizScreen):
                    await pilot.press("f3", "enter")
                    await pilot.pause()
                await pilot.press(key)
                await pilot.pause()
            position = run.timeline.position
        return position

    where = asyncio.run(visit(["n", "n"]))
    assert where > 0
    assert asyncio.run(visit([])) == where


def test_note_key_appends_the_step_card(tmp_path):
    from argparse import Namespace

    from tutor.ui.screens.stepper import StepperScreen
    from tutor.views.session import explore_session

    notes = tmp_path / "notes.md"
    session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                        lr=0.1))

    async def go():
        app = TutorApp(lambda: StepperScreen(session), notes_path=notes)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press(*["n"] * 12, "m")
            await pilot.pause()

    asyncio.run(go())
    text = notes.read_text()
    assert "encoder.layers.0.self_attn.weights" in text
    assert "softmax" in text and "Worked numbers" in text and "torch.softmax" in text


def test_a_damaged_progress_file_is_reported_once_and_kept(tmp_path):
    from tutor.lessons.run import start

    (tmp_path / "progress.json").write_text('{"version": 1, "lessons": {"01-deriv')  # cut off
    store = ProgressStore(tmp_path)
    run = start(lessons()[0])
    shown = []

    async def go():
        app = TutorApp(lambda: LessonScreen(run, store))
        app.notify = lambda message, **kw: shown.append(message)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()

    asyncio.run(go())
    assert any("progress.json" in m and "damaged" in m for m in shown)
    backups = list(tmp_path.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and "01-deriv" in backups[0].read_text()


def test_a_quiz_takes_typing_only_once_its_answer_box_is_open(tmp_path):
    """``ready`` (what tests and the quiz's own key handling wait for) is False from the
    moment the quiz is pushed, before it is even mounted, until the box has the focus."""
    from textual.widgets import Input

    from tutor.lessons.quiz import QuizSession
    from tutor.lessons.live import StepContext
    from tutor.lessons.run import start

    lesson = lessons()[0]
    run = start(lesson)
    quiz = lesson.quizzes[0]
    position = next(p for p, qs in run.placements.quizzes_at.items() if quiz in qs)

    async def main():
        app = TutorApp(lambda: LessonScreen(run, ProgressStore(tmp_path)))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screen = QuizScreen(QuizSession(quiz, StepContext(run.timeline, position)), "quiz")
            app.push_screen(screen)
            states = [screen.ready]  # pushed, not yet mounted
            await pilot.pause()
            states.append(screen.ready)  # mounted: the box waits a moment
            await quiz_ready(pilot, screen)
            await pilot.pause()
            answer = screen.query_one(Input)
            return states, answer.disabled, app.focused is answer

    states, disabled, focused = asyncio.run(main())
    assert states == [False, False]
    assert not disabled and focused
