"""Every shipped lesson can be completed in the TUI: run to each quiz (`c`), answer it,
and the lesson is marked done. (That the answers are right is proven against PyTorch in
test_lesson_answers.py; this proves the screens carry a learner through.)

Predict, then reveal: while each quiz is open, its answer is nowhere on screen (no number
the quiz would accept, no shape or pattern it asks for); once answered, nothing is hidden."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tutor.ui.app import TutorApp
from tutor.lessons.run import start
from tutor.lessons.catalog import load_lessons
from tutor.lessons.live import format_value
from tutor.storage.progress import ProgressStore
from tutor.ui.screens.lesson import LessonScreen
from tests.tutor.ui.reveal import hidden_anywhere, reveals
from tests.tutor.ui.tools import quiz_ready
from tutor.ui.screens.quiz import QuizScreen

LESSONS, _ = load_lessons()


def typed(session) -> str:
    """What a learner who knows the answer would type."""
    kind, expected = session.quiz.kind, session.expected
    if kind == "number":
        return f"{float(expected):.8g}"
    if kind == "choice":  # shown shuffled: the letter it has on screen
        return "abcdefghij"[session.order.index(int(expected))]
    if kind == "shape":
        return "(" + ", ".join(str(n) for n in expected) + ")"
    return format_value(expected)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_lesson_can_be_completed(lesson, tmp_path, monkeypatch):
    # the answer box's wait for stepper keys to stop is tested elsewhere; here it only slows
    monkeypatch.setattr(QuizScreen, "TYPING_DELAY", 0.02)
    run = start(lesson)
    store = ProgressStore(tmp_path)
    revealed = []

    async def go():
        app = TutorApp(lambda: LessonScreen(run, store))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            answered = 0
            for _ in range(4 * len(lesson.quizzes) + 4):
                if isinstance(app.screen, QuizScreen):
                    quiz = app.screen
                    await quiz_ready(pilot, quiz)
                    lesson_screen = app.screen_stack[-2]
                    shown = reveals(quiz.session, lesson_screen, quiz)
                    if shown:
                        revealed.append((quiz.session.quiz.id, shown))
                    answer = quiz.query_one("Input")
                    answer.value = typed(quiz.session)
                    await pilot.press("enter")
                    await pilot.pause()
                    assert quiz.session.state == "correct", (quiz.session.quiz.id,
                                                             answer.value, quiz.session.expected)
                    await pilot.press("enter")
                    await pilot.pause()
                    answered += 1
                    if not isinstance(app.screen, QuizScreen):  # no other quiz waits here
                        assert not hidden_anywhere(app.screen), quiz.session.quiz.id
                elif answered == len(lesson.quizzes):
                    break
                else:
                    await pilot.press("c")
                    await pilot.pause()
            return answered

    assert asyncio.run(go()) == len(lesson.quizzes)
    assert not revealed, "\n".join(map(str, revealed))
    assert ProgressStore(tmp_path).is_done(lesson.id)
