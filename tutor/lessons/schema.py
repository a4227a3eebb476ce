"""The structure of a lesson file, checked without running anything.

Reports every problem with its field (``quiz[2].hints``) and, for a typo, the
field or name that was probably meant. What needs the engine — do selectors
match steps, do expressions evaluate there — is ``tutor.lessons.lesson_check.check_against_run``.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass

from engine.expr import ExpressionError, did_you_mean, parse
from tutor.lessons.language import NAMES, split_template
PHASES = ("forward", "backward", "update")
KINDS = ("number", "shape", "choice", "elements")  # of quiz; graded by tutor.lessons.answers
TOOLS = ("nudge", "descent", "lr_lab", "decode", "twin", "train")
TOP_FIELDS = ("id", "title", "summary", "tools", "scenario", "section", "quiz")
SECTION_FIELDS = ("at", "title", "text")
QUIZ_FIELDS = ("id", "at", "kind", "prompt", "answer", "choices", "tolerance", "rel_tolerance",
               "hints", "mistakes", "explain")
MISTAKE_FIELDS = ("answer", "feedback")
QUIZ_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a lesson file: ``file: field: message``."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else \
            f"{self.file}: {self.message}"


@dataclass(frozen=True)
class Selector:
    """``PHASE:PATTERN``: the steps of one phase whose name matches an fnmatch pattern."""

    phase: str
    pattern: str

    @classmethod
    def parse(cls, text: str) -> "Selector":
        """Raises ``ValueError`` with the fix when ``text`` is not ``PHASE:PATTERN``."""
        if not isinstance(text, str) or ":" not in text:
            raise ValueError(f"write PHASE:PATTERN, like \"backward:relu\" or \"forward:*\" "
                             f"(got {text!r})")
        phase, pattern = text.split(":", 1)
        if phase not in PHASES:
            hint = did_you_mean(phase, PHASES)
            raise ValueError(f"unknown phase {phase!r}{hint}; use forward, backward or update")
        if not re.fullmatch(r"[A-Za-z0-9_.*?\[\]!-]+", pattern):
            raise ValueError(f"the step pattern {pattern!r} must be a step name with * "
                             "wildcards, like encoder.layers.*.self_attn.weights")
        return cls(phase, pattern)

    def matches(self, step) -> bool:
        return step.phase == self.phase and fnmatch.fnmatchcase(step.name, self.pattern)

    def __str__(self) -> str:
        return f"{self.phase}:{self.pattern}"


def read_toml(file, display: str, problems: list) -> dict | None:
    """The file's table, or None with the problem (a syntax error names its line)."""
    raw = read_bytes(file, display, problems)
    return None if raw is None else parse_toml(raw, display, problems)


def read_bytes(file, display: str, problems: list) -> bytes | None:
    try:
        return file.read_bytes()
    except OSError as error:
        problems.append(Problem(display, "", f"cannot be read ({error.strerror or error})"))
        return None


def parse_toml(raw: bytes, display: str, problems: list) -> dict | None:
    """``raw``'s TOML table, or None with the problem."""
    try:  # here, not at the top: a start that reads every lesson from the cache needs no TOML
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        problems.append(Problem(display, "TOML", f"not UTF-8 text (line {line})"))
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.append(Problem(display, "TOML", f"syntax error: {error}"))
        return None
    except RecursionError:
        problems.append(Problem(display, "TOML", "a value nests arrays or tables far too deeply"))
        return None


