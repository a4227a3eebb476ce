"""A program in a pseudo-terminal, its screen read as a terminal would show it.

The benchmark side of a real terminal: the program gets a pty of a given size (its
stdin, stdout and stderr), keys are bytes written to the pty, and every byte the program
writes is fed to a pyte screen, so the benchmark sees what a learner would see. The
terminal answers the one query Textual sends (synchronized output, mode 2026) as modern
terminals do, so each frame arrives bracketed like it would in kitty, WezTerm or iTerm.

Timing is by arrival of bytes, read as fast as they come (a pty holds only a few KB, so a
slow reader would slow the program) and parsed by the emulator afterwards. For a key:
- *shown*: the end of the first frame after it that changes the screen (a frame ends with
  the synchronized-output end marker; the terminal shows it at once, whole);
- *settled*: the last byte of all the frames it caused, i.e. before nothing more arrives
  for ``quiet`` seconds (not the end of the quiet wait).
"""

from __future__ import annotations

import copy
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time

import pyte

SYNC_QUERY = b"\x1b[?2026$p"
SYNC_SUPPORTED = b"\x1b[?2026;2$y"
SYNC_END = b"\x1b[?2026l"


class Terminal:
    """``argv`` running in a ``cols`` × ``rows`` pty; ``screen`` is what it shows."""

    def __init__(self, argv: list[str], cols: int, rows: int, env: dict[str, str]):
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=dict(env, TERM="xterm-256color"),
            start_new_session=True, close_fds=True)
        os.close(slave)
        self.fd = master
        self.last_byte = self.started
        self.bytes_read = 0
        self.unparsed: list[tuple[float, bytes]] = []  # (arrival, bytes)

    # reading ---------------------------------------------------------------------------
    def pump(self, timeout: float) -> bool:
        """Read what is there within ``timeout`` s; True when anything arrived."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 1 << 20)
        except OSError:  # the program has exited and the pty is closed
            return False
        if not data:
            return False
        self.last_byte = time.perf_counter()
        self.bytes_read += len(data)
        if SYNC_QUERY in data:
            os.write(self.fd, SYNC_SUPPORTED)
        self.unparsed.append((self.last_byte, data))
        return True

    def settle(self, quiet: float = 0.06, limit: float = 10.0) -> float:
        """Read until nothing arrives for ``quiet`` s; returns the last byte's time."""
        end = time.perf_counter() + limit
        while time.perf_counter() < end and self.pump(quiet):
            pass
        return self.last_byte

    def wait_for(self, shows, limit: float = 30.0, quiet: float = 0.06) -> float | None:
        """Read until ``shows(text)`` holds and the screen is quiet; that last byte's time.

        None when it never shows within ``limit`` s.
        """
        end = time.perf_counter() + limit
        while time.perf_counter() < end:
            shown = self.settle(quiet, limit=end - time.perf_counter())
            if shows(self.text()):
                return shown
            self.pump(0.05)
        return None

    def text(self) -> str:
        """The screen as the bytes so far have drawn it."""
        self.parse()
        return "\n".join(self.screen.display)

    def parse(self, shows=None) -> float | None:
        """Feed what arrived to the emulator; the arrival of the first frame end at which
        ``shows(text)`` holds (None if none did)."""
        first = None
        for arrived, data in self.unparsed:
            self.stream.feed(data)
            if (first is None and shows is not None and SYNC_END in data
                    and shows("\n".join(self.screen.display))):
                first = arrived
        self.unparsed.clear()
        if first is None and shows is not None and shows("\n".join(self.screen.display)):
            first = self.last_byte  # a program that does not bracket its frames
        return first

    def key_to_screen(self, key: bytes, shows=None, quiet: float = 0.04,
                      limit: float = 5.0) -> tuple[float, float] | None:
        """Press ``key``; seconds until it is *shown* (the first frame that changes the
        screen, or where ``shows(text)`` holds) and until *settled*. None if never."""
        before = self.text()
        shows = shows or (lambda text: text != before)
        sent = self.press(key)
        end, shown = sent + limit, None
        while time.perf_counter() < end:
            self.settle(quiet, limit=end - time.perf_counter())
            arrived = self.parse(shows)
            shown = shown if shown is not None else arrived
            if shown is not None and self.last_byte > sent:
                return shown - sent, self.last_byte - sent
            self.pump(0.01)
        return None

    def held(self, key: bytes, presses: int, gap: float) -> float | None:
        """Hold ``key`` down (``presses`` at ``gap`` s); seconds from the last press until
        the screen's first line (the step) is the one it finally settles on."""
        self.text()
        start = copy.deepcopy(self.screen)
        for _ in range(presses):
            sent = self.press(key)
            deadline = sent + gap
            while time.perf_counter() < deadline:
                self.pump(max(0.0, deadline - time.perf_counter()))
        self.settle(0.3)
        chunks = list(self.unparsed)
        final = self.text().splitlines()[0]
        replay = pyte.ByteStream(start)
        for arrived, data in chunks:
            replay.feed(data)
            if arrived >= sent and SYNC_END in data and start.display[0] == final:
                return arrived - sent
        return None

    # keys ------------------------------------------------------------------------------
    def press(self, key: bytes) -> float:
        """Send one key; returns the time it was written."""
        os.write(self.fd, key)
        return time.perf_counter()

    def close(self, limit: float = 5.0) -> None:
        """Kill the program if it is still running, and close the pty."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(limit)
        os.close(self.fd)

    def exit_time(self, since: float, limit: float = 5.0) -> float | None:
        """Seconds from ``since`` until the program exits (its output read meanwhile);
        None if it is still running after ``limit`` s."""
        while time.perf_counter() - since < limit:
            if self.process.poll() is not None:
                return time.perf_counter() - since
            self.pump(0.001)
        return None
