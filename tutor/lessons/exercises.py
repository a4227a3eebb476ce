"""Code exercises as data: one TOML file each in ``lessons/exercises/`` (``NN-name.toml``).

An exercise is a function the learner writes, with a fixed signature, checked on the
tensors of one step of a real run: a lesson's scenario (``run = "06-attention"``) or
``tutor explore``'s model (``run = "explore"``). The file says where (``at``, a step
selector as in lessons), what the function gets (``[[argument]]``: an expression of the
one expression language read at that step, such as ``upstream`` or ``input(0)``) and
what it must return (``[[result]]``: an expression for the engine's own value, such as
``contribution(0)``). Exercises whose answer is not one tensor of the run name an engine
``reference`` instead (an Adam step, a whole training step). ``hints`` are shown on
request. lessons/exercises/README.md is the format's contract.

``load_exercises`` checks each file's structure and names the file and field of every
problem; ``starter_text`` writes the file the learner starts from.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass

from engine.expr import ExpressionError, did_you_mean, parse
from tutor.lessons.live import NAMES
from tutor.lessons.schema import Problem, Selector, read_toml

__all__ = ["Argument", "Result", "Exercise", "ExerciseNotFound", "load_exercises",
           "exercises_at", "find_exercise", "default_exercises_dir", "starter_text", "HARNESSES",
           "TYPES"]

FILE_NAME = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.toml$")
HARNESSES = ("call", "torch_module", "torch_training_step")
TYPES = ("array", "ids", "int", "float", "state_dict", "model_params", "model_config")
EXPRESSION_TYPES = ("array", "ids", "int", "float")
REFERENCES = ("adam", "training_step")
ROLES = ("call", "harness")
PANELS = re.compile(r"^(output|update|downstream:\d)$")
TOP_FIELDS = ("name", "title", "run", "at", "function", "signature", "harness", "summary",
              "math", "hints", "imports", "tolerance", "reference", "argument", "result")
ARGUMENT_FIELDS = ("name", "value", "type", "role", "about")
RESULT_FIELDS = ("name", "expect", "about", "worked_at", "worked_panel", "worked_prefix")
DEFAULT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Argument:
    """What the learner's function receives: ``value`` read at the step (an expression,
    or for the model-derived types a parameter-name prefix)."""

    name: str
    value: str
    type: str = "array"
    role: str = "call"  # "harness": used by the harness (a state dict to load), not passed
    about: str = ""


@dataclass(frozen=True)
class Result:
    """One part of what the function returns, and where the op card works its elements."""

    name: str
    expect: str | None
    about: str = ""
    worked_at: str | None = None  # a step selector (default: the exercise's step)
    worked_panel: str | None = None  # "output", "update" or "downstream:N"
    worked_prefix: tuple[int, ...] = ()  # leading indices the step's tensor has in front


@dataclass(frozen=True)
class Exercise:
    number: int
    name: str
    title: str
    run: str  # "explore" or a lesson id
    at: str
    function: str
    signature: str
    summary: str
    math: str
    hints: tuple[str, ...]
    arguments: tuple[Argument, ...]
    results: tuple[Result, ...]
    harness: str = "call"
    imports: str = "import numpy as np"
    tolerance: float = DEFAULT_TOLERANCE
    reference: str | None = None

    @property
    def file_name(self) -> str:
        """The learner's workspace file: ``03-softmax-backward.py``."""
        return f"{self.number:02d}-{self.name}.py"

    @property
    def lesson_id(self) -> str | None:
        return None if self.run == "explore" else self.run

    @property
    def needs_torch(self) -> bool:
        return self.harness.startswith("torch")

    @property
    def where(self) -> str:
        return "tutor explore" if self.run == "explore" else f"lesson {self.run}"

    @property
    def call_arguments(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if a.role == "call")

    @property
    def selector(self) -> Selector:
        return Selector.parse(self.at)


class ExerciseNotFound(ValueError):
    """No exercise answers to the name the learner typed; the message lists them."""


# reading ------------------------------------------------------------------------------

def default_exercises_dir():
    """The shipped exercises: ``exercises/`` inside the package ``tutor.lesson_files``."""
    from tutor.lessons.catalog import default_lessons_dir

    return default_lessons_dir() / "exercises"


def load_exercises(directory=None) -> tuple[list[Exercise], list[Problem]]:
    """Every exercise whose file is sound, by number, and the problems of the others."""
    directory = default_exercises_dir() if directory is None else directory
    if not directory.is_dir():
        return [], [Problem(str(directory), "", "no such folder")]
    exercises, problems, numbers, names = [], [], {}, {}
    files = sorted((f for f in directory.iterdir() if f.name.endswith(".toml") and f.is_file()),
                   key=lambda f: f.name)
    for file in files:
        display = f"exercises/{file.name}"
        found: list[Problem] = []
        exercise = _load_one(file, display, found)
        problems += found
        if exercise is None:
            continue
        for seen, key, what in ((numbers, exercise.number, "number"),
                                (names, exercise.name, "name")):
            if key in seen:
                problems.append(Problem(display, "", f"exercise {what} {key} is also used by "
                                        f"{seen[key]}; give each exercise its own"))
                exercise = None
                break
            seen[key] = file.name
        if exercise is not None:
            exercises.append(exercise)
    return sorted(exercises, key=lambda e: e.number), problems


