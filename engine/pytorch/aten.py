"""One engine ``Op`` per PyTorch aten op the recorder meets, made on the fly.

A recorded PyTorch model is a sequence of aten ops (``aten.t``, ``aten.addmm``,
``aten.relu`` …). Each becomes an ``Op`` subclass with the same face as the engine's
own ops — name, formula, local derivative, torch spelling, input names — so the
timeline and the stepper show it like any other step. Its ``forward``/``backward``
are PyTorch's, so they are not reimplemented here; ``torch_forward`` replays the aten
op on given inputs (that is what the op-by-op twin calls). Torch is never imported
by this module: the op objects are passed in by the recorder.

``RecordedOp`` is what every recorded op shares, the aten ops here and the learner's own
calls (``engine.pytorch.calls``): a kind with worked arithmetic, whether it can be run
again (``replayable``) and whether it draws random numbers (``random``: its recorded
value is taken as it is, not run again).
"""

from __future__ import annotations

from engine.ops.base import Op
from engine.pytorch.names import source
from engine.pytorch.texts import ATEN_KINDS, TEXT_SYMBOLS, TEXTS, kind_texts, resolve_symbols

# uninitialised memory: its value is whatever was there, so it is never compared
UNINITIALISED = ("empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
                 "empty_permuted")


class RecordedOp(Op):
    """An op recorded from PyTorch (see the module docstring)."""

    kind: str | None = None
    level = "aten"  # "aten", "function" (what the learner wrote), "custom" (autograd.Function)
    replayable = True  # False: nothing to run again (a stand-in for an autograd node …)
    random = False  # True: draws random numbers or reads uninitialised memory
    not_replayable = ""  # why, when replayable is False

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        from engine.pytorch.worked import worked_forward

        return worked_forward(cls, index, xs, y, attrs) or super().worked_forward(
            index, xs, y, attrs)

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        from engine.pytorch.worked import worked_backward

        return worked_backward(cls, which, index, xs, y, g, grad, attrs) or \
            super().worked_backward(which, index, xs, y, g, grad, attrs)

    @classmethod
    def torch_line(cls, names, attrs) -> str:
        return cls.spell(list(names), attrs)

    @classmethod
    def spell(cls, operands: list[str], attrs: dict) -> str:
        """The exact Python expression of this call, with ``operands`` as the inputs."""
        return cls.torch


class AtenOp(RecordedOp):
    """An aten op as the engine shows it. ``layout`` says, per schema argument in the
    call, whether it was a tensor input, a list of tensors, or a plain value (an attr)."""

    aten = None  # the torch OpOverload
    layout: tuple = ()
    output_index = 0
    written: frozenset = frozenset()  # arguments the op changes in place

    @staticmethod
    def forward(*xs, **attrs):
        raise NotImplementedError("a recorded PyTorch op: its forward is PyTorch's "
                                  "(replay it with torch_forward)")

    @staticmethod
    def backward(g, saved):
        raise NotImplementedError("a recorded PyTorch op: its backward is PyTorch's autograd")

    @classmethod
    def torch_forward(cls, torch, *xs, **attrs):
        """Call the aten op again on ``xs`` with the recorded attrs. An argument the op
        changes in place is cloned first, so the inputs stay as they were (and a leaf that
        needs a gradient can be one)."""
        if not cls.replayable:
            raise NotImplementedError(f"{cls.name} cannot be run again: {cls.not_replayable}")
        args, kwargs = [], {}
        tensors = iter(xs)
        for name, kind, by_keyword, detail in cls.layout:
            if kind == "tensor":
                value = next(tensors)
                if name in cls.written:
                    value = value.clone()
            elif kind == "list":
                value = [None if d is None else next(tensors) for d in detail]
            else:
                value = attrs[name]
            if by_keyword:
                kwargs[name] = value
            else:
                args.append(value)
        out = cls.aten(*args, **kwargs)
        return out[cls.output_index] if isinstance(out, (tuple, list)) else out

    @classmethod
    def spell(cls, operands, attrs) -> str:
        """``torch.ops.aten.addmm.default(fc1_bias, input, fc1_t)`` with exact attributes."""
        if cls.aten is None or not cls.replayable:
            return cls.torch
        names = iter(operands)
        pieces = []
        for name, kind, by_keyword, detail in cls.layout:
            if kind == "tensor":
                text = next(names)
            elif kind == "list":
                text = "[" + ", ".join("None" if d is None else next(names) for d in detail) + "]"
            else:
                text = source(attrs[name])
            pieces.append(f"{name}={text}" if by_keyword else text)
        call = f"torch.ops.{cls.aten}({', '.join(pieces)})"
        returns = cls.aten._schema.returns
        several = len(returns) > 1 or (bool(returns) and str(returns[0].type).startswith("List"))
        return f"{call}[{cls.output_index}]" if several else call


