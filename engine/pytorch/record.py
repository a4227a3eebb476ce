"""Record your own PyTorch model, op by op, into a tape the timeline can step through.

``record_module(model, inputs, loss_fn)`` runs the model once and writes what PyTorch
did into a ``TorchRecord`` (an ``engine.tape.Tape``), so ``Timeline(record)`` works
unchanged:

- **Forward.** A ``TorchDispatchMode`` sees every aten op after autograd has split
  composite ops (``nn.Linear`` → ``aten.t`` + ``aten.addmm``). Each becomes a ``Node``
  named by the module it ran in (forward pre/post hooks on ``named_modules``:
  ``layers.0.linear1.addmm``), with its input tensors, output value and plain
  arguments as attrs.
- **Backward.** ``torch.autograd.grad(loss, leaves)`` runs with a post hook on every
  autograd node (``AddmmBackward0`` …). A hook sees the gradients flowing out
  (upstream, one per forward output) and in (one per forward input, matched through
  ``next_functions``). Each autograd node is paired with the forward op whose output
  carries it as ``grad_fn``, so a backward step knows its forward twin. Where a
  tensor feeds several consumers, each contribution after the first is an
  accumulation event (``Contribution.before`` → ``after``), as on the engine's tape.
  Leaf gradients are the sums of their contributions; ``.grad`` is not touched.

What cannot be paired, and how it shows:

- ``aten.detach`` is not a step (autograd calls it when it saves a tensor); a
  detached tensor shows as its source, and sends no gradient back.
- An op with several outputs that each get a gradient (``split``, ``unbind``) gets
  one backward step per output; each output's contribution is computed by calling
  the autograd node with that output's gradient alone (the backward is linear in
  it), so the contributions add up to PyTorch's total up to rounding.
- An in-place op on a view changes the view's base too: a ``view_write`` node records
  the base's new value, and autograd's ``CopySlices`` is its backward step (the
  in-place op itself then has no backward step of its own: CopySlices holds it).
- A custom ``autograd.Function``: the ops inside its forward are recorded (without
  gradients); its backward becomes a step on a stand-in node ``unpaired.<Name>`` that
  sends the Function's gradients to its inputs but has no forward twin. Any autograd
  node that matches no forward op is treated so; ``record.notes`` lists them.
- Ops that return no tensor (``.item()``, size queries) are not recorded.

Limits: at most ``MAX_OPS`` ops and ``MAX_ELEMENTS`` recorded numbers (forward values,
upstream gradients and contributions together); beyond either ``RecordTooLarge`` is
raised. ``shapes_only=True`` stores shapes, no values (every value is a read-only NaN
array of the right shape that takes no memory), and allows ``MAX_OPS_SHAPES_ONLY`` ops.
"""

from __future__ import annotations

import weakref

import numpy as np

from engine.tape import Node, Tape, Tensor
from engine.pytorch.aten import ViewWrite, aten_op, packet_name
from engine.pytorch.backward import record_backward, shape_marker
from engine.pytorch import import_torch

MAX_OPS = 2_000
MAX_OPS_SHAPES_ONLY = 20_000
MAX_ELEMENTS = 5_000_000
SKIPPED_OPS = ("detach",)


class RecordError(ValueError):
    """The model, its inputs or its loss cannot be recorded; the message says why."""


class RecordTooLarge(RecordError):
    """The recording passed a stated limit; the message suggests ``--shapes-only``."""


class TorchRecord(Tape):
    """A tape recorded from PyTorch: ``nodes`` (aten ops), ``steps`` (autograd nodes),
    ``tensors`` and ``loss`` as on any tape, plus what the recording could not do."""

    origin = "pytorch"

    def __init__(self, shapes_only: bool = False):
        super().__init__()
        self.shapes_only = shapes_only
        self.notes: list[str] = []
        self.loss_note = ""
        self.elements = 0


def _scope_parts(name: str) -> tuple[str, ...]:
    """``encoder.layers.0.self_attn`` → ("encoder", "layers.0", "self_attn")."""
    parts = name.split(".") if name else []
    out: list[str] = []
    for part in parts:
        if part.isdigit() and out and not out[-1][-1:].isdigit():
            out[-1] = f"{out[-1]}.{part}"
        else:
            out.append(part)
    return tuple(out)


