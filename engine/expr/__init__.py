"""The tutor's one expression language.

Lesson programs (``loss = (w * x - y) ** 2``), quiz answers and the live numbers in
lesson text (``contribution(0)[0, 2]``), and what a learner types (``-1/4``) are all
read by one tokenizer and one parser into one small tree. Two interpreters walk it:
``evaluate`` computes numbers from named values, ``build_program`` records ops on a
tape. Nothing is ever handed to Python's ``eval``.

Reading needs no NumPy; the interpreters do, so they are imported when first used (the
lesson list reads every lesson's expressions before NumPy is needed).
"""

from engine.expr.errors import ExpressionError, did_you_mean
from engine.expr.parser import MAX_DEPTH, MAX_LENGTH, Expr, parse

__all__ = ["ExpressionError", "did_you_mean", "Expr", "parse", "evaluate",
           "MAX_DEPTH", "MAX_LENGTH", "Assignment", "parse_program", "build_program",
           "check_name"]


def __getattr__(name: str):
    if name == "evaluate":
        from engine.expr.evaluator import evaluate as value
    elif name == "Assignment":
        from engine.expr.program import Assignment as value
    elif name == "build_program":
        from engine.expr.program import build_program as value
    elif name == "check_name":
        from engine.expr.program import check_name as value
    elif name == "parse_program":
        from engine.expr.program import parse_program as value
    else:
        raise AttributeError(f"module 'engine.expr' has no attribute {name!r}")
    globals()[name] = value
    return value
