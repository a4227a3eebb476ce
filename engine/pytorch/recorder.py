"""The state of one recording (see ``engine.pytorch.record`` for what is recorded).

``Recorder`` turns what the dispatch mode and the module hooks see into nodes on a
``TorchRecord``: engine tensors for torch tensors (by identity, through weak references),
the scope path of the module and call being run, one node per aten op, and the pairing
of each node with the autograd node torch gave its output. The calls the model makes are
opened and closed by ``engine.pytorch.frames`` on this state.
"""

from __future__ import annotations

import weakref

import numpy as np

from engine.tape import Node, Tensor
from engine.pytorch.aten import UNINITIALISED, ViewWrite, aten_op, packet_name
from engine.pytorch.errors import RecordTooLarge
from engine.pytorch.values import MAX_OPS_SHAPES_ONLY, shape_marker

SKIPPED_OPS = ("detach",)
# ops that change an argument in place although their schema does not say so
UNDECLARED_WRITES = {"native_batch_norm": ("running_mean", "running_var")}


def scope_parts(name: str) -> tuple[str, ...]:
    """``encoder.layers.0.self_attn`` → ("encoder", "layers.0", "self_attn")."""
    parts = name.split(".") if name else []
    out: list[str] = []
    for part in parts:
        if part.isdigit() and out and not out[-1][-1:].isdigit():
            out[-1] = f"{out[-1]}.{part}"
        else:
            out.append(part)
    return tuple(out)


