"""A running ``tutor serve`` for tests: started on a free port with its own data directory,
its tab processes counted from /proc, stopped with Ctrl+C (SIGINT) at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

WAIT = 30.0  # seconds to wait for a state before a test fails (never a measured time)


def wait_until(condition, what: str, timeout: float = WAIT, every: float = 0.05):
    """Poll ``condition()`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """Every live process descended from ``pid`` (Linux /proc), zombies left out."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended while we looked
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            parents.setdefault(int(ppid), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Served:
    """``python -m tutor serve --port P ARGS`` with ``TUTOR_HOME=home``."""

    def __init__(self, home: Path, *args: str, host: str | None = None):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, TUTOR_HOME=str(home), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tutor", "serve", *(["--host", host] if host else []),
             "--port", str(self.port), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()
        wait_until(lambda: self.out or self.process.poll() is not None, "the server to start")
        if self.process.poll() is not None:
            raise AssertionError(f"tutor serve ended: {''.join(self.err)}")

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def tabs(self) -> list[int]:
        """The processes the server has started (one tutor per open tab)."""
        return children(self.process.pid)

    def stop(self) -> int:
        """Ctrl+C, as a learner stops it; the exit status. ``left`` then holds the tab
        processes that outlived the server (killed here so that no test leaks them)."""
        started = self.tabs() if self.process.poll() is None else []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(WAIT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.left = [pid for pid in started if alive(pid)]
            for pid in self.left:
                os.kill(pid, signal.SIGKILL)