class ViewWrite(AtenOp):
    """Not an aten op: the moment an in-place op on a view changed the view's base."""

    name = "view_write"
    formula = "base = base with the view's elements overwritten (an in-place op on a view of it)"
    derivative = ("∂L/∂base (before) = G outside the view; inside it G flows back through the "
                  "in-place op (PyTorch's CopySlices)")
    torch = "{base}  # changed by an in-place op on {view}"
    inputs = ("base", "view")
    differentiable = (True, True)
    replayable = False
    not_replayable = "it is the in-place op's effect on the view's base, not an op of its own"

    @classmethod
    def spell(cls, operands, attrs) -> str:
        return f"{operands[0]}  # changed by an in-place op on {operands[1]}"


_CACHE: dict[tuple, type[AtenOp]] = {}


def packet_name(func) -> str:
    """``aten.addmm.default`` → ``addmm``."""
    return func._schema.name.split("::", 1)[-1]


def is_in_place(packet: str) -> bool:
    return packet.endswith("_") and not packet.startswith("_") or packet.endswith("__")


def aten_op(func, layout: tuple, input_names: tuple, floating: tuple,
            output_index: int = 0, random: bool = False) -> type[AtenOp]:
    """The ``Op`` subclass for one aten overload called with one argument layout."""
    key = (func, layout, input_names, floating, output_index, random)
    op = _CACHE.get(key)
    if op is not None:
        return op
    packet = packet_name(func)
    overload = func._overloadname or "default"
    pieces = []
    for name, kind, by_keyword, detail in layout:
        if kind == "tensor":
            text = "{" + detail + "}"
        elif kind == "list":
            text = "[" + ", ".join("None" if d is None else "{" + d + "}" for d in detail) + "]"
        else:
            text = "{" + name + "}"
        pieces.append(f"{name}={text}" if by_keyword else text)
    spelling = f"torch.ops.aten.{packet}.{overload}({', '.join(pieces)})"
    if output_index:
        spelling += f"[{output_index}]"
    in_place = is_in_place(packet)
    base = packet.rstrip("_") if in_place else packet
    kind = ATEN_KINDS.get(base) if output_index == 0 else None
    texts = kind_texts(kind)
    if texts is not None:
        formula, derivative, letters = texts
        symbols = resolve_symbols(letters, input_names)
    else:
        formula, derivative = TEXTS.get(base, (
            f"y = aten.{packet}({', '.join(input_names)})",
            f"PyTorch's autograd formula for aten.{packet} (tools/autograd/derivatives.yaml)"))
        symbols = TEXT_SYMBOLS.get(base, {})
    if in_place:
        formula += "   (in place: overwrites its first input)"
    if output_index:
        formula = f"output {output_index} of: {formula}"
    if random:
        formula = f"random: recorded value, not re-run · {formula}"
    written = frozenset(a.name for a in func._schema.arguments
                        if a.alias_info is not None and a.alias_info.is_write)
    op = type(f"Aten_{packet}", (AtenOp,), {
        "name": f"aten.{packet}", "formula": formula, "derivative": derivative,
        "torch": spelling, "inputs": input_names, "differentiable": floating,
        "aten": func, "layout": layout, "output_index": output_index, "kind": kind,
        "symbols": symbols, "random": random, "written": written})
    _CACHE[key] = op
    return op
