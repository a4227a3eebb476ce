"""Re-run a recorded forward pass with some tensors replaced.

A tape keeps every op call: its op, its inputs and its attributes. ``replay``
walks those nodes in the recorded order and, wherever a node reads a replaced
tensor (or one recomputed from it), runs the node's ``op.forward`` again on the
new NumPy values. Nodes that read nothing new keep their recorded output.

That is what a *nudge* is: change one weight wᵢ by ε, replay, and the loss moves
by about ε · ∂L/∂wᵢ. It also checks any tape's gradients by central finite
differences, ∂L/∂x ≈ (L(x + ε) − L(x − ε)) / 2ε, with x a parameter, an input or
a hidden activation (replacing an activation replaces that node's output, so only
what comes after it sees the change).

The tape is never changed: values come back in a new dict, recorded arrays are
handed out read-only. Choices made outside the tape stay as recorded: the tokens a
decoding picked are inputs of the later steps, so a replay does not re-decide them.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from engine.tape import Tape, Tensor

__all__ = ["replay", "replayed_output", "resolve_tensor"]


def resolve_tensor(tape: Tape, key) -> Tensor:
    """The tensor a key names: a ``Tensor`` of this tape, a tensor id, or a name."""
    if isinstance(key, Tensor):
        if key.tape is not tape:
            raise ValueError(f"tensor {key.name!r} belongs to another tape")
        return key
    if isinstance(key, Integral) and not isinstance(key, bool):
        if not 0 <= key < len(tape.tensors):
            raise ValueError(f"no tensor with id {key}: ids run from 0 to {len(tape.tensors) - 1}")
        return tape.tensors[key]
    if isinstance(key, str):
        found = [t for t in tape.tensors if t.name == key]
        if not found:
            raise ValueError(f"no tensor named {key!r} on this tape; names are step names "
                             f"(e.g. {_examples(tape)}) or input and parameter names")
        if len(found) > 1:
            ids = ", ".join(str(t.id) for t in found)
            raise ValueError(f"{len(found)} tensors are named {key!r} (ids {ids}); "
                             "pass the tensor id instead")
        return found[0]
    raise ValueError(f"a tensor is named by its id (int) or its name (str), got {key!r}")


def _examples(tape: Tape) -> str:
    names = [n.name for n in tape.nodes[:2]] + [n.name for n in tape.nodes[-1:]]
    return ", ".join(repr(n) for n in dict.fromkeys(names)) or "none recorded"


def _override_value(tensor: Tensor, value) -> np.ndarray:
    """``value`` as a fresh array of the tensor's shape and kind of number."""
    try:
        array = np.array(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"override for {tensor.name!r} is not an array of numbers: "
                         f"{error}") from None
    if array.dtype.kind not in "iufb":
        raise ValueError(f"override for {tensor.name!r} must hold numbers, got {array.dtype}")
    if array.shape != tensor.shape:
        raise ValueError(f"override for {tensor.name!r} has shape {array.shape}, "
                         f"but the tensor has shape {tensor.shape}")
    if tensor.value.dtype.kind in "iub":
        if array.dtype.kind == "f" and not np.all(array == np.round(array)):
            raise ValueError(f"override for {tensor.name!r} must hold whole numbers "
                             f"(it is {tensor.value.dtype})")
        return array.astype(tensor.value.dtype)
    return array.astype(np.float64)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def replay(tape: Tape, overrides: dict | None = None, *, until: int | None = None,
           recompute_all: bool = False) -> dict[int, np.ndarray]:
    """Every tensor's value (id → array) after re-running the forward pass with
    ``overrides`` (tensor id or name → new value) in place of the recorded values.

    Nodes downstream of an override are recomputed with ``op.forward``; an override
    of an activation stands in for that node's output. ``until`` stops after that
    node index (later activations keep their recorded values). ``recompute_all``
    re-runs every node, even those that read nothing new.
    """
    new: dict[int, np.ndarray] = {}
    for key, value in (overrides or {}).items():
        tensor = resolve_tensor(tape, key)
        if tensor.id in new:
            raise ValueError(f"{key!r} names tensor {tensor.name!r}, which is overridden twice")
        new[tensor.id] = _override_value(tensor, value)
    values = {t.id: new[t.id] if t.id in new else _read_only(t.value) for t in tape.tensors}
    changed = set(new)
    last = len(tape.nodes) - 1 if until is None else until
    for node in tape.nodes[:last + 1]:
        out = node.output.id
        if out in new:
            continue
        if recompute_all or any(x.id in changed for x in node.inputs):
            value, _ = node.op.forward(*[values[x.id] for x in node.inputs], **node.attrs)
            values[out] = np.asarray(value)
            changed.add(out)
    return values


def replayed_output(tape: Tape, overrides: dict | None = None, tensor=None) -> np.ndarray:
    """One tensor's value after the replay: by default the loss (``tape.loss``, the
    tensor backward ran from). Only the nodes up to that tensor's node are re-run."""
    if tensor is None:
        if tape.loss is None:
            raise ValueError("the tape has no loss yet (backward has not run); "
                             "name the output tensor to replay")
        target = tape.loss
    else:
        target = resolve_tensor(tape, tensor)
    until = target.node.index if target.node is not None else -1
    return np.array(replay(tape, overrides, until=until)[target.id])
