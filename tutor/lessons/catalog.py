"""Lessons: TOML files read into ``Lesson`` objects, and checked thoroughly.

A lesson is data (lessons/README.md is the contract): a scenario the engine
builds, prose sections and quizzes tied to steps by selectors like
``backward:relu``. ``load_lessons`` reads and checks the files' structure (fast,
no engine run); ``validate`` also builds each scenario and evaluates every
expression where it will be shown — a quiz's at its step, a section's at every
step it covers — so a lesson that passes cannot fail in front of a learner.
Every problem is reported, each naming its file and field::

    lessons/03-chain-rule.toml: quiz[2].answer: unknown name 'gard' (did you mean 'grad'?)

``quiz[i]`` and ``section[i]`` count from 0 in file order, as TOML arrays do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.expr import ExpressionError, did_you_mean
from tutor.lessons.schema import PHASES, Problem, Selector, check_lesson_table, read_toml
from tutor.lessons.live import StepContext, format_value, render
from tutor.lessons.quiz import Mistake, Quiz, answer_value, expected_answer, same_answer

__all__ = ["Lesson", "Section", "Selector", "Placements", "Problem", "Report", "LessonNotFound",
           "PHASES", "load_lessons", "load_lesson", "check_lessons", "validate", "find_lesson",
           "default_lessons_dir"]

FILE_NAME = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.toml$")


@dataclass(frozen=True)
class Section:
    """Prose shown while the cursor is on a step the selector matches."""

    at: str
    text: str
    title: str = ""

    @property
    def selector(self) -> Selector:
        return Selector.parse(self.at)


@dataclass
class Placements:
    """Where a lesson's quizzes and sections sit on one timeline.

    ``quiz_steps``: quiz id → the first step its selector matches (unplaced quizzes
    are absent); ``quizzes_at``: step → quizzes there, in file order;
    ``section_of``: step → index of the section shown there (the last matching one
    in file order) or None.
    """

    quiz_steps: dict[str, int]
    quizzes_at: dict[int, list[Quiz]]
    section_of: list[int | None]
    sections: tuple[Section, ...]

    def section_at(self, position: int) -> Section | None:
        index = self.section_of[position]
        return None if index is None else self.sections[index]

    def first_step_of_section(self, index: int) -> int | None:
        return next((p for p, s in enumerate(self.section_of) if s == index), None)


@dataclass
class Lesson:
    id: str
    number: int
    title: str
    summary: str
    tools: tuple[str, ...]
    scenario: dict
    sections: tuple[Section, ...]
    quizzes: tuple[Quiz, ...]
    path: object = None  # a Path (or an importlib.resources Traversable)

    @property
    def slug(self) -> str:
        return self.id.split("-", 1)[1] if "-" in self.id else self.id

    def quiz(self, quiz_id: str) -> Quiz:
        for q in self.quizzes:
            if q.id == quiz_id:
                return q
        raise KeyError(f"lesson {self.id} has no quiz {quiz_id!r}")

    def build(self, weights_resolver=None):
        """The lesson's scenario, built by the engine (``tutor.lessons.scenarios``)."""
        from tutor.lessons.scenarios import build_scenario
        return build_scenario(dict(self.scenario), weights_resolver)

    def placements(self, timeline) -> Placements:
        selectors = [s.selector for s in self.sections]
        section_of: list[int | None] = []
        for step in timeline.steps:
            hit = None
            for i, selector in enumerate(selectors):
                if selector.matches(step):
                    hit = i
            section_of.append(hit)
        quiz_steps: dict[str, int] = {}
        quizzes_at: dict[int, list[Quiz]] = {}
        for quiz in self.quizzes:
            selector = Selector.parse(quiz.at)
            position = next((s.index for s in timeline.steps if selector.matches(s)), None)
            if position is not None:
                quiz_steps[quiz.id] = position
                quizzes_at.setdefault(position, []).append(quiz)
        return Placements(quiz_steps, quizzes_at, section_of, self.sections)


class LessonNotFound(ValueError):
    """No lesson (or more than one) answers to what the learner typed."""


# reading ----------------------------------------------------------------------------

def default_lessons_dir():
    """The shipped lessons: package ``tutor.lesson_files`` (``lessons/`` in the repo)."""
    try:
        from importlib.resources import files
        return files("tutor.lesson_files")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "lessons"  # a source tree, not installed


