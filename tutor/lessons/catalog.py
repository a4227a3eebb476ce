"""Lessons: TOML files read into ``Lesson`` objects, their structure checked.

A lesson is data (lessons/README.md is the contract): a scenario the engine
builds, prose sections and quizzes tied to steps by selectors like
``backward:relu``. ``load_lessons`` reads and checks the files' structure (fast,
no engine run, no NumPy: the lesson list opens with it); ``tutor.lessons.lesson_check``
also builds each scenario and evaluates every expression where it will be shown.
Every problem is reported, each naming its file and field::

    lessons/03-chain-rule.toml: quiz[2].answer: unknown name 'gard' (did you mean 'grad'?)

``quiz[i]`` and ``section[i]`` count from 0 in file order, as TOML arrays do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tutor.lessons.checked_cache import CheckedTables
from tutor.lessons.schema import (PHASES, Problem, Selector, check_lesson_table, parse_toml,
                                  read_bytes)

__all__ = ["Lesson", "Section", "Selector", "Placements", "Problem", "LessonNotFound",
           "PHASES", "Quiz", "Mistake", "load_lessons", "load_lesson", "find_lesson",
           "default_lessons_dir"]

FILE_NAME = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.toml$")


@dataclass(frozen=True)
class Mistake:
    """A likely wrong answer (an expression over the run, like ``Quiz.answer``) and
    what to tell a learner who gives it: the mistake named, not the answer."""

    answer: str | int
    feedback: str


@dataclass(frozen=True)
class Quiz:
    """One ``[[quiz]]`` of a lesson file (see lessons/README.md)."""

    id: str
    at: str
    kind: str
    prompt: str
    answer: str | int
    hints: tuple[str, ...]
    explain: str
    choices: tuple[str, ...] = ()
    tolerance: float | None = None
    rel_tolerance: float | None = None
    mistakes: tuple[Mistake, ...] = ()

    @property
    def grading_options(self) -> dict:
        return {"tolerance": self.tolerance, "rel_tolerance": self.rel_tolerance,
                "choices": self.choices}


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


def display_name(directory, name: str) -> str:
    return f"{getattr(directory, 'name', '') or str(directory)}/{name}"


def lesson_files(directory) -> list:
    return sorted((f for f in directory.iterdir() if f.name.endswith(".toml") and f.is_file()),
                  key=lambda f: f.name)


def load_lesson(file, display: str | None = None,
                checked: CheckedTables | None = None) -> tuple[Lesson | None, list[Problem]]:
    """Read one file; the lesson is None when its structure has any problem.

    With ``checked``, a file already found sound (same name, bytes and checker) is
    read back from it instead of parsed and checked again."""
    display = display or display_name(file.parent if hasattr(file, "parent") else "", file.name)
    problems: list[Problem] = []
    match = FILE_NAME.match(file.name)
    if not match:
        problems.append(Problem(display, "", "the file name must be NN-slug.toml, like "
                                "01-derivative.toml (two digits, then lowercase words and -)"))
    raw = read_bytes(file, display, problems)
    if raw is None:
        return None, problems
    table = checked.get(file.name, raw) if checked is not None and match else None
    if table is None:
        table = parse_toml(raw, display, problems)
        if table is None:
            return None, problems
        stem = file.name[:-len(".toml")]
        before = len(problems)
        check_lesson_table(table, stem, display, problems)
        if len(problems) > before or not match:
            return None, problems
        if checked is not None:
            checked.keep(file.name, raw, table)
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


def load_lessons(directory=None, cache: Path | None = None) -> tuple[list[Lesson], list[Problem]]:
    """Every lesson in ``directory`` (default: the shipped ones) whose structure is
    sound, sorted by number, and the problems of the others. ``cache``: a file that
    keeps the sound files' checked tables between starts (``checked_cache``)."""
    directory = default_lessons_dir() if directory is None else directory
    if isinstance(directory, str):
        directory = Path(directory)
    if not directory.is_dir():
        return [], [Problem(str(directory), "", "no such folder")]
    checked = CheckedTables(cache) if cache is not None else None
    lessons, problems = [], []
    numbers: dict[int, str] = {}
    for file in lesson_files(directory):
        display = display_name(directory, file.name)
        lesson, found = load_lesson(file, display, checked)
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
    if checked is not None:
        checked.save()
    return sorted(lessons, key=lambda item: (item.number, item.id)), problems


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
