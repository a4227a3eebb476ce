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

    def wait_for_all(self, *texts: str, first_line: str = "", timeout: float = 20.0) -> str:
        """Wait until every one of ``texts`` is on the screen (and ``first_line`` on its
        first line): one capture can catch a frame half drawn, so what a test checks on
        a screen is waited for, not read once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if first_line in screen.split("\n", 1)[0] and all(t in screen for t in texts):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{texts!r} (first line {first_line!r}) did not all appear; the "
                             f"screen shows:\n{self.screen()}")

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
    t.wait_for_all("step 4/336", "encoder.layers.0.self_attn.q_proj", "linear")
    t.keys("g")
    t.wait_for("Search")
    t.keys("forward: loss", "Enter")
    t.wait_for_all("cross_entropy", first_line="step 122/336")
    t.keys("B")
    t.wait_for("BACKWARD")
    t.keys("g")
    t.wait_for("Search")
    t.keys("backward: encoder.layers.0.self_attn.weights", "Enter")
    t.wait_for_all("BACKWARD", "upstream", "downstream",
                   first_line="encoder.layers.0.self_attn.weights")
    t.keys("q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "step" in t.screen():
        time.sleep(0.1)
    assert "BACKWARD" not in t.screen()


def test_q_saves_the_lesson_step_on_the_way_out(tmp_path):
    """q does not wait for Textual's input thread (tutor.ui.driver), but the lesson still
    saves where the learner stood as it closes: the next run resumes there."""
    from tutor.lessons.run import lesson_by_query
    from tutor.storage.progress import ProgressStore

    lesson = lesson_by_query("1")
    store = ProgressStore(tmp_path)
    for quiz in lesson.quizzes:  # answered: n only steps
        store.record_quiz(lesson.id, quiz.id, {"result": "correct", "attempts": 1})
    tutor = (f"TUTOR_HOME={shlex.quote(str(tmp_path))} TERM=xterm-256color "
             f"{shlex.quote(sys.executable)} -m tutor 1")
    session = Tmux(f"{tutor}; {tutor}; sleep 30", 100, 30)
    try:
        session.wait_for("step 1/", first_line=True)
        session.keys("n", "n", "n")
        session.wait_for("step 4/", first_line=True)
        session.keys("q")
        session.wait_for_all("Resumed at step 4", first_line="step 4/", timeout=30)
    finally:
        session.close()


def test_after_q_the_shell_has_its_terminal_back(tmp_path):
    home = shlex.quote(str(tmp_path))
    tutor = f"TUTOR_HOME={home} TERM=xterm-256color {shlex.quote(sys.executable)} -m tutor 1"
    session = Tmux(f"{tutor}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon\\|-\\?echo'; "
                   "sleep 30", 100, 30)
    try:
        session.wait_for("step 1/", first_line=True)
        session.keys("q")
        screen = session.wait_for("EXIT=")
        deadline = time.monotonic() + 5
        while "echo" not in screen and time.monotonic() < deadline:
            time.sleep(0.1)
            screen = session.screen()
    finally:
        session.close()
    lines = screen.split()
    assert "EXIT=0" in lines and "icanon" in lines and "echo" in lines, screen
    assert "step" not in screen  # the tutor's screen is gone (the alternate screen left)
