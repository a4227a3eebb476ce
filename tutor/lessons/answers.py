"""Reading and grading what a learner types, for the four kinds of quiz.

``grade(kind, text, expected, **options) -> Grade``. Text that cannot be read is
never an exception: it is ``Grade(correct=False, parsed=None, message=…)`` with
how to write the answer, and the quiz does not count it as a wrong attempt.

- ``number``: a constant expression — ``0.37``, ``-1/4``, ``3e-2``, ``0.37*0``,
  ``1 − 0.2×3``, ``2^3``, ``ln(12)``, ``exp(-1)/2``, ``sqrt(2)``, ``π/4`` — read by
  ``engine.expr.parse`` (never ``eval``) and evaluated over ``MATH`` alone (``log`` is the
  natural log, as in NumPy and PyTorch); any other name is refused.
  Right when ``|x − expected| ≤ max(tolerance, rel_tolerance·|expected|)``.
- ``shape``: ``(3, 4)``, ``3x4``, ``3×4``, ``[3,4]``, ``3 4``, ``(5,)``, ``5``, ``()``.
- ``choice``: the letter shown (``b``), its number (``2``, 1-based as shown), or
  the exact text of the choice (any case).
- ``elements``: ``(0,1) (0,2)``, ``(0,1), (0,2)``, ``[0,1];[0,2]``; one axis as
  ``1, 3`` or ``1 3``; ``none``, ``{}``, ``∅`` or ``empty`` for no elements.
"""

from __future__ import annotations

import math
import re

import numpy as np
from dataclasses import dataclass

from engine.expr import ExpressionError, evaluate, parse
from tutor.lessons.schema import KINDS

# With no tolerance given: numbers on screen have 4 significant digits, so an answer
# worked out from them can be off by a few parts in 10⁴ of the true value.
DEFAULT_REL_TOLERANCE = 5e-3
DEFAULT_ABS_TOLERANCE = 1e-9

EMPTY_WORDS = {"none", "empty", "nothing", "no", "{}", "∅", "()", "[]", "set()", "empty set",
               "no elements", "-", "—"}
_MAX_TEXT = 500


@dataclass(frozen=True)
class Grade:
    """``parsed`` is None when the text could not be read (then ``message`` says how
    to write it); otherwise ``correct`` says whether it is the expected answer."""

    correct: bool
    parsed: object
    message: str

    @property
    def readable(self) -> bool:
        return self.parsed is not None


class Unreadable(ValueError):
    """Internal: the text is not an answer of this kind."""


def grade(kind: str, text: str, expected, **options) -> Grade:
    """Grade ``text`` against ``expected`` (a float, a shape tuple, a 0-based choice
    index, or a set of index tuples). Never raises for any ``text``."""
    if kind not in KINDS:
        raise ValueError(f"unknown quiz kind {kind!r} (use one of {', '.join(KINDS)})")
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if len(text) > _MAX_TEXT:
        return Grade(False, None, f"That is too long to be an answer (at most {_MAX_TEXT} "
                                  "characters).")
    try:
        if kind == "number":
            value = parse_number(text)
            return Grade(number_matches(value, expected, **options), value, "")
        if kind == "shape":
            shape = parse_shape(text)
            return Grade(shape == tuple(expected), shape, "")
        if kind == "choice":
            index = parse_choice(text, options.get("choices") or ())
            return Grade(index == int(expected), index, "")
        expected = frozenset(tuple(p) if isinstance(p, (tuple, list)) else (int(p),)
                             for p in expected)
        positions = parse_elements(text, expected)
        return Grade(positions == expected, positions, "")
    except Unreadable as error:
        return Grade(False, None, str(error))


# number ---------------------------------------------------------------------------

NUMBER_HELP = ("Write a number like 0.37, -1/4 or 3e-2; arithmetic such as 0.5*0.2, 2^3, "
               "ln(12), exp(-1) or sqrt(2) is fine.")
MATH = {"pi": math.pi, "π": math.pi, "e": math.e, "ln": np.log, "log": np.log, "exp": np.exp,
        "sqrt": np.sqrt}


def parse_number(text: str) -> float:
    source = text.strip()
    if source[:1] in ("=", "≈"):
        source = source[1:]
    if not source.strip():
        raise Unreadable(NUMBER_HELP)
    try:
        expression = parse(source)
    except ExpressionError as error:
        raise Unreadable(f"I couldn't read that: {error.message}. {NUMBER_HELP}") from None
    others = sorted(expression.names - MATH.keys())
    if others:
        raise Unreadable(f"Use numbers, not names ({others[0]!r}): work the value out from the "
                         f"numbers on screen. {NUMBER_HELP}")
    try:
        value = evaluate(expression, MATH)
    except ExpressionError as error:
        raise Unreadable(f"I couldn't work that out: {error.message}. {NUMBER_HELP}") from None
    if not isinstance(value, float) or not math.isfinite(value):
        raise Unreadable(NUMBER_HELP)
    return value


