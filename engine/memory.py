"""Keep freed memory for reuse.

A recorded run keeps every activation and gradient alive, so each run allocates
many megabytes of fresh arrays. By default glibc hands large blocks straight back
to the operating system when a run is dropped, and the next run pays a page fault
for every 4 KiB it touches again — on a virtual machine that can double the time
of a forward + backward pass. Raising the mmap and trim thresholds keeps freed
blocks in the process for the next run. Harmless where glibc is absent.

The engine no longer needs it for its own big arrays (``engine.buffers`` reuses them
without touching the process); the ``tutor`` commands still call it for what the pool
does not cover — decoding, the optimiser's state, the many mid-sized arrays of training.
"""

from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_done = False


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed blocks (up to 32 MiB each) for reuse. True if it took."""
    global _done
    if _done:
        return True
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: glibc's, if any

    except (OSError, AttributeError):
        return False
    ok = (mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1
          and mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
          and mallopt(_M_TOP_PAD, 64 << 20) == 1)
    _done = ok
    return ok
