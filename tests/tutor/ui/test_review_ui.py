"""Review on fresh numbers: a quiz answered wrong in a lesson comes back in `tutor review` on
a run with other numbers and the same question; right twice in a row and it is no longer due.
The home screen says how many reviews are due."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

from tutor.lessons.catalog import find_lesson, load_lessons
from tutor.lessons.live import StepContext
from tutor.lessons.quiz import QuizSession
from tutor.lessons.review import ReviewQueue, fresh_item
from tutor.lessons.run import start
from tutor.storage.progress import ProgressStore
from tutor.ui.app import TutorApp
from tutor.ui.screens.home import HomeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.quiz import QuizScreen
from tutor.ui.screens.review import ReviewScreen

from tests.tutor.ui.tools import quiz_ready

LESSONS, _ = load_lessons()
CHAIN_RULE = find_lesson("3", LESSONS)


def words(text: str) -> str:
    """The question without its numbers."""
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "#", text)


async def wait_for_quiz(pilot, app) -> QuizScreen:
    for _ in range(100):
        if isinstance(app.screen, QuizScreen):
            await quiz_ready(pilot, app.screen)
            return app.screen
        await pilot.pause(0.05)
    raise AssertionError("no quiz opened")


def test_a_wrong_answer_comes_back_on_fresh_numbers_until_right_twice(tmp_path):
    store = ProgressStore(tmp_path)
    seen = {}

    async def lesson():
        app = TutorApp(lambda: LessonScreen(start(CHAIN_RULE), store))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("c")
            quiz = await wait_for_quiz(pilot, app)
            seen["id"], seen["prompt"] = quiz.session.quiz.id, quiz.session.prompt_text()
            seen["answer"] = quiz.session.expected
            await pilot.press(*str(quiz.session.expected + 1))  # wrong
            await pilot.press("enter", "f3")  # then give up
            await pilot.pause()
            assert quiz.session.result.result == "wrong"

    asyncio.run(lesson())
    assert ProgressStore(tmp_path).due_reviews() == [(CHAIN_RULE.id, seen["id"], 0)]

    async def review(seed):
        store = ProgressStore(tmp_path)
        queue = ReviewQueue(LESSONS, store.due_reviews(), np.random.default_rng(seed))
        item = queue.next_item()
        app = TutorApp(lambda: ReviewScreen(queue, item, store), replaceable=True)  # as `tutor review`
        async with app.run_test(size=(120, 40)) as pilot:
            quiz = await wait_for_quiz(pilot, app)
            session = quiz.session
            assert session.quiz.id == seen["id"]
            assert words(session.prompt_text()) == words(seen["prompt"])  # the same question
            assert session.prompt_text() != seen["prompt"]  # on other numbers
            assert session.expected != seen["answer"]
            review_screen = app.screen_stack[-2]
            assert "review 1/1" in review_screen.status_extra()
            await pilot.press(*f"{session.expected:.8g}", "enter")
            await pilot.pause()
            assert session.state == "correct"
            await pilot.press("enter")  # close the quiz: the step shows the answer now
            await pilot.pause()
            assert app.screen is review_screen and "Enter: next" in review_screen.status_extra()
            await pilot.press("enter")  # no more reviews: done
            await pilot.pause()
        return app.return_code

    assert asyncio.run(review(1)) == 0
    assert ProgressStore(tmp_path).due_reviews() == [(CHAIN_RULE.id, seen["id"], 1)]
    asyncio.run(review(2))
    assert ProgressStore(tmp_path).due_reviews() == []


def test_the_home_screen_counts_the_reviews_due_and_v_starts_them(tmp_path):
    store = ProgressStore(tmp_path)
    from tutor.lessons.quiz import QuizResult
    for quiz in CHAIN_RULE.quizzes[:2]:
        store.record_quiz(CHAIN_RULE.id, quiz.id, QuizResult("skipped", 0, 0, 1.0))

    async def go():
        app = TutorApp(lambda: HomeScreen(LESSONS, store))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert "2 reviews due (v)" in str(app.screen.query_one("#home-info").content)
            await pilot.press("v")
            await wait_for_quiz(pilot, app)
            assert isinstance(app.screen_stack[-2], ReviewScreen)
            await pilot.press("escape")  # later
            await pilot.pause()
            await pilot.press("escape")  # stop reviewing: back to the list
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    asyncio.run(go())


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_every_quiz_can_be_asked_again_and_most_on_fresh_numbers(lesson):
    rng = np.random.default_rng(0)
    fresh = 0
    for quiz in lesson.quizzes:
        item = fresh_item(lesson, quiz, rng)
        session = QuizSession(quiz, StepContext(item.run.timeline, item.position))
        assert session.prompt_text() and session.expected is not None
        fresh += item.fresh
    assert fresh >= len(lesson.quizzes) // 2


def test_tutor_review_goes_on_to_the_next_item_and_the_first_screen_is_the_base(tmp_path,
                                                                                monkeypatch):
    """`tutor review` opens its first item over Textual's blank screen, so that the next
    item can take its place (Textual cannot switch a base screen); every other first
    screen is the app's base itself (no blank screen built, styled and swapped first)."""
    import tutor.ui.app
    from tutor.cli import main
    from tutor.lessons.quiz import QuizResult

    store = ProgressStore(tmp_path)
    for quiz in CHAIN_RULE.quizzes[:2]:
        store.record_quiz(CHAIN_RULE.id, quiz.id, QuizResult("skipped", 0, 0, 1.0))
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    apps = []
    monkeypatch.setattr(tutor.ui.app, "run_app", lambda app: apps.append(app) or 0)
    assert main(["review", "--seed", "1"]) == 0

    async def two_items():
        app = apps[0]
        async with app.run_test(size=(120, 40)) as pilot:
            first = await wait_for_quiz(pilot, app)
            review = app.screen_stack[-2]
            await pilot.press("f3")  # reveal (a skip)
            await pilot.press("enter")  # close the quiz
            await pilot.pause()
            await pilot.press("enter")  # the next review
            second = await wait_for_quiz(pilot, app)
            return (first.session.quiz.id, second.session.quiz.id, review,
                    app.screen_stack[-2], len(app.screen_stack), app.crash)

    one, two, review, next_review, depth, crash = asyncio.run(two_items())
    assert crash is None and one != two
    assert isinstance(next_review, ReviewScreen) and next_review is not review
    assert depth == 3  # the blank screen, the review, its quiz

    async def base():
        app = TutorApp(lambda: HomeScreen(LESSONS, store))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            return [type(screen) for screen in app.screen_stack]

    assert asyncio.run(base()) == [HomeScreen]