def number_matches(value: float, expected: float, tolerance: float | None = None,
                   rel_tolerance: float | None = None, **_ignored) -> bool:
    """|value − expected| ≤ max(tolerance, rel_tolerance · |expected|)."""
    expected = float(expected)
    if tolerance is None and rel_tolerance is None:
        tolerance, rel_tolerance = DEFAULT_ABS_TOLERANCE, DEFAULT_REL_TOLERANCE
    allowed = max(float(tolerance or 0.0), float(rel_tolerance or 0.0) * abs(expected))
    slack = 1e-12 * max(1.0, abs(expected))  # 0.371 − 0.37 is 0.0010000000000000009 in floats
    return abs(value - expected) <= allowed + slack


# shape ----------------------------------------------------------------------------

SHAPE_HELP = "Write a shape like (3, 4), 3x4 or 3 4; (5,) or 5 for one axis; () for a number."
_SHAPE_SEPARATORS = re.compile(r"\s*(?:,|[x×X*]|\s)\s*")


def parse_shape(text: str) -> tuple[int, ...]:
    source = text.strip()
    for opening, closing in (("(", ")"), ("[", "]")):
        if source.startswith(opening) and source.endswith(closing):
            source = source[1:-1].strip()
            break
    if source in ("", ","):
        if text.strip() in ("()", "[]", "(,)"):
            return ()
        raise Unreadable(SHAPE_HELP)
    if source.endswith(","):
        source = source[:-1].rstrip()
    parts = _SHAPE_SEPARATORS.split(source)
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise Unreadable(f"I couldn't read that as a shape. {SHAPE_HELP}")
    if any(len(p) > 9 for p in parts) or len(parts) > 16:
        raise Unreadable(f"That shape is too large. {SHAPE_HELP}")
    return tuple(int(p) for p in parts)


# choice ---------------------------------------------------------------------------

def _letters(n: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[:n]


def parse_choice(text: str, choices) -> int:
    """The 0-based index of the chosen option."""
    n = len(choices)
    letters = _letters(n)
    help_text = (f"Type a letter a–{letters[-1]} or a number 1–{n}." if n else
                 "This question has no choices.")
    source = text.strip()
    core = source
    if len(core) >= 2 and (core[0], core[-1]) in (("(", ")"), ("[", "]")):
        core = core[1:-1].strip()
    elif core.endswith((")", ".")):
        core = core[:-1].strip()
    lowered = core.lower()
    wanted = " ".join(source.split()).casefold()
    if len(lowered) == 1 and lowered in letters and lowered.isascii():
        return letters.index(lowered)
    if lowered.isascii() and lowered.isdigit() and len(lowered) <= 6 and 1 <= int(lowered) <= n:
        return int(lowered) - 1
    for i, choice in enumerate(choices):
        if wanted and " ".join(str(choice).split()).casefold() == wanted:
            return i
    if (len(lowered) == 1 and lowered.isascii() and lowered.isalpha()) or (
            lowered.isascii() and lowered.isdigit()):
        raise Unreadable(f"There is no choice {core!r}. {help_text}")
    raise Unreadable(help_text)


# elements -------------------------------------------------------------------------

ELEMENTS_HELP = ("Write positions like (0,1) (0,2) — or for one axis 1, 3 — "
                 "and none if there are none.")
_GROUP = re.compile(r"[(\[]([^()\[\]]*)[)\]]")
_INTEGER = re.compile(r"^[0-9]{1,9}$")


def _integers(text: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    if not parts or not all(p.isascii() and _INTEGER.match(p) for p in parts):
        raise Unreadable(f"I couldn't read {text.strip()!r} as indices. {ELEMENTS_HELP}")
    return tuple(int(p) for p in parts)


def parse_elements(text: str, expected=None) -> frozenset:
    """A set of index tuples. ``expected`` (when given and not empty) tells how many
    indices each position has, so ``1, 3`` for a 2-D array asks for ``(row, col)``."""
    source = text.strip()
    if source.startswith("{") and source.endswith("}"):
        source = source[1:-1].strip()
    if " ".join(source.split()).casefold() in EMPTY_WORDS or source == "":
        if text.strip() == "":
            raise Unreadable(ELEMENTS_HELP)
        return frozenset()
    if "(" in source or "[" in source:
        groups = _GROUP.findall(source)
        rest = _GROUP.sub(" ", source)
        if not groups or re.sub(r"[\s,;]", "", rest):
            raise Unreadable(f"I couldn't read that. {ELEMENTS_HELP}")
        positions = [_integers(g) for g in groups]
    else:
        positions = [(i,) for i in _integers(source)]
    lengths = {len(p) for p in positions}
    if len(lengths) > 1:
        raise Unreadable("Each position needs the same number of indices. " + ELEMENTS_HELP)
    if expected:
        axes = len(next(iter(expected)))
        if lengths != {axes}:
            example = "(" + ", ".join(["0"] * axes) + ")"
            raise Unreadable(f"Each position here has {axes} ind{'ex' if axes == 1 else 'ices'},"
                             f" like {example}. " + ELEMENTS_HELP)
    return frozenset(positions)
