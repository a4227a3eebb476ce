"""The shipped curriculum: every lesson validates against its real run, the lessons are
numbered 1, 2, 3 … without gaps, and each one teaches with at least three quizzes and
an opening section at its first step.

``MIN_LESSONS`` is the size of the curriculum so far; raise it as lessons land (the plan
is 14).
"""

from __future__ import annotations

import pytest

from tutor.lessons.catalog import lesson_files, load_lessons
from tutor.lessons.lesson_check import build_for_check, check_lessons

MIN_LESSONS = 14
MIN_QUIZZES = 3

REPORT = check_lessons()
LESSONS = load_lessons()[0]


def test_every_shipped_lesson_validates():
    """Structure, selectors, templates and answers, all checked on the built run."""
    assert [str(p) for p in REPORT.problems] == []
    assert REPORT.files == len(REPORT.lessons) == len(LESSONS)


def test_the_lessons_are_numbered_one_to_n_in_order():
    numbers = [lesson.number for lesson in LESSONS]
    assert len(numbers) >= MIN_LESSONS
    assert numbers == list(range(1, len(numbers) + 1))
    assert [lesson.path.name for lesson in LESSONS] == \
        [f.name for f in lesson_files(LESSONS[0].path.parent)]


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_each_lesson_has_quizzes_and_an_opening(lesson):
    assert len(lesson.quizzes) >= MIN_QUIZZES, f"{lesson.id}: {len(lesson.quizzes)} quizzes"
    assert lesson.sections and lesson.sections[0].at == "forward:*", \
        f"{lesson.id}: the first section should open the lesson at forward:*"
    timeline = build_for_check(lesson, lesson.id, None, []).timeline()
    placed = lesson.placements(timeline)
    assert placed.section_of[0] is not None
    assert set(placed.quiz_steps) == {q.id for q in lesson.quizzes}


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_each_lesson_mixes_quiz_kinds(lesson):
    """At least two kinds of question per lesson (numbers, shapes, choices, positions)."""
    assert len({q.kind for q in lesson.quizzes}) >= 2, lesson.id