class _Checker:
    def __init__(self, display: str, problems: list):
        self.display = display
        self.problems = problems

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.display, where, message))

    def unknown_fields(self, table: dict, allowed, prefix: str) -> None:
        for key in table:
            if key not in allowed:
                self.problem(f"{prefix}{key}", f"unknown field{did_you_mean(key, allowed)}; "
                             f"fields here: {', '.join(allowed)}")

    def text(self, table: dict, key: str, where: str, required=True) -> str | None:
        if key not in table:
            if required:
                self.problem(where, "missing (it must be text)")
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            self.problem(where, f"must be non-empty text, got {value!r:.60}")
            return None
        return value

    def template(self, template: str, where: str, extra_names=()) -> None:
        """``{…}`` parts parse and use only names the language has."""
        try:
            parts = split_template(template)
        except ExpressionError as error:
            self.problem(where, error.message)
            return
        for part in parts:
            if not isinstance(part, str):
                self.expression(part[0], where, extra_names, f"{{{part[0]}}}: ")

    def expression(self, source: str, where: str, extra_names=(), prefix="") -> None:
        try:
            expression = parse(source)
        except ExpressionError as error:
            at = "" if error.position is None else f" (at character {error.position + 1})"
            self.problem(where, f"{prefix}{error.message}{at}")
            return
        known = NAMES | set(extra_names)
        for name in sorted(expression.names - known):
            hint = did_you_mean(name, known) or (
                f" (a tensor name goes inside value(…) or grad(…): value({name}))")
            self.problem(where, f"{prefix}unknown name {name!r}{hint}")

    def selector(self, table: dict, where: str) -> None:
        if "at" not in table:
            self.problem(where, "missing: write at = \"PHASE:PATTERN\", like \"backward:relu\"")
            return
        try:
            Selector.parse(table["at"])
        except ValueError as error:
            self.problem(where, str(error))


def check_lesson_table(table: dict, stem: str, display: str, problems: list) -> None:
    """Append every structural problem of one lesson file's table to ``problems``."""
    c = _Checker(display, problems)
    c.unknown_fields(table, TOP_FIELDS, "")
    lesson_id = c.text(table, "id", "id")
    if lesson_id is not None and lesson_id != stem:
        c.problem("id", f"is {lesson_id!r} but the file is {stem}.toml; they must be the same")
    c.text(table, "title", "title")
    c.text(table, "summary", "summary")
    tools = table.get("tools", [])
    if not isinstance(tools, list):
        c.problem("tools", f"must be a list like [\"nudge\"], got {tools!r:.60}")
    else:
        for i, tool in enumerate(tools):
            if tool not in TOOLS:
                c.problem(f"tools[{i}]", f"unknown tool {tool!r}{did_you_mean(tool, TOOLS)}; "
                          f"tools: {', '.join(TOOLS)}")
    scenario = table.get("scenario")
    if scenario is None:
        c.problem("scenario", "missing: add a [scenario] table with a kind")
    elif not isinstance(scenario, dict):
        c.problem("scenario", "must be a table: [scenario] with kind = \"…\"")
    elif not isinstance(scenario.get("kind"), str):
        c.problem("scenario.kind", "missing: choose a kind like \"mlp\" (see lessons/README.md)")
    for i, section in enumerate(_tables(c, table, "section")):
        _check_section(c, section, f"section[{i}]")
    seen: dict[str, int] = {}
    for i, quiz in enumerate(_tables(c, table, "quiz")):
        quiz_id = _check_quiz(c, quiz, f"quiz[{i}]")
        if quiz_id is not None:
            if quiz_id in seen:
                c.problem(f"quiz[{i}].id", f"{quiz_id!r} is also the id of quiz[{seen[quiz_id]}]"
                          "; quiz ids must be unique in a lesson")
            seen.setdefault(quiz_id, i)


def _tables(c: _Checker, table: dict, key: str) -> list[dict]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        c.problem(key, f"must be [[{key}]] tables")
        return []
    return value


def _check_section(c: _Checker, section: dict, where: str) -> None:
    c.unknown_fields(section, SECTION_FIELDS, f"{where}.")
    c.selector(section, f"{where}.at")
    c.text(section, "title", f"{where}.title", required=False)
    text = c.text(section, "text", f"{where}.text")
    if text is not None:
        c.template(text, f"{where}.text")


