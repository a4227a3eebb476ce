"""Record your own PyTorch model, op by op, into a tape the timeline can step through.

``record_module(model, inputs, loss_fn)`` runs the model once and writes what PyTorch
did into a ``TorchRecord`` (an ``engine.tape.Tape``), so ``Timeline(record)`` works
unchanged:

- **Forward, at two levels.** A ``TorchFunctionMode`` sees each call the model makes
  into torch (``F.linear``, ``a + b``, ``x.view(…)``, ``F.scaled_dot_product_attention``)
  and a ``TorchDispatchMode`` sees the aten ops each runs (``aten.t``, ``aten.addmm``).
  Each aten op becomes a ``Node`` named by the module and call it ran in
  (``fc1.linear.addmm``: forward pre/post hooks on ``named_modules`` give the module);
  each call that returns one tensor becomes a node of its own after its parts
  (``fc1.linear``, see ``engine.pytorch.calls``), so the timeline shows the call and
  ``s`` steps into its aten ops. A custom ``autograd.Function`` is a call too
  (``Round.apply``): its forward's ops are its parts, and its own backward is its step.
- **Backward.** ``torch.autograd.grad(loss, leaves)`` runs with a post hook on every
  autograd node (``AddmmBackward0`` …). A hook sees the gradients flowing out
  (upstream, one per forward output) and in (one per forward input, matched through
  ``next_functions``). Each autograd node is paired with the forward op whose output
  carries it as ``grad_fn``, so a backward step knows its forward twin; a call's step
  follows its parts' steps and sends each argument the sum of what they sent it. Where a
  tensor feeds several consumers, each contribution after the first is an
  accumulation event (``Contribution.before`` → ``after``), as on the engine's tape.
  Leaf gradients are the sums of their contributions; ``.grad`` is not touched.

What cannot be paired, and how it shows:

- ``aten.detach`` is not a step (autograd calls it when it saves a tensor); a
  detached tensor shows as its source, and sends no gradient back.
- An op with several outputs that each get a gradient (``split``, ``unbind``) gets
  one backward step per output; each output's contribution is computed by calling
  the autograd node with that output's gradient alone (the backward is linear in
  it), so the contributions add up to PyTorch's total up to rounding. Each output is
  paired with the autograd node it had when the op returned (an in-place op on it, like
  a GRU's ``sigmoid_`` on a gate, gives it a new one later).
- An in-place op on a view changes the view's base too: a ``view_write`` node records
  the base's new value, and autograd's ``CopySlices`` is its backward step (the
  in-place op itself then has no backward step of its own: CopySlices holds it). A
  tensor an op changes in place is recorded as it was before the change.
- Random ops (dropout's ``bernoulli_``) and uninitialised memory (``empty_like``) are
  marked ``random``: their recorded values are taken as they are, never run again.
- An autograd node that matches no forward op (a custom Function returning several
  tensors) becomes a step on a stand-in node ``unpaired.<Name>`` that sends its
  gradients to its inputs but has no forward twin; ``record.notes`` says so, once.
- Ops that return no tensor (``.item()``, size queries) are not recorded.

Limits: at most ``MAX_OPS`` aten ops and ``MAX_ELEMENTS`` recorded numbers (forward
values, upstream gradients and contributions together); beyond either
``RecordTooLarge`` is raised. ``shapes_only=True`` stores shapes, no values (every value
is a read-only NaN array of the right shape that takes no memory), and allows
``MAX_OPS_SHAPES_ONLY`` ops. A failure of the recorder itself (not of the model) raises
``RecordFailure`` naming the step.
"""

from __future__ import annotations

from contextlib import contextmanager

from engine.tape import Tape
from engine.pytorch import import_torch
from engine.pytorch.backward import record_backward
from engine.pytorch.errors import RecordError, RecordFailure, RecordTooLarge
from engine.pytorch.frames import abandon_call, close_call, open_call
from engine.pytorch.recorder import Recorder
from engine.pytorch.values import MAX_ELEMENTS, MAX_OPS, MAX_OPS_SHAPES_ONLY

__all__ = ["RecordError", "RecordFailure", "RecordTooLarge", "TorchRecord", "record_module",
           "MAX_OPS", "MAX_OPS_SHAPES_ONLY", "MAX_ELEMENTS"]


