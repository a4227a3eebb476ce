"""The tutor's one expression language.

Lesson programs (``loss = (w * x - y) ** 2``), quiz answers and the live numbers in
lesson text (``contribution(0)[0, 2]``), and what a learner types (``-1/4``) are all
read by one tokenizer and one parser into one small tree. Two interpreters walk it:
``evaluate`` computes numbers from named values, ``build_program`` records ops on a
tape. Nothing is ever handed to Python's ``eval``.
"""

from engine.expr.errors import ExpressionError, did_you_mean
from engine.expr.evaluate import evaluate
from engine.expr.parser import MAX_DEPTH, MAX_LENGTH, Expr, parse
from engine.expr.program import Assignment, build_program, check_name, parse_program

__all__ = ["ExpressionError", "did_you_mean", "Expr", "parse", "evaluate",
           "MAX_DEPTH", "MAX_LENGTH", "Assignment", "parse_program", "build_program",
           "check_name"]
