"""Everything that touches PyTorch, imported only when it is needed (torch takes about a
second to import, and the tutor teaches without it).

``import_torch`` is the one door: it imports torch or raises ``TorchMissing`` with the
install command. ``twin`` is the whole model in ``torch.nn.Transformer``; ``steps``
redoes a recorded tape op by op in torch; ``match`` is the one rule for "matches
PyTorch"; ``names`` spells records as torch code.

A learner's own PyTorch model: ``record`` records it into a tape (with ``recorder``, the
state of one recording; ``frames``, the calls it makes; ``backward`` and ``call_steps``,
its backward pass); ``aten`` and ``calls`` are the ops a record holds, ``texts`` their
formulas, ``worked`` and ``worked_nn`` their worked elements; ``check`` checks a whole
record against a plain ``loss.backward()`` and op by op (``tutor torch --check``).
"""

from __future__ import annotations

INSTALL = ("pip install 'transformer-tutor[torch]'  (on a machine without a CUDA GPU, first: "
           "pip install torch --index-url https://download.pytorch.org/whl/cpu)")


class TorchMissing(RuntimeError):
    """PyTorch is not installed; the message says how to install it."""


def import_torch():
    """The ``torch`` module, or ``TorchMissing`` saying how to install it."""
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise TorchMissing(f"PyTorch is not installed. Install it with: {INSTALL}") from error
    return torch