class TorchRecord(Tape):
    """A tape recorded from PyTorch: ``nodes`` (aten ops and the learner's calls),
    ``steps`` (autograd nodes and the calls' steps), ``tensors`` and ``loss`` as on any
    tape, plus what the recording could not do. ``parent`` maps a part's node index to
    the call it ran in; ``modules`` holds the scope path of every module that ran,
    ``buffers`` the names of the model's buffers."""

    origin = "pytorch"

    def __init__(self, shapes_only: bool = False):
        super().__init__()
        self.shapes_only = shapes_only
        self.notes: list[str] = []
        self.loss_note = ""
        self.elements = 0
        self.parent: dict = {}
        self.modules: set[tuple] = set()
        self.buffers: set[str] = set()


def _guarded(rec, where, method, *args):
    """Run the recorder's own code: the function mode lets its calls through, and an
    error of the recorder (not of the model) becomes a ``RecordFailure`` naming the step."""
    rec.internal += 1
    try:
        return method(*args)
    except (RecordError, RecordFailure):
        raise
    except Exception as error:
        raise RecordFailure(where(), error) from error
    finally:
        rec.internal -= 1


# calls that only ask about a tensor (its shape, dtype …): never a step, so not watched
QUIET = {"size", "dim", "numel", "stride", "__len__", "is_floating_point", "is_contiguous",
         "element_size", "__repr__", "__format__", "__bool__", "item", "tolist", "__hash__",
         "data_ptr", "storage_offset", "__index__", "__int__", "__float__", "_set_grad_enabled",
         "is_complex", "get_device", "type", "__get__"}


def _modes(torch, rec):
    """The two modes that watch a forward pass (made lazily: their bases live in torch):
    one sees the aten ops, the other the calls the model makes."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls):  # nothing here is compiled: do not import dynamo (~3 s)
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            where = lambda: f"forward op {len(rec.record.nodes)} ({func})"  # noqa: E731
            _guarded(rec, where, rec.before_op, func, args, kwargs)
            out = func(*args, **kwargs)
            _guarded(rec, where, rec.on_op, func, args, kwargs, out)
            return out

    class Calls(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if rec.internal or _quiet(func):
                return func(*args, **kwargs)
            return _watched(rec, func, None, func, args, kwargs)

    return Ops(), Calls()


def _quiet(func) -> bool:
    name = getattr(func, "__name__", "")
    if name == "__get__":
        name = getattr(getattr(func, "__self__", None), "__name__", "")
        return name not in ("T", "mT", "H", "mH", "real", "imag")
    return name in QUIET


def _watched(rec, func, custom, call, args, kwargs):
    """Run one call of the model's inside a frame of its own."""
    where = lambda: f"the call {getattr(func, '__name__', func)}"  # noqa: E731
    frame = _guarded(rec, where, open_call, rec, func, args, kwargs, custom)
    try:
        result = call(*args, **kwargs)
    except BaseException:
        _guarded(rec, where, abandon_call, rec, frame)
        raise
    _guarded(rec, where, close_call, rec, frame, result)
    return result


@contextmanager
def _custom_functions(torch, rec):
    """Watch ``autograd.Function.apply`` (it is not a torch function) while recording."""
    function = torch.autograd.Function
    original = function.__dict__["apply"]

    def apply(cls, *args, **kwargs):
        run = lambda *a, **k: original.__func__(cls, *a, **k)  # noqa: E731
        if rec.internal:
            return run(*args, **kwargs)
        return _watched(rec, cls, cls, run, args, kwargs)

    function.apply = classmethod(apply)
    try:
        yield
    finally:
        function.apply = original


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
    rec = Recorder(torch, model, TorchRecord(shapes_only), max_ops, max_elements)
    rec.name_inputs(inputs)
    where = lambda: "a module's hook"  # noqa: E731
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(
            lambda m, a: _guarded(rec, where, rec.enter, m)))
        handles.append(module.register_forward_hook(
            lambda m, a, o: _guarded(rec, where, rec.leave)))
    ops, calls = _modes(torch, rec)
    try:
        with torch.enable_grad(), _custom_functions(torch, rec), ops, calls:
            output = _call(model, inputs)
            _guarded(rec, where, rec.enter_loss)
            if loss_fn is None:
                loss, rec.record.loss_note = _default_loss(torch, output)
            else:
                loss, rec.record.loss_note = loss_fn(output), "loss_fn(output)"
        _guarded(rec, where, rec.resolve, True)
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
