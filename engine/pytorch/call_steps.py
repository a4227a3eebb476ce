"""A call's backward step, made from its parts' steps.

Autograd's steps come in autograd's order. The steps of a call's parts are gathered where
the first of them ran (their gradients depend only on the call's output and on each
other, so moving the later ones up breaks no dependency), and the call's own step follows
them: its upstream is the gradient of its output, and what it sends each argument is the
sum of what its parts sent that argument. The running totals are then taken in that
order; the call's step adds nothing new (its parts already did): its ``before`` is the
total when the call began, its ``after`` the total when it ended.
"""

from __future__ import annotations

import numpy as np

from engine.tape import BackwardStep, Contribution
from engine.pytorch.values import shape_marker


class RawStep:
    """A backward step before running totals: (input index, tensor, value) per input."""

    __slots__ = ("node", "upstream", "sent", "synthetic")

    def __init__(self, node, upstream, sent, synthetic=False):
        self.node = node
        self.upstream = upstream
        self.sent = sent
        self.synthetic = synthetic


def arrange(record, raw: list[RawStep]) -> list:
    """Autograd's steps with each call's parts gathered and the call's step after them;
    ``("start", node)`` marks where a call's parts begin."""
    if not record.parent:
        return raw
    items = [(_chain(record, s.node), s) for s in raw]
    return _arrange(record, items, 0)


def _chain(record, node) -> list:
    chain = []
    parent = record.parent.get(node.index)
    while parent is not None:
        chain.append(parent)
        parent = record.parent.get(parent.index)
    return chain[::-1]


def _arrange(record, items, level: int) -> list:
    order, groups = [], {}
    for chain, step in items:
        if len(chain) > level:
            key = chain[level]
            if key.index not in groups:
                groups[key.index] = []
                order.append(("group", key))
            groups[key.index].append((chain, step))
        else:
            order.append(("step", step))
    out = []
    for kind, x in order:
        if kind == "step":
            out.append(x)
            continue
        inner = _arrange(record, groups[x.index], level + 1)
        out.append(("start", x))
        out.extend(inner)
        own = _call_step(record, x, inner)
        if own is not None:
            out.append(own)
    return out


def _call_step(record, node, inner) -> RawStep | None:
    if node.op.level == "custom":
        return None  # its own autograd node is its step
    steps = [s for s in inner if isinstance(s, RawStep)]
    upstream = next((s.upstream for s in steps if s.node.output is node.output), None)
    if upstream is None:
        return None
    sums: dict[int, list] = {}
    for s in steps:
        if s.synthetic:
            continue
        for _, target, value in s.sent:
            sums.setdefault(target.id, []).append(value)
    sent, seen = [], set()
    for j, x in enumerate(node.inputs):
        if x.id in seen or x.id not in sums:
            continue
        seen.add(x.id)
        values = sums[x.id]
        if record.shapes_only:
            total = shape_marker(values[0].shape)
        else:
            total = values[0] if len(values) == 1 else np.sum(values, axis=0)
        sent.append((j, x, total))
    return RawStep(node, upstream, sent, synthetic=True)


def write_steps(record, arranged: list, count) -> None:
    """Running totals in the arranged order → ``record.steps``; every leaf's gradient is
    its total (zeros if it got none). ``count(n)`` counts the numbers kept."""
    totals: dict[int, np.ndarray] = {}
    starts: dict[int, dict] = {}
    for item in arranged:
        if isinstance(item, tuple):
            node = item[1]
            starts[node.index] = {x.id: totals.get(x.id) for x in node.inputs}
            continue
        contributions = []
        for j, target, value in item.sent:
            if item.synthetic:
                before = starts.get(item.node.index, {}).get(target.id)
                after = totals.get(target.id, value)
            else:
                before = totals.get(target.id)
                if before is None:
                    after = value
                elif record.shapes_only:
                    after = shape_marker(value.shape)
                else:
                    after = before + value
                    count(after.size)
                totals[target.id] = after
            contributions.append(Contribution(j, target, value, before, after))
        record.steps.append(BackwardStep(len(record.steps), item.node, item.upstream,
                                         contributions))
    for t in record.tensors:
        if t.requires_grad:
            total = totals.get(t.id)
            if total is None:
                total = shape_marker(t.shape) if record.shapes_only else np.zeros(t.shape)
            t.grad = total
