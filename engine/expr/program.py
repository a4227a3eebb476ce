"""Interpreter 2: a lesson's program, lines ``name = expression``, recorded as tape ops.

    pred = w @ x + b         # blank lines and comments are fine
    err  = pred - y
    loss = mean(err ** 2)

A program uses a part of the language: numbers, names, ``+ - * / @``, unary minus,
``**`` with a number as the exponent, and the functions in ``FUNCTIONS`` — no
comparisons, no indexing, no tensor functions (those read a run; a program makes
one). Each line's last op is named after the line, so the timeline's steps are
called ``pred``, ``err``, ``loss``; ops inside a line keep their op names (``mul``).
A part with no names (``2 ** -1``) is worked out once, as a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engine.expr.errors import ExpressionError
from engine.expr.evaluator import evaluate, matmul_message
from engine.expr.parser import Expr, parse_statement
from engine.expr.tree import Call, Compare, Index, Name, Negate, Node, Power, walk
from engine.ops import OPS
from engine.tape import Tape, Tensor

FUNCTIONS = ("relu", "tanh", "exp", "log", "sum", "mean", "softmax")
_RESERVED = re.compile(r"^(%s)(_\d+)?$" % "|".join(sorted(OPS)))


@dataclass(frozen=True)
class Assignment:
    name: str
    expr: Expr
    line: int
    column: int  # 1-based, where the name starts


def check_name(name: str) -> str | None:
    """Why ``name`` cannot label a line or an input (None if it can)."""
    if name in FUNCTIONS:
        return f"{name!r} is a function name"
    if _RESERVED.match(name):
        return f"{name!r} is an op name the tape gives to unnamed ops"
    return None


def parse_program(text: str, inputs=()) -> list[Assignment]:
    """The program's lines, checked: each is ``name = expression`` in the program part
    of the language, every name used is an input or an earlier line, no name is
    assigned twice. Errors say ``line L, col C: …``."""
    if not isinstance(text, str):
        raise ExpressionError(f"the program must be text, got {type(text).__name__}", 0, 1)
    known = {name: "an input" for name in inputs}
    program = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0]
        if not line.strip():
            continue
        try:
            name, expr = parse_statement(line)
            _check_expression(expr, known)
        except ExpressionError as error:
            error.line = line_no
            raise
        where = dict(position=name.position, line=line_no)
        if name.text in known:
            raise ExpressionError(f"{name.text!r} is already {known[name.text]}; give this line "
                                  "a new name", **where)
        why = check_name(name.text) if "." not in name.text else \
            f"{name.text!r} has a dot; a line's name is letters, digits and _"
        if why:
            raise ExpressionError(f"{why}; choose another name", **where)
        if isinstance(expr.root, Name):
            raise ExpressionError(f"'{name.text} = {expr.root.name}' computes nothing; use "
                                  f"{expr.root.name!r} directly", expr.root.position, line_no)
        known[name.text] = f"defined on line {line_no}"
        program.append(Assignment(name.text, expr, line_no, name.position + 1))
    if not program:
        raise ExpressionError("the program has no lines; write at least 'name = expr'", 0, 1)
    return program


def _check_expression(expr: Expr, known: dict) -> None:
    """What a program may not use, refused with where it is."""
    for node in walk(expr.root):
        if isinstance(node, Compare):
            raise ExpressionError(f"{node.op} compares; a program computes values (comparisons "
                                  "are for quiz answers)", node.position)
        if isinstance(node, Index):
            raise ExpressionError("indexing like x[0] is for quiz answers; a program works on "
                                  "whole tensors", node.position)
        if isinstance(node, Call):
            if node.function not in FUNCTIONS:
                raise ExpressionError(f"unknown function {node.function!r}; the functions are "
                                      f"{', '.join(FUNCTIONS)}", node.position)
            if len(node.arguments) != 1:
                raise ExpressionError(f"{node.function} takes one argument", node.position)
        if isinstance(node, Name):
            if node.name in FUNCTIONS:
                raise ExpressionError(f"{node.name} is a function: write {node.name}(x)",
                                      node.position)
            if node.name not in known:
                defined = ", ".join(known) or "nothing yet"
                raise ExpressionError(f"unknown name {node.name!r}; defined so far: {defined}",
                                      node.position)
        if isinstance(node, Power):
            if not _constant(node.exponent):
                got = repr(node.exponent.name) if isinstance(node.exponent, Name) else \
                    "an expression with names"
                raise ExpressionError(f"expected a number as the exponent (x ** 2), got {got}",
                                      node.exponent.position)
            evaluate(node.exponent)  # a number too large to be one is refused here


def _constant(node: Node) -> bool:
    return not any(isinstance(n, (Name, Call)) for n in walk(node))


def build_program(tape: Tape, program, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """Record the program's ops on ``tape``; returns each line's name → its tensor.

    ``program`` is text or the result of ``parse_program``. A line that is only a
    number becomes a named constant; every other line's last op gets the line's name.
    """
    if isinstance(program, str):
        program = parse_program(program, inputs)
    env: dict[str, Tensor] = dict(inputs)
    results: dict[str, Tensor] = {}
    for statement in program:
        builder = _Builder(tape, env, statement.line)
        with np.errstate(all="ignore"):
            value = builder.operand(statement.expr.root)
        if isinstance(value, Tensor):
            tensor = value.named(statement.name)
        else:
            tensor = tape.constant(statement.name, value)
        env[statement.name] = results[statement.name] = tensor
    return results


class _Builder:
    """Walks one line's tree, recording an op for each operator and function."""

    def __init__(self, tape: Tape, env: dict[str, Tensor], line: int):
        self.tape, self.env, self.line = tape, env, line

    def operand(self, node: Node):
        """A tensor, or a plain number for a part with no names (the tape makes a number
        a constant where an op needs one)."""
        if _constant(node):
            try:
                return float(evaluate(node))
            except ExpressionError as error:
                error.line = self.line
                raise
        if isinstance(node, Name):
            return self.env[node.name]
        if isinstance(node, Negate):
            x = self.operand(node.operand)
            return x if node.sign == "+" else self.apply(node.position, "neg", lambda a: -a, x)
        if isinstance(node, Power):
            exponent = float(evaluate(node.exponent))
            return self.apply(node.position, "**", lambda a: a ** exponent,
                              self.operand(node.base))
        if isinstance(node, Call):
            x = self.tensor(node.arguments[0])
            if node.function == "softmax" and x.value.ndim == 0:
                raise ExpressionError("softmax needs a vector (it normalises over the last axis)",
                                      node.position, self.line)
            return self.apply(node.position, node.function, _FUNCTIONS[node.function], x)
        result = self.operand(node.operands[0])
        for (op, position), operand in zip(node.operators, node.operands[1:]):
            right = self.operand(operand)
            result = self.binary(op, position, result, right)
        return result

    def tensor(self, node: Node) -> Tensor:
        value = self.operand(node)
        return value if isinstance(value, Tensor) else self.tape.constant(None, value)

    def binary(self, op: str, position: int, left, right):
        if not isinstance(left, Tensor) and not isinstance(right, Tensor):
            left = self.tape.constant(None, left)
        if op == "@":
            left, right = (x if isinstance(x, Tensor) else self.tape.constant(None, x)
                           for x in (left, right))
            if left.value.ndim == 0 or right.value.ndim == 0:
                raise ExpressionError("@ multiplies matrices or vectors; use * for a number",
                                      position, self.line)
        return self.apply(position, op, _BINARY[op], left, right)

    def apply(self, position: int, what: str, fn, *args):
        """``fn(*args)``; a failure (shapes that do not fit) points at ``position``."""
        try:
            return fn(*args)
        except (ValueError, TypeError, IndexError, ArithmeticError) as error:
            shapes = [np.shape(a.value if isinstance(a, Tensor) else a) for a in args]
            raise ExpressionError(_why(what, shapes, error), position, self.line) from None


