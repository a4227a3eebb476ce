"""Quizzes that make the learner think, checked over every shipped lesson:

- every listed mistake evaluates at the quiz's step on the live run, is of the quiz's
  kind, and is *not* graded as the right answer (what ``tutor lessons --check`` checks,
  asserted here for all lessons at once); its feedback renders, and every number in the
  feedback, and every mistake's value, is the one PyTorch computes on the same run;
- every number, shape and elements quiz lists one to three mistakes, and every choice
  quiz names the tempting wrong options it lists;
- hints lead, never dictate: no hint prints the answer (a number within the quiz's
  tolerance), and a quiz has at most two hints;
- no choice quiz gives itself away by length: the right option is not the longest by
  more than a third (or ten characters).
"""

from __future__ import annotations

import numpy as np
import pytest

from tutor.lessons.catalog import load_lessons
from tutor.lessons.live import render
from tutor.lessons.quiz import answer_value, expected_answer, same_answer
from tests.tutor.lessons.test_lesson_answers import (built, close, same_numbers,
                                                     template_values)
from engine.expr import evaluate

LESSONS = load_lessons()[0]
CASES = [(lesson.id, quiz.id) for lesson in LESSONS for quiz in lesson.quizzes]


def quiz_at(lesson_id: str, quiz_id: str):
    b = built(lesson_id)
    quiz = b.lesson.quiz(quiz_id)
    return b, quiz, b.placements.quiz_steps[quiz_id]


@pytest.mark.parametrize("lesson_id, quiz_id", CASES, ids=[f"{a}:{b}" for a, b in CASES])
def test_every_mistake_is_live_and_differs_from_the_answer(lesson_id, quiz_id):
    b, quiz, position = quiz_at(lesson_id, quiz_id)
    ctx = b.engine(position)
    right = expected_answer(quiz, ctx)
    for mistake in quiz.mistakes:
        wrong = answer_value(quiz, mistake.answer, ctx)
        assert not same_answer(quiz, wrong, right), (quiz_id, mistake.answer, wrong, right)
        assert render(mistake.feedback, ctx).strip()


@pytest.mark.parametrize("lesson_id, quiz_id", CASES, ids=[f"{a}:{b}" for a, b in CASES])
def test_mistakes_and_their_feedback_are_torchs_numbers(lesson_id, quiz_id):
    """The same expressions evaluated where every number comes from PyTorch."""
    b, quiz, position = quiz_at(lesson_id, quiz_id)
    engine_ctx, torch_ctx = b.engine(position), b.torch(position)
    for mistake in quiz.mistakes:
        assert same_numbers(mistake.feedback, engine_ctx, torch_ctx), mistake.feedback
        if isinstance(mistake.answer, str):
            ours = evaluate(mistake.answer, engine_ctx)
            theirs = evaluate(mistake.answer, torch_ctx)
            assert close(ours, theirs), (mistake.answer, ours, theirs)


@pytest.mark.parametrize("lesson_id, quiz_id", CASES, ids=[f"{a}:{b}" for a, b in CASES])
def test_each_quiz_lists_the_mistakes_learners_make(lesson_id, quiz_id):
    _, quiz, _ = quiz_at(lesson_id, quiz_id)
    assert 1 <= len(quiz.mistakes) <= 3, (quiz_id, len(quiz.mistakes))
    if quiz.kind == "choice":
        right = quiz.answer if isinstance(quiz.answer, int) else None
        fixed = [m.answer for m in quiz.mistakes if isinstance(m.answer, int)]
        assert right not in fixed
        assert all(0 <= i < len(quiz.choices) for i in fixed)


@pytest.mark.parametrize("lesson_id, quiz_id", CASES, ids=[f"{a}:{b}" for a, b in CASES])
def test_hints_lead_and_never_print_the_answer(lesson_id, quiz_id):
    b, quiz, position = quiz_at(lesson_id, quiz_id)
    ctx = b.engine(position)
    assert 1 <= len(quiz.hints) <= 2
    right = expected_answer(quiz, ctx)
    for hint in quiz.hints:
        assert render(hint, ctx).strip()
        if quiz.kind == "number":  # no live number of a hint is the answer (rules may say 0 or 1)
            for value in template_values(hint, ctx):
                if np.ndim(value) == 0:
                    assert not same_answer(quiz, float(value), right), (quiz_id, hint)


@pytest.mark.parametrize("lesson_id, quiz_id",
                         [c for c in CASES if next(q for q in next(
                             x for x in LESSONS if x.id == c[0]).quizzes
                             if q.id == c[1]).kind == "choice"],
                         ids=lambda c: str(c))
def test_the_right_choice_is_not_the_longest_by_far(lesson_id, quiz_id):
    b, quiz, position = quiz_at(lesson_id, quiz_id)
    ctx = b.engine(position)
    right = int(expected_answer(quiz, ctx))
    lengths = [len(render(c, ctx)) for c in quiz.choices]
    others = max(n for i, n in enumerate(lengths) if i != right)
    assert lengths[right] <= max(1.34 * others, others + 10), (quiz_id, lengths, right)
