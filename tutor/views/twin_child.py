"""The twin's helper process: ``python -m tutor.views.twin_child FD``.

Started by ``tutor.views.twin_checks.Helper`` with one end of a socket pair as ``FD``.
It imports torch and says ``("ready",)`` (torch found missing too: each check then says
how to install it), receives the recorded run (a pickled ``Timeline``, from the tutor
itself: sent only now, so that pickling it does not compete with the keys pressed just
after ``X``), then answers requests until the socket closes:

- ``("step", position)`` → ``("outcome", TwinResult | Trouble)``;
- ``("every step",)`` → ``("progress", done, total)`` now and then, then
  ``("outcome", EveryStep | Trouble)``, or ``("cancelled",)`` after a ``("cancel",)``.

A ``("cancel",)`` that arrives after its check ended is dropped.
"""

from __future__ import annotations

import sys
import time
from multiprocessing.connection import Connection

from engine.pytorch import TorchMissing, import_torch
from tutor.views.twin_checks import Cancelled, every_step_outcome, step_outcome

PROGRESS_INTERVAL = 0.02  # seconds between progress messages


def serve(connection: Connection) -> None:
    """Answer the tutor's requests until it closes the socket (or dies)."""
    try:
        import_torch()
    except TorchMissing:
        pass  # each check says so, with the install command
    connection.send(("ready",))
    timeline = connection.recv()
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request[0] == "step":
            connection.send(("outcome", step_outcome(timeline, request[1])))
        elif request[0] == "every step":
            connection.send(every_step(connection, timeline))


def every_step(connection: Connection, timeline) -> tuple:
    """Check every step, sending progress, stopping at a cancel."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if connection.poll():  # only a cancel can come while a check runs
            connection.recv()
            raise Cancelled
        now = time.monotonic()
        if done == total or now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            connection.send(("progress", done, total))

    try:
        return ("outcome", every_step_outcome(timeline, progress))
    except Cancelled:
        return ("cancelled",)


def main() -> None:
    connection = Connection(int(sys.argv[1]))
    try:
        serve(connection)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the tutor closed (or quit): nothing is waiting for an answer


if __name__ == "__main__":
    main()
