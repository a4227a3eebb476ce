"""Limits of a recording and the value a shapes-only recording keeps."""

from __future__ import annotations

import numpy as np

MAX_OPS = 2_000
MAX_OPS_SHAPES_ONLY = 20_000
MAX_ELEMENTS = 5_000_000


def shape_marker(shape) -> np.ndarray:
    """A value that is only a shape: NaN everywhere, read-only, no memory."""
    return np.broadcast_to(np.array(np.nan), tuple(int(n) for n in shape))
