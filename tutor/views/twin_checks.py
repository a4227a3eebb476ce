"""Where the twin's PyTorch work runs: in a helper process, unless torch is loaded here.

Importing torch takes 1–3 s, and parts of it (initialising its C++ core, some extension
modules) hold Python's interpreter lock for tens of milliseconds at a stretch: a thread
importing it beside the UI delays every key and even ``q``. So while this process has
not loaded torch, the twin's checks run in a process of its own (``tutor.views.twin_child``)
that is sent the recorded run once, imports torch, and answers requests; the UI's
process never loads it. Where torch is already loaded (a run recorded from a PyTorch
model, ``tutor torch``) the checks run in the caller's thread.

Both answer with the same outcomes, made by the same functions (``step_outcome``,
``every_step_outcome``): a ``TwinResult`` or ``EveryStep``, or a ``Trouble`` saying why
there is none. Their methods block: call them from a worker thread.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.pytorch import TorchMissing
from engine.timeline import Timeline
from tutor.child_env import PACKAGE_ROOT, child_environment

if TYPE_CHECKING:  # loaded with the first helper (multiprocessing's modules take ~3 ms)
    from multiprocessing.connection import Connection

CHILD_MODULE = "tutor.views.twin_child"
ERROR_TAIL = 1500  # characters of a crashed helper's error output shown
CANCEL_GRACE = 3.0  # seconds a cancelled check may take to stop before its helper is killed


@dataclass(frozen=True)
class Trouble:
    """Why torch gave no result: not installed (``missing``), or it raised."""

    message: str
    missing: bool = False


class Cancelled(Exception):
    """Raised by a progress callback to stop checking every step."""


def step_outcome(timeline: Timeline, position: int):
    """The step at ``position`` redone in PyTorch: a ``TwinResult``, or a ``Trouble``."""
    from tutor.views.twin import check_step

    try:
        return check_step(timeline, position)
    except TorchMissing as error:
        return Trouble(str(error), missing=True)
    except Exception as error:  # torch refused the op: say so, keep the app alive
        return Trouble(f"PyTorch could not redo this step: {type(error).__name__}: {error}")


def every_step_outcome(timeline: Timeline, progress):
    """Every step redone in PyTorch: an ``EveryStep``, or a ``Trouble``.
    ``progress(done, total)`` may raise ``Cancelled``, which is let through."""
    from tutor.views.twin import check_every_step

    done = [0]

    def tick(count: int, total: int) -> None:
        done[0] = count
        progress(count, total)

    try:
        return check_every_step(timeline, tick)
    except Cancelled:
        raise
    except TorchMissing as error:
        return Trouble(str(error), missing=True)
    except Exception as error:
        return Trouble(f"PyTorch could not redo step {done[0] + 1}: "
                       f"{type(error).__name__}: {error}")


class InProcess:
    """The checks in the calling thread (torch is loaded in this process already)."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline

    @property
    def ready(self) -> bool:
        return "torch" in sys.modules

    def step(self, position: int):
        return step_outcome(self.timeline, position)

    def every_step(self, progress, cancelled):
        """An ``EveryStep`` or a ``Trouble``; None when ``cancelled()`` turned true."""
        def tick(done: int, total: int) -> None:
            if cancelled():
                raise Cancelled
            progress(done, total)

        try:
            return every_step_outcome(self.timeline, tick)
        except Cancelled:
            return None

    def close(self) -> None:
        pass


