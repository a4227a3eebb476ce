"""The parsed tree: plain data. ``evaluate`` and ``program`` are its interpreters."""

from __future__ import annotations

from dataclasses import dataclass


class Node:
    position: int  # 0-based character where the node starts (an operator: where it stands)


@dataclass
class Number(Node):
    value: float
    position: int


@dataclass
class Name(Node):
    name: str
    position: int


@dataclass
class Reference(Node):
    """A tensor name or an input number given to ``value(…)``, ``input(…)`` and the like."""

    target: str | int
    position: int


@dataclass
class Call(Node):
    function: str
    arguments: list[Node]
    position: int


@dataclass
class Negate(Node):
    operand: Node
    position: int
    sign: str = "-"


@dataclass
class Chain(Node):
    """``a + b - c`` or ``a * b / c @ d``: one flat node, evaluated left to right."""

    operands: list[Node]
    operators: list[tuple[str, int]]  # (operator, position) between operands
    position: int


@dataclass
class Power(Node):
    base: Node
    exponent: Node
    position: int


@dataclass
class Compare(Node):
    left: Node
    op: str
    right: Node
    position: int


@dataclass
class Index(Node):
    target: Node
    indices: list[Node]
    position: int


def children(node: Node) -> list[Node]:
    """The nodes directly under ``node`` (a ``Reference`` is a leaf)."""
    if isinstance(node, Call):
        return list(node.arguments)
    if isinstance(node, Negate):
        return [node.operand]
    if isinstance(node, Chain):
        return list(node.operands)
    if isinstance(node, Power):
        return [node.base, node.exponent]
    if isinstance(node, Compare):
        return [node.left, node.right]
    if isinstance(node, Index):
        return [node.target, *node.indices]
    return []


def walk(node: Node):
    """Every node of the tree, parents before children (no recursion: trees are shallow,
    but a walk should never be what runs out of stack)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))
