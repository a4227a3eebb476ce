"""Run a learner's exercise file in a child process, with limits, and read what it gave.

The learner's code never runs inside the tutor: ``run_in_child`` starts
``python -m tutor.lessons.exercise_child`` in a session of its own, with

- a time limit (``TIME_LIMIT``, 10 s) counted from the moment the child is ready (its
  imports done); a child still running then is killed with its whole process group;
- a memory limit (``MEMORY_LIMIT`` beyond what the child's imports mapped, by
  ``resource.setrlimit``), so a runaway allocation is a ``MemoryError`` in the child;
- the learner's output captured in the child and bounded (``OUTPUT_LIMIT`` characters);
- results passed back as ``.npz`` read with ``allow_pickle=False`` and a small JSON
  status: nothing the learner's code made is unpickled here.

Whatever happens in the child, the caller gets a ``ChildOutcome``, never an exception.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tutor.child_env import child_environment

TIME_LIMIT = 10.0  # seconds of the learner's code
STARTUP_LIMIT = 120.0  # seconds for the child's imports (torch can be slow the first time)
MEMORY_LIMIT = 1 << 30  # bytes the learner's code may add
CPU_LIMIT = 30  # CPU seconds: a backstop behind the wall-clock limit
OUTPUT_LIMIT = 20_000  # characters of printed output kept
STATUS_BYTES = 1 << 20
CHILD_MODULE = "tutor.lessons.exercise_child"
STATUSES = ("ok", "todo", "raised", "no_function", "bad_return", "memory", "torch_missing",
            "timeout", "crashed")


@dataclass
class ChildOutcome:
    """What the learner's file did: ``status`` (one of ``STATUSES``), a one-line
    ``message``, the learner's own traceback lines, what it printed (first
    ``OUTPUT_LIMIT`` characters of ``output_total``) and the returned parts by name."""

    status: str
    message: str = ""
    traceback: tuple[str, ...] = ()
    output: str = ""
    output_total: int = 0
    parts: list[tuple[str, np.ndarray]] = field(default_factory=list)
    notes: tuple[str, ...] = ()


def run_in_child(path: Path, function: str, harness: str, call: list, named: dict,
                 parts: list[str], time_limit: float | None = None,
                 env: dict | None = None, started=None) -> ChildOutcome:
    """Run ``function`` of the learner's file ``path`` by ``harness`` on these arguments
    (``time_limit`` defaults to ``TIME_LIMIT``). ``started(process)`` is told the child
    as soon as it runs, so a caller that goes away can ``stop_child`` it."""
    time_limit = TIME_LIMIT if time_limit is None else time_limit
    path = Path(path).resolve()
    request = {"path": str(path), "function": function, "harness": harness, "call": call,
               "named": named, "parts": parts, "memory_bytes": MEMORY_LIMIT,
               "cpu_seconds": CPU_LIMIT, "output_chars": OUTPUT_LIMIT}
    with tempfile.TemporaryDirectory(prefix="tutor-exercise-") as name:
        folder = Path(name)
        (folder / "request.pickle").write_bytes(pickle.dumps(request))
        with open(folder / "stderr.txt", "wb") as errors:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", CHILD_MODULE, str(folder)], stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=errors, cwd=str(path.parent),
                    env=child_environment(env), start_new_session=True)
            except OSError as error:
                return ChildOutcome("crashed", f"could not start Python to run your file "
                                               f"({error.strerror or error})")
            if started is not None:
                started(process)
            try:
                ended = _wait(process, time_limit)
            finally:
                if process.poll() is None:
                    stop_child(process)
                process.stdout.close()
        if ended == "timeout":
            return ChildOutcome("timeout", f"stopped after {time_limit:g} s: your code was still "
                                "running (an endless loop, or far too much work?)")
        if ended == "startup":
            return ChildOutcome("crashed", f"Python took over {STARTUP_LIMIT:g} s to start and "
                                "import what your code needs; try again")
        return _read(folder, process.returncode)


def _wait(process: subprocess.Popen, time_limit: float) -> str:
    """Wait for ``ready`` (imports done), then up to ``time_limit`` for the end: "ended",
    "timeout" (the learner's code was still running) or "startup" (never got ready)."""
    deadline = time.monotonic() + STARTUP_LIMIT
    ready = False
    while not ready:
        left = deadline - time.monotonic()
        if left <= 0:
            return "startup"
        readable, _, _ = select.select([process.stdout], [], [], left)
        if readable:
            line = process.stdout.readline()
            if not line:  # the child ended before it was ready
                process.wait()
                return "ended"
            ready = line.strip() == b"ready"
    try:
        process.wait(timeout=time_limit)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "ended"


def stop_child(process: subprocess.Popen) -> None:
    """The child and everything it started (its own session): by its process group id."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
        pass


def _read(folder: Path, returncode: int | None) -> ChildOutcome:
    status_file = folder / "status.json"
    try:
        if status_file.stat().st_size > STATUS_BYTES:
            raise ValueError("status too large")
        status = json.loads(status_file.read_text(encoding="utf-8"))
        names = [str(n) for n in status["parts"]]
        with np.load(folder / "parts.npz", allow_pickle=False) as stored:
            arrays = [np.asarray(stored[f"arr_{i}"], dtype=np.float64)
                      for i in range(len(names))]
        kind = status["status"] if status["status"] in STATUSES else "crashed"
        return ChildOutcome(kind, str(status["message"]),
                            tuple(str(line).rstrip("\n") for line in status["traceback"]),
                            str(status.get("output", "")), int(status.get("output_total", 0)),
                            list(zip(names, arrays)), tuple(str(n) for n in status["notes"]))
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        pass
    return ChildOutcome("crashed", _crash_message(returncode), tuple(_tail(folder)))


def _crash_message(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        extra = " (the memory or CPU limit?)" if name in ("SIGKILL", "SIGXCPU", "SIGSEGV") else ""
        return f"the process running your code was killed by {name}{extra}"
    return f"the process running your code ended without an answer (exit status {returncode})"


def _tail(folder: Path, limit: int = 4000) -> list[str]:
    """The last lines the child wrote to stderr (bounded)."""
    try:
        with open(folder / "stderr.txt", "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - limit, 0))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-8:]