def _check_quiz(c: _Checker, quiz: dict, where: str) -> str | None:
    c.unknown_fields(quiz, QUIZ_FIELDS, f"{where}.")
    quiz_id = c.text(quiz, "id", f"{where}.id")
    if quiz_id is not None and not QUIZ_ID.match(quiz_id):
        c.problem(f"{where}.id", f"{quiz_id!r} must be letters, digits, - and _ (like "
                  "\"relu-downstream\")")
        quiz_id = None
    c.selector(quiz, f"{where}.at")
    kind = quiz.get("kind")
    if kind not in KINDS:
        c.problem(f"{where}.kind", ("missing" if kind is None else f"unknown kind {kind!r}"
                                    f"{did_you_mean(kind, KINDS)}") + f"; use {', '.join(KINDS)}")
        kind = None
    prompt = c.text(quiz, "prompt", f"{where}.prompt")
    if prompt is not None:
        c.template(prompt, f"{where}.prompt")
    _check_choices_and_answer(c, quiz, kind, where)
    for key in ("tolerance", "rel_tolerance"):
        if key in quiz:
            value = quiz[key]
            if kind != "number":
                c.problem(f"{where}.{key}", "only a number quiz has a tolerance")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                c.problem(f"{where}.{key}", f"must be a number ≥ 0, got {value!r:.40}")
    hints = quiz.get("hints")
    if not isinstance(hints, list) or not hints:
        c.problem(f"{where}.hints", "needs at least one hint: hints = [\"…\"]")
    else:
        for j, hint in enumerate(hints):
            if not isinstance(hint, str) or not hint.strip():
                c.problem(f"{where}.hints[{j}]", "a hint must be non-empty text")
            else:
                c.template(hint, f"{where}.hints[{j}]")
    _check_mistakes(c, quiz, kind, where)
    explain = c.text(quiz, "explain", f"{where}.explain")
    if explain is not None:
        c.template(explain, f"{where}.explain", extra_names=("answer",))
    return quiz_id


def _check_mistakes(c: _Checker, quiz: dict, kind: str | None, where: str) -> None:
    """``mistakes = [{answer = "…", feedback = "…"}]``: a likely wrong answer, as an
    expression over the run like ``answer`` (a 0-based index for a choice quiz), and what
    to tell a learner who gives it."""
    mistakes = quiz.get("mistakes", [])
    if not isinstance(mistakes, list) or not all(isinstance(m, dict) for m in mistakes):
        c.problem(f"{where}.mistakes", "must be a list of tables: mistakes = [{answer = \"…\", "
                  "feedback = \"…\"}]")
        return
    choices = quiz.get("choices") if isinstance(quiz.get("choices"), list) else None
    for j, mistake in enumerate(mistakes):
        at = f"{where}.mistakes[{j}]"
        c.unknown_fields(mistake, MISTAKE_FIELDS, f"{at}.")
        if "answer" not in mistake:
            c.problem(f"{at}.answer", "missing: the wrong answer, as an expression over the run")
        else:
            _check_answer_value(c, mistake["answer"], kind, choices, f"{at}.answer")
        feedback = c.text(mistake, "feedback", f"{at}.feedback")
        if feedback is not None:
            c.template(feedback, f"{at}.feedback")


def _check_choices_and_answer(c: _Checker, quiz: dict, kind: str | None, where: str) -> None:
    choices = quiz.get("choices")
    if kind == "choice":
        if not isinstance(choices, list) or len(choices) < 2 or not all(
                isinstance(x, str) and x.strip() for x in choices):
            c.problem(f"{where}.choices", "a choice quiz needs choices = [\"…\", \"…\"] "
                      "(at least two, each non-empty text)")
            choices = None
        elif len(choices) > 26:
            c.problem(f"{where}.choices", "at most 26 choices (one letter each)")
        else:
            for j, choice in enumerate(choices):
                c.template(choice, f"{where}.choices[{j}]")
    elif choices is not None and kind is not None:
        c.problem(f"{where}.choices", "only a choice quiz has choices")
    if "answer" not in quiz:
        c.problem(f"{where}.answer", "missing: an expression over live values, like "
                  "\"contribution(0)[0, 2]\"" + (" (or the 0-based index of the right choice)"
                                                  if kind == "choice" else ""))
        return
    _check_answer_value(c, quiz["answer"], kind, choices, f"{where}.answer")


def _check_answer_value(c: _Checker, answer, kind: str | None, choices, where: str) -> None:
    if kind == "choice" and isinstance(answer, int) and not isinstance(answer, bool):
        if choices is not None and not 0 <= answer < len(choices):
            c.problem(where, f"is {answer} but the choices are numbered 0.."
                      f"{len(choices) - 1} (0-based)")
    elif kind == "number" and isinstance(answer, (int, float)) and not isinstance(answer, bool):
        if not math.isfinite(answer):
            c.problem(where, "must be a finite number")
    elif isinstance(answer, str) and answer.strip():
        c.expression(answer, where)
    else:
        c.problem(where, f"must be an expression (text), got {answer!r:.40}")
