"""The learner's own calls: ``F.linear(x, w, b)``, ``a + b``, ``q @ k.transpose(-2, -1)``,
``F.scaled_dot_product_attention(q, k, v)``, ``Round.apply(x)`` — each a step of its own,
with the aten ops that implement it one level down.

A ``TorchFunctionMode`` sees every call into torch's Python API as the model makes it
(only the outermost: inside a handler the mode is off, so ``F.linear`` is seen and the
``F.linear`` inside ``F.multi_head_attention_forward`` is not). A custom
``autograd.Function`` is seen through its ``apply``. The aten ops a call runs are
recorded under its path (``fc1.linear.addmm``) and, when it returns one tensor that one
of them made, the call becomes a node of its own (``fc1.linear``, op ``F.linear``) after
them: its inputs are the call's tensor arguments, its output that tensor (shared with the
part that made it). ``engine.pytorch.frames`` does that while the model runs;
``engine.pytorch.call_steps`` makes the call's backward step.

This module is the call as an op: ``CallOp`` (``CustomCallOp`` for an
``autograd.Function``), made per function by ``call_op``/``custom_op``, with how the
function is named and spelled (``describe_function``: ``F.linear``, ``+``, ``x.view``,
``x[…]``). The call is kept as a template — its positional and keyword arguments with
every tensor replaced by a ``Slot`` — so it can be run again (``torch_forward``) and
spelled exactly (``spell``). Torch is never imported here.
"""

from __future__ import annotations

from engine.pytorch.aten import RecordedOp
from engine.pytorch.names import source
from engine.pytorch.texts import FUNCTION_KINDS, kind_texts, resolve_symbols

OPERATORS = {"add": "+", "__add__": "+", "__radd__": "+", "sub": "-", "__sub__": "-",
             "mul": "*", "__mul__": "*", "__rmul__": "*", "div": "/", "__truediv__": "/",
             "matmul": "@", "__matmul__": "@", "pow": "**", "__pow__": "**"}
REFLECTED = {"__rsub__": "-", "__rdiv__": "/", "__rtruediv__": "/", "__rmatmul__": "@",
             "__rpow__": "**"}
IN_PLACE_OPERATORS = {"__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_",
                      "__itruediv__": "div_", "__imatmul__": "matmul_"}
LABELS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "**": "pow"}


