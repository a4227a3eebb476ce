"""Interpreter 1: the value of an expression, given named values and functions.

``env`` maps names to values (numbers, arrays) or to functions; a function named in
``REFERENCE_FUNCTIONS`` receives a tensor name (str) or an input number (int). All
arithmetic is float64 NumPy under ``errstate(all="ignore")``: a result that turns
infinite or undefined from finite operands (an overflow, a division by zero,
``log(0)``) is an ``ExpressionError``, while values already infinite (a masked
attention score is −inf) pass through as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.expr.errors import ExpressionError, did_you_mean
from engine.expr.parser import Expr, parse
from engine.expr.tree import (Call, Chain, Compare, Index, Name, Negate, Node, Number, Power,
                              Reference)


def evaluate(expression: str | Expr | Node, env: Mapping | None = None):
    """The value of ``expression`` (text is parsed first): float | np.ndarray | tuple (a
    shape) | frozenset (positions, as tuples)."""
    if isinstance(expression, str):
        expression = parse(expression)
    node = expression.root if isinstance(expression, Expr) else expression
    return _EVALUATORS[type(node)](node, {} if env is None else env)


def _number(node: Number, env):
    return node.value


def _name(node: Name, env):
    value = _lookup(env, node.name, node.position)
    if callable(value):
        raise ExpressionError(f"{node.name} is a function: write {node.name}(…)", node.position)
    return _normalise(value)


def _call(node: Call, env):
    function = _lookup(env, node.function, node.position)
    if not callable(function):
        raise ExpressionError(f"{node.function} is a value, not a function: "
                              f"write {node.function} without (…)", node.position)
    arguments = [a.target if isinstance(a, Reference) else evaluate(a, env)
                 for a in node.arguments]
    try:
        with np.errstate(all="ignore"):
            result = _normalise(function(*arguments))
    except ExpressionError as error:
        raise _placed(error, node.position) from None
    except (ValueError, TypeError, IndexError, ArithmeticError) as error:
        raise ExpressionError(f"{node.function}(…) cannot be computed here: {error}",
                              node.position) from None
    numeric = [a for a, n in zip(arguments, node.arguments) if not isinstance(n, Reference)]
    if numeric and all(_finite(a) for a in numeric) and not _finite(result):
        raise ExpressionError(f"{node.function}(…) gives an infinite or undefined "
                              "result here (like log(0) or sqrt(-1))", node.position)
    return result


def _negate(node: Negate, env):
    x = _numeric(evaluate(node.operand, env), f"unary {node.sign}", node.position)
    return _normalise(-x if node.sign == "-" else x)


def _chain(node: Chain, env):
    result = evaluate(node.operands[0], env)
    for (op, position), operand in zip(node.operators, node.operands[1:]):
        result = arithmetic(op, result, evaluate(operand, env), position)
    return result


def _power(node: Power, env):
    return arithmetic("**", evaluate(node.base, env), evaluate(node.exponent, env),
                      node.position)


def _compare(node: Compare, env):
    a, b = evaluate(node.left, env), evaluate(node.right, env)
    if isinstance(a, (tuple, frozenset, set)) or isinstance(b, (tuple, frozenset, set)):
        if node.op != "==":
            raise ExpressionError(f"{node.op} compares numbers; shapes and sets of "
                                  "positions can only be compared with ==", node.position)
        return 1.0 if a == b else 0.0
    a = _numeric(a, node.op, node.position)
    b = _numeric(b, node.op, node.position)
    compare = {"<": np.less, ">": np.greater, "<=": np.less_equal,
               ">=": np.greater_equal, "==": np.equal}[node.op]
    try:
        return _normalise(compare(a, b).astype(float))
    except ValueError:
        raise ExpressionError(_broadcast_message(node.op, a, b), node.position) from None


def _index(node: Index, env):
    value = evaluate(node.target, env)
    positions = []
    for index in node.indices:
        i = evaluate(index, env)
        if not isinstance(i, float) or not np.isfinite(i) or i != int(i):
            raise ExpressionError("an index must be a whole number, like x[0, 2]",
                                  index.position)
        positions.append(int(i))
    if isinstance(value, tuple):
        if len(positions) != 1:
            raise ExpressionError("a shape takes one index: shape(x)[0]", node.position)
        return float(_pick(value, positions[0], 0, len(value), node.position))
    if isinstance(value, (set, frozenset)):
        raise ExpressionError("a set of positions cannot be indexed", node.position)
    if isinstance(value, float):
        raise ExpressionError("a single number cannot be indexed", node.position)
    if len(positions) > value.ndim:
        axes = "axis" if value.ndim == 1 else "axes"
        raise ExpressionError(f"this value has {value.ndim} {axes} (shape "
                              f"{tuple(value.shape)}) but {len(positions)} indices were given",
                              node.position)
    for axis, p in enumerate(positions):
        _pick(range(value.shape[axis]), p, axis, value.shape[axis], node.position)
    return _normalise(value[tuple(positions)])


def _reference(node: Reference, env):  # pragma: no cover - only inside a call
    raise ExpressionError("a tensor name is read only inside value(…), grad(…) and the like",
                          node.position)


_EVALUATORS = {Number: _number, Name: _name, Call: _call, Negate: _negate, Chain: _chain,
               Power: _power, Compare: _compare, Index: _index, Reference: _reference}


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
    known = list(env.keys()) if isinstance(env, Mapping) or hasattr(env, "keys") else []
    raise ExpressionError(f"unknown name {name!r}{did_you_mean(name, known)}", position)


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


def matmul_message(left: tuple, right: tuple) -> str:
    inner = right[0] if len(right) == 1 else right[-2]
    return (f"cannot compute {left} @ {right}: the left's last axis ({left[-1]}) must "
            f"equal the right's {'only' if len(right) == 1 else 'second-to-last'} "
            f"axis ({inner})")


def arithmetic(op: str, a, b, position: int):
    """``a op b`` in float64, with a plain error for what has no finite value."""
    a = _numeric(a, op, position)
    b = _numeric(b, op, position)
    if op == "@":
        if np.ndim(a) == 0 or np.ndim(b) == 0:
            raise ExpressionError("@ multiplies matrices or vectors; use * for a number",
                                  position)
        try:
            return _normalise(np.matmul(np.asarray(a, dtype=np.float64),
                                        np.asarray(b, dtype=np.float64)))
        except ValueError:
            raise ExpressionError(matmul_message(np.shape(a), np.shape(b)), position) from None
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
