"""A learner-level call as one step over its aten ops, forward and backward.

Forward (``close_frame``): when a call (``engine.pytorch.calls``) returns, it becomes a
node after its parts if it returned one tensor that a part made (see that module). Its
parts are remembered in ``record.parent`` (part node index → the call's node).

Backward (``arrange``): autograd's steps come in autograd's order. The steps of a call's
parts are gathered where the first of them ran (their gradients depend only on the call's
output and on each other, so moving the later ones up breaks no dependency), and the
call's own step follows them: its upstream is the gradient of its output, and what it
sends each argument is the sum of what its parts sent that argument. The running totals
are then taken in that order; the call's step adds nothing new (its parts already did):
its ``before`` is the total when the call began, its ``after`` the total when it ended.
"""

from __future__ import annotations

import numpy as np

from engine.tape import BackwardStep, Contribution, Node, Tensor
from engine.pytorch.aten import UNINITIALISED
from engine.pytorch.values import shape_marker


def _tensors(torch, value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(torch, v)


def close_frame(rec, frame, result) -> None:
    """Turn a finished call into a node (or a scope of its parts, or nothing)."""
    record = rec.record
    nodes = record.nodes
    returned = list(_tensors(rec.torch, result))
    parts = [n for n in nodes[frame.start:] if n.index not in record.parent]
    name = ".".join(frame.path)
    if not parts and frame.custom is None:
        record._names.discard(name)
        return
    out = rec.lookup(returned[0]) if len(returned) == 1 else None
    made_inside = out is not None and out.node is not None and out.node.index >= frame.start
    if frame.custom is None and not made_inside:
        if len(parts) == 1:  # no call of its own: its one op stands in the caller's scope
            record._names.discard(name)
            _repath(record, parts[0], frame.path[:-1] + (parts[0].path[-1],))
        return
    if frame.custom is not None and len(returned) > 1:  # one node per tensor it returns
        descendants = record.nodes[frame.start:]
        for k, tensor in enumerate(returned):
            found = rec.lookup(tensor)
            inside = found is not None and found.node is not None and \
                found.node.index >= frame.start
            _add_call_node(rec, frame, descendants, tensor, found if inside else None, k)
        return
    if returned:
        _add_call_node(rec, frame, record.nodes[frame.start:], returned[0],
                       out if made_inside else None)


def _repath(record, node: Node, path: tuple) -> None:
    old = node.name
    record._names.discard(old)
    node.path = record._unique(path)
    node.name = ".".join(node.path)
    if node.output is not None and node.output.name == old:
        node.output.name = node.name


def _add_call_node(rec, frame, descendants, tensor, out: Tensor | None, k: int = 0) -> None:
    """The call's node (for a custom Function returning several tensors, the node of
    tensor ``k``; the first adopts the nodes recorded inside the call)."""
    record = rec.record
    inputs = [x if x is not None else rec.tensor_for(t)
              for x, t in zip(rec.call_inputs(frame), frame.tensors)]
    floating = [t.is_floating_point() or t.is_complex() for t in frame.tensors]
    produced = {n.output.id for n in descendants if n.output is not None}
    extras = []
    for n in descendants:
        if n.op.name == "view_write":
            continue  # an in-place op on a view changed its base: a side effect, not a read
        for x in n.inputs:
            if x.requires_grad and x.id not in produced and all(x is not y for y in inputs) \
                    and all(x is not y for y in extras):
                extras.append(x)
    replayable, why = True, ""
    if extras:
        replayable = False
        why = "it reads tensors it was not given: " + ", ".join(x.name for x in extras)
        frame.described["names"] = frame.described["names"] + tuple(
            f"extra{i}" for i in range(len(extras)))
        floating += [True] * len(extras)
    used = {x.id for n in descendants for x in n.inputs}
    if out is not None:
        used.add(out.id)
    random = any(getattr(p.op, "random", False) and p.output.id in used and
                 not (p.op.name[5:] in UNINITIALISED and p.op.level == "aten")
                 for p in descendants)
    op = rec.new_call_op(frame, tuple(floating), random, replayable, why, k)
    attrs = _named_values(frame, op)
    path = frame.path if k == 0 else record._unique(frame.path[:-1] +
                                                    (f"{frame.path[-1]}[{k}]",))
    node = Node(len(record.nodes), op, path, inputs + extras, attrs)
    if out is None:
        out = Tensor(record, rec.snapshot(tensor), node.name, "activation", node,
                     tensor.requires_grad)
        rec.remember(tensor, out)
    else:
        out.name = node.name
    node.output = out
    record.nodes.append(node)
    if k == 0:
        for n in descendants:
            record.parent.setdefault(n.index, node)
    fn = tensor.grad_fn
    if frame.custom is not None and isinstance(fn, rec.custom_fn):
        rec.by_grad_fn[(id(fn), tensor.output_nr)] = node
        rec.grad_fns[id(fn)] = fn
        out.requires_grad = True


def _named_values(frame, op) -> dict:
    """The call's plain arguments by name (``dim``, ``eps`` …), and the call itself."""
    from engine.pytorch.calls import _has_slot

    attrs = {}
    names = frame.described.get("positional", ())
    for i, value in enumerate(frame.args):
        if not _has_slot(value):
            attrs[names[i] if i < len(names) else f"arg{i}"] = value
    for key, value in frame.kwargs.items():
        if not _has_slot(value):
            attrs[key] = value
    attrs["_call"] = (frame.args, frame.kwargs)
    return attrs


# backward ----------------------------------------------------------------------------

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