def find_exercise(query: str, exercises: list[Exercise]) -> Exercise:
    """By name (``softmax-backward``), number (``4``) or file stem (``04-softmax-backward``)."""
    text = query.strip().lower()
    for exercise in exercises:
        if text in (exercise.name, exercise.file_name[:-3]) or \
                (text.isdigit() and int(text) == exercise.number):
            return exercise
    names = [e.name for e in exercises]
    raise ExerciseNotFound(f"no exercise named {query!r}{did_you_mean(text, names)}; "
                           "`tutor exercises` lists them")


def _load_one(file, display: str, problems: list) -> Exercise | None:
    match = FILE_NAME.match(file.name)
    if not match:
        problems.append(Problem(display, "", "the file name must be NN-name.toml, like "
                                "04-softmax-backward.toml"))
        return None
    table = read_toml(file, display, problems)
    if table is None:
        return None
    before = len(problems)
    c = _Checker(display, problems)
    c.known(table, TOP_FIELDS, "")
    name = c.text(table, "name")
    if name is not None and name != match.group(2):
        c.problem("name", f"is {name!r} but the file is {file.name}; the name must be the "
                  "file name without NN- and .toml")
    for key in ("title", "summary", "math", "signature"):
        c.text(table, key)
    c.text(table, "imports", required=False)
    run = c.text(table, "run")
    if run is not None and run != "explore" and not re.fullmatch(r"\d{2}-[a-z0-9-]+", run):
        c.problem("run", f"must be \"explore\" or a lesson id like \"06-attention\", got {run!r}")
    c.selector(table, "at")
    function = c.text(table, "function")
    if function is not None and (not function.isidentifier() or keyword.iskeyword(function)):
        c.problem("function", f"{function!r} is not a Python function name")
    signature = table.get("signature")
    if function and isinstance(signature, str) and not signature.startswith(function + "("):
        c.problem("signature", f"must start with {function}(")
    harness = c.choice(table, "harness", HARNESSES, "call")
    reference = c.choice(table, "reference", REFERENCES, None)
    tolerance = table.get("tolerance", DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or \
            not 0 < tolerance < 1 or not math.isfinite(tolerance):
        c.problem("tolerance", f"must be a relative error between 0 and 1, got {tolerance!r}")
    hints = table.get("hints")
    if not isinstance(hints, list) or not hints or not all(
            isinstance(h, str) and h.strip() for h in hints):
        c.problem("hints", "needs at least one hint: hints = [\"…\"], each non-empty text")
    arguments = [_argument(c, a, f"argument[{i}]")
                 for i, a in enumerate(c.tables(table, "argument"))]
    results = [_result(c, r, f"result[{i}]", reference)
               for i, r in enumerate(c.tables(table, "result"))]
    if not results:
        c.problem("result", "needs at least one [[result]]: what the function returns")
    for what, items in (("argument", arguments), ("result", results)):
        seen = [x.name for x in items if x is not None]
        for duplicate in sorted({n for n in seen if seen.count(n) > 1}):
            c.problem(what, f"two {what}s are named {duplicate!r}")
    if len(problems) > before:
        return None
    return Exercise(int(match.group(1)), name, table["title"], run, table["at"], function,
                    signature, table["summary"].strip(), table["math"].strip("\n"),
                    tuple(hints), tuple(arguments), tuple(results), harness,
                    table.get("imports", "import numpy as np").strip(), float(tolerance),
                    reference)


def _argument(c: "_Checker", table: dict, where: str) -> Argument | None:
    c.known(table, ARGUMENT_FIELDS, f"{where}.")
    name = c.identifier(table, "name", where)
    kind = c.choice(table, "type", TYPES, "array", where)
    role = c.choice(table, "role", ROLES, "call", where)
    value = table.get("value")
    if not isinstance(value, str):
        c.problem(f"{where}.value", "must be text: an expression at the step like \"upstream\""
                  " (or, for a state dict or the model's parameters, a name prefix)")
        return None
    if kind in EXPRESSION_TYPES:
        c.expression(value, f"{where}.value")
    about = table.get("about", "")
    if not isinstance(about, str):
        c.problem(f"{where}.about", "must be text")
    if name is None or kind is None or role is None:
        return None
    return Argument(name, value, kind, role, about)


def _result(c: "_Checker", table: dict, where: str, reference) -> Result | None:
    c.known(table, RESULT_FIELDS, f"{where}.")
    name = c.identifier(table, "name", where)
    expect = table.get("expect")
    if reference is None:
        if not isinstance(expect, str):
            c.problem(f"{where}.expect", "missing: the engine's value, as an expression at the "
                      "step like \"contribution(0)\"")
        else:
            c.expression(expect, f"{where}.expect")
    elif expect is not None:
        c.problem(f"{where}.expect", f"the reference {reference!r} computes the results; "
                  "remove expect")
    if "worked_at" in table:
        c.selector(table, "worked_at", f"{where}.")
    panel = table.get("worked_panel")
    if panel is not None and not (isinstance(panel, str) and PANELS.match(panel)):
        c.problem(f"{where}.worked_panel", f"must be \"output\", \"update\" or \"downstream:N\","
                  f" got {panel!r}")
    prefix = table.get("worked_prefix", [])
    if not isinstance(prefix, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                               and i >= 0 for i in prefix):
        c.problem(f"{where}.worked_prefix", "must be a list of whole numbers ≥ 0")
        prefix = []
    about = table.get("about", "")
    if name is None or not isinstance(about, str):
        return None
    return Result(name, expect if isinstance(expect, str) else None, about,
                  table.get("worked_at"), panel, tuple(prefix))


class _Checker:
    def __init__(self, display: str, problems: list):
        self.display, self.problems = display, problems

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.display, where, message))

    def known(self, table: dict, allowed, prefix: str) -> None:
        for key in table:
            if key not in allowed:
                self.problem(f"{prefix}{key}", f"unknown field{did_you_mean(key, allowed)}; "
                             f"fields here: {', '.join(allowed)}")

    def text(self, table: dict, key: str, required: bool = True) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.problem(key, "missing (it must be text)")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"must be non-empty text, got {value!r:.60}")
            return None
        return value

    def identifier(self, table: dict, key: str, where: str) -> str | None:
        value = table.get(key)
        if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
            self.problem(f"{where}.{key}", f"must be a Python name like \"dx\", got {value!r:.40}")
            return None
        return value

    def choice(self, table: dict, key: str, options, default, where: str = ""):
        value = table.get(key, default)
        if value is not None and value not in options:
            field = f"{where}.{key}" if where else key
            self.problem(field, f"unknown {key} {value!r}{did_you_mean(str(value), options)}; "
                         f"use one of {', '.join(options)}")
            return None
        return value

    def selector(self, table: dict, key: str, prefix: str = "") -> None:
        try:
            Selector.parse(table.get(key))
        except ValueError as error:
            self.problem(f"{prefix}{key}", str(error))

    def expression(self, source: str, where: str) -> None:
        try:
            expression = parse(source)
        except ExpressionError as error:
            self.problem(where, error.message)
            return
        for name in sorted(expression.names - NAMES):
            self.problem(where, f"unknown name {name!r}{did_you_mean(name, NAMES)}")

    def tables(self, table: dict, key: str) -> list[dict]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            self.problem(key, f"must be [[{key}]] tables")
            return []
        return value