class _Recorder:
    """The state of one recording (see the module docstring)."""

    def __init__(self, torch, model, shapes_only, max_ops, max_elements):
        self.torch = torch
        self.record = TorchRecord(shapes_only)
        self.max_ops, self.max_elements = max_ops, max_elements
        self.names = {id(p): (n, "param") for n, p in model.named_parameters()}
        self.names.update({id(b): (n, "const") for n, b in model.named_buffers()})
        self.module_names = {id(m): n for n, m in model.named_modules()}
        self.scope: list[tuple[str, tuple]] = []  # (full module name, its path parts)
        self.extra_scope: tuple[str, ...] = ()
        self.engine: dict[int, tuple] = {}  # id(torch tensor) → (weakref, engine Tensor)
        self.latent: dict[int, tuple] = {}  # id → (weakref, call, output index, value)
        self.pending: list[tuple] = []  # (node, weakref to output, needs grad) to pair
        self.by_grad_fn: dict[tuple, Node] = {}  # (grad_fn, output_nr) → node
        self.grad_fns: dict[int, object] = {}
        self.leaves: list = []  # torch leaves needing grad, in the order met

    # values -------------------------------------------------------------------
    def snapshot(self, t, counted: bool = True) -> np.ndarray:
        """A copy of the tensor's value now (later in-place ops must not change it)."""
        if self.record.shapes_only:
            return shape_marker(t.shape)
        if counted:
            self.count(t.numel())
        d = t.detach()
        if d.dtype == self.torch.bfloat16:
            d = d.float()
        return np.array(d.cpu().resolve_conj().resolve_neg().numpy(), copy=True)

    def count(self, elements: int) -> None:
        self.record.elements += int(elements)
        if self.record.elements > self.max_elements:
            raise RecordTooLarge(
                f"the recording passed {self.max_elements:,} numbers (forward values and "
                f"gradients together); record shapes only (--shapes-only), or use a smaller "
                f"model or input")

    # tensors --------------------------------------------------------------------
    def lookup(self, t):
        entry = self.engine.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1]
        return None

    def remember(self, t, engine_tensor) -> None:
        key = id(t)
        self.engine[key] = (weakref.ref(t, lambda _r, key=key: self.engine.pop(key, None)),
                            engine_tensor)

    def tensor_for(self, t) -> Tensor:
        """The engine tensor for a torch tensor an op reads: recorded, or a new leaf."""
        found = self.lookup(t)
        if found is not None:
            return found
        latent = self.latent.get(id(t))
        if latent is not None and latent[0]() is t:
            return self.materialize(t, *latent[1:])
        name, kind = self.names.get(id(t), (None, None))
        if name is None:
            value = t.detach()
            name = (f"{value.item():.4g}" if t.numel() == 1 and t.dim() == 0 and not
                    self.record.shapes_only else f"const{tuple(t.shape)}")
            kind = "input" if t.requires_grad else "const"
        leaf = Tensor(self.record, self.snapshot(t), name, kind, requires_grad=t.requires_grad)
        if t.requires_grad:
            self.leaves.append(t)
        self.remember(t, leaf)
        return leaf

    def name_inputs(self, inputs) -> None:
        """Model inputs get names: ``input``, ``input0``…, or their keyword."""
        torch = self.torch
        if isinstance(inputs, torch.Tensor):
            items = [("input", inputs)]
        elif isinstance(inputs, dict):
            items = list(inputs.items())
        else:
            items = [(f"input{i}", x) for i, x in enumerate(inputs)]
        for name, x in items:
            if isinstance(x, torch.Tensor):
                self.names.setdefault(id(x), (str(name), "input"))

    # forward ----------------------------------------------------------------------
    def path(self, label: str) -> tuple[str, ...]:
        scope = self.scope[-1][1] if self.scope else ()
        return self.record._unique(self.extra_scope + scope + (label,))

    def enter(self, module) -> None:
        full = self.module_names.get(id(module), "")
        parent_full, parent_parts = self.scope[-1] if self.scope else ("", ())
        if parent_full and full.startswith(parent_full + "."):
            parts = parent_parts + _scope_parts(full[len(parent_full) + 1:])
        else:
            parts = _scope_parts(full)
        self.scope.append((full, parts))

    def leave(self) -> None:
        self.resolve()
        if self.scope:
            self.scope.pop()

    def on_op(self, func, args, kwargs, out) -> None:
        torch = self.torch
        packet = packet_name(func)
        if packet in SKIPPED_OPS:
            if isinstance(out, torch.Tensor) and isinstance(args[0], torch.Tensor):
                source = self.lookup(args[0])
                if source is not None:
                    self.remember(out, source)
            return
        self.resolve()
        outputs = list(out) if isinstance(out, (tuple, list)) else [out]
        if not any(isinstance(o, torch.Tensor) for o in outputs):
            return
        first = next(k for k, o in enumerate(outputs) if isinstance(o, torch.Tensor))
        call = self.describe(func, args, kwargs)
        written = self.add_node(call, outputs[first], first)
        base = outputs[first]._base if func._schema.is_mutable else None
        if base is not None:
            self.add_view_write(base, written)
        for k, o in enumerate(outputs):
            if k != first and isinstance(o, torch.Tensor):
                key = id(o)
                ref = weakref.ref(o, lambda _r, key=key: self.latent.pop(key, None))
                self.latent[key] = (ref, call, k, self.snapshot(o, counted=False))

    def materialize(self, t, call, k, value) -> Tensor:
        """Extra outputs (a layer norm's mean and rstd) are kept aside, uncounted, and
        become nodes only when a later op reads them."""
        self.latent.pop(id(t), None)
        if not self.record.shapes_only:
            self.count(value.size)
        return self.add_node(call, t, k, value)

    def describe(self, func, args, kwargs) -> tuple:
        """(func, layout, engine inputs, input names, attrs, floating): the call bound to
        the op's schema, tensors turned into engine tensors, the rest kept as attrs."""
        torch = self.torch
        layout, inputs, names, attrs, floating = [], [], [], {}, []
        for i, arg in enumerate(func._schema.arguments):
            if i < len(args) and not arg.kwarg_only:
                given, by_keyword = args[i], False
            elif arg.name in kwargs:
                given, by_keyword = kwargs[arg.name], True
            else:
                continue
            tensors = given if isinstance(given, (list, tuple)) else [given]
            if isinstance(given, torch.Tensor) or (isinstance(given, (list, tuple)) and any(
                    isinstance(v, torch.Tensor) for v in given)):
                detail = []
                for j, v in enumerate(tensors):
                    if not isinstance(v, torch.Tensor):
                        detail.append(None)
                        continue
                    name = arg.name if isinstance(given, torch.Tensor) else f"{arg.name}_{j}"
                    detail.append(name)
                    inputs.append(self.tensor_for(v))
                    names.append(name)
                    floating.append(v.is_floating_point() or v.is_complex())
                if isinstance(given, torch.Tensor):
                    layout.append((arg.name, "tensor", by_keyword, arg.name))
                else:
                    layout.append((arg.name, "list", by_keyword, tuple(detail)))
            else:
                layout.append((arg.name, "value", by_keyword, None))
                attrs[arg.name] = given
        return func, tuple(layout), inputs, tuple(names), attrs, tuple(floating)

    def add_node(self, call, output, k, value=None) -> Tensor:
        func, layout, inputs, names, attrs, floating = call
        op = aten_op(func, layout, names, floating, k)
        label = packet_name(func) + (f"[{k}]" if k else "")
        return self.append(op, label, inputs, attrs, output, value)

    def add_view_write(self, base, written: Tensor) -> Tensor:
        """An in-place op wrote through a view, so the view's base changed too: a node
        for the base's new value, which autograd's ``CopySlices`` pairs with."""
        return self.append(ViewWrite, "view_write", [self.tensor_for(base), written], {}, base)

    def append(self, op, label, inputs, attrs, output, value=None) -> Tensor:
        """Record ``output = op(*inputs, **attrs)`` as the next node."""
        if len(self.record.nodes) >= self.max_ops:
            hint = ("use a smaller model or input" if self.record.shapes_only else
                    f"record shapes only (--shapes-only, up to {MAX_OPS_SHAPES_ONLY:,} ops), "
                    "or use a smaller model or input")
            raise RecordTooLarge(f"the model ran more than {self.max_ops:,} ops; {hint}")
        node = Node(len(self.record.nodes), op, self.path(label), list(inputs), dict(attrs))
        value = self.snapshot(output) if value is None else value
        will_need_grad = (self.torch.is_grad_enabled() and output.is_floating_point()
                          and any(x.requires_grad for x in inputs))
        node.output = Tensor(self.record, value, node.name, "activation", node,
                             bool(will_need_grad or output.requires_grad))
        self.record.nodes.append(node)
        self.remember(output, node.output)
        self.pending.append((node, weakref.ref(output), bool(will_need_grad)))
        return node.output

    def resolve(self, final: bool = False) -> None:
        """Pair recorded nodes with the autograd node autograd gave their output.

        Autograd attaches ``grad_fn`` after the op returns, so this runs at the next op
        (and at the end). An output that will need a gradient waits until it has one."""
        waiting = []
        for node, ref, needs in self.pending:
            t = ref()
            fn = None if t is None else t.grad_fn
            if fn is None and needs and not final and t is not None:
                waiting.append((node, ref, needs))
                continue
            node.output.requires_grad = fn is not None
            if fn is None:
                continue
            self.by_grad_fn[(id(fn), t.output_nr)] = node
            self.grad_fns[id(fn)] = fn
        self.pending = waiting


