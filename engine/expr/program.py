"""A tiny language for the ``expression`` scenario: lines ``name = expr``.

It is parsed by hand — a tokenizer and a recursive-descent parser — into a small
tree, and the tree is turned into tape ops. Nothing is ever passed to Python's
``eval``: the only things a program can do are the operators and functions below.

    pred = w @ x + b         # blank lines and comments are fine
    err  = pred - y
    loss = mean(err ** 2)

Grammar (loosest first; ``**`` binds tighter than unary minus, as in Python)::

    line     := NAME '=' sum
    sum      := product (('+' | '-') product)*
    product  := unary (('*' | '/' | '@') unary)*
    unary    := '-' unary | power
    power    := atom ('**' exponent)?
    exponent := '-'? NUMBER ('**' exponent)?      (right-associative, a number)
    atom     := NUMBER | NAME | NAME '(' sum ')' | '(' sum ')'

Each line's last op is named after the line, so the timeline's steps are called
``pred``, ``err``, ``loss``; ops inside a line keep their op names (``mul``, ``add``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from engine.ops import OPS
from engine.tape import Tape, Tensor

FUNCTIONS = ("relu", "tanh", "exp", "log", "sum", "mean", "softmax")
MAX_OPERATIONS = 100  # per line; more is refused (a lesson never needs it, and it bounds recursion)
_RESERVED = re.compile(r"^(%s)(_\d+)?$" % "|".join(sorted(OPS)))


class ExpressionError(ValueError):
    """A program that cannot be read or built, with where and what was expected."""

    def __init__(self, line: int, column: int, message: str):
        self.line, self.column, self.message = line, column, message
        super().__init__(f"line {line}, col {column}: {message}")


# tokens ---------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>[ \t]+)
  | (?P<comment>\#.*)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/@()=,])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, op, end
    text: str
    column: int  # 1-based


def tokenize(line: str, line_no: int) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(line):
        match = _TOKEN.match(line, pos)
        if match is None:
            raise ExpressionError(line_no, pos + 1, f"unexpected character {line[pos]!r}")
        if match.lastgroup not in ("space", "comment"):
            tokens.append(Token(match.lastgroup, match.group(), pos + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(line.rstrip()) + 1))
    return tokens


def _describe(token: Token) -> str:
    return "the end of the line" if token.kind == "end" else repr(token.text)


# the tree ---------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    value: float
    column: int


@dataclass(frozen=True)
class Name:
    name: str
    column: int


@dataclass(frozen=True)
class Negative:
    operand: object
    column: int


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / @
    left: object
    right: object
    column: int


@dataclass(frozen=True)
class Power:
    base: object
    exponent: float
    column: int


@dataclass(frozen=True)
class Call:
    function: str
    argument: object
    column: int


@dataclass(frozen=True)
class Assignment:
    name: str
    expr: object
    line: int
    column: int


# parsing ----------------------------------------------------------------------

class _LineParser:
    def __init__(self, text: str, line_no: int):
        self.line_no = line_no
        self.tokens = tokenize(text, line_no)
        self.pos = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def error(self, message: str, token: Token | None = None):
        token = token or self.token
        return ExpressionError(self.line_no, token.column, message)

    def take(self) -> Token:
        token = self.token
        if token.kind != "end":
            self.pos += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind == "op" and self.token.text in texts

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected {what}, got {_describe(self.token)}")
        return self.take()

    def count_operation(self, column: int):
        self.depth += 1
        if self.depth > MAX_OPERATIONS:
            raise ExpressionError(self.line_no, column, f"more than {MAX_OPERATIONS} operations "
                                  "and brackets on one line; split it over several lines")

    def assignment(self) -> Assignment:
        first = self.token
        if first.kind != "name":
            raise self.error(f"expected a name to assign to (like 'loss = ...'), "
                             f"got {_describe(first)}")
        self.take()
        self.expect("=", f"'=' after {first.text!r}")
        expr = self.sum()
        if self.token.kind != "end":
            raise self.error(f"expected an operator or the end of the line, "
                             f"got {_describe(self.token)}")
        return Assignment(first.text, expr, self.line_no, first.column)

    def sum(self):
        left = self.product()
        while self.at("+", "-"):
            op = self.take()
            self.count_operation(op.column)
            left = Binary(op.text, left, self.product(), op.column)
        return left

    def product(self):
        left = self.unary()
        while self.at("*", "/", "@"):
            op = self.take()
            self.count_operation(op.column)
            left = Binary(op.text, left, self.unary(), op.column)
        return left

    def unary(self):
        if self.at("-"):
            op = self.take()
            self.count_operation(op.column)
            operand = self.unary()
            if isinstance(operand, Number):
                return Number(-operand.value, op.column)
            return Negative(operand, op.column)
        if self.at("+"):
            raise self.error("expected a number or a name, got '+' (write 3, not +3)")
        return self.power()

    def power(self):
        base = self.atom()
        if self.at("**"):
            op = self.take()
            self.count_operation(op.column)
            exponent = self.exponent()
            if not math.isfinite(exponent):
                raise ExpressionError(self.line_no, op.column, "the exponent is too large")
            return Power(base, exponent, op.column)
        return base

    def exponent(self) -> float:
        sign = 1.0
        if self.at("-"):
            self.take()
            sign = -1.0
        token = self.token
        if token.kind != "number":
            raise self.error(f"expected a number as the exponent (x ** 2), got {_describe(token)}")
        self.take()
        value = self.number(token)
        if self.at("**"):
            op = self.take()
            self.count_operation(op.column)
            try:
                value = value ** self.exponent()
            except (OverflowError, ZeroDivisionError):
                raise ExpressionError(self.line_no, op.column,
                                      "this power of numbers has no finite value") from None
        return sign * value

    def number(self, token: Token) -> float:
        value = float(token.text)
        if not math.isfinite(value):
            raise self.error(f"the number {token.text} is too large", token)
        return value

    def atom(self):
        token = self.token
        if token.kind == "number":
            self.take()
            return Number(self.number(token), token.column)
        if token.kind == "name":
            self.take()
            if self.at("("):
                return self.call(token)
            if token.text in FUNCTIONS:
                raise self.error(f"{token.text} is a function: write {token.text}(x)", token)
            return Name(token.text, token.column)
        if self.at("("):
            self.take()
            self.count_operation(token.column)
            inner = self.sum()
            self.expect(")", "')' to close the '(' at col " + str(token.column))
            return inner
        raise self.error(f"expected a number or a name, got {_describe(token)}")

    def call(self, name: Token) -> Call:
        if name.text not in FUNCTIONS:
            raise self.error(f"unknown function {name.text!r}; the functions are "
                             f"{', '.join(FUNCTIONS)}", name)
        self.take()  # (
        self.count_operation(name.column)
        argument = self.sum()
        if self.at(","):
            raise self.error(f"{name.text} takes one argument")
        self.expect(")", f"')' to close {name.text}(")
        return Call(name.text, argument, name.column)


def _names_used(expr) -> list[Name]:
    found, stack = [], [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            found.append(node)
        elif isinstance(node, Binary):
            stack += [node.right, node.left]
        elif isinstance(node, Negative):
            stack.append(node.operand)
        elif isinstance(node, Power):
            stack.append(node.base)
        elif isinstance(node, Call):
            stack.append(node.argument)
    return sorted(found, key=lambda n: n.column)


def check_name(name: str) -> str | None:
    """Why ``name`` cannot label a line or an input (None if it can)."""
    if name in FUNCTIONS:
        return f"{name!r} is a function name"
    if _RESERVED.match(name):
        return f"{name!r} is an op name the tape gives to unnamed ops"
    return None


def parse_program(text: str, inputs=()) -> list[Assignment]:
    """The program's lines, checked: every name used is an input or an earlier line,
    no name is assigned twice."""
    if not isinstance(text, str):
        raise ExpressionError(1, 1, f"the program must be text, got {type(text).__name__}")
    known = {name: "an input" for name in inputs}
    program = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        statement = _LineParser(line, line_no).assignment()
        for used in _names_used(statement.expr):
            if used.name not in known:
                defined = ", ".join(known) or "nothing yet"
                raise ExpressionError(line_no, used.column, f"unknown name {used.name!r}; "
                                      f"defined so far: {defined}")
        if statement.name in known:
            raise ExpressionError(line_no, statement.column, f"{statement.name!r} is already "
                                  f"{known[statement.name]}; give this line a new name")
        why = check_name(statement.name)
        if why:
            raise ExpressionError(line_no, statement.column, f"{why}; choose another name")
        if isinstance(statement.expr, Name):
            raise ExpressionError(line_no, statement.expr.column,
                                  f"'{statement.name} = {statement.expr.name}' computes nothing; "
                                  f"use {statement.expr.name!r} directly")
        known[statement.name] = f"defined on line {line_no}"
        program.append(statement)
    if not program:
        raise ExpressionError(1, 1, "the program has no lines; write at least 'name = expr'")
    return program


# building ops -----------------------------------------------------------------

def build_program(tape: Tape, program, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """Record the program's ops on ``tape``; returns each line's name → its tensor.

    ``program`` is text or the result of ``parse_program``. A line that is just a
    number becomes a named constant; every other line's last op gets the line's name.
    """
    if isinstance(program, str):
        program = parse_program(program, inputs)
    env: dict[str, Tensor] = dict(inputs)
    results: dict[str, Tensor] = {}
    for statement in program:
        builder = _Builder(tape, env, statement.line)
        if isinstance(statement.expr, Number):
            tensor = tape.constant(statement.name, statement.expr.value)
        else:
            with np.errstate(all="ignore"):
                tensor = builder.tensor(statement.expr).named(statement.name)
        env[statement.name] = results[statement.name] = tensor
    return results


class _Builder:
    def __init__(self, tape: Tape, env: dict[str, Tensor], line: int):
        self.tape, self.env, self.line = tape, env, line

    def operand(self, node):
        """A tensor, or a plain number for a literal (the tape makes it a constant)."""
        return node.value if isinstance(node, Number) else self.tensor(node)

    def tensor(self, node) -> Tensor:
        if isinstance(node, Number):
            return self.tape.constant(None, node.value)
        if isinstance(node, Name):
            return self.env[node.name]
        if isinstance(node, Negative):
            return self.apply(node, "neg", lambda x: -x, self.tensor(node.operand))
        if isinstance(node, Power):
            return self.apply(node, "**", lambda x: x ** node.exponent, self.tensor(node.base))
        if isinstance(node, Call):
            x = self.tensor(node.argument)
            if node.function == "softmax" and x.value.ndim == 0:
                raise ExpressionError(self.line, node.column,
                                      "softmax needs a vector (it normalises over the last axis)")
            return self.apply(node, node.function, _FUNCTIONS[node.function], x)
        left = self.operand(node.left)
        right = self.operand(node.right)
        if not isinstance(left, Tensor) and not isinstance(right, Tensor):
            left = self.tape.constant(None, left)
        if node.op == "@":
            left, right = (x if isinstance(x, Tensor) else self.tape.constant(None, x)
                           for x in (left, right))
            if left.value.ndim == 0 or right.value.ndim == 0:
                raise ExpressionError(self.line, node.column,
                                      "@ multiplies matrices or vectors; use * for a number")
        return self.apply(node, node.op, _binary(node.op), left, right)

    def apply(self, node, what: str, fn, *args):
        try:
            return fn(*args)
        except (ValueError, TypeError, IndexError, ArithmeticError) as error:
            shapes = [np.shape(a.value if isinstance(a, Tensor) else a) for a in args]
            raise ExpressionError(self.line, node.column, _why(what, shapes, error)) from None


def _why(what: str, shapes: list[tuple], error: Exception) -> str:
    if what == "@" and len(shapes) == 2:
        left, right = shapes
        inner = right[0] if len(right) == 1 else right[-2]
        return (f"cannot compute {left} @ {right}: the left's last axis ({left[-1]}) must "
                f"equal the right's {'only' if len(right) == 1 else 'second-to-last'} "
                f"axis ({inner})")
    if len(shapes) == 2 and "broadcast" in str(error):
        return (f"cannot compute {what} on shapes {shapes[0]} and {shapes[1]}: they do not "
                "broadcast (each axis must match or be 1)")
    return f"cannot compute {what} on shapes {' and '.join(map(str, shapes))}: {error}"


_FUNCTIONS = {"relu": Tensor.relu, "tanh": Tensor.tanh, "exp": Tensor.exp, "log": Tensor.log,
              "sum": Tensor.sum, "mean": Tensor.mean, "softmax": Tensor.softmax}
_OPERATORS = {"+": Tensor.__add__, "-": Tensor.__sub__, "*": Tensor.__mul__,
              "/": Tensor.__truediv__, "@": Tensor.__matmul__}


def _binary(op: str):
    """``a op b`` where ``a`` may be a plain number and ``b`` a tensor (``2 * x``)."""
    forward, reflected = _OPERATORS[op], _REFLECTED[op]
    return lambda a, b: forward(a, b) if isinstance(a, Tensor) else reflected(b, a)


_REFLECTED = {"+": Tensor.__radd__, "-": Tensor.__rsub__, "*": Tensor.__rmul__,
              "/": Tensor.__rtruediv__, "@": Tensor.__rmatmul__}
