"""Lesson text with live numbers: ``{expression}`` parts filled in at a step.

Numbers print as the screen prints them — 4 significant digits, exact zeros as
``0`` (``engine.ops.base.fmt``) — so a learner can find every number of a prompt
on the screen, and an answer worked out from them is graded fairly.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping

import numpy as np

from engine.ops.base import fmt

from engine.expr import ExpressionError, evaluate
from tutor.lessons.language import split_template

# printing values ---------------------------------------------------------------------

EDGE_ITEMS = 3
MAX_ITEMS = 8


def format_value(value, hide=None) -> str:
    """Numbers with 4 significant digits; arrays as ``[0.1, -0.2, …, 3]``; shapes as
    ``(3, 4)``; sets of positions as ``(0, 1), (0, 2)`` or ``1, 3`` (one axis) or ``none``.

    ``hide(x)`` true for a number or shape writes it as ``?`` (a waiting quiz's answer)."""
    if hide is not None:
        if isinstance(value, tuple) and hide(value):
            return "?"
        array = np.asarray(value) if not isinstance(value, (tuple, set, frozenset)) else None
        if array is not None and array.dtype.kind in "fiub":
            if array.ndim == 0:
                return "?" if hide(float(array)) else fmt(array)
            return _format_array(array, lambda x: "?" if hide(float(x)) else fmt(x))
    if isinstance(value, (set, frozenset)):
        if not value:
            return "none"
        positions = sorted(tuple(p) if isinstance(p, tuple) else (p,) for p in value)
        if all(len(p) == 1 for p in positions):
            return ", ".join(str(p[0]) for p in positions)
        return ", ".join("(" + ", ".join(str(i) for i in p) + ")" for p in positions)
    if isinstance(value, tuple):
        return str(tuple(int(v) for v in value))
    array = np.asarray(value)
    if array.ndim == 0:
        return fmt(array)
    return _format_array(array)


def _format_array(array: np.ndarray, number=fmt) -> str:
    if array.ndim == 0:
        return number(array)
    n = array.shape[0]
    if n > MAX_ITEMS:
        items = ([_format_array(array[i], number) for i in range(EDGE_ITEMS)] + ["…"]
                 + [_format_array(array[i], number) for i in range(n - 2, n)])
    else:
        items = [_format_array(array[i], number) for i in range(n)]
    return "[" + ", ".join(items) + "]"


# templates -------------------------------------------------------------------------

def render(template: str, ctx: Mapping, answer=None, hide=None) -> str:
    """Fill every ``{expression}`` with its value at the step, printed as on screen.

    ``answer`` (a quiz's expected answer) is available as the name ``answer``; ``hide``
    (see ``format_value``) writes a waiting quiz's answer as ``?``.
    A bad part raises ``ExpressionError`` whose message starts with that part.
    """
    env = ctx if answer is None else ChainMap({"answer": answer}, ctx)
    out = []
    for part in split_template(template):
        if isinstance(part, str):
            out.append(part)
            continue
        source, position = part
        try:
            out.append(format_value(evaluate(source, env), hide))
        except ExpressionError as error:
            where = None if error.position is None else position + error.position
            raise ExpressionError(f"{{{source}}}: {error.message}", where) from None
    return "".join(out)
