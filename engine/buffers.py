"""Reuse the engine's own big arrays from one run to the next.

A recorded run keeps every activation, gradient and running total alive (~240 MiB at
d_model 256, 4 + 4 layers, B 4, S = T = 32). When it is dropped, the C allocator hands
the big blocks back to the operating system, and the next run pays a page fault for
every 4 KiB it writes again (~27 000 faults a run, a third of its time on a virtual
machine). A ``BufferPool`` keeps the big arrays a run made; the next run's ops write
into them (``out=``) once nothing but the pool holds them. Nothing process-wide changes.

The ops ask for their output arrays with ``empty(shape)``: a pooled buffer inside
``with pool.active():`` (``Transformer.run`` and friends), a fresh ``np.empty``
otherwise, and always a fresh one below ``MIN_BYTES`` (small arrays cost no faults).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
import threading

import numpy as np

MIN_BYTES = 64 * 1024  # below this, malloc's own free lists already reuse the memory
KEEP_RUNS = 2  # a buffer no run has taken for this many runs is let go

_active: contextvars.ContextVar[BufferPool | None] = contextvars.ContextVar("buffer_pool",
                                                                            default=None)


def _only_pool_refcount() -> int:
    """``sys.getrefcount(bufs[i])`` of an array held by nothing but the list ``bufs``
    (measured, not assumed: the count an interpreter reports differs across versions)."""
    bufs = [np.empty(1)]
    return sys.getrefcount(bufs[0])


_FREE = _only_pool_refcount()


class BufferPool:
    """Float64 arrays kept between runs, handed out again once no one else holds them.

    A buffer is free when the pool's own reference is its only one: a view of it
    (a reshape, a transpose, a slice) holds its base, so a trace that keeps any view
    keeps the buffer busy. Each ``active()`` block is one run; buffers not taken in
    the last ``KEEP_RUNS`` runs are dropped, so the pool holds about one run's arrays
    beyond what the caller keeps.
    """

    def __init__(self):
        self._buffers: dict[tuple[int, ...], list[list]] = {}  # shape → [[array, run], …]
        self._next: dict[tuple[int, ...], int] = {}  # where the last search stopped
        self._run = 0
        self._lock = threading.Lock()

    def __reduce__(self):
        """A copied or pickled model gets an empty pool of its own (buffers are no state)."""
        return (BufferPool, ())

    @contextlib.contextmanager
    def active(self):
        """Inside, ``empty`` takes big arrays from this pool (this thread only)."""
        with self._lock:
            self._run += 1
            self._forget_idle()
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """A free float64 buffer of ``shape``, or a new one the pool keeps."""
        with self._lock:
            entries = self._buffers.setdefault(shape, [])
            start = self._next.get(shape, 0)
            n = len(entries)
            for step in range(n):
                i = (start + step) % n
                if sys.getrefcount(entries[i][0]) == _FREE:
                    entries[i][1] = self._run
                    self._next[shape] = i + 1
                    return entries[i][0]
            array = np.empty(shape)
            entries.append([array, self._run])
            self._next[shape] = 0
            return array

    def _forget_idle(self) -> None:
        oldest = self._run - KEEP_RUNS
        for shape, entries in list(self._buffers.items()):
            kept = [entry for entry in entries if entry[1] >= oldest]
            if kept:
                self._buffers[shape] = kept
            else:
                del self._buffers[shape]
                self._next.pop(shape, None)

    @property
    def nbytes(self) -> int:
        """Bytes of every buffer the pool keeps (taken or free)."""
        return sum(e[0].nbytes for entries in self._buffers.values() for e in entries)

    def clear(self) -> None:
        """Let every buffer go (arrays still in use stay valid: they are only forgotten)."""
        with self._lock:
            self._buffers.clear()
            self._next.clear()


def empty(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float64 array for an op to write its result into."""
    pool = _active.get()
    if pool is None or math.prod(shape) < MIN_BYTES // 8:
        return np.empty(shape)
    return pool.take(tuple(shape))


def pooled(ufunc: np.ufunc, *args) -> np.ndarray:
    """``ufunc(*args)`` (``np.add(a, b)``, …) written into ``empty(shape)``: the same
    numbers, in a reused buffer when the result is a big float64 array."""
    if _active.get() is not None:  # the tests are cheap: most arrays are small
        for a in args:
            if getattr(a, "nbytes", 0) >= MIN_BYTES and np.result_type(*args) == np.float64:
                shape = np.broadcast_shapes(*(np.shape(a) for a in args))
                return ufunc(*args, out=empty(shape))
    return ufunc(*args)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``, written into ``empty(shape)`` when both are big enough to pool."""
    if _active.get() is None or a.ndim < 2 or b.ndim < 2 or a.nbytes + b.nbytes < MIN_BYTES:
        return a @ b
    batch = a.shape[:-2] if a.shape[:-2] == b.shape[:-2] else np.broadcast_shapes(
        a.shape[:-2], b.shape[:-2])
    return np.matmul(a, b, out=empty(batch + (a.shape[-2], b.shape[-1])))


def copy(array: np.ndarray) -> np.ndarray:
    """A contiguous copy of ``array`` (a transposed view, say) in ``empty(shape)``."""
    if _active.get() is None or array.nbytes < MIN_BYTES:
        return array.copy()
    out = empty(array.shape)
    np.copyto(out, array)
    return out