def _why(what: str, shapes: list[tuple], error: Exception) -> str:
    if what == "@" and len(shapes) == 2:
        return matmul_message(*shapes)
    if len(shapes) == 2 and "broadcast" in str(error):
        return (f"cannot compute {what} on shapes {shapes[0]} and {shapes[1]}: they do not "
                "broadcast (each axis must match or be 1)")
    return f"cannot compute {what} on shapes {' and '.join(map(str, shapes))}: {error}"


def _reflected(forward, backward):
    """``a op b`` where ``a`` may be a plain number and ``b`` a tensor (``2 * x``)."""
    return lambda a, b: forward(a, b) if isinstance(a, Tensor) else backward(b, a)


_FUNCTIONS = {"relu": Tensor.relu, "tanh": Tensor.tanh, "exp": Tensor.exp, "log": Tensor.log,
              "sum": Tensor.sum, "mean": Tensor.mean, "softmax": Tensor.softmax}
_BINARY = {"+": _reflected(Tensor.__add__, Tensor.__radd__),
           "-": _reflected(Tensor.__sub__, Tensor.__rsub__),
           "*": _reflected(Tensor.__mul__, Tensor.__rmul__),
           "/": _reflected(Tensor.__truediv__, Tensor.__rtruediv__),
           "@": _reflected(Tensor.__matmul__, Tensor.__rmatmul__)}
