"""Recording PyTorch's backward pass as ``BackwardStep``s (the second half of
``engine.pytorch.record``; see its docstring for what is paired and what is not).

``torch.autograd.grad(loss, leaves)`` runs with a post hook on every autograd node
reachable from the loss. A hook sees ``grad_outputs`` (the upstream gradient of each
forward output) and ``grad_inputs`` (what the node sends to each of its
``next_functions``). Each is matched to the forward node whose output carries that
autograd node as ``grad_fn`` and to that node's inputs; the steps of a learner-level
call's parts are then gathered under the call's own step
(``engine.pytorch.call_steps``), and running totals per tensor give the accumulation
events.
"""

from __future__ import annotations

import numpy as np

from engine.tape import Node, Tensor
from engine.pytorch.aten import aten_op
from engine.pytorch.call_steps import RawStep, arrange, write_steps
from engine.pytorch.errors import RecordError, RecordFailure
from engine.pytorch.values import shape_marker


def record_backward(rec, loss) -> None:
    """Run backward from ``loss`` and write its steps into ``rec.record``."""
    torch = rec.torch
    writer = _BackwardWriter(rec)
    events: list = []
    hooks = writer.hook_graph(loss, events)
    try:
        torch.autograd.grad(loss, rec.leaves, retain_graph=True, allow_unused=True)
    except RuntimeError as error:
        if "Checkpointing is not compatible with .grad()" in str(error):
            raise RecordError("torch.utils.checkpoint(..., use_reentrant=True) cannot be "
                              "recorded (it works only with .backward()); pass "
                              "use_reentrant=False") from error
        raise
    finally:
        for h in hooks:
            h.remove()
    try:
        writer.write(events)
    except RecordError:
        raise
    except Exception as error:
        raise RecordFailure(f"backward step {len(rec.record.steps)}", error) from error


