"""Lessons checked against a real run: each scenario built and every selector, template
and answer evaluated where it will be shown — a quiz's at its step, a section's at every
step it covers — so a lesson that passes cannot fail in front of a learner
(``tutor lessons --check``). Reading a lesson file, and its structure, is
``tutor.lessons.catalog``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.expr import ExpressionError, did_you_mean
from tutor.lessons import catalog
from tutor.lessons.catalog import (Lesson, Problem, Quiz, Selector, display_name, lesson_files,
                                   load_lessons)
from tutor.lessons.live import StepContext, format_value, render
from tutor.lessons.quiz import answer_value, expected_answer, same_answer

__all__ = ["Report", "check_lessons", "validate", "build_for_check", "check_against_run"]


@dataclass
class Report:
    """What ``check_lessons`` found: the sound lessons, problems and notes."""

    lessons: list[Lesson] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0

    @property
    def quiz_count(self) -> int:
        return sum(len(item.quizzes) for item in self.lessons)


def check_lessons(directory=None, weights_resolver=None) -> Report:
    """``load_lessons`` plus, for each lesson, its scenario built and every selector,
    template and answer evaluated at its step (``validate`` returns the problems)."""
    directory = catalog.default_lessons_dir() if directory is None else directory
    if isinstance(directory, str):
        directory = Path(directory)
    lessons, problems = load_lessons(directory)
    report = Report(lessons, problems)
    if directory.is_dir():
        report.files = len(lesson_files(directory))
        if report.files == 0:
            report.problems.append(Problem(str(directory), "", "no lesson files (NN-slug.toml) "
                                           "in this folder"))
    for lesson in lessons:
        display = display_name(directory, lesson.path.name)
        report.problems += check_against_run(lesson, display, weights_resolver, report.notes)
    report.problems.sort(key=lambda p: p.file)  # stable: each file's problems stay in order
    return report


def validate(directory=None, weights_resolver=None) -> list[Problem]:
    """Every problem of every lesson file in ``directory``, structural and live."""
    return check_lessons(directory, weights_resolver).problems


def _missing_weights_resolver(weights_resolver, missing: list):
    def resolve(task):
        path = weights_resolver(task) if weights_resolver is not None else None
        if path is None:
            missing.append(task)
        return path
    return resolve


def build_for_check(lesson: Lesson, display: str, weights_resolver, notes: list):
    """The lesson's scenario; trained weights that are not there yet are replaced by
    random ones of the same architecture (the check is about names and types)."""
    from tutor.lessons.scenarios import ScenarioError, build_scenario
    missing: list[str] = []
    spec = dict(lesson.scenario)
    try:
        return build_scenario(spec, _missing_weights_resolver(weights_resolver, missing))
    except ScenarioError:
        if not missing:
            raise
    notes.append(f"{display}: no trained weights for {missing[0]!r} here; checked with random "
                 f"weights (run `tutor train --task {missing[0]}` to check with trained ones)")
    spec["weights"] = "random"
    return build_scenario(spec, None)


def check_against_run(lesson: Lesson, display: str, weights_resolver=None,
                      notes: list | None = None) -> list[Problem]:
    """Build the scenario and check every selector, template and answer on the run."""
    from tutor.lessons.scenarios import ScenarioError
    notes = [] if notes is None else notes
    problems: list[Problem] = []
    try:
        scenario = build_for_check(lesson, display, weights_resolver, notes)
        timeline = scenario.timeline()
    except ScenarioError as error:
        message = str(error)
        if message.startswith(error.field + ": "):
            message = message[len(error.field) + 2:]
        return [Problem(display, error.field, message)]
    except (ValueError, TypeError, ArithmeticError) as error:
        return [Problem(display, "scenario", f"the engine could not build it: {error}")]
    placements = lesson.placements(timeline)
    for i, section in enumerate(lesson.sections):
        where = f"section[{i}]"
        first = placements.first_step_of_section(i)
        matched = next((s.index for s in timeline.steps if section.selector.matches(s)), None)
        if matched is None:
            problems.append(Problem(display, f"{where}.at", _no_match(section.selector, timeline)))
            continue
        if first is None:
            problems.append(Problem(display, f"{where}.at", "every step it matches is taken by "
                                    "a later section, so it is never shown"))
            continue
        shown = [p for p, index in enumerate(placements.section_of) if index == i]
        for position in shown:  # the text is re-rendered at every step it is shown on
            if not _render_check(problems, display, f"{where}.text", section.text,
                                 StepContext(timeline, position)):
                break
    if lesson.sections and placements.section_of[0] is None:
        first = timeline.steps[0]
        problems.append(Problem(display, "section", f"no section covers the first step "
                                f"({first.phase}:{first.name}); add an opening section with "
                                "at = \"forward:*\""))
    for i, quiz in enumerate(lesson.quizzes):
        where = f"quiz[{i}]"
        position = placements.quiz_steps.get(quiz.id)
        if position is None:
            problems.append(Problem(display, f"{where}.at",
                                    _no_match(Selector.parse(quiz.at), timeline)))
            continue
        ctx = StepContext(timeline, position)
        try:
            answer = expected_answer(quiz, ctx)
        except ExpressionError as error:
            problems.append(Problem(display, f"{where}.answer", f"at step {ctx.where}: "
                                    f"{error.message}"))
            answer = None
        _render_check(problems, display, f"{where}.prompt", quiz.prompt, ctx)
        for j, choice in enumerate(quiz.choices):
            _render_check(problems, display, f"{where}.choices[{j}]", choice, ctx)
        for j, hint in enumerate(quiz.hints):
            _render_check(problems, display, f"{where}.hints[{j}]", hint, ctx)
        if answer is not None:
            shown = float(answer) if quiz.kind == "choice" else answer
            _render_check(problems, display, f"{where}.explain", quiz.explain, ctx, shown)
        for j, mistake in enumerate(quiz.mistakes):
            _check_mistake(problems, display, f"{where}.mistakes[{j}]", quiz, mistake, ctx,
                           answer)
        if quiz.kind == "choice" and answer is not None:
            warning = longest_choice_warning(quiz, answer, ctx)
            if warning:
                notes.append(f"{display}: {where} ({quiz.id}): {warning}")
    return problems


GUESSABLE_LENGTH = 1.2  # the right choice this much longer than every other gives it away


def longest_choice_warning(quiz: Quiz, answer: int, ctx) -> str | None:
    """A warning when the right choice is by far the longest: learners pick it unread."""
    try:
        lengths = [len(render(choice, ctx)) for choice in quiz.choices]
    except ExpressionError:
        return None
    others = [n for i, n in enumerate(lengths) if i != answer]
    if others and lengths[answer] > GUESSABLE_LENGTH * max(others) \
            and lengths[answer] - max(others) >= 8:
        return (f"the right choice is the longest ({lengths[answer]} characters, the next "
                f"{max(others)}): a learner can pick it without reading; make the options of "
                "similar length")
    return None


def _check_mistake(problems, display, where, quiz, mistake, ctx, answer) -> None:
    """A mistake evaluates at the step, is of the quiz's kind, and is not graded right."""
    _render_check(problems, display, f"{where}.feedback", mistake.feedback, ctx)
    try:
        wrong = answer_value(quiz, mistake.answer, ctx)
    except ExpressionError as error:
        problems.append(Problem(display, f"{where}.answer", f"at step {ctx.where}: "
                                f"{error.message}"))
        return
    if answer is not None and same_answer(quiz, wrong, answer):
        problems.append(Problem(display, f"{where}.answer", f"at step {ctx.where} it is "
                                f"{format_value(wrong)}, which the quiz grades as right"))


def _render_check(problems, display, where, template, ctx, answer=None) -> bool:
    """Render once; on failure add the problem and return False."""
    try:
        render(template, ctx, answer=answer)
    except ExpressionError as error:
        problems.append(Problem(display, where, f"at step {ctx.where}: {error.message}"))
        return False
    return True


def _no_match(selector: Selector, timeline) -> str:
    names = list(dict.fromkeys(s.name for s in timeline.steps if s.phase == selector.phase))
    if not names:
        extra = " (set lr in [scenario] to get one)" if selector.phase == "update" else ""
        return f"no step matches {str(selector)!r}: this run has no {selector.phase} phase{extra}"
    hint = did_you_mean(selector.pattern, names, 0.5, most=3, prefix=f"{selector.phase}:")
    if not hint:
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        hint = f" ({selector.phase} steps: {shown})"
    return f"no step matches {str(selector)!r}{hint}"
