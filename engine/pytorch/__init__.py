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

import ctypes
import importlib.util
import os
import sys

INSTALL = ("pip install 'transformer-tutor[torch]'  (on a machine without a CUDA GPU, first: "
           "pip install torch --index-url https://download.pytorch.org/whl/cpu)")


class TorchMissing(RuntimeError):
    """PyTorch is not installed; the message says how to install it."""


def import_torch():
    """The ``torch`` module, or ``TorchMissing`` saying how to install it."""
    if "torch" not in sys.modules:
        preload_libraries()
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise TorchMissing(f"PyTorch is not installed. Install it with: {INSTALL}") from error
    return torch


LIBRARIES = ("libc10.so", "libtorch_cpu.so", "libtorch.so", "libtorch_python.so")


def preload_libraries() -> None:
    """Load torch's largest shared libraries before importing it, letting other threads
    run meanwhile.

    Mapping and relocating libtorch_cpu takes the dynamic loader ~0.2–0.4 s. Python's
    import of an extension module (and ctypes.CDLL) holds the interpreter lock all that
    time, so every other thread stops: the UI could not even read a q. Called through
    ctypes as a C function, ``dlopen`` runs without the lock; the import then finds the
    libraries loaded. Linux only; nothing is done where the files are not found or torch
    is asked to load them globally (``USE_RTLD_GLOBAL_WITH_LIBTORCH``)."""
    if not sys.platform.startswith("linux") or os.environ.get("USE_RTLD_GLOBAL_WITH_LIBTORCH"):
        return
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return
    if spec is None or not spec.submodule_search_locations:
        return
    try:
        dlopen = ctypes.CDLL(None).dlopen  # the process's own symbols hold dlopen
    except (AttributeError, OSError):
        return
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    folder = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    for name in LIBRARIES:  # each after the ones it needs
        path = os.path.join(folder, name)
        if os.path.exists(path) and not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
            return  # torch's own import says what is wrong
