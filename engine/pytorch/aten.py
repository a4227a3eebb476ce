"""One engine ``Op`` per PyTorch aten op the recorder meets, made on the fly.

A recorded PyTorch model is a sequence of aten ops (``aten.t``, ``aten.addmm``,
``aten.relu`` …). Each becomes an ``Op`` subclass with the same face as the engine's
own ops — name, formula, local derivative, torch spelling, input names — so the
timeline and the stepper show it like any other step. Its ``forward``/``backward``
are PyTorch's, so they are not reimplemented here; ``torch_forward`` replays the aten
op on given inputs (that is what the op-by-op twin calls). Torch is never imported
by this module: the op objects are passed in by the recorder.
"""

from __future__ import annotations

from engine.ops.base import Op

# packet name → (formula, local derivative), for the ops small models use most.
TEXTS: dict[str, tuple[str, str]] = {
    "mm": ("Y = A @ B", "∂L/∂A = G @ Bᵀ,  ∂L/∂B = Aᵀ @ G"),
    "addmm": ("Y = bias + mat1 @ mat2   (nn.Linear: x @ Wᵀ + b)",
              "∂L/∂mat1 = G @ mat2ᵀ,  ∂L/∂mat2 = mat1ᵀ @ G,  ∂L/∂bias = G summed over rows"),
    "bmm": ("Y[b] = A[b] @ B[b]   (one matrix product per batch entry)",
            "∂L/∂A[b] = G[b] @ B[b]ᵀ,  ∂L/∂B[b] = A[b]ᵀ @ G[b]"),
    "baddbmm": ("Y[b] = beta·self + alpha·A[b] @ B[b]",
                "∂L/∂A[b] = alpha·G[b] @ B[b]ᵀ,  ∂L/∂B[b] = alpha·A[b]ᵀ @ G[b],  "
                "∂L/∂self = beta·G"),
    "t": ("Y = Xᵀ   (the two axes of a matrix swapped)", "∂L/∂X = Gᵀ"),
    "transpose": ("Y = X with axes dim0 and dim1 swapped",
                  "∂L/∂X = G with the same axes swapped back"),
    "permute": ("Y = X with its axes reordered by dims", "∂L/∂X = G with the axes put back"),
    "view": ("Y = X read in row-major order into a new shape (no copy)",
             "∂L/∂X = G read back into X's shape"),
    "_unsafe_view": ("Y = X read in row-major order into a new shape",
                     "∂L/∂X = G read back into X's shape"),
    "reshape": ("Y = X read in row-major order into a new shape",
                "∂L/∂X = G read back into X's shape"),
    "unsqueeze": ("Y = X with a new axis of length 1 at dim", "∂L/∂X = G with that axis removed"),
    "squeeze": ("Y = X without its axes of length 1", "∂L/∂X = G with those axes put back"),
    "expand": ("Y = X repeated along broadcast axes (no copy)",
               "∂L/∂X = G summed over the repeated axes (the copies' gradients add up)"),
    "clone": ("Y = a copy of X", "∂L/∂X = G"),
    "_to_copy": ("Y = X converted to another dtype or device", "∂L/∂X = G converted back"),
    "select": ("Y = X[index] along dim", "∂L/∂X = zeros with G placed at that index"),
    "slice": ("Y = X[start:end:step] along dim", "∂L/∂X = zeros with G placed in the slice"),
    "split_with_sizes": ("pieces of X along dim", "∂L/∂X = the pieces' gradients side by side"),
    "split": ("pieces of X along dim", "∂L/∂X = the pieces' gradients side by side"),
    "cat": ("Y = the tensors joined along dim", "∂L/∂(each input) = its slice of G"),
    "stack": ("Y = the tensors stacked on a new axis dim", "∂L/∂(each input) = its slice of G"),
    "relu": ("y = max(0, x)", "∂y/∂x = 1 where x > 0, else 0"),
    "gelu": ("y = x·Φ(x)   (Φ the normal CDF)", "∂y/∂x = Φ(x) + x·φ(x)"),
    "silu": ("y = x·σ(x)", "∂y/∂x = σ(x)·(1 + x·(1 − σ(x)))"),
    "tanh": ("y = tanh x", "∂y/∂x = 1 − y²"),
    "sigmoid": ("y = 1 / (1 + e⁻ˣ)", "∂y/∂x = y·(1 − y)"),
    "exp": ("y = eˣ", "∂y/∂x = eˣ = y"),
    "log": ("y = ln x", "∂y/∂x = 1/x"),
    "sqrt": ("y = √x", "∂y/∂x = 1/(2√x)"),
    "rsqrt": ("y = 1/√x", "∂y/∂x = −½·x^(−3/2)"),
    "neg": ("y = −x", "∂y/∂x = −1"),
    "add": ("y = self + alpha·other",
            "∂y/∂self = 1,  ∂y/∂other = alpha   (broadcast copies add up)"),
    "sub": ("y = self − alpha·other", "∂y/∂self = 1,  ∂y/∂other = −alpha"),
    "rsub": ("y = other − alpha·self", "∂y/∂self = −alpha,  ∂y/∂other = 1"),
    "mul": ("y = self · other", "∂y/∂self = other,  ∂y/∂other = self"),
    "div": ("y = self / other", "∂y/∂self = 1/other,  ∂y/∂other = −self/other²"),
    "pow": ("y = self^exponent", "∂y/∂self = exponent·self^(exponent − 1)"),
    "sum": ("y = Σ x   (over dim, or everything)", "∂y/∂x = 1 for every summed element"),
    "mean": ("y = (1/n) Σ x   (over dim, or everything)", "∂y/∂x = 1/n for every averaged element"),
    "_softmax": ("p[i] = exp(x[i]) / Σⱼ exp(x[j])   (along dim)",
                 "∂L/∂x[i] = p[i]·(g[i] − Σⱼ g[j]·p[j])"),
    "_log_softmax": ("y[i] = x[i] − log Σⱼ exp(x[j])   (along dim)",
                     "∂L/∂x[i] = g[i] − softmax(x)[i]·Σⱼ g[j]"),
    "nll_loss_forward": ("L = −(1/N) Σₙ logp[n, targetₙ]   (reduction mean)",
                         "∂L/∂logp[n, targetₙ] = −1/N, 0 elsewhere"),
    "mse_loss": ("L = mean((self − target)²)", "∂L/∂self = 2·(self − target)/N"),
    "native_layer_norm": ("y = γ·(x − μ)/√(σ² + ε) + β   (μ, σ² over normalized_shape)",
                          "∂L/∂x = (1/σ)(ĝ − mean ĝ − x̂·mean(ĝ·x̂)) with ĝ = g·γ;  "
                          "∂L/∂γ = Σ g·x̂;  ∂L/∂β = Σ g"),
    "embedding": ("y[…] = weight[indices[…]]   (one row per id)",
                  "∂L/∂weight[v] = Σ of G's rows at positions whose id is v"),
    "masked_fill": ("y = value where mask, else self", "∂y/∂self = 0 where mask, 1 elsewhere"),
    "where": ("y = self where condition, else other",
              "∂L/∂self = G where condition;  ∂L/∂other = G elsewhere"),
    "native_dropout": ("y = x·keep/(1 − p)   (keep: random 0/1 mask)",
                       "∂y/∂x = keep/(1 − p)"),
    "_scaled_dot_product_flash_attention_for_cpu": (
        "Y = softmax(Q Kᵀ/√d [+ mask]) V   (fused attention)",
        "PyTorch's fused attention backward: ∂L/∂V = Pᵀ G, ∂L/∂P = G Vᵀ, then softmax and Q Kᵀ"),
    "_safe_softmax": ("p[i] = exp(x[i]) / Σⱼ exp(x[j])   (along dim; an all −∞ row gives 0s)",
                      "∂L/∂x[i] = p[i]·(g[i] − Σⱼ g[j]·p[j])"),
    "amax": ("y = max x   (over dim)", "∂y/∂x = 1 at the maximum (shared among ties), else 0"),
    "triu": ("Y = X with everything below diagonal k set to 0", "∂L/∂X = triu(G)"),
}


