"""A tape that keeps only what the backward pass needs: for training and fast decoding.

A recorded run (``Transformer.run``) keeps every node, name and backward step so the
tutor can show them; training needs none of that. ``LeanTape`` runs the very same
model code, so the very same ops' ``forward`` and ``backward`` in the very same order,
and its backward is the recorded tape's own (``engine.tape.backpropagate``) without
the records, so its gradients equal ``Transformer.run``'s bit for bit
(tests/engine/test_train.py).
"""

from __future__ import annotations

import contextlib

import numpy as np

from engine.tape import Tape, Tensor, backpropagate, seed_gradient

_NO_SCOPE = contextlib.nullcontext()


class LeanTape(Tape):
    """A ``Tape`` that runs ops without recording them for display.

    ``apply`` runs ``op.forward`` and keeps ``(op, inputs, output, saved)``;
    ``backward`` returns ``{tensor id: gradient}``, dropping each activation's gradient
    once it has been used. ``LeanTape(for_backward=False)`` is for forward passes
    alone (greedy decoding): it keeps nothing, so each activation is freed once no op
    needs it.
    """

    def __init__(self, for_backward: bool = True):
        super().__init__()
        self.for_backward = for_backward
        self.calls: list[tuple] = []
        if not for_backward:
            self.tensors = _Count()

    def scope(self, name: str):
        return _NO_SCOPE

    def apply(self, op, *inputs, label=None, **attrs) -> Tensor:
        tensors = [x if isinstance(x, Tensor) else self.constant(None, x) for x in inputs]
        value, saved = op.forward(*[x.value for x in tensors], **attrs)
        needs_grad = any(x.requires_grad and d for x, d in zip(tensors, op.differentiable))
        output = Tensor(self, np.asarray(value), label or op.name, "activation", None, needs_grad)
        if self.for_backward:
            self.calls.append((op, tensors, output, saved))
        return output

    def backward(self, y: Tensor, seed=None) -> dict[int, np.ndarray]:
        if not self.for_backward:
            raise RuntimeError("this LeanTape kept nothing for a backward pass")
        grads = backpropagate(self.calls, y, seed_gradient(y, seed), keep=False)
        self.calls.clear()
        return grads


class _Count:
    """Stands in for ``Tape.tensors`` when nothing is kept: a tensor's id is how many
    came before it, so ids stay unique while the tensors themselves are not held."""

    def __init__(self):
        self.count = 0

    def append(self, _tensor) -> None:
        self.count += 1

    def __len__(self) -> int:
        return self.count