# the learner's starting file ---------------------------------------------------------

def starter_text(exercise: Exercise, shapes: dict[str, str], check_command: str) -> str:
    """The file the learner starts from: the signature, a docstring with the math, each
    argument's shape and meaning at this step, and a body that raises NotImplementedError.

    ``shapes`` maps argument and result names to how they look at the step
    (``(1, 1, 3, 3)``, ``2``)."""
    def line(name: str, about: str) -> str:
        shape = shapes.get(name, "")
        return f"    {name:<10} {shape:<16} {about}".rstrip()

    lines = [f'"""{exercise.title}: {exercise.signature}', "",
             f"Checked on the live run: {exercise.where}, step {exercise.at}.", "",
             exercise.summary, "", exercise.math.rstrip(), "", "Arguments at this step:"]
    lines += [line(a.name, a.about) for a in exercise.call_arguments]
    lines += ["", "Returns:"]
    lines += [line(r.name, r.about) for r in exercise.results]
    lines += ["", "Save this file while `tutor exercise " + exercise.name + "` is open and it is",
              "checked at once; or run:", f"    {check_command}", '"""', "",
              exercise.imports, "", ""]
    parameters = exercise.signature.split("(", 1)[1].split(")", 1)[0]
    lines += [f"def {exercise.function}({parameters}):",
              f"    raise NotImplementedError(\"write {exercise.function}\")", ""]
    return "\n".join(lines)


def exercises_at(lesson_id: str, timeline, exercises: list[Exercise] | None = None
                 ) -> dict[int, list[Exercise]]:
    """Where a lesson's exercises sit on its timeline: step → the exercises tied there
    (each at the first step its ``at`` selects)."""
    exercises = load_exercises()[0] if exercises is None else exercises
    placed: dict[int, list[Exercise]] = {}
    for exercise in exercises:
        if exercise.run != lesson_id:
            continue
        selector = exercise.selector
        position = next((s.index for s in timeline.steps if selector.matches(s)), None)
        if position is not None:
            placed.setdefault(position, []).append(exercise)
    return placed