class Helper:
    """The checks in a helper process, started on the first request and sent the run
    once it has loaded torch (a copy that stays true: a stepper's run never changes;
    nudges and descent trails replay it with values of their own).

    One request at a time (a lock): checking every step holds the helper until it ends
    or is cancelled. A helper that dies is started again on the next request; ``close``
    kills it (its own session: nothing it started outlives it) without waiting: a
    process mapping torch takes 5–20 ms to die, and ``q`` should not wait for that."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.ready = False  # the helper has imported torch
        self.sent = False  # the helper has the run
        self.process: subprocess.Popen | None = None
        self.connection: Connection | None = None
        self.errors = None  # the helper's stderr, a temporary file
        self.lock = threading.Lock()
        self.closed = False

    def step(self, position: int):
        return self._ask(("step", position), None, lambda: False)

    def every_step(self, progress, cancelled):
        """An ``EveryStep`` or a ``Trouble``; None when ``cancelled()`` turned true."""
        return self._ask(("every step",), progress, cancelled)

    def close(self) -> None:
        self.closed = True
        process, self.process = self.process, None
        if process is not None:  # killed, not waited for: it is reaped later (or with us)
            _kill(process)
        if self.connection is not None:  # a request waiting on it gets an OSError
            self.connection.close()

    # talking to the helper -------------------------------------------------------------
    def _ask(self, request: tuple, progress, cancelled):
        with self.lock:
            if self.closed:
                return Trouble("the PyTorch helper was closed")
            try:
                if self.process is None or self.process.poll() is not None:
                    self._start()
                if not self.sent:
                    if not self._wait_until_ready(cancelled):
                        return None  # cancelled while torch loads: it goes on loading
                    self.connection.send(self.timeline)  # pickled: ~2 MB, 5–10 ms
                    self.sent = True
            except (EOFError, OSError):
                return self._lost()
            except Exception as error:  # the run could not be pickled, say
                _kill(self.process)
                self._lost()
                return Trouble(f"The run could not be sent to the PyTorch helper process: "
                               f"{type(error).__name__}: {error}")
            try:
                self.connection.send(request)
                return self._answer(progress, cancelled)
            except (EOFError, OSError):
                return self._lost()

    def _wait_until_ready(self, cancelled) -> bool:
        """Wait for the helper's torch import (False: ``cancelled()`` turned true).
        The run is sent after it: pickling it holds this process's interpreter lock for
        5–10 ms (more while the helper starts beside it), better not just after ``X``."""
        while not cancelled():
            if self.connection.poll(0.05):
                self.connection.recv()  # ("ready",): always the helper's first message
                self.ready = True
                return True
        return False

    def _answer(self, progress, cancelled):
        """Read the helper's messages until the answer to the request."""
        asked_to_stop = None  # when the cancel was sent
        while True:
            if asked_to_stop is None and cancelled():
                self.connection.send(("cancel",))
                asked_to_stop = time.monotonic()
            if not self.connection.poll(0.05):
                if asked_to_stop is not None and time.monotonic() - asked_to_stop > CANCEL_GRACE:
                    self._drop()  # stuck in one op: the next request starts another
                    return None
                continue
            kind, *body = self.connection.recv()
            if kind == "progress":
                if asked_to_stop is None:
                    progress(*body)
            elif kind == "cancelled":
                return None
            else:  # "outcome"
                return body[0]

    def _start(self) -> None:
        from multiprocessing.connection import Connection

        self.ready = self.sent = False
        ours, theirs = socket.socketpair()
        self.errors = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self.errors, env=child_environment(),
                cwd=PACKAGE_ROOT, start_new_session=True)  # not the learner's folder: ``-m``
            # puts the working directory first on sys.path, where a torch.py would shadow torch
        finally:
            theirs.close()
        self.connection = Connection(ours.detach())

    def _drop(self) -> None:
        process, self.process = self.process, None
        _kill(process)
        self.connection.close()
        self.connection = None

    def _lost(self) -> Trouble:
        """The helper stopped without answering: what it said on its way out."""
        process, self.process = self.process, None
        status = None
        if process is not None:
            try:
                status = process.wait(timeout=2)
            except subprocess.TimeoutExpired:  # alive but not answering: stop it
                _kill(process)
        said = ""
        if self.errors is not None:
            self.errors.seek(0)
            said = self.errors.read().decode("utf-8", "replace").strip()[-ERROR_TAIL:]
            self.errors.close()
            self.errors = None
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        end = f" (exit status {status})" if status is not None else ""
        return Trouble(f"The PyTorch helper process stopped{end}; the next check starts "
                       f"it again." + (f"\n{said}" if said else ""))


def _kill(process: subprocess.Popen) -> None:
    """The helper and anything it started (its own session), at once."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def twin_checks(timeline: Timeline) -> InProcess | Helper:
    """The helper process while torch is not loaded here; this process once it is (and
    where there is no POSIX to start and stop a helper with)."""
    if "torch" in sys.modules or os.name != "posix":
        return InProcess(timeline)
    return Helper(timeline)
