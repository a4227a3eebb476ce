"""The tree of a parsed expression and what evaluating it means.

Each node evaluates itself against ``env`` (a mapping from names to values or
functions). All arithmetic is float64 NumPy under ``errstate(all="ignore")``; a
result that turns infinite or undefined from finite operands (an overflow, a
division by zero, ``log(0)``) is an ``ExpressionError``, while values that are
already infinite (a masked attention score is −inf) pass through as they are.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


class ExpressionError(ValueError):
    """An expression that cannot be read or evaluated.

    ``str(error)`` is the plain message; ``position`` is the 0-based character
    where the trouble is (None when it is not about one place).
    """

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return self.message

    def pointer(self, text: str) -> str:
        """The text with a caret under the bad character (for a learner's input)."""
        if self.position is None:
            return text
        return f"{text}\n{' ' * min(self.position, len(text))}^"


# nodes -------------------------------------------------------------------------

class Node:
    position: int

    def evaluate(self, env):  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Number(Node):
    value: float
    position: int

    def evaluate(self, env):
        return self.value


@dataclass
class Name(Node):
    name: str
    position: int

    def evaluate(self, env):
        value = _lookup(env, self.name, self.position)
        if callable(value):
            raise ExpressionError(f"{self.name} is a function: write {self.name}(…)",
                                  self.position)
        return _normalise(value)


@dataclass
class Reference(Node):
    """A tensor name or input number given to ``value(…)``, ``input(…)`` and the like."""

    target: str | int
    position: int

    def evaluate(self, env):  # pragma: no cover - never evaluated on its own
        return self.target


@dataclass
class Call(Node):
    function: str
    arguments: list[Node]
    position: int

    def evaluate(self, env):
        function = _lookup(env, self.function, self.position)
        if not callable(function):
            raise ExpressionError(f"{self.function} is a value, not a function: "
                                  f"write {self.function} without (…)", self.position)
        arguments = [a.target if isinstance(a, Reference) else a.evaluate(env)
                     for a in self.arguments]
        try:
            with np.errstate(all="ignore"):
                result = _normalise(function(*arguments))
        except ExpressionError as error:
            raise _placed(error, self.position) from None
        except (ValueError, TypeError, IndexError, ArithmeticError) as error:
            raise ExpressionError(f"{self.function}(…) cannot be computed here: {error}",
                                  self.position) from None
        numeric = [a for a, node in zip(arguments, self.arguments)
                   if not isinstance(node, Reference)]
        if numeric and all(_finite(a) for a in numeric) and not _finite(result):
            raise ExpressionError(f"{self.function}(…) gives an infinite or undefined "
                                  "result here (like log(0) or sqrt(-1))", self.position)
        return result


@dataclass
class Negate(Node):
    operand: Node
    position: int
    sign: str = "-"

    def evaluate(self, env):
        x = _numeric(self.operand.evaluate(env), f"unary {self.sign}", self.position)
        return _normalise(-x if self.sign == "-" else x)


@dataclass
class Chain(Node):
    """``a + b - c`` or ``a * b / c``: one flat node, evaluated left to right."""

    operands: list[Node]
    operators: list[tuple[str, int]]  # (operator, position) between operands
    position: int

    def evaluate(self, env):
        result = self.operands[0].evaluate(env)
        for (op, position), node in zip(self.operators, self.operands[1:]):
            result = _arithmetic(op, result, node.evaluate(env), position)
        return result


@dataclass
class Power(Node):
    base: Node
    exponent: Node
    position: int

    def evaluate(self, env):
        return _arithmetic("**", self.base.evaluate(env), self.exponent.evaluate(env),
                           self.position)


@dataclass
class Compare(Node):
    left: Node
    op: str
    right: Node
    position: int

    def evaluate(self, env):
        a, b = self.left.evaluate(env), self.right.evaluate(env)
        if isinstance(a, (tuple, frozenset, set)) or isinstance(b, (tuple, frozenset, set)):
            if self.op != "==":
                raise ExpressionError(f"{self.op} compares numbers; shapes and sets of "
                                      "positions can only be compared with ==", self.position)
            return 1.0 if a == b else 0.0
        a = _numeric(a, self.op, self.position)
        b = _numeric(b, self.op, self.position)
        compare = {"<": np.less, ">": np.greater, "<=": np.less_equal,
                   ">=": np.greater_equal, "==": np.equal}[self.op]
        try:
            return _normalise(compare(a, b).astype(float))
        except ValueError:
            raise ExpressionError(_broadcast_message(self.op, a, b), self.position) from None


@dataclass
class Index(Node):
    target: Node
    indices: list[Node]
    position: int

    def evaluate(self, env):
        value = self.target.evaluate(env)
        positions = []
        for node in self.indices:
            i = node.evaluate(env)
            if not isinstance(i, float) or not np.isfinite(i) or i != int(i):
                raise ExpressionError("an index must be a whole number, like x[0, 2]",
                                      node.position)
            positions.append(int(i))
        if isinstance(value, tuple):
            if len(positions) != 1:
                raise ExpressionError("a shape takes one index: shape(x)[0]", self.position)
            return float(_pick(value, positions[0], 0, len(value), self.position))
        if isinstance(value, (set, frozenset)):
            raise ExpressionError("a set of positions cannot be indexed", self.position)
        if isinstance(value, float):
            raise ExpressionError("a single number cannot be indexed", self.position)
        if len(positions) > value.ndim:
            axes = "axis" if value.ndim == 1 else "axes"
            raise ExpressionError(f"this value has {value.ndim} {axes}"
                                  f" (shape {tuple(value.shape)}) but {len(positions)} indices "
                                  "were given", self.position)
        for axis, p in enumerate(positions):
            _pick(range(value.shape[axis]), p, axis, value.shape[axis], self.position)
        return _normalise(value[tuple(positions)])


def _pick(sequence, i: int, axis: int, size: int, position: int):
    if not -size <= i < size:
        raise ExpressionError(f"index {i} is out of range for axis {axis} of size {size} "
                              f"(use 0..{size - 1}, or -1 for the last)", position)
    return sequence[i]


# values ---------------------------------------------------------------------------

def _lookup(env, name: str, position: int):
    try:
        return env[name]
    except KeyError:
        pass
    except ExpressionError as error:
        raise _placed(error, position) from None
    message = f"unknown name {name!r}"
    if isinstance(env, Mapping) or hasattr(env, "keys"):
        close = difflib.get_close_matches(name, list(env.keys()), n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    raise ExpressionError(message, position)


def _placed(error: ExpressionError, position: int) -> ExpressionError:
    if error.position is None:
        error.position = position
    return error


def _normalise(value):
    """Numbers become Python floats; arrays become float64 (token ids too); shapes
    stay tuples of ints; sets of positions stay sets of tuples."""
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return float(value)
        if value.dtype != np.float64:
            return value.astype(np.float64)
        return value
    if isinstance(value, tuple):
        return tuple(int(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(tuple(int(i) for i in (p if isinstance(p, tuple) else (p,)))
                         for p in value)
    raise ExpressionError(f"unexpected value of type {type(value).__name__}")


def _finite(value) -> bool:
    if isinstance(value, float):
        return bool(np.isfinite(value))
    if isinstance(value, np.ndarray):
        return bool(np.all(np.isfinite(value)))
    return True


def _numeric(value, what: str, position: int):
    if isinstance(value, tuple):
        raise ExpressionError(f"{what} works on numbers, not on a shape like {value}", position)
    if isinstance(value, (set, frozenset)):
        raise ExpressionError(f"{what} works on numbers, not on a set of positions", position)
    return value


def _broadcast_message(op: str, a, b) -> str:
    return (f"the shapes {np.shape(a)} and {np.shape(b)} do not fit together for {op} "
            "(they must be equal, or broadcast as in NumPy)")


def _arithmetic(op: str, a, b, position: int):
    a = _numeric(a, op, position)
    b = _numeric(b, op, position)
    function = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                "**": np.power}[op]
    try:
        with np.errstate(all="ignore"):
            result = function(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    except ValueError:
        raise ExpressionError(_broadcast_message(op, a, b), position) from None
    result = _normalise(result)
    if _finite(a) and _finite(b) and not _finite(result):
        if op == "/" or (op == "**" and np.any(np.asarray(a) == 0) and np.any(np.asarray(b) < 0)):
            raise ExpressionError("division by zero", position)
        if op == "**" and np.any(np.isnan(result)):
            raise ExpressionError("a negative number to a fractional power is not a real "
                                  "number", position)
        raise ExpressionError(f"the result of {op} is too large (it overflows)", position)
    return result
