"""One small, safe expression language for learner answers and lesson expressions.

A hand-written tokenizer and a recursive-descent parser turn the text into a tiny
tree; evaluating the tree can only do what is written here — arithmetic, one
comparison, indexing, and calling the functions the caller puts in ``env``.
Nothing is ever handed to ``eval``, ``exec`` or ``compile``.

Grammar (loosest first; ``**`` binds tighter than a unary minus on its left, as in
Python, so ``-2**2 = -4`` and ``2**-1 = 0.5``)::

    expression := sum [('<' | '>' | '<=' | '>=' | '==') sum]     one comparison at most
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '/') unary)*
    unary      := ('-' | '+') unary | power
    power      := postfix ['**' unary]                            right-associative
    postfix    := atom ('[' expression (',' expression)* ']')*
    atom       := NUMBER | NAME | NAME '(' arguments ')' | '(' expression ')'

``value``, ``grad``, ``final_grad``, ``input`` and ``contribution`` take a tensor
*name* (``encoder.layers.0.self_attn.weights``) or a whole number, not an
expression. ``×``, ``·`` and ``∗`` mean ``*``; ``−`` and ``–`` mean ``-``; ``÷`` means ``/``.

Limits keep every input cheap: at most 500 characters and 40 levels of nesting;
all arithmetic is float64, so ``10**10**10`` is an overflow reported at once, not a
huge integer computed forever.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from engine.expr.tree import (Call, Chain, Compare, ExpressionError, Index, Name, Negate, Node,
                              Number, Power, Reference)

__all__ = ["ExpressionError", "Expr", "parse", "evaluate", "tokenize", "MAX_LENGTH",
           "MAX_DEPTH", "NAME_ARGUMENT_FUNCTIONS", "COMPARISONS"]

MAX_LENGTH = 500
MAX_DEPTH = 40
NAME_ARGUMENT_FUNCTIONS = frozenset({"value", "grad", "final_grad", "input", "contribution"})
COMPARISONS = ("<", ">", "<=", ">=", "==")

_SYNONYMS = {"×": "*", "·": "*", "⋅": "*", "∗": "*", "−": "-", "–": "-", "÷": "/"}
_OPERATORS = ("**", "<=", ">=", "==", "+", "-", "*", "/", "(", ")", "[", "]", ",", "<", ">")
_NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | set("0123456789")
_DIGITS = set("0123456789")


# tokens -------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    position: int
    number: float = 0.0


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into numbers, names (dotted names are one token) and operators."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is too long ({len(text)} characters; "
                              f"at most {MAX_LENGTH})")
    chars = "".join(_SYNONYMS.get(c, c) for c in text)
    tokens: list[Token] = []
    i, n = 0, len(chars)
    while i < n:
        c = chars[i]
        if c.isspace():
            i += 1
        elif c in _DIGITS or (c == "." and i + 1 < n and chars[i + 1] in _DIGITS):
            i = _number(chars, i, tokens)
        elif c in _NAME_START:
            start = i
            while i < n and chars[i] in _NAME_CHARS:
                i += 1
            while i + 1 < n and chars[i] == "." and chars[i + 1] in _NAME_CHARS:
                i += 1
                while i < n and chars[i] in _NAME_CHARS:
                    i += 1
            tokens.append(Token("name", chars[start:i], start))
        else:
            op = next((o for o in _OPERATORS if chars.startswith(o, i)), None)
            if op is None:
                raise ExpressionError(_bad_character(c), i)
            tokens.append(Token("op", op, i))
            i += len(op)
    tokens.append(Token("end", "", n))
    return tokens


def _bad_character(c: str) -> str:
    if c == "^":
        return "use ** for powers: 2**3, not 2^3"
    if c == "=":
        return "use == to compare two values"
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


# the parser -----------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def expect(self, op: str, opened: Token | None = None) -> Token:
        if self.at(op):
            return self.advance()
        if opened is not None and self.token.kind == "end":
            raise ExpressionError(f"the {opened.text!r} at character {opened.position + 1} "
                                  f"is never closed with {op!r}", self.token.position)
        raise ExpressionError(f"expected {op!r} but found {self._describe()}", self.token.position)

    def _describe(self) -> str:
        token = self.token
        return "the end" if token.kind == "end" else repr(token.text)

    def enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested too deeply (more than {MAX_DEPTH} "
                                  "levels)", position)

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty", 0)
        node = self.expression()
        if self.token.kind != "end":
            if self.at(*COMPARISONS):
                raise ExpressionError("compare two things at a time: a < b, not a < b < c",
                                      self.token.position)
            if self.at(")", "]"):
                raise ExpressionError(f"{self.token.text!r} has no matching opening bracket",
                                      self.token.position)
            if self.at(","):
                raise ExpressionError("unexpected ',' (write decimals with a dot: 1.5)",
                                      self.token.position)
            raise ExpressionError(f"unexpected {self._describe()} (is an operator missing?)",
                                  self.token.position)
        return node

    def expression(self) -> Node:
        left = self.sum()
        if self.at(*COMPARISONS):
            op = self.advance()
            return Compare(left, op.text, self.sum(), op.position)
        return left

    def sum(self) -> Node:
        return self._chain(("+", "-"), self.product)

    def product(self) -> Node:
        return self._chain(("*", "/"), self.unary)

    def _chain(self, ops: tuple[str, ...], operand) -> Node:
        first = operand()
        operands, operators = [first], []
        while self.at(*ops):
            op = self.advance()
            operators.append((op.text, op.position))
            operands.append(operand())
        return first if not operators else Chain(operands, operators, first.position)

    def unary(self) -> Node:
        if self.at("-", "+"):
            op = self.advance()
            self.enter(op.position)
            node = Negate(self.unary(), op.position, op.text)
            self.depth -= 1
            return node
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.at("**"):
            op = self.advance()
            self.enter(op.position)
            node = Power(base, self.unary(), op.position)
            self.depth -= 1
            return node
        return base

    def postfix(self) -> Node:
        node = self.atom()
        entered = 0
        while self.at("[", "("):
            if self.at("("):
                raise ExpressionError("only a function name can be called, like sum(x)",
                                      self.token.position)
            opened = self.advance()
            self.enter(opened.position)
            entered += 1
            indices = [self.expression()]
            while self.at(","):
                self.advance()
                indices.append(self.expression())
            self.expect("]", opened)
            node = Index(node, indices, opened.position)
        self.depth -= entered
        return node

    def atom(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.advance()
            return Number(token.number, token.position)
        if token.kind == "name":
            self.advance()
            if self.at("("):
                return self.call(token)
            if "." in token.text:
                raise ExpressionError(f"{token.text!r}: a dotted tensor name goes inside "
                                      f"value(…) or grad(…), like value({token.text})",
                                      token.position)
            return Name(token.text, token.position)
        if self.at("("):
            opened = self.advance()
            self.enter(opened.position)
            if self.at(")"):
                raise ExpressionError("empty parentheses", opened.position)
            node = self.expression()
            if self.at(","):
                raise ExpressionError("a list of values in parentheses is not an expression",
                                      self.token.position)
            self.expect(")", opened)
            self.depth -= 1
            return node
        if token.kind == "end":
            raise ExpressionError("the expression ends too early", token.position)
        raise ExpressionError(f"unexpected {token.text!r}", token.position)

    def call(self, name: Token) -> Node:
        opened = self.advance()
        self.enter(opened.position)
        if "." in name.text:
            raise ExpressionError(f"there is no function called {name.text!r}", name.position)
        if name.text in NAME_ARGUMENT_FUNCTIONS:
            arguments = [self.reference(name.text)]
            if not self.at(")"):
                raise _reference_error(name.text, self.token.position)
        elif self.at(")"):
            arguments = []
        else:
            arguments = [self.expression()]
            while self.at(","):
                self.advance()
                arguments.append(self.expression())
        self.expect(")", opened)
        self.depth -= 1
        return Call(name.text, arguments, name.position)

    def reference(self, function: str) -> Reference:
        """The argument of ``value(…)`` and friends: a (dotted) name or a whole number."""
        token = self.token
        negative = False
        if self.at("-") and self.tokens[self.i + 1].kind == "number":
            negative = True
            self.advance()
        argument = self.token
        if argument.kind == "name" and not negative:
            self.advance()
            return Reference(argument.text, argument.position)
        if argument.kind == "number" and argument.number == int(argument.number):
            self.advance()
            number = int(argument.number)
            return Reference(-number if negative else number, token.position)
        raise _reference_error(function, token.position)


def _reference_error(function: str, position: int) -> ExpressionError:
    example = "input(0)" if function in ("input", "contribution") else f"{function}(scores)"
    return ExpressionError(f"{function}(…) takes a tensor name or an input number, like "
                           f"{example}", position)


# the public face ------------------------------------------------------------------

class Expr:
    """A parsed expression: ``parse("value(x)[0, 2] * 2").evaluate(env)``.

    ``env`` maps names to values (numbers, arrays) or to functions; functions
    named in ``NAME_ARGUMENT_FUNCTIONS`` receive a tensor name (str) or an int.
    """

    def __init__(self, text: str, root: Node):
        self.text = text
        self.root = root
        names: set[str] = set()
        references: list[tuple[str, str | int]] = []
        _collect(root, names, references)
        self.names = frozenset(names)
        self.references = tuple(references)

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    @property
    def is_constant(self) -> bool:
        """True when it uses no names at all: a learner's arithmetic like ``-1/4``."""
        return not self.names

    def evaluate(self, env: Mapping | None = None):
        """float | np.ndarray | tuple (a shape) | frozenset (positions, as tuples)."""
        return self.root.evaluate({} if env is None else env)


def _collect(node: Node, names: set, references: list) -> None:
    if isinstance(node, Name):
        names.add(node.name)
    elif isinstance(node, Call):
        names.add(node.function)
        for a in node.arguments:
            if isinstance(a, Reference):
                references.append((node.function, a.target))
            else:
                _collect(a, names, references)
    elif isinstance(node, Negate):
        _collect(node.operand, names, references)
    elif isinstance(node, Chain):
        for a in node.operands:
            _collect(a, names, references)
    elif isinstance(node, Power):
        _collect(node.base, names, references)
        _collect(node.exponent, names, references)
    elif isinstance(node, Compare):
        _collect(node.left, names, references)
        _collect(node.right, names, references)
    elif isinstance(node, Index):
        _collect(node.target, names, references)
        for a in node.indices:
            _collect(a, names, references)


def parse(text: str) -> Expr:
    """Parse ``text`` or raise ``ExpressionError`` with a position and a plain message."""
    return Expr(text, _Parser(text).parse())


def evaluate(text: str, env: Mapping | None = None):
    """``parse(text).evaluate(env)`` in one call."""
    return parse(text).evaluate(env)