def _tensors_in(torch, value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors_in(torch, v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors_in(torch, v)


class Recorder:
    def __init__(self, torch, model, record, max_ops, max_elements):
        self.torch = torch
        self.record = record
        self.max_ops, self.max_elements = max_ops, max_elements
        self.names = {id(p): (n, "param") for n, p in model.named_parameters()}
        self.names.update({id(b): (n, "const") for n, b in model.named_buffers()})
        record.buffers = {n for n, _ in model.named_buffers()}
        self.module_names = {id(m): n for n, m in model.named_modules()}
        self.scope: list[tuple[str, str, tuple]] = []  # (kind, module name, path parts)
        self.frames: list = []  # open calls (engine.pytorch.frames.Frame)
        self.internal = 0  # > 0 while the recorder's own code runs
        self.aten_ops = 0
        self.engine: dict[int, tuple] = {}  # id(torch tensor) → (weakref, engine Tensor)
        self.latent: dict[int, list] = {}  # id → [weakref, call, output index, value, pairing]
        self.fresh_latent: list[int] = []  # latent ids whose autograd pairing is not taken yet
        self.pending: list[tuple] = []  # (node, weakref to output, needs grad) to pair
        self.by_grad_fn: dict[tuple, Node] = {}  # (grad_fn, output_nr) → node
        self.grad_fns: dict[int, object] = {}
        self.leaves: list = []  # torch leaves needing grad, in the order met
        self.made: list[tuple[int, Tensor]] = []  # (id(torch tensor), leaf) as leaves are made
        self.custom_fn = torch.autograd.function.BackwardCFunction

    # values -----------------------------------------------------------------------
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

    # tensors ----------------------------------------------------------------------
    def lookup(self, t):
        entry = self.engine.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1]
        return None

    def remember(self, t, engine_tensor) -> None:
        key = id(t)
        self.engine[key] = (weakref.ref(t, lambda _r, key=key: self.engine.pop(key, None)),
                            engine_tensor)

    def forget(self, t) -> None:
        self.engine.pop(id(t), None)

    def known(self, t):
        """The engine tensor of ``t`` if it was recorded (a kept-aside output becomes a node
        now), else None."""
        found = self.lookup(t)
        if found is not None:
            return found
        latent = self.latent.get(id(t))
        if latent is not None and latent[0]() is t:
            return self.materialize(t, latent)
        return None

    def tensor_for(self, t) -> Tensor:
        """The engine tensor for a torch tensor an op reads: recorded, or a new leaf."""
        found = self.known(t)
        if found is not None:
            return found
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
        self.made.append((id(t), leaf))
        return leaf

    def name_inputs(self, inputs) -> None:
        """Model inputs get names: ``input``, ``input0``…, their keyword, and ``input1_0``…
        inside a tuple."""
        torch = self.torch
        if isinstance(inputs, torch.Tensor):
            items = [("input", inputs)]
        elif isinstance(inputs, dict):
            items = list(inputs.items())
        else:
            items = [(f"input{i}", x) for i, x in enumerate(inputs)]
        while items:
            name, x = items.pop(0)
            if isinstance(x, torch.Tensor):
                self.names.setdefault(id(x), (str(name), "input"))
            elif isinstance(x, (tuple, list)):
                items.extend((f"{name}_{j}", v) for j, v in enumerate(x))

    # scopes -------------------------------------------------------------------------
    def parts(self) -> tuple[str, ...]:
        return self.scope[-1][2] if self.scope else ()

    def path(self, label: str) -> tuple[str, ...]:
        return self.record._unique(self.parts() + (label,))

    def enter(self, module) -> None:
        full = self.module_names.get(id(module), "")
        near = next((e for e in reversed(self.scope) if e[0] == "module"), None)
        near_full = near[1] if near is not None else ""
        if near is None or not near_full:
            parts = self.parts() + scope_parts(full)
        elif full.startswith(near_full + "."):
            parts = self.parts() + scope_parts(full[len(near_full) + 1:])
        else:  # a module called from outside its parent: its own full name
            parts = scope_parts(full)
        self.scope.append(("module", full, parts))
        for n in range(1, len(parts) + 1):  # with its containers (a ModuleDict is not called)
            self.record.modules.add(parts[:n])

    def leave(self) -> None:
        self.resolve()
        if self.scope and self.scope[-1][0] == "module":
            self.scope.pop()

    def enter_loss(self) -> None:
        self.resolve()
        self.scope = [("loss", "", ("loss",))]

    # aten ops ----------------------------------------------------------------------------
    def before_op(self, func, args, kwargs) -> None:
        """Every tensor an op reads is recorded before the op runs: an op may change it in
        place (a BatchNorm's ``num_batches_tracked`` is 0 going in, not 1)."""
        if packet_name(func) in SKIPPED_OPS:
            return
        self.resolve()
        for value in list(args) + list(kwargs.values()):
            for t in _tensors_in(self.torch, value):
                self.tensor_for(t)

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
        call += (self.is_random(func, call[4], outputs[first]),)
        written = self.add_node(call, outputs[first], first)
        if func._schema.is_mutable or packet in UNDECLARED_WRITES:
            self.after_write(func, args, kwargs, outputs[first], written)
        for k, o in enumerate(outputs):
            if k != first and isinstance(o, torch.Tensor):
                key = id(o)
                ref = weakref.ref(o, lambda _r, key=key: self.latent.pop(key, None))
                self.latent[key] = [ref, call, k, self.snapshot(o, counted=False), None]
                self.fresh_latent.append(key)

    def after_write(self, func, args, kwargs, output, written: Tensor) -> None:
        """After an in-place op: a view's base changed too (a ``view_write`` node); a
        tensor changed but not returned (a BatchNorm's running mean) is read afresh next
        time."""
        base = output._base if func._schema.is_mutable else None
        if base is not None:
            self.append(ViewWrite, "view_write", [self.tensor_for(base), written], {}, base)
        undeclared = UNDECLARED_WRITES.get(packet_name(func), ())
        for i, arg in enumerate(func._schema.arguments):
            if (arg.alias_info is None or not arg.alias_info.is_write) and \
                    arg.name not in undeclared:
                continue
            given = args[i] if i < len(args) and not arg.kwarg_only else kwargs.get(arg.name)
            for t in _tensors_in(self.torch, given):
                if t is not output:
                    self.forget(t)

    def materialize(self, t, latent) -> Tensor:
        """Extra outputs (a layer norm's mean and rstd) are kept aside, uncounted, and
        become nodes only when something reads them; their autograd pairing was taken
        when the op had just run (an in-place op may have replaced it since)."""
        _, call, k, value, pairing = latent
        self.latent.pop(id(t), None)
        if not self.record.shapes_only:
            self.count(value.size)
        out = self.add_node(call, t, k, value, pair=False)
        node = out.node
        out.requires_grad = pairing is not None
        if pairing is not None:
            fn, nr = pairing
            self.by_grad_fn[(id(fn), nr)] = node
            self.grad_fns[id(fn)] = fn
        return out

    def is_random(self, func, attrs: dict, output) -> bool:
        """Does this op draw random numbers (or read uninitialised memory)? A random op
        whose probability is 0 or 1 (dropout 0, a flash attention without dropout, the
        all-ones mask of ``bernoulli_(1.0)``) draws nothing."""
        if packet_name(func) in UNINITIALISED:
            return output.numel() > 0
        if self.torch.Tag.nondeterministic_seeded not in func.tags:
            return False
        if attrs.get("train", True) is False:
            return False
        for arg in func._schema.arguments:
            if arg.name in ("p", "dropout_p"):
                value = attrs.get(arg.name, arg.default_value)
                if isinstance(value, (int, float)) and value in (0, 1):
                    return False
        return True

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
        return (func, tuple(layout), inputs, tuple(names), attrs, tuple(floating))

    def add_node(self, call, output, k, value=None, pair: bool = True) -> Tensor:
        func, layout, inputs, names, attrs, floating, random = call
        op = aten_op(func, layout, names, floating, k, random)
        label = packet_name(func) + (f"[{k}]" if k else "")
        self.aten_ops += 1
        if self.aten_ops > self.max_ops:
            hint = ("use a smaller model or input" if self.record.shapes_only else
                    f"record shapes only (--shapes-only, up to {MAX_OPS_SHAPES_ONLY:,} ops), "
                    "or use a smaller model or input")
            raise RecordTooLarge(f"the model ran more than {self.max_ops:,} ops; {hint}")
        return self.append(op, label, inputs, attrs, output, value, pair)

    def append(self, op, label, inputs, attrs, output, value=None, pair: bool = True) -> Tensor:
        """Record ``output = op(*inputs, **attrs)`` as the next node."""
        node = Node(len(self.record.nodes), op, self.path(label), list(inputs), dict(attrs))
        value = self.snapshot(output) if value is None else value
        will_need_grad = (self.torch.is_grad_enabled() and output.is_floating_point()
                          and any(x.requires_grad for x in inputs))
        node.output = Tensor(self.record, value, node.name, "activation", node,
                             bool(will_need_grad or output.requires_grad))
        self.record.nodes.append(node)
        self.remember(output, node.output)
        if pair:
            self.pending.append((node, weakref.ref(output), bool(will_need_grad)))
        return node.output

    def resolve(self, final: bool = False) -> None:
        """Pair recorded nodes with the autograd node autograd gave their output.

        Autograd attaches ``grad_fn`` after the op returns, so this runs at the next op
        (and at the end). An output that will need a gradient waits until it has one. A
        custom Function's node (``BackwardCFunction``) pairs only with the call that made
        it (``engine.pytorch.calls``), never with the last op inside its forward."""
        for key in self.fresh_latent:
            latent = self.latent.get(key)
            t = latent[0]() if latent is not None else None
            if t is not None and t.grad_fn is not None:
                latent[4] = (t.grad_fn, t.output_nr)
        self.fresh_latent = []
        waiting = []
        for node, ref, needs in self.pending:
            t = ref()
            fn = None if t is None else t.grad_fn
            if fn is None and needs and not final and t is not None:
                waiting.append((node, ref, needs))
                continue
            node.output.requires_grad = fn is not None
            if fn is None or isinstance(fn, self.custom_fn):
                continue
            self.by_grad_fn[(id(fn), t.output_nr)] = node
            self.grad_fns[id(fn)] = fn
        self.pending = waiting
