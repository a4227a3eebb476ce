"""The one way the tutor writes a whole file, and the one way it locks one.

``atomic_write``: a temporary file in the same directory (readable by its owner
only: these are the learner's own files), written, flushed and fsynced, then ``os.replace``-d over the target (atomic on POSIX and Windows) and the
directory fsynced, so a crash leaves either the old file or the new one, never half
of one. ``locked``: an exclusive lock on a lock file (the ``filelock`` library: fcntl
on POSIX, msvcrt on Windows), waiting up to ``timeout`` seconds.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

TEMP_PREFIX = ".tutor-"
TEMP_SUFFIX = ".tmp"


class LockTimeout(Exception):
    """Another process held the lock for longer than the timeout."""


def atomic_write(path: Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` all at once (folders are created as needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_directory(path.parent)
    return path


def remove_stale_temporaries(directory: Path) -> None:
    """Temporary files a killed write left behind (call with the directory's lock held)."""
    for stale in Path(directory).glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        with suppress(OSError):
            stale.unlink()


@contextmanager
def locked(lock_path: Path, timeout: float):
    """Hold an exclusive lock on ``lock_path`` (created if needed) inside the block.

    Raises ``LockTimeout`` after ``timeout`` seconds, ``OSError`` when the lock file
    cannot be made."""
    lock = FileLock(str(lock_path), timeout=timeout)
    try:
        lock.acquire(poll_interval=0.02)
    except Timeout:
        raise LockTimeout(str(lock_path)) from None
    try:
        yield
    finally:
        lock.release()


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories can't be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
