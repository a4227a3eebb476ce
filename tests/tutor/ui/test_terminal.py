"""`tutor explore` in a real terminal (tmux): start it, press keys, read the screen."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, command: str, width: int, height: int):
        self.name = f"tutor-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), command], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float = 20.0, first_line: bool = False) -> str:
        """Wait until ``text`` is on the screen (or on its first line, the status line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in (screen.split("\n", 1)[0] if first_line else screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear; the screen shows:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def terminal():
    sessions = []

    def start(width, height, *args):
        command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "tutor", *args])
        session = Tmux(f"TERM=xterm-256color {command}", width, height)
        sessions.append(session)
        return session

    yield start
    for s in sessions:
        s.close()


@pytest.mark.parametrize("width,height", [(80, 24), (120, 40)])
def test_explore_steps_to_the_loss_and_back_into_attention(terminal, width, height):
    t = terminal(width, height, "explore")
    t.wait_for("step 1/336")
    t.keys("n", "n", "n")
    screen = t.wait_for("step 4/336")
    assert "encoder.layers.0.self_attn.q_proj" in screen and "linear" in screen
    t.keys("g")
    t.wait_for("Search")
    t.keys("forward: loss", "Enter")
    screen = t.wait_for("step 122/336", first_line=True)
    assert "cross_entropy" in screen
    t.keys("B")
    screen = t.wait_for("BACKWARD")
    t.keys("g")
    t.wait_for("Search")
    t.keys("backward: encoder.layers.0.self_attn.weights", "Enter")
    screen = t.wait_for("encoder.layers.0.self_attn.weights", first_line=True)
    assert "BACKWARD" in screen and "upstream" in screen and "downstream" in screen
    t.keys("q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "step" in t.screen():
        time.sleep(0.1)
    assert "BACKWARD" not in t.screen()
