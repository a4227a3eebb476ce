"""Saving trained weights: ``engine.weights``' format, written atomically."""

from __future__ import annotations

from pathlib import Path

from engine.model import Transformer
from engine.weights import load_weights, weights_bytes
from tutor.storage.files import atomic_write

__all__ = ["save_weights", "load_weights"]


def save_weights(path, model: Transformer) -> Path:
    """Write ``model`` to ``path`` (used as given: no ``.npz`` is appended); a crash
    leaves the file that was there, never half a file."""
    return atomic_write(Path(path), weights_bytes(model))