class _Shape:
    """What a shapes-only recording keeps of a gradient."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = tuple(shape)


def autograd_name(fn) -> str:
    """``torch::autograd::CopySlices`` → ``CopySlices``; ``AddmmBackward0`` stays."""
    return fn.name().rsplit("::", 1)[-1]


class _BackwardWriter:
    def __init__(self, rec):
        self.rec = rec
        self.torch = rec.torch
        self.record = rec.record
        self.stand_ins = 0
        self.unpaired: dict[str, list[str]] = {}
        self.left_out: dict[str, int] = {}

    def keep(self, g, as_tensor: bool = False):
        """A copy of a gradient as the hook sees it (autograd may add into it later): a
        NumPy array, or a torch tensor where the autograd node must be called again with
        it (``per_output``)."""
        if g is None:
            return None
        if self.record.shapes_only:
            return _Shape(g.shape)
        g = g.detach()
        if as_tensor:
            return g.clone()
        if g.dtype == self.torch.bfloat16:
            g = g.float()
        return np.array(g.cpu().numpy(), copy=True)

    def hook_graph(self, loss, events: list) -> list:
        """A post hook on every autograd node reachable from the loss. The hook copies the
        gradients at once: autograd may add into them in place afterwards."""
        handles, seen, stack = [], set(), [loss.grad_fn]
        while stack:
            fn = stack.pop()
            if fn is None or id(fn) in seen:
                continue
            seen.add(id(fn))
            self.rec.grad_fns.setdefault(id(fn), fn)  # held, so ids stay unique
            if type(fn).__name__ == "AccumulateGrad":
                continue

            def hook(grad_inputs, grad_outputs, fn=fn):
                several = sum(g is not None for g in grad_outputs) > 1
                events.append((fn, [self.keep(g, several) for g in grad_outputs],
                               [self.keep(g) for g in grad_inputs]))

            handles.append(fn.register_hook(hook))
            stack.extend(n for n, _ in fn.next_functions)
        return handles

    def target_of(self, fn, output_nr) -> Tensor | None:
        """The engine tensor whose gradient flows into autograd node ``fn``."""
        if type(fn).__name__ == "AccumulateGrad":
            return self.rec.lookup(fn.variable)
        node = self.rec.by_grad_fn.get((id(fn), output_nr))
        return None if node is None else node.output

    def array(self, g) -> np.ndarray:
        if isinstance(g, _Shape):
            return shape_marker(g.shape)
        if isinstance(g, np.ndarray):
            self.rec.count(g.size)
            return g
        self.rec.count(g.numel())
        return np.array(g.cpu().numpy(), copy=True)

    def contributions(self, fn, node, grad_inputs) -> list[tuple[int, Tensor, object]]:
        """(input index, engine tensor, gradient) for each gradient ``fn`` sends out,
        matched to ``node``'s inputs through ``next_functions`` (by identity, so ``x * x``
        gives input 0 and input 1 one contribution each)."""
        used, out = set(), []
        for i, (next_fn, output_nr) in enumerate(fn.next_functions):
            g = grad_inputs[i] if i < len(grad_inputs) else None
            if next_fn is None or g is None:
                continue
            target = self.target_of(next_fn, output_nr)
            j = next((j for j, x in enumerate(node.inputs) if x is target and j not in used), None)
            if target is None or j is None:
                key = f"{autograd_name(fn)} → {node.name}"
                self.left_out[key] = self.left_out.get(key, 0) + 1
                continue
            used.add(j)
            out.append((j, target, g))
        return sorted(out, key=lambda c: c[0])

    def stand_in(self, fn, output: Tensor | None = None) -> Node:
        """A node for an autograd node that no recorded forward op explains. Its index is
        past the forward nodes, so the timeline finds no forward twin for it."""
        name = autograd_name(fn)
        inputs = []
        for next_fn, output_nr in fn.next_functions:
            target = None if next_fn is None else self.target_of(next_fn, output_nr)
            if target is not None and target not in inputs:
                inputs.append(target)
        base = aten_op(self.torch.ops.aten.alias.default, (),
                       tuple(f"x{i}" for i in range(len(inputs))), tuple(True for _ in inputs))
        custom = isinstance(fn, self.rec.custom_fn)
        what = (f"the backward of your autograd.Function {fn._forward_cls.__name__}" if custom
                else f"{name} ran only in the backward pass")
        op = type(f"Unpaired_{name}", (base,), {
            "name": f"autograd.{name}", "formula": f"no recorded forward op: {what}",
            "derivative": f"PyTorch's {name}", "torch": f"# {name} (autograd only)",
            "replayable": False, "level": "autograd",
            "not_replayable": "it is an autograd node with no recorded forward op"})
        node = Node(len(self.record.nodes) + self.stand_ins, op,
                    self.record._unique(("unpaired", name)), inputs, {})
        self.stand_ins += 1
        if output is None:
            shape = tuple(fn._input_metadata[0].shape) if fn._input_metadata else ()
            output = Tensor(self.record, shape_marker(shape), f"{node.name} (not recorded)",
                            "const")
        node.output = output
        label = (f"{name} (the backward of your autograd.Function "
                 f"{fn._forward_cls.__name__}, which returns several tensors)" if custom else name)
        self.unpaired.setdefault(label, []).append(node.name)
        return node

    def explains(self, fn, node, grad_inputs) -> bool:
        """Does every gradient ``fn`` sends go to an input of ``node``?"""
        for i, (next_fn, output_nr) in enumerate(fn.next_functions):
            if next_fn is None or i >= len(grad_inputs) or grad_inputs[i] is None:
                continue
            if not any(x is self.target_of(next_fn, output_nr) for x in node.inputs):
                return False
        return True

    def per_output(self, fn, grad_outputs, grad_inputs, nr):
        """What ``fn`` sends back for output ``nr``'s gradient alone, the others zero (a
        backward is linear in its upstream gradients, so these add up to the total). Run
        without grad mode: only the numbers are wanted."""
        if self.record.shapes_only:
            return grad_inputs
        torch = self.torch
        args = [g if i == nr else torch.zeros(tuple(m.shape), dtype=m.dtype, device=m.device)
                for i, (g, m) in enumerate(zip(grad_outputs, fn._input_metadata))]
        run = fn.apply if isinstance(fn, self.rec.custom_fn) else fn  # a custom backward
        with torch.no_grad():
            out = run(*args)
        out = list(out) if isinstance(out, (tuple, list)) else [out]
        return [None if g is None else g.detach() for g in out]

    def parts(self, fn, grad_outputs, grad_inputs) -> list[tuple]:
        """One (output nr, forward node, gradients sent) per recorded output with a gradient."""
        paired = [(nr, self.rec.by_grad_fn.get((id(fn), nr)))
                  for nr, g in enumerate(grad_outputs) if g is not None]
        paired = [(nr, node) for nr, node in paired if node is not None]
        if not paired:
            nr = next((nr for nr, g in enumerate(grad_outputs) if g is not None), 0)
            return [(nr, self.stand_in(fn), grad_inputs)]
        if len(paired) == 1:
            nr, node = paired[0]
            if not self.explains(fn, node, grad_inputs):
                return [(nr, self.stand_in(fn, node.output), grad_inputs)]
            return [(nr, node, grad_inputs)]
        return [(nr, node, self.per_output(fn, grad_outputs, grad_inputs, nr))
                for nr, node in paired]

    def write(self, events) -> None:
        """Turn the hook events, in autograd's order, into backward steps with running
        totals; then every leaf's gradient is its total (zeros if it got none)."""
        raw = []
        events.reverse()
        while events:  # each event's copies are let go of as soon as they are used
            fn, grad_outputs, grad_inputs = events.pop()
            for nr, node, sent in self.parts(fn, grad_outputs, grad_inputs):
                contributions = [(j, target, self.array(g))
                                 for j, target, g in self.contributions(fn, node, sent)]
                raw.append(RawStep(node, self.array(grad_outputs[nr]), contributions))
        write_steps(self.record, arrange(self.record, raw), self.rec.count)
        self.write_notes()

    def write_notes(self) -> None:
        notes = self.record.notes
        for name, shown in self.unpaired.items():
            times = f" ({len(shown)} times)" if len(shown) > 1 else ""
            notes.append(f"{name}{times} matches no recorded forward op: shown as "
                         f"{shown[0]}{'…' if len(shown) > 1 else ''}, without a forward twin")
        for key, times in self.left_out.items():
            fn, node = key.split(" → ", 1)
            notes.append(f"{fn} sent a gradient to a tensor that is not an input of {node}"
                         f"{f' ({times} times)' if times > 1 else ''}; it is left out")
