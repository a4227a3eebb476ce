"""A recursive-descent parser for the one grammar (loosest first)::

    statement  := NAME '=' expression                         a line of a lesson program
    expression := sum [('<' | '>' | '<=' | '>=' | '==') sum]   one comparison at most
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '/' | '@') unary)*
    unary      := ('-' | '+') unary | power
    power      := postfix ['**' unary]                         right-associative
    postfix    := atom ('[' expression (',' expression)* ']')*
    atom       := NUMBER | NAME | NAME '(' arguments ')' | '(' expression ')'

``**`` binds tighter than a unary minus on its left, as in Python: ``-2**2 = -4``,
``2**-1 = 0.5``. ``value``, ``grad``, ``final_grad``, ``input`` and ``contribution``
take a tensor *name* (``encoder.layers.0.self_attn.weights``) or a whole number, not an
expression. At most ``MAX_LENGTH`` characters and ``MAX_DEPTH`` levels of nesting, so
no input is expensive and none runs Python out of stack.
"""

from __future__ import annotations

from functools import lru_cache

from engine.expr.errors import ExpressionError
from engine.expr.tokens import MAX_LENGTH, Token, tokenize
from engine.expr.tree import (Call, Chain, Compare, Index, Name, Negate, Node, Number, Power,
                              Reference, walk)

__all__ = ["Expr", "parse", "parse_statement", "MAX_DEPTH", "MAX_LENGTH",
           "REFERENCE_FUNCTIONS", "COMPARISONS"]

MAX_DEPTH = 40
REFERENCE_FUNCTIONS = frozenset({"value", "grad", "final_grad", "input", "contribution"})
COMPARISONS = ("<", ">", "<=", ">=", "==")


class Expr:
    """A parsed expression: ``parse("value(x)[0, 2] * 2")``; ``evaluate(expr, env)``
    (``engine.expr.evaluator``) computes it. ``names`` are the names it reads (functions
    included); ``references`` the (function, tensor name or input number) pairs of
    ``value(…)`` and the like."""


    def __init__(self, text: str, root: Node):
        self.text = text
        self.root = root
        names: set[str] = set()
        references: list[tuple[str, str | int]] = []
        for node in walk(root):
            if isinstance(node, Name):
                names.add(node.name)
            elif isinstance(node, Call):
                names.add(node.function)
                references += [(node.function, a.target) for a in node.arguments
                               if isinstance(a, Reference)]
        self.names = frozenset(names)
        self.references = tuple(references)

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    @property
    def is_constant(self) -> bool:
        """True when it uses no names at all: a learner's arithmetic like ``-1/4``."""
        return not self.names


@lru_cache(maxsize=4096)
def parse(text: str) -> Expr:
    """Parse ``text`` or raise ``ExpressionError`` with a position and a plain message.

    An ``Expr`` never changes, so one text is parsed once: the lessons repeat many of
    their ~1,000 expressions, and all are checked when the tutor starts."""
    return Expr(text, _Parser(text).parse())


def parse_statement(text: str) -> tuple[Token, Expr]:
    """``NAME = expression``: the name's token and the expression."""
    parser = _Parser(text)
    first = parser.token
    if first.kind != "name":
        raise ExpressionError(f"expected a name to assign to (like 'loss = ...'), "
                              f"got {parser.describe()}", first.position)
    parser.advance()
    if not parser.at("="):
        raise ExpressionError(f"expected '=' after {first.text!r}, got {parser.describe()}",
                              parser.token.position)
    parser.advance()
    return first, Expr(text, parser.parse())


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
        raise ExpressionError(f"expected {op!r} but found {self.describe()}", self.token.position)

    def describe(self) -> str:
        token = self.token
        return "the end" if token.kind == "end" else repr(token.text)

    def enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested too deeply (more than {MAX_DEPTH} "
                                  "levels)", position)

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty", self.token.position if self.i
                                  else 0)
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
            if self.at("="):
                raise ExpressionError("use == to compare two values", self.token.position)
            raise ExpressionError(f"unexpected {self.describe()} (is an operator missing?)",
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
        return self._chain(("*", "/", "@"), self.unary)

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
            raise ExpressionError("the expression ends too early: a number or a name is "
                                  "missing", token.position)
        if self.at("="):
            raise ExpressionError("use == to compare two values", token.position)
        raise ExpressionError(f"expected a number or a name, got {token.text!r}", token.position)

    def call(self, name: Token) -> Node:
        opened = self.advance()
        self.enter(opened.position)
        if "." in name.text:
            raise ExpressionError(f"there is no function called {name.text!r}", name.position)
        if name.text in REFERENCE_FUNCTIONS:
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