def _dispatch_mode(recorder):
    """A TorchDispatchMode that hands every aten call to the recorder (made lazily:
    its base class lives in torch)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class RecordingMode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            recorder.on_op(func, args, kwargs, out)
            return out

    return RecordingMode()


def _call(model, inputs):
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def _default_loss(torch, output):
    """``output.sum()``, or the sum of the first floating tensor in a tuple/dict output."""
    if isinstance(output, torch.Tensor):
        return output.sum(), "output.sum() (no loss_fn given)"
    items = output.items() if isinstance(output, dict) else enumerate(output) \
        if isinstance(output, (tuple, list)) else []
    for key, value in items:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.sum(), f"output[{key!r}].sum() (no loss_fn given)"
    raise RecordError(f"the model returned {type(output).__name__}, not a tensor; "
                      "give a loss_fn that turns it into a number")


def record_module(model, inputs, loss_fn=None, shapes_only: bool = False,
                  max_ops: int | None = None, max_elements: int = MAX_ELEMENTS) -> TorchRecord:
    """Run ``model(inputs)`` and ``loss_fn(output)`` (default ``output.sum()``), then
    backward, recording every op and every autograd step (see the module docstring).

    ``inputs`` is a tensor, a tuple/list of positional arguments or a dict of keyword
    arguments. The model's parameters and ``.grad`` are left as they were. Exceptions
    raised by the model or the loss function propagate unchanged.
    """
    torch = import_torch()
    if not isinstance(model, torch.nn.Module):
        raise RecordError(f"the model must be a torch.nn.Module, got {type(model).__name__}")
    max_ops = max_ops or (MAX_OPS_SHAPES_ONLY if shapes_only else MAX_OPS)
    rec = _Recorder(torch, model, shapes_only, max_ops, max_elements)
    rec.name_inputs(inputs)
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(lambda m, a: rec.enter(m)))
        handles.append(module.register_forward_hook(lambda m, a, o: rec.leave()))
    try:
        with torch.enable_grad(), _dispatch_mode(rec):
            output = _call(model, inputs)
            rec.resolve()
            rec.scope.clear()
            rec.extra_scope = ("loss",)
            if loss_fn is None:
                loss, rec.record.loss_note = _default_loss(torch, output)
            else:
                loss, rec.record.loss_note = loss_fn(output), "loss_fn(output)"
        rec.resolve(final=True)
    finally:
        for h in handles:
            h.remove()
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise RecordError(f"the loss must be a single number (a tensor with one element), "
                          f"got {shape}")
    if not loss.requires_grad or not rec.leaves:
        raise RecordError("the loss does not depend on anything that needs a gradient: no "
                          "parameter with requires_grad=True was used")
    record = rec.record
    record.loss = rec.lookup(loss)
    if record.loss is None or not record.nodes:
        raise RecordError("the loss was not computed while recording: nothing to step through")
    record_backward(rec, loss)
    return record
