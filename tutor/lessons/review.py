"""Practice on fresh numbers: a quiz asked again on the same lesson with other inputs.

A quiz is an expression over the live run, so it can be asked on any run of its
lesson's scenario. ``fresh_run`` builds one with other numbers — an expression
scenario's inputs moved a little, any other kind on another seed (and a trained model
on another source sequence) — and checks that the quiz can be asked there: its step
exists, its prompt and answer compute, and a number's answer is not the one the
learner saw before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from engine.expr import ExpressionError
from tutor.lessons.catalog import Lesson
from tutor.lessons.live import StepContext, render
from tutor.lessons.quiz import Quiz, expected_answer
from tutor.lessons.run import LessonRun, start
from tutor.lessons.scenario_spec import ScenarioError

ATTEMPTS = 24  # variations tried before a quiz is asked on the lesson's own numbers


@dataclass
class ReviewItem:
    """One quiz to practise, ready on a run of its own."""

    lesson: Lesson
    quiz: Quiz
    run: LessonRun
    position: int
    fresh: bool  # False: no variation could ask it, so it is asked on the lesson's numbers


def varied_scenario(spec: dict, rng: np.random.Generator) -> dict:
    """The lesson's scenario table with other numbers, the same structure."""
    new = dict(spec)
    if spec.get("kind") == "expression":
        new["inputs"] = {name: _vary(value, rng) for name, value in spec.get("inputs", {}).items()}
        return new
    new["seed"] = int(rng.integers(1, 2 ** 31))
    trained = isinstance(spec.get("weights"), str) and spec["weights"].startswith("trained:")
    if isinstance(spec.get("src"), list) and trained:
        new["src"] = [int(t) for t in rng.integers(0, 10, size=len(spec["src"]))]
        new.pop("tgt", None)  # the task's answer for the new source
    return new


def _vary(value, rng: np.random.Generator):
    """A nearby number: integers stay integers (moved by 1 or 2), others are scaled."""
    if isinstance(value, list):
        return [_vary(v, rng) for v in value]
    value = float(value)
    if value == 0.0:
        return value  # a zero is usually the point (a bias at 0, a masked entry)
    if value.is_integer():
        moves = [m for m in (-2, -1, 1, 2) if value + m != 0]
        return value + float(rng.choice(moves))
    return round(value * float(rng.uniform(0.6, 1.4)), 3)


def fresh_item(lesson: Lesson, quiz: Quiz, rng: np.random.Generator | None = None,
               attempts: int = ATTEMPTS) -> ReviewItem:
    """The quiz on a run with fresh numbers (raises ``ScenarioError`` when even the
    lesson's own scenario cannot be built, e.g. trained weights that are missing)."""
    rng = rng if rng is not None else np.random.default_rng()
    own = start(lesson)
    own_position = own.placements.quiz_steps.get(quiz.id)
    before = _answer(quiz, own, own_position)
    for _ in range(attempts):
        varied = replace(lesson, scenario=varied_scenario(lesson.scenario, rng))
        try:
            run = start(varied)
        except (ScenarioError, ValueError, ArithmeticError, FloatingPointError):
            continue
        position = run.placements.quiz_steps.get(quiz.id)
        answer = _answer(quiz, run, position)
        if answer is None or (quiz.kind == "number" and before is not None and (
                math.isclose(answer, before, rel_tol=1e-6, abs_tol=1e-12)
                or (answer == 0) != (before == 0))):  # new numbers, not a degenerate case
            continue
        return ReviewItem(lesson, quiz, run, position, True)
    if own_position is None:
        raise ScenarioError("quiz", f"{quiz.id!r} has no step in lesson {lesson.number}")
    return ReviewItem(lesson, quiz, own, own_position, False)


def _answer(quiz: Quiz, run: LessonRun, position: int | None):
    """The quiz's answer on ``run`` (None if it cannot be asked there)."""
    if position is None:
        return None
    ctx = StepContext(run.timeline, position)
    try:
        value = expected_answer(quiz, ctx)
        render(quiz.prompt, ctx)
        for hint in quiz.hints:
            render(hint, ctx)
    except ExpressionError:
        return None
    if quiz.kind == "number" and not math.isfinite(value):
        return None
    return value


class ReviewQueue:
    """The quizzes due for review, each made ready on fresh numbers when its turn comes.

    ``due`` holds ``(lesson id, quiz id, right so far)`` (``ProgressStore.due_reviews``);
    entries whose lesson or quiz no longer exists, or whose scenario cannot be built here,
    are passed over and named in ``skipped``."""

    def __init__(self, lessons: list[Lesson], due: list[tuple[str, str, int]],
                 rng: np.random.Generator | None = None):
        by_id = {lesson.id: lesson for lesson in lessons}
        self.entries = []
        self.skipped: list[str] = []
        for lesson_id, quiz_id, streak in due:
            lesson = by_id.get(lesson_id)
            quiz = next((q for q in lesson.quizzes if q.id == quiz_id), None) if lesson else None
            if quiz is None:
                self.skipped.append(f"{lesson_id}: {quiz_id} (no longer in the lessons)")
            else:
                self.entries.append((lesson, quiz, streak))
        self.rng = rng if rng is not None else np.random.default_rng()
        self.index = -1

    def __len__(self) -> int:
        return len(self.entries)

    def next_item(self) -> ReviewItem | None:
        """The next quiz, ready to ask (None when there are no more)."""
        while self.index + 1 < len(self.entries):
            self.index += 1
            lesson, quiz, _ = self.entries[self.index]
            try:
                return fresh_item(lesson, quiz, self.rng)
            except (ScenarioError, ValueError) as error:
                self.skipped.append(f"{lesson.id}: {quiz.id} ({error})")
        return None

    @property
    def streak(self) -> int:
        """Right answers in a row so far for the current quiz (before this review)."""
        return self.entries[self.index][2] if 0 <= self.index < len(self.entries) else 0


def due_queue(due: list[tuple[str, str, int]], seed: int | None = None) -> ReviewQueue:
    """A queue over the shipped lessons for ``due`` (``ProgressStore.due_reviews()``)."""
    from tutor.lessons.catalog import load_lessons
    from tutor.storage.paths import lesson_cache

    lessons, _problems = load_lessons(cache=lesson_cache())
    return ReviewQueue(lessons, due, np.random.default_rng(seed))
