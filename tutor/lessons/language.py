"""What lesson text may say, read without running anything (and without NumPy, so the
lesson list opens quickly): the names an expression may use, and the ``{…}`` parts of a
template. ``tutor.lessons.live`` gives the names their values at a step;
``tutor.lessons.templates`` fills the parts in.
"""

from __future__ import annotations

import re

from engine.expr import ExpressionError

VALUE_NAMES = ("output", "upstream", "loss", "lr", "before", "after", "gradient")
TENSOR_FUNCTIONS = ("value", "grad", "final_grad", "input", "contribution")
ARRAY_FUNCTIONS = ("shape", "size", "zeros", "argmax", "sum", "mean", "max", "min", "abs",
                   "exp", "log", "sqrt", "tanh", "relu", "softmax")
NAMES = frozenset(VALUE_NAMES + TENSOR_FUNCTIONS + ARRAY_FUNCTIONS)
"""Every name a lesson expression may use (``answer`` too, in a quiz's ``explain``)."""


_BRACES = re.compile(r"\{\{|\}\}|[{}]")


def split_template(template: str) -> list:
    """``"a {x} b"`` → ``["a ", ("x", 3), " b"]``; ``{{`` and ``}}`` are literal braces.

    The int is where the expression starts in the template (for messages).
    """
    parts: list = []
    text: list[str] = []
    i = 0
    while (brace := _BRACES.search(template, i)) is not None:
        text.append(template[i:brace.start()])
        token, at = brace.group(), brace.start()
        if token in ("{{", "}}"):
            text.append(token[0])
            i = brace.end()
        elif token == "{":
            end = template.find("}", at + 1)
            if end < 0:
                raise ExpressionError(f"the '{{' at character {at + 1} is never closed with "
                                      "'}' (write {{ for a literal brace)", at)
            if "".join(text):
                parts.append("".join(text))
            text = []
            parts.append((template[at + 1:end], at + 1))
            i = end + 1
        else:
            raise ExpressionError(f"a lone '}}' at character {at + 1} (write }}}} for a literal "
                                  "brace)", at)
    text.append(template[i:])
    if "".join(text):
        parts.append("".join(text))
    return parts
