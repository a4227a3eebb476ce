"""The twin's helper process (``tutor.views.twin_checks.Helper``): what it answers is what
torch computes, request by request, and it survives cancels, crashes and closing.

Each ``Helper`` here is a real process (``python -m tutor.views.twin_child``) that
imports torch: the module shares one for the tests that can."""

from __future__ import annotations

import sys
import threading
from argparse import Namespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.pytorch.match import TOLERANCE  # noqa: E402
from tutor.views import twin as twin_check  # noqa: E402
from tutor.views.session import explore_session  # noqa: E402
from tutor.views.twin_checks import Helper, InProcess, Trouble, twin_checks  # noqa: E402


@pytest.fixture(scope="module")
def timeline():
    return explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                     lr=0.1)).timeline


@pytest.fixture(scope="module")
def helper(timeline):
    checks = Helper(timeline)
    yield checks
    checks.close()


def first(timeline, phase: str, op: str | None = None) -> int:
    return next(i for i, s in enumerate(timeline.steps)
                if s.phase == phase and (op is None or s.op_name == op))


def test_a_forward_step_is_torch_s_own_result(helper, timeline):
    position = first(timeline, "forward", "softmax")
    assert not helper.ready  # nothing asked yet: no process, no torch
    result = helper.step(position)
    assert helper.ready and helper.process.poll() is None
    node = timeline.steps[position].node
    (compared,) = result.comparisons
    expected = torch.softmax(torch.tensor(node.inputs[0].value), dim=-1).numpy()
    np.testing.assert_allclose(compared.torch, expected, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(compared.engine, node.output.value)
    assert result.ok and result.position == position and result.phase == "forward"
    assert result.code == twin_check.code_lines(timeline.steps[position])


def test_backward_and_update_steps_match_the_in_process_check(helper, timeline):
    here = InProcess(timeline)
    for position in (first(timeline, "backward"), first(timeline, "update")):
        there, local = helper.step(position), here.step(position)
        assert there.ok and local.ok
        assert there.grad_fns == local.grad_fns
        assert [c.label for c in there.comparisons] == [c.label for c in local.comparisons]
        for a, b in zip(there.comparisons, local.comparisons):
            np.testing.assert_allclose(a.torch, b.torch, rtol=1e-12, atol=1e-15)  # threads differ


def test_every_step_reports_progress_to_the_end(helper, timeline):
    seen = []
    outcome = helper.every_step(lambda done, total: seen.append((done, total)), lambda: False)
    total = len(timeline)
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    report = outcome.report
    assert len(report.steps) + len(outcome.updates) == total
    assert report.ok and report.max_diff <= TOLERANCE
    assert all(match is not None and match.ok for _, match in outcome.updates)  # SGD


def test_a_cancel_stops_the_check_and_the_helper_answers_the_next_request(helper, timeline):
    seen = []
    outcome = helper.every_step(lambda done, total: seen.append(done), lambda: bool(seen))
    assert outcome is None  # cancelled
    assert seen and seen[-1] < len(timeline)
    position = first(timeline, "forward")
    after = helper.step(position)
    assert after.position == position and after.ok  # not a stale answer to the check


def test_the_run_is_sent_once_torch_is_loaded_and_a_cancel_meanwhile_keeps_the_helper(
        timeline):
    """Pickling the run holds the tutor's interpreter lock: it waits for the helper's
    torch import rather than coming just after X, when keys (and q) follow."""
    sent = []

    class Watched(Helper):
        def _start(self):
            super()._start()
            real = self.connection.send

            def send(message):
                sent.append((type(message).__name__, self.ready))
                real(message)
            self.connection.send = send

    checks = Watched(timeline)
    try:
        assert checks.every_step(lambda done, total: None, lambda: True) is None
        assert sent == [] and checks.process.poll() is None  # still loading torch
        result = checks.step(first(timeline, "forward", "softmax"))
        assert result.ok and result.phase == "forward"
        assert sent == [("Timeline", True), ("tuple", True)]  # the run, then the request
    finally:
        checks.close()


def test_a_helper_stuck_after_a_cancel_is_killed_and_replaced(monkeypatch, timeline):
    import signal

    from tutor.views import twin_checks

    monkeypatch.setattr(twin_checks, "CANCEL_GRACE", 0.5)
    checks = Helper(timeline)
    try:
        stuck = []

        def freeze(done, total):
            if not stuck:
                stuck.append(checks.process)
                checks.process.send_signal(signal.SIGSTOP)  # as if one op never returned

        outcomes = []
        asking = threading.Thread(target=lambda: outcomes.append(
            checks.every_step(freeze, lambda: bool(stuck))), daemon=True)
        asking.start()
        asking.join(timeout=60)  # (a helper never given up on would hang here)
        assert outcomes == [None] and checks.process is None
        assert stuck[0].wait(timeout=10) == -9
        assert checks.step(first(timeline, "forward")).ok  # a new helper
    finally:
        checks.close()


def test_a_helper_that_dies_says_so_and_starts_again(timeline):
    checks = Helper(timeline)
    position = first(timeline, "forward")
    try:
        killed = []

        def kill_it(done, total):
            if not killed:
                checks.process.kill()
                killed.append(done)

        lost = checks.every_step(kill_it, lambda: False)  # dies in the middle of the check
        assert killed and isinstance(lost, Trouble) and not lost.missing
        assert "PyTorch helper process stopped (exit status -9)" in lost.message
        again = checks.step(position)  # a new helper
        assert again.ok and checks.process.poll() is None
        checks.process.kill()  # dead between requests: started again, nothing lost
        checks.process.wait(timeout=10)
        assert checks.step(position).ok
    finally:
        checks.close()
    assert checks.process is None
    closed = checks.step(position)
    assert isinstance(closed, Trouble) and "closed" in closed.message


def test_closing_kills_the_helper_at_once(timeline):
    checks = Helper(timeline)
    checks.step(first(timeline, "forward"))
    process = checks.process
    checks.close()
    assert process.wait(timeout=10) == -9  # killed


def test_a_run_that_cannot_be_sent_is_said_and_the_helper_stopped(timeline):
    checks = Helper(lambda: timeline)  # a lambda does not pickle
    try:
        trouble = checks.step(0)
        assert isinstance(trouble, Trouble)
        said = "could not be sent to the PyTorch helper process: AttributeError: Can't pickle"
        assert said in trouble.message
        assert checks.process is None
    finally:
        checks.close()


def test_without_torch_in_the_helper_each_check_says_how_to_install_it(
        tmp_path, monkeypatch, timeline):
    (tmp_path / "torch.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # found before the real one
    checks = Helper(timeline)
    try:
        missing = checks.step(first(timeline, "forward"))
        assert isinstance(missing, Trouble) and missing.missing
        assert "PyTorch is not installed" in missing.message and "pip install" in missing.message
        assert checks.ready  # torch's import is over: found missing
    finally:
        checks.close()


def test_a_torch_py_in_the_learner_s_folder_does_not_shadow_torch(
        tmp_path, monkeypatch, timeline):
    (tmp_path / "torch.py").write_text("raise ImportError('a learner file named torch.py')\n")
    monkeypatch.chdir(tmp_path)  # where `tutor` was started
    checks = Helper(timeline)
    try:
        assert checks.step(first(timeline, "forward")).ok
    finally:
        checks.close()


def test_torch_runs_here_only_once_it_is_loaded_here(monkeypatch, timeline):
    assert isinstance(twin_checks(timeline), InProcess)  # this process has torch
    monkeypatch.delitem(sys.modules, "torch")
    assert isinstance(twin_checks(timeline), Helper)


PROBE = """
import asyncio, sys
from argparse import Namespace
from tutor.ui.app import TutorApp
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.tools.twin import TwinTool
from tutor.views.session import explore_session
from tests.tutor.ui.tools import tool_text

session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                    lr=0.1))

async def go():
    app = TutorApp(lambda: StepperScreen(session))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("X")
        for _ in range(1200):
            if "steps checked" in tool_text(app.screen):
                break
            await pilot.pause(0.05)
        helper = app.screen.query_one(TwinTool).checks.process
        print(" ".join(tool_text(app.screen).split()))
    print("helper after the app closed:", helper.wait(timeout=10))
    print("torch imported here:", "torch" in sys.modules)

asyncio.run(go())
"""


def test_X_in_the_app_checks_every_step_without_loading_torch_in_the_app(timeline):
    """The app, headless in a process without torch: X's report comes from the helper,
    torch never enters the app's process, and the helper ends with the app."""
    import subprocess
    from pathlib import Path

    from tutor.child_env import child_environment

    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env=child_environment(), cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"✓ {len(timeline)} steps checked in PyTorch" in done.stdout
    assert "helper after the app closed: -9" in done.stdout  # killed
    assert "torch imported here: False" in done.stdout