class Slot:
    """Where tensor input ``index`` goes in a recorded call."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __repr__(self) -> str:
        return f"Slot({self.index})"


def _fill(template, xs):
    if isinstance(template, Slot):
        return xs[template.index]
    if isinstance(template, (list, tuple)) and any(has_slot(v) for v in template):
        filled = [_fill(v, xs) for v in template]
        return filled if isinstance(template, list) else type(template)(filled) \
            if type(template) is tuple else tuple(filled)
    return template


def has_slot(value) -> bool:
    if isinstance(value, Slot):
        return True
    return isinstance(value, (list, tuple)) and any(has_slot(v) for v in value)


def _spell_value(value, names: list[str]) -> str:
    if isinstance(value, Slot):
        return names[value.index]
    if isinstance(value, (list, tuple)) and has_slot(value):
        inner = ", ".join(_spell_value(v, names) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return source(value)


def _spell_index(value, names: list[str]) -> str:
    """The inside of ``x[…]``: ``:, 0, 1:3, ..., None``."""
    items = value if isinstance(value, tuple) else (value,)
    out = []
    for v in items:
        if isinstance(v, slice):
            text = ("" if v.start is None else source(v.start)) + ":" + \
                ("" if v.stop is None else source(v.stop))
            out.append(text + ("" if v.step is None else f":{source(v.step)}"))
        else:
            out.append(_spell_value(v, names))
    if isinstance(value, tuple) and len(value) == 1:
        return out[0] + ","
    return ", ".join(out) if out else "()"


class CallOp(RecordedOp):
    """A call the learner wrote, replayed by calling it again. ``style`` is how it is
    spelled: "operator" (``a + b``), "reflected" (``2 - a``), "index" (``x[…]``),
    "method" (``x.view(…)``), "property" (``x.T``) or "function" (``F.linear(…)``)."""

    level = "function"
    func = None
    style = "function"
    spelling = ""  # the operator, the method name, or the qualified function name
    clone_inputs = False  # in place: replay on copies, so the inputs stay as they were

    @staticmethod
    def forward(*xs, **attrs):
        raise NotImplementedError("a recorded PyTorch call: replay it with torch_forward")

    @staticmethod
    def backward(g, saved):
        raise NotImplementedError("a recorded PyTorch call: its backward is its parts'")

    @classmethod
    def call_args(cls, xs, attrs):
        args, kwargs = attrs["_call"]
        return [_fill(a, xs) for a in args], {k: _fill(v, xs) for k, v in kwargs.items()}

    @classmethod
    def torch_forward(cls, torch, *xs, **attrs):
        if not cls.replayable:
            raise NotImplementedError(f"{cls.name} cannot be run again: {cls.not_replayable}")
        if cls.clone_inputs:
            xs = [x.clone() for x in xs]
        args, kwargs = cls.call_args(xs, attrs)
        return _the_tensor(torch, cls.func(*args, **kwargs))

    @classmethod
    def spell(cls, operands, attrs) -> str:
        args, kwargs = attrs["_call"]
        text = [_spell_value(a, operands) for a in args]
        named = [f"{k}={_spell_value(v, operands)}" for k, v in kwargs.items()
                 if not _is_default(cls.defaults, k, v)]
        if cls.style == "operator" and len(text) == 2 and not named:
            return f"{text[0]} {cls.spelling} {text[1]}"
        if cls.style == "reflected" and len(text) == 2 and not named:
            return f"{text[1]} {cls.spelling} {text[0]}"
        if cls.style == "index" and len(args) == 2:
            return f"{text[0]}[{_spell_index(args[1], operands)}]"
        if cls.style == "property" and len(text) == 1:
            return f"{text[0]}.{cls.spelling}"
        if cls.style in ("method", "operator", "reflected", "index") and text:
            return f"{text[0]}.{cls.method_name}({', '.join(text[1:] + named)})"
        return f"{cls.spelling}({', '.join(text + named)})"

    method_name = ""
    defaults: dict = {}  # keyword → its default: left out of the spelling when given as is


def _is_default(defaults: dict, key: str, value) -> bool:
    if key not in defaults or not isinstance(value, (type(None), bool, int, float, str)):
        return False
    default = defaults[key]
    return type(default) is type(value) and default == value


class CustomCallOp(CallOp):
    """A custom ``autograd.Function``: the forward and backward the learner wrote."""

    level = "custom"
    function_class = None
    output_index = 0  # which of the tensors it returns this node is

    @classmethod
    def torch_forward(cls, torch, *xs, **attrs):
        args, kwargs = cls.call_args(xs, attrs)
        out = cls.function_class.apply(*args, **kwargs)
        if isinstance(out, (tuple, list)):
            return [v for v in _flat_tensors(torch, out)][cls.output_index]
        return out

    @classmethod
    def spell(cls, operands, attrs) -> str:
        call = super().spell(operands, attrs)
        return f"{call}[{cls.output_index}]" if cls.output_index else call


def _flat_tensors(torch, value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _flat_tensors(torch, v)


def _the_tensor(torch, out):
    """The one tensor a call returned (``F.multi_head_attention_forward`` returns it with
    a None beside it)."""
    if isinstance(out, (tuple, list)):
        return next(_the_tensor(torch, v) for v in out if holds_tensor(torch, v))
    return out


def function_name(func) -> str:
    """``F.linear`` → ``linear``; ``x.T`` → ``T``; ``Tensor.__getitem__`` → ``__getitem__``."""
    if type(func).__name__ == "method-wrapper" and getattr(func, "__name__", "") == "__get__":
        return getattr(getattr(func, "__self__", None), "__name__", "get")
    return getattr(func, "__name__", type(func).__name__)


def describe_function(torch, func) -> dict:
    """How to spell and label a torch callable: style, spelling, label, kind."""
    name = function_name(func)
    qualname = getattr(func, "__qualname__", "") or ""
    kind = FUNCTION_KINDS.get(name)
    if kind is None and name.endswith("_") and not name.startswith("_"):
        kind = FUNCTION_KINDS.get(name[:-1])  # add_ is add, in place
    label = name[2:-2] if name.startswith("__") and name.endswith("__") else \
        name.lstrip("_") or name
    if type(func).__name__ == "method-wrapper" and getattr(func, "__name__", "") == "__get__":
        return dict(style="property", spelling=name, label=name, kind=None,
                    shown=f"Tensor.{name}")
    is_method = qualname.startswith(("TensorBase.", "Tensor.")) or \
        type(func).__name__ in ("method_descriptor", "wrapper_descriptor")
    if is_method:
        if name == "__getitem__":
            return dict(style="index", spelling="[]", label="getitem", kind=None, shown="x[…]",
                        method="__getitem__")
        if name in IN_PLACE_OPERATORS:
            method = IN_PLACE_OPERATORS[name]
            return dict(style="method", spelling=method, label=method, kind=kind,
                        shown=f"Tensor.{method}", method=method)
        if name in OPERATORS:
            op = OPERATORS[name]
            return dict(style="operator", spelling=op, label=LABELS[op], kind=kind, shown=op,
                        method=name.strip("_"))
        if name in REFLECTED:
            op = REFLECTED[name]
            return dict(style="reflected", spelling=op, label=LABELS[op], kind=None, shown=op,
                        method=name)
        return dict(style="method", spelling=name, label=label, kind=kind,
                    shown=f"Tensor.{name}", method=name)
    functional = torch.nn.functional
    if getattr(functional, name, None) is func:
        spelled = f"F.{name}"
    elif getattr(torch, name, None) is func:
        spelled = f"torch.{name}"
    else:
        module = getattr(func, "__module__", None) or "torch"
        spelled = f"{module}.{qualname or name}"
        if getattr(torch._VF, name, None) is func or module == "torch._VF":
            spelled = f"torch._VF.{name}"
    return dict(style="function", spelling=spelled, label=label, kind=kind, shown=spelled)


def is_in_place_call(described: dict, kwargs: dict) -> bool:
    method = described.get("method") or described["spelling"]
    return (described["style"] in ("method", "operator") and method.endswith("_")
            and not method.startswith("_")) or kwargs.get("inplace") is True


_CACHE: dict[tuple, type[CallOp]] = {}


def call_op(func, described: dict, input_names: tuple, floating: tuple, in_place: bool,
            random: bool, replayable: bool = True, why: str = "") -> type[CallOp]:
    """The ``Op`` subclass for one learner-level call of ``func``."""
    key = (func, input_names, floating, in_place, random, replayable)
    op = _CACHE.get(key)
    if op is not None:
        return op
    kind = described["kind"]
    texts = kind_texts(kind)
    if texts is not None:
        formula, derivative, letters = texts
        symbols = resolve_symbols(letters, input_names)
    else:
        shown = described["shown"]
        formula = f"y = {shown}({', '.join(input_names)})   (see its aten ops: s steps in)"
        derivative = "the chain rule through its aten ops, one level down (s steps in)"
        symbols = {}
    if in_place:
        formula += "   (in place: overwrites its first input)"
    if random:
        formula = f"random: recorded value, not re-run · {formula}"
    op = type(f"Call_{described['label']}", (CallOp,), {
        "name": described["shown"], "formula": formula, "derivative": derivative,
        "torch": f"{described['shown']}(…)", "inputs": input_names, "differentiable": floating,
        "func": func, "style": described["style"], "spelling": described["spelling"],
        "method_name": described.get("method", ""), "kind": kind, "symbols": symbols,
        "random": random, "clone_inputs": in_place, "replayable": replayable,
        "not_replayable": why, "defaults": described.get("defaults", {})})
    _CACHE[key] = op
    return op


def custom_op(function_class, input_names: tuple, floating: tuple, random: bool,
              output_index: int = 0) -> type[CustomCallOp]:
    """The ``Op`` subclass for a custom ``autograd.Function`` (output ``output_index`` of
    the tensors it returns)."""
    name = function_class.__name__
    key = (function_class, input_names, floating, random, output_index)
    op = _CACHE.get(key)
    if op is not None:
        return op
    formula = (f"y = {name}.apply({', '.join(input_names)})   (your autograd.Function: its "
               "forward's ops are one level down, s steps in)")
    if output_index:
        formula = f"output {output_index} of: {formula}"
    if random:
        formula = f"random: recorded value, not re-run · {formula}"
    op = type(f"Custom_{name}", (CustomCallOp,), {
        "name": f"{name}.apply", "formula": formula,
        "derivative": f"{name}.backward: the gradient your autograd.Function returns "
                      "(not the derivative of its forward's ops)",
        "torch": f"{name}.apply(…)", "inputs": input_names, "differentiable": floating,
        "function_class": function_class, "style": "function", "spelling": f"{name}.apply",
        "random": random, "output_index": output_index})
    _CACHE[key] = op
    return op


def holds_tensor(torch, value) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, (list, tuple)) and any(holds_tensor(torch, v) for v in value)
