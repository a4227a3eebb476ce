"""Text into tokens: numbers, names (a dotted tensor name is one token) and operators.

``×``, ``·`` and ``∗`` mean ``*``; ``−`` and ``–`` mean ``-``; ``÷`` means ``/``; ``^``
means ``**`` (as a learner writes a power, not Python's xor), so an answer copied from the
screen or written as on paper reads as typed. ``π`` is a name.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from engine.expr.errors import ExpressionError

MAX_LENGTH = 500

SYNONYMS = {"×": "*", "·": "*", "⋅": "*", "∗": "*", "−": "-", "–": "-", "÷": "/"}
OPERATORS = ("**", "<=", ">=", "==", "+", "-", "*", "/", "@", "(", ")", "[", "]", ",", "<", ">",
             "=")
_SYNONYMS = str.maketrans(SYNONYMS)  # one character for one: positions stay those typed
_TWO_CHARACTER_OPERATORS = frozenset(o for o in OPERATORS if len(o) == 2)
_ONE_CHARACTER_OPERATORS = frozenset(o for o in OPERATORS if len(o) == 1)
_NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_π")
_NAME_CHARS = _NAME_START | set("0123456789")
_DIGITS = set("0123456789")
# a name, dotted parts included: encoder.layers.0.self_attn.weights
_NAME = re.compile(r"[a-zA-Z_π][a-zA-Z_π0-9]*(?:\.[a-zA-Z_π0-9]+)*")


class Token(NamedTuple):
    kind: str  # "number", "name", "op", "end"
    text: str
    position: int
    number: float = 0.0


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is too long ({len(text)} characters; "
                              f"at most {MAX_LENGTH})")
    chars = text.translate(_SYNONYMS)
    tokens: list[Token] = []
    i, n = 0, len(chars)
    while i < n:
        c = chars[i]
        if c.isspace():
            i += 1
        elif c in _DIGITS or (c == "." and i + 1 < n and chars[i + 1] in _DIGITS):
            i = _number(chars, i, tokens)
        elif c in _NAME_START:
            end = _NAME.match(chars, i).end()
            tokens.append(Token("name", chars[i:end], i))
            i = end
        elif c == "^":
            tokens.append(Token("op", "**", i))
            i += 1
        elif chars[i:i + 2] in _TWO_CHARACTER_OPERATORS:
            tokens.append(Token("op", chars[i:i + 2], i))
            i += 2
        elif c in _ONE_CHARACTER_OPERATORS:
            tokens.append(Token("op", c, i))
            i += 1
        else:
            raise ExpressionError(_bad_character(c), i)
    tokens.append(Token("end", "", n))
    return tokens


def _bad_character(c: str) -> str:
    if c in "'\"":
        return "quotes are not part of this language: write names and numbers without them"
    shown = repr(c) if c.isprintable() else f"U+{ord(c):04X}"
    return f"unexpected character {shown}"


def _number(chars: str, i: int, tokens: list[Token]) -> int:
    """Read ``12``, ``0.37``, ``.5``, ``5.``, ``3e-2``; refuse ``1_000``, ``2x``, ``1.2.3``."""
    start, n = i, len(chars)
    while i < n and chars[i] in _DIGITS:
        i += 1
    if i < n and chars[i] == ".":
        i += 1
        while i < n and chars[i] in _DIGITS:
            i += 1
    if i < n and chars[i] in "eE":
        j = i + 1
        if j < n and chars[j] in "+-":
            j += 1
        if j < n and chars[j] in _DIGITS:
            i = j
            while i < n and chars[i] in _DIGITS:
                i += 1
        elif not (j < n and chars[j] in _NAME_CHARS):
            raise ExpressionError(f"the exponent of {chars[start:j]!r} is missing: "
                                  "write 3e-2 for 0.03", start)
    if i < n and (chars[i] in _NAME_CHARS or chars[i] == "."):
        end = i
        while end < n and (chars[end] in _NAME_CHARS or chars[end] == "."):
            end += 1
        word = chars[start:end]
        advice = ("write numbers without '_'" if "_" in word
                  else "write 2*x to multiply" if chars[i] in _NAME_START
                  else "a number has at most one decimal point")
        raise ExpressionError(f"{word!r} is not a number ({advice})", start)
    text = chars[start:i]
    value = float(text)  # digits, one '.', one exponent: checked above
    if not math.isfinite(value):
        raise ExpressionError(f"the number {text} is too large", start)
    tokens.append(Token("number", text, start, value))
    return i