class AtenOp(Op):
    """An aten op as the engine shows it. ``layout`` says, per schema argument in the
    call, whether it was a tensor input, a list of tensors, or a plain value (an attr)."""

    aten = None  # the torch OpOverload
    layout: tuple = ()
    output_index = 0
    replayable = True  # False for a stand-in: an autograd node with no forward op

    @staticmethod
    def forward(*xs, **attrs):
        raise NotImplementedError("a recorded PyTorch op: its forward is PyTorch's "
                                  "(replay it with torch_forward)")

    @staticmethod
    def backward(g, saved):
        raise NotImplementedError("a recorded PyTorch op: its backward is PyTorch's autograd")

    @classmethod
    def torch_forward(cls, torch, *xs, **attrs):
        """Call the aten op again on ``xs`` with the recorded attrs."""
        if not cls.replayable:
            raise NotImplementedError(f"{cls.name} ran only in the backward pass: "
                                      "there is no forward op to replay")
        args, kwargs = [], {}
        tensors = iter(xs)
        for name, kind, by_keyword, detail in cls.layout:
            if kind == "tensor":
                value = next(tensors)
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


_CACHE: dict[tuple, type[AtenOp]] = {}


def packet_name(func) -> str:
    """``aten.addmm.default`` → ``addmm``."""
    return func._schema.name.split("::", 1)[-1]


def aten_op(func, layout: tuple, input_names: tuple, floating: tuple,
            output_index: int = 0) -> type[AtenOp]:
    """The ``Op`` subclass for one aten overload called with one argument layout."""
    key = (func, layout, input_names, floating, output_index)
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
    in_place = packet.endswith("_") and not packet.startswith("_") or packet.endswith("__")
    formula, derivative = TEXTS.get(packet.rstrip("_") if in_place else packet, (
        f"y = aten.{packet}({', '.join(input_names)})",
        f"PyTorch's autograd formula for aten.{packet} (tools/autograd/derivatives.yaml)"))
    if in_place:
        formula += "   (in place: overwrites its first input)"
    if output_index:
        formula = f"output {output_index} of: {formula}"
    op = type(f"Aten_{packet}", (AtenOp,), {
        "name": f"aten.{packet}", "formula": formula, "derivative": derivative,
        "torch": spelling, "inputs": input_names, "differentiable": floating,
        "aten": func, "layout": layout, "output_index": output_index})
    _CACHE[key] = op
    return op
