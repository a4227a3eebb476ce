"""A learner-level call while it runs, and what it leaves behind (see
``engine.pytorch.calls`` for what a call is and how it is shown).

``open_call`` pushes a ``Frame``: the call's path becomes the scope of the aten ops it
runs, and its arguments are kept as a template (each tensor a ``Slot``). ``close_call``
turns the finished call into a node after its parts when it returned one tensor a part
made; into a scope of its parts when it returned several; into nothing when it ran no
op. A custom ``autograd.Function`` returning several tensors gets a node per tensor.
The parts are remembered in ``record.parent`` (part node index → the call's node).
"""

from __future__ import annotations

import inspect

from engine.tape import Node, Tensor
from engine.pytorch.aten import UNINITIALISED
from engine.pytorch.calls import (Slot, has_slot, holds_tensor, call_op, custom_op,
                                  describe_function, is_in_place_call)


class Frame:
    """One open call: its path, where its parts start, and its arguments as a template."""

    __slots__ = ("func", "described", "custom", "path", "start", "args", "kwargs", "tensors",
                 "entry", "log_start")

    def __init__(self, func, described, custom, path, start, args, kwargs, tensors, entry,
                 log_start):
        self.func = func
        self.described = described
        self.custom = custom
        self.path = path
        self.start = start
        self.args = args  # templates: tensors replaced by Slot(i)
        self.kwargs = kwargs
        self.tensors = tensors  # the torch tensors of the slots, in order
        self.entry = entry  # the engine tensor of each, when it was known at the call
        self.log_start = log_start


def template(torch, args, kwargs, names_of) -> tuple:
    """(args, kwargs, tensors, input names): the call with each tensor as a ``Slot``.
    ``names_of(position or keyword)`` names a top-level argument."""
    tensors, names = [], []

    def walk(value, name):
        if isinstance(value, torch.Tensor):
            tensors.append(value)
            names.append(name)
            return Slot(len(tensors) - 1)
        if isinstance(value, (list, tuple)) and any(holds_tensor(torch, v) for v in value):
            items = [walk(v, f"{name}_{j}") for j, v in enumerate(value)]
            return items if isinstance(value, list) else tuple(items)
        return value

    out_args = [walk(a, names_of(i)) for i, a in enumerate(args)]
    out_kwargs = {k: walk(v, k) for k, v in kwargs.items()}
    return out_args, out_kwargs, tensors, names


def argument_names(torch, func, count: int, custom=None) -> list[str]:
    """Names for the first ``count`` positional arguments: the signature's where torch
    publishes one (``torch.overrides``), else ``arg0``…"""
    target = custom.forward if custom is not None else None
    names: list[str] = []
    try:
        if target is not None:
            names = list(inspect.signature(target).parameters)[1:]  # without ctx
        else:
            lam = _overrides(torch).get(func)
            if lam is not None:
                names = [p.name for p in inspect.signature(lam).parameters.values()
                         if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    if names and names[0] == "input" and custom is None and \
            getattr(func, "__qualname__", "").startswith(("TensorBase.", "Tensor.")):
        names[0] = "self"
    return [names[i] if i < len(names) else f"arg{i}" for i in range(count)]


def argument_defaults(torch, func) -> dict:
    """The keyword defaults torch publishes for ``func`` (``F.softmax``'s ``dtype=None``)."""
    lam = _overrides(torch).get(func)
    if lam is None:
        return {}
    try:
        parameters = inspect.signature(lam).parameters.values()
    except (TypeError, ValueError):
        return {}
    found = {p.name: p.default for p in parameters if p.default is not p.empty}
    if "_stacklevel" in found or func is getattr(torch.nn.functional, "softmax", None):
        found["_stacklevel"] = 3  # F.softmax and friends pass their own default on
    return found


_OVERRIDES: dict = {}


def _overrides(torch) -> dict:
    if not _OVERRIDES:
        _OVERRIDES.update(torch.overrides.get_testing_overrides())
    return _OVERRIDES


def open_call(rec, func, args, kwargs, custom=None) -> Frame:
    """A call begins: its frame, pushed as the scope of the ops it runs."""
    torch = rec.torch
    if custom is not None:
        described = dict(style="function", spelling=f"{custom.__name__}.apply",
                         label=custom.__name__, kind=None, shown=f"{custom.__name__}.apply")
    else:
        described = describe_function(torch, func)
        described["defaults"] = argument_defaults(torch, func)
    rec.resolve()
    positional = argument_names(torch, func, len(args), custom)
    args_t, kwargs_t, tensors, names = template(torch, args, kwargs,
                                                lambda i: positional[i])
    entry = [rec.known(t) for t in tensors]
    path = rec.path(described["label"])
    frame = Frame(func, described, custom, path, len(rec.record.nodes), args_t, kwargs_t,
                  tensors, entry, len(rec.made))
    frame.described = dict(described, names=tuple(names), positional=tuple(positional))
    rec.frames.append(frame)
    rec.scope.append(("call", "", path))
    return frame


def abandon_call(rec, frame: Frame) -> None:
    """The call ended (or raised): its scope closes."""
    if rec.frames and rec.frames[-1] is frame:
        rec.frames.pop()
        rec.scope.pop()


def close_call(rec, frame: Frame, result) -> None:
    """The call returned: outputs it returns that were kept aside become nodes inside
    it (``q, k, v = x.split(…)``), then it becomes a node, a scope, or nothing."""
    rec.resolve()
    for t in _tensors(rec.torch, result):
        rec.known(t)
    rec.resolve()
    abandon_call(rec, frame)
    close_frame(rec, frame, result)

def call_inputs(rec, frame: Frame) -> list[Tensor | None]:
    """The engine tensor of each tensor argument as the call received it: known then,
    or the leaf made for it during the call."""
    made = {}
    for key, leaf in rec.made[frame.log_start:]:
        made.setdefault(key, leaf)
    return [e if e is not None else made.get(id(t)) for e, t in zip(frame.entry,
                                                                     frame.tensors)]


def new_call_op(rec, frame: Frame, floating, random, replayable, why, k: int = 0):
    """The op class of the call's node (of its output ``k``, for a custom Function)."""
    names = frame.described["names"]
    if frame.custom is not None:
        return custom_op(frame.custom, names, floating, random, k)
    in_place = is_in_place_call(frame.described, frame.kwargs)
    return call_op(frame.func, frame.described, names, floating, in_place, random,
                   replayable, why)


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
              for x, t in zip(call_inputs(rec, frame), frame.tensors)]
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
    op = new_call_op(rec, frame, tuple(floating), random, replayable, why, k)
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
    attrs = {}
    names = frame.described.get("positional", ())
    for i, value in enumerate(frame.args):
        if not has_slot(value):
            attrs[names[i] if i < len(names) else f"arg{i}"] = value
    for key, value in frame.kwargs.items():
        if not has_slot(value):
            attrs[key] = value
    attrs["_call"] = (frame.args, frame.kwargs)
    return attrs