def _display(directory, name: str) -> str:
    return f"{getattr(directory, 'name', '') or str(directory)}/{name}"


def lesson_files(directory) -> list:
    return sorted((f for f in directory.iterdir() if f.name.endswith(".toml") and f.is_file()),
                  key=lambda f: f.name)


def load_lesson(file, display: str | None = None) -> tuple[Lesson | None, list[Problem]]:
    """Read one file; the lesson is None when its structure has any problem."""
    display = display or _display(file.parent if hasattr(file, "parent") else "", file.name)
    problems: list[Problem] = []
    match = FILE_NAME.match(file.name)
    if not match:
        problems.append(Problem(display, "", "the file name must be NN-slug.toml, like "
                                "01-derivative.toml (two digits, then lowercase words and -)"))
    table = read_toml(file, display, problems)
    if table is None:
        return None, problems
    stem = file.name[:-len(".toml")]
    before = len(problems)
    check_lesson_table(table, stem, display, problems)
    if len(problems) > before or not match:
        return None, problems
    sections = tuple(Section(s["at"], s["text"], s.get("title", ""))
                     for s in table.get("section", []))
    quizzes = tuple(_quiz(q) for q in table.get("quiz", []))
    lesson = Lesson(table["id"], int(match.group(1)), table["title"], table["summary"],
                    tuple(table.get("tools", ())), dict(table["scenario"]), sections, quizzes,
                    file)
    return lesson, problems


def _quiz(q: dict) -> Quiz:
    mistakes = tuple(Mistake(_answer(q["kind"], m["answer"]), m["feedback"])
                     for m in q.get("mistakes", ()))
    return Quiz(q["id"], q["at"], q["kind"], q["prompt"], _answer(q["kind"], q["answer"]),
                tuple(q["hints"]), q["explain"], tuple(q.get("choices", ())), q.get("tolerance"),
                q.get("rel_tolerance"), mistakes)


def _answer(kind: str, answer):
    """A number written as a TOML number becomes the expression that reads it."""
    if kind != "choice" and isinstance(answer, (int, float)):
        return repr(float(answer))
    return answer


def load_lessons(directory=None) -> tuple[list[Lesson], list[Problem]]:
    """Every lesson in ``directory`` (default: the shipped ones) whose structure is
    sound, sorted by number, and the problems of the others."""
    directory = default_lessons_dir() if directory is None else directory
    if isinstance(directory, str):
        directory = Path(directory)
    if not directory.is_dir():
        return [], [Problem(str(directory), "", "no such folder")]
    lessons, problems = [], []
    numbers: dict[int, str] = {}
    for file in lesson_files(directory):
        display = _display(directory, file.name)
        lesson, found = load_lesson(file, display)
        problems += found
        if lesson is not None:
            lessons.append(lesson)
        match = FILE_NAME.match(file.name)
        if match:
            number, stem = int(match.group(1)), file.name[:-len(".toml")]
            if number in numbers:
                problems.append(Problem(display, "", f"lesson number {number:02d} is also used "
                                        f"by {numbers[number]}.toml; give each lesson its own"))
            numbers.setdefault(number, stem)
    return sorted(lessons, key=lambda item: (item.number, item.id)), problems


# checking against a real run ---------------------------------------------------------

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
    directory = default_lessons_dir() if directory is None else directory
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
        display = _display(directory, lesson.path.name)
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


# finding a lesson by what the learner typed ---------------------------------------------

def find_lesson(query: str, lessons: list[Lesson]) -> Lesson:
    """``3``, ``03``, ``03-chain-rule``, ``chain-rule`` or a unique start of the name."""
    q = str(query).strip().lower().removesuffix(".toml")
    choices = ", ".join(item.id for item in lessons) or "none are installed"
    if not q:
        raise LessonNotFound(f"which lesson? Choose one of: {choices}")
    if q.isdigit():
        hits = [item for item in lessons if item.number == int(q)]
    else:
        hits = [item for item in lessons if q in (item.id, item.slug)]
        if not hits:
            hits = [item for item in lessons
                    if item.slug.startswith(q) or item.id.startswith(q)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        names = ", ".join(item.id for item in hits)
        raise LessonNotFound(f"{query!r} could be any of: {names}; type more of the name or "
                             "its number")
    raise LessonNotFound(f"no lesson {query!r}. Lessons: {choices}")
