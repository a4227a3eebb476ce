"""Compare what the learner's function gave with the engine's answer, part by part.

Shapes first; then values: an element is wrong when |yours − engine| exceeds the
tolerance (1e-9) times the largest |engine| value of that part — a relative error that
does not punish the rounding noise of an element that is zero in exact arithmetic. NaN
and ±inf match only themselves, and are named. The first wrong element (in C order) is
reported with both values and the op card's worked line for it; for a tuple, which part
is wrong. ``CheckResult`` is what every caller shows (the pane, ``--check``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tutor.lessons.exercise_runner import MEMORY_LIMIT, ChildOutcome

__all__ = ["Expected", "Mismatch", "CheckResult", "compare", "show_number"]

OUTPUT_LINES, OUTPUT_WIDTH = 12, 160  # of the learner's printed output, shown


@dataclass(frozen=True)
class Expected:
    """One part of the engine's answer, and the op card's worked line for an element."""

    name: str
    value: np.ndarray
    worked: Callable[[tuple], str | None] = field(default=lambda index: None, compare=False)


@dataclass(frozen=True)
class Mismatch:
    """The first wrong element: where, both values, and the op card's worked line."""

    part: str
    index: tuple
    got: float
    expected: float
    worked: str | None
    count: int  # how many elements of the part are wrong
    size: int

    @property
    def position(self) -> str:
        return "[" + ", ".join(str(int(i)) for i in self.index) + "]"

    @property
    def relative(self) -> float:
        return abs(self.got - self.expected) / max(abs(self.expected), 1e-300)


@dataclass(frozen=True)
class CheckResult:
    """What a check found. ``status``: correct | wrong | todo | error | timeout |
    torch_missing. ``headline`` is one line; ``details`` follow it."""

    status: str
    headline: str
    details: tuple[str, ...] = ()
    mismatch: Mismatch | None = None
    parts: tuple[tuple[str, bool], ...] = ()
    output: str = ""
    output_hidden: int = 0

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def lines(self) -> list[str]:
        lines = [self.headline, *self.details]
        if self.output:
            lines.append("your code printed:")
            printed = self.output.rstrip("\n").splitlines()
            hidden = self.output_hidden + sum(len(line) + 1 for line in printed[OUTPUT_LINES:])
            for line in printed[:OUTPUT_LINES]:
                hidden += max(len(line) - OUTPUT_WIDTH, 0)
                lines.append("  " + (line[:OUTPUT_WIDTH] + "…" if len(line) > OUTPUT_WIDTH
                                     else line))
            if hidden:
                lines.append(f"  … ({hidden:,} more characters not shown)")
        return lines


def show_number(x: float) -> str:
    """Enough digits to see a difference of 1e-9: 12 significant, nan and ±inf named."""
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.12g}"


def compare(expected: list[Expected], outcome: ChildOutcome, tolerance: float,
            function: str = "your function") -> CheckResult:
    printed = outcome.output
    hidden = max(outcome.output_total - len(printed), 0)
    if outcome.status != "ok":
        return _failure(outcome, function, printed, hidden)
    got = dict(outcome.parts)
    checks, first, largest = [], None, 0.0
    details = [f"note: {note}" for note in outcome.notes]
    for part in expected:
        mine = got.get(part.name)
        if mine is None:
            checks.append((part.name, False))
            details.append(f"{part.name}: missing from what came back")
            continue
        problem, error = _compare_part(part, mine, tolerance)
        checks.append((part.name, problem is None))
        largest = max(largest, error)
        if problem is not None and first is None:
            first = problem
    if first is None and all(ok for _, ok in checks):
        names = ", ".join(name for name, _ in checks) if len(checks) <= 4 else \
            f"all {len(checks)} parts"
        verb = "matches" if len(checks) == 1 else "match"
        return CheckResult("correct", f"correct: {names} {verb} the engine (largest relative "
                           f"error {largest:.1e})", tuple(details), None, tuple(checks),
                           printed, hidden)
    if len(checks) > 1:
        wrong = [name for name, ok in checks if not ok]
        shown = "  ".join(f"{n} {'✓' if ok else '✗'}" for n, ok in checks) if len(checks) <= 6 \
            else f"{len(wrong)} of {len(checks)} parts wrong, first {wrong[0]}"
        details.insert(0, shown)
    if isinstance(first, str):
        return CheckResult("wrong", f"wrong: {first}", tuple(details), None, tuple(checks),
                           printed, hidden)
    m = first
    headline = (f"wrong: {m.part}{m.position} is {show_number(m.got)} but the engine has "
                f"{show_number(m.expected)}")
    details.append(f"{m.count} of {m.size} elements of {m.part} differ"
                   + ("" if np.isnan(m.got) or np.isinf(m.got) else
                      f"; here the relative error is {m.relative:.2g}"))
    if m.worked:
        details.append(f"engine: {m.worked}")
    return CheckResult("wrong", headline, tuple(details), m, tuple(checks), printed, hidden)


def _compare_part(part: Expected, mine: np.ndarray, tolerance: float):
    """(None or a ``Mismatch`` or a shape sentence, largest relative error)."""
    want = part.value
    if mine.shape != want.shape:
        hint = ""
        if mine.shape == want.shape[::-1] and mine.ndim > 1:
            hint = " (transposed?)"
        elif mine.size == want.size:
            hint = " (the same number of elements: a reshape or a transpose?)"
        elif mine.ndim < want.ndim:
            hint = " (summed over an axis that should stay?)"
        return (f"{part.name} has shape {tuple(mine.shape)}, but the engine's has "
                f"{tuple(want.shape)}{hint}"), 0.0
    finite = np.isfinite(want)
    scale = float(np.max(np.abs(want[finite]), initial=0.0)) or 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(mine - want) / scale
    same_special = (np.isnan(mine) & np.isnan(want)) | (np.isinf(mine) & (mine == want))
    wrong = ~same_special & ~(error <= tolerance)
    largest = float(np.max(np.where(finite & np.isfinite(mine), error, 0.0), initial=0.0))
    if not wrong.any():
        return None, largest
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    return Mismatch(part.name, index, float(mine[index]), float(want[index]),
                    part.worked(index), int(wrong.sum()), int(want.size)), largest


def _failure(outcome: ChildOutcome, function: str, printed: str, hidden: int) -> CheckResult:
    status = {"todo": "todo", "timeout": "timeout", "torch_missing": "torch_missing"}.get(
        outcome.status, "error")
    message = outcome.message
    if outcome.status == "todo":
        message = f"not written yet: {function} still raises NotImplementedError"
    elif outcome.status == "memory":
        message = (f"{message} (the limit is {MEMORY_LIMIT >> 20} MiB beyond what Python and "
                   "its imports use)")
    elif outcome.status == "bad_return":
        message = f"wrong kind of answer: {message}"
    lines = () if outcome.status == "todo" else outcome.traceback
    return CheckResult(status, message, tuple(lines), None, (), printed, hidden)


