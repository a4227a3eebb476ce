"""A quiz about the numbers in front of the learner, as a small state machine (no UI).

The expected answer is not stored in the lesson: the lesson holds an expression
(``contribution(0)[0, 2]``) and ``QuizSession`` evaluates it at the quiz's step of
the real run, so the quiz always matches the numbers on screen. ``submit`` grades
a typed answer; text that cannot be read is "try again", not a wrong attempt.

States: open → correct (right answer) | skipped (gave up with no wrong attempt) |
wrong (gave up after wrong attempts, or ran out of ``max_attempts``).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from engine.ops.base import fmt

from tutor.lessons.answers import (DEFAULT_ABS_TOLERANCE, DEFAULT_REL_TOLERANCE, KINDS, grade,
                                   number_matches)
from engine.expr import ExpressionError, evaluate
from tutor.lessons.live import DisplayedContext, format_value, render
from tutor.lessons.catalog import Mistake, Quiz  # noqa: F401 (the quiz's data, from its lesson)
from tutor.views.secret import Secret

RESULTS = ("correct", "correct_after_hints", "skipped", "wrong")


def expected_answer(quiz: Quiz, ctx):
    """The right answer at the quiz's step, checked to be of the quiz's kind.

    number → float; shape → tuple of ints; choice → 0-based int; elements →
    frozenset of index tuples. Raises ``ExpressionError`` (the validator reports it).
    """
    return answer_value(quiz, quiz.answer, ctx)


def answer_value(quiz: Quiz, answer: str | int, ctx):
    """``answer`` (the quiz's or one of its mistakes') evaluated at the step, as the kind."""
    if quiz.kind not in KINDS:
        raise ExpressionError(f"unknown quiz kind {quiz.kind!r}")
    if quiz.kind == "choice" and isinstance(answer, int) and not isinstance(answer, bool):
        value = float(answer)
    else:
        value = evaluate(str(answer), ctx)
    return as_kind(quiz.kind, value, len(quiz.choices))


def same_answer(quiz: Quiz, given, expected, **options) -> bool:
    """Would ``given`` be graded as ``expected``? (numbers within the quiz's tolerance)"""
    if quiz.kind == "number":
        return number_matches(given, expected, **(options or quiz.grading_options))
    return given == expected


def as_kind(kind: str, value, n_choices: int = 0):
    """``value`` as an answer of ``kind``, or ``ExpressionError`` saying what it is instead."""
    what = describe(value)
    if kind == "number":
        if isinstance(value, np.ndarray) and value.size == 1:
            value = float(value.reshape(()))
        if not isinstance(value, float):
            raise ExpressionError(f"a number quiz needs one number, but the answer is {what}")
        if not math.isfinite(value):
            raise ExpressionError(f"the answer is {fmt(value)}, not a finite number")
        return value
    if kind == "shape":
        if not isinstance(value, tuple):
            raise ExpressionError(f"a shape quiz needs a shape like shape(value(x)), but the "
                                  f"answer is {what}")
        return value
    if kind == "elements":
        if not isinstance(value, frozenset):
            raise ExpressionError(f"an elements quiz needs a set of positions like "
                                  f"zeros(value(x)), but the answer is {what}")
        return value
    if not isinstance(value, float) or value != int(value):
        raise ExpressionError(f"a choice quiz needs the 0-based index of the right choice, but "
                              f"the answer is {what}")
    if not 0 <= value < n_choices:
        raise ExpressionError(f"the answer is choice {int(value)} but there are {n_choices} "
                              f"choices (0-based: 0..{n_choices - 1})")
    return int(value)


def describe(value) -> str:
    if isinstance(value, float):
        return f"the number {fmt(value)}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {tuple(value.shape)}"
    if isinstance(value, tuple):
        return f"the shape {value}"
    if isinstance(value, frozenset):
        return "a set of positions"
    return type(value).__name__


def secret_of(session: "QuizSession") -> Secret:
    """What the quiz asks, to hide until it is answered: any number graded right; for a
    shape, that shape and the tensors it is read from; for positions, those tensors."""
    quiz, expected = session.quiz, session.expected
    if quiz.kind == "number":
        options = session.options
        return Secret(accepts=lambda x: same_answer(quiz, x, expected, **options))
    if quiz.kind == "choice" or not isinstance(quiz.answer, str):
        return Secret()
    keys, tensors = session.ctx.panels_read(quiz.answer)
    return Secret(shape=expected if quiz.kind == "shape" else None, keys=keys, tensors=tensors)


@dataclass(frozen=True)
class Feedback:
    """What to tell the learner after ``submit``: ``status`` is ``right``, ``wrong``
    or ``unreadable`` (not counted as an attempt)."""

    status: str
    message: str
    attempts: int
    finished: bool

    @property
    def right(self) -> bool:
        return self.status == "right"


@dataclass(frozen=True)
class QuizResult:
    """How a quiz ended: one of ``RESULTS``, readable attempts, hints shown, seconds."""

    result: str
    attempts: int
    hints: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def display_slack(quiz: Quiz, ctx, expected: float) -> float:
    """How far an answer worked from the numbers on screen (rounded as panels and text
    lines print them) can fall from the exact one: ``Σ`` of displayed entries that are
    exactly 0 in sum can add up to −0.00005, say."""
    slack = 0.0
    for panel in (False, True):
        try:
            value = as_kind("number", evaluate(str(quiz.answer), DisplayedContext(ctx, panel)))
        except ExpressionError:
            continue
        slack = max(slack, abs(value - expected))
    return slack


def grading_options(quiz: Quiz, ctx, expected) -> dict:
    """The quiz's tolerances, widened to admit an answer computed from the displayed
    numbers (twice the rounding it can carry)."""
    options = dict(quiz.grading_options)
    if quiz.kind != "number":
        return options
    slack = 2.0 * display_slack(quiz, ctx, expected)
    if options["tolerance"] is None and options["rel_tolerance"] is None:
        options["tolerance"], options["rel_tolerance"] = (DEFAULT_ABS_TOLERANCE,
                                                          DEFAULT_REL_TOLERANCE)
    options["tolerance"] = max(options["tolerance"] or 0.0, slack)
    return options


class QuizSession:
    """One learner working through one quiz at its step (``ctx`` is a ``StepContext``).

    Choices are shown in an order shuffled per session (``rng``): ``choice_lines`` and the
    letters typed follow that order, ``expected`` stays the lesson's 0-based index. A wrong
    answer that is one of the quiz's ``mistakes`` gets that mistake's feedback."""

    def __init__(self, quiz: Quiz, ctx, max_attempts: int | None = None,
                 clock=time.monotonic, rng: random.Random | None = None):
        self.quiz = quiz
        self.ctx = ctx
        self.expected = expected_answer(quiz, ctx)
        self.options = grading_options(quiz, ctx, self.expected)
        self.order = list(range(len(quiz.choices)))
        (rng or random.Random()).shuffle(self.order)
        self.mistakes = self._mistakes()
        self.max_attempts = max_attempts
        self.attempts = 0
        self.answers: list[str] = []  # what the learner typed, readable answers in order
        self.hints_used = 0
        self.state = "open"
        self._clock = clock
        self._started = clock()
        self._seconds: float | None = None

    # what to show -------------------------------------------------------------------
    def prompt_text(self) -> str:
        return render(self.quiz.prompt, self.ctx)

    def _mistakes(self) -> list[tuple[object, str]]:
        """Each mistake's value here, leaving out any that cannot be computed on this run
        or that the quiz would grade as right."""
        found = []
        for mistake in self.quiz.mistakes:
            try:
                value = answer_value(self.quiz, mistake.answer, self.ctx)
            except ExpressionError:
                continue
            if not same_answer(self.quiz, value, self.expected, **self.options):
                found.append((value, mistake.feedback))
        return found

    def shown_choices(self) -> list[str]:
        """The choices in the order shown, live numbers filled in."""
        return [render(self.quiz.choices[i], self.ctx) for i in self.order]

    def choice_lines(self) -> list[str]:
        """``a) first choice`` … as shown to the learner (choice quizzes)."""
        return [f"{letter}) {choice}"
                for letter, choice in zip("abcdefghijklmnopqrstuvwxyz", self.shown_choices())]

    def expected_text(self) -> str:
        """The right answer as the screen prints it."""
        if self.quiz.kind == "choice":
            return self.choice_lines()[self.order.index(self.expected)]
        return format_value(self.expected)

    def hint(self) -> str | None:
        """The next hint (each call shows one more), or None when there are no more."""
        if self.hints_used >= len(self.quiz.hints):
            return None
        text = render(self.quiz.hints[self.hints_used], self.ctx)
        self.hints_used += 1
        return text

    @property
    def hints_left(self) -> int:
        return len(self.quiz.hints) - self.hints_used

    def explanation(self) -> str:
        """The lesson's ``explain``, with the same live numbers and ``{answer}``."""
        answer = float(self.expected) if self.quiz.kind == "choice" else self.expected
        return render(self.quiz.explain, self.ctx, answer=answer)

    # answering ------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.state != "open"

    def submit(self, text: str) -> Feedback:
        if self.finished:
            raise RuntimeError(f"quiz {self.quiz.id!r} is already finished ({self.state})")
        if self.quiz.kind == "choice":
            result = grade("choice", text, self.order.index(self.expected),
                           choices=self.shown_choices())
            if result.readable:
                result = replace(result, parsed=self.order[result.parsed])
        else:
            result = grade(self.quiz.kind, text, self.expected, **self.options)
        if not result.readable:
            return Feedback("unreadable", result.message, self.attempts, False)
        self.attempts += 1
        self.answers.append(" ".join(text.split()))
        if result.correct:
            self._finish("correct")
            return Feedback("right", f"Right: {self.expected_text()}.", self.attempts, True)
        message = self._wrong_message(text, result.parsed)
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            self._finish("wrong")
            return Feedback("wrong", f"{message} The answer is {self.expected_text()}.",
                            self.attempts, True)
        more = " or ask for a hint" if self.hints_left else ""
        return Feedback("wrong", f"{message} Try again{more}.", self.attempts, False)

    def _wrong_message(self, text: str, parsed) -> str:
        """A listed mistake's own feedback first; else what can be said in general."""
        kind = self.quiz.kind
        said = self._said(text, parsed)
        for value, feedback in self.mistakes:
            if same_answer(self.quiz, parsed, value, **self.options):
                return f"Not quite: {said}. {render(feedback, self.ctx)}"
        if kind == "number":
            if self.expected != 0 and number_matches(-parsed, self.expected, **self.options):
                return f"Not quite: {said} has the right size but the wrong sign."
            return f"Not quite: {said} is not it."
        if kind == "choice":
            return f"Not quite: {said} is not it."
        if kind == "shape":
            return f"Not quite: the shape is not {format_value(parsed)}."
        return f"Not quite: {format_value(parsed)} is not the right set of positions."

    def _said(self, text: str, parsed) -> str:
        """The learner's answer, as read: ``1/4 = 0.25``, ``b) …``, ``(2, 3)``."""
        if self.quiz.kind == "number":
            shown = fmt(parsed)
            typed = " ".join(text.split())
            return shown if typed == shown else f"{typed} = {shown}"
        if self.quiz.kind == "choice":
            return self.choice_lines()[self.order.index(parsed)]
        return format_value(parsed)

    def skip(self) -> None:
        """Give up: ``skipped`` if nothing was tried, ``wrong`` after wrong attempts."""
        if not self.finished:
            self._finish("skipped" if self.attempts == 0 else "wrong")

    def _finish(self, state: str) -> None:
        self.state = state
        self._seconds = max(0.0, self._clock() - self._started)

    @property
    def result(self) -> QuizResult | None:
        """None while the quiz is open."""
        if not self.finished:
            return None
        result = self.state
        if result == "correct" and self.hints_used:
            result = "correct_after_hints"
        return QuizResult(result, self.attempts, self.hints_used, round(self._seconds, 3))
