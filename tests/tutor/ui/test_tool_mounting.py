"""The tools' panes are mounted just after the stepper's first frame (they are hidden
until a key opens one, and cost 30 ms of a launch). A tool key typed before they are
there waits for them: it is not lost, and it goes to the tool it applies to."""

from __future__ import annotations

import asyncio
from argparse import Namespace

import pytest

from tutor.ui.app import TutorApp
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.tools.base import Tool
from tutor.ui.tools.descent import DescentTool
from tutor.views.session import explore_session
from tests.tutor.ui.tools import shown_tool


@pytest.fixture
def held_tools(monkeypatch):
    """The tools' mounting waits until ``held_tools["go"]`` is set; each tool key handled
    is recorded with whether the tools were there."""
    state = {"go": False, "handled": []}
    mount = StepperScreen._mount_tools
    act = StepperScreen.action_tool

    def mount_when_let(self):
        if not state["go"]:
            self.set_timer(0.01, lambda: mount_when_let(self))
            return None
        return mount(self)

    async def recorded(self, tool_id, action):
        state["handled"].append((action, self.tools_mounted))
        await act(self, tool_id, action)

    monkeypatch.setattr(StepperScreen, "_mount_tools", mount_when_let)
    monkeypatch.setattr(StepperScreen, "action_tool", recorded)
    return state


def drive(held, keys):
    """Press ``keys`` while the tools are held back, then let them come; returns what was
    there before (step drawn, tools), the tools mounted after, the shown tool, and the
    descent tool's chosen lr."""
    session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None,
                                        weights=None, lr=0.1))

    async def main():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.1)
            screen = app.screen
            before = (screen.view is not None, len(screen.query(Tool)))
            await pilot.press(*keys)
            held["go"] = True
            for _ in range(100):
                await pilot.pause(0.02)
                if screen.tools_mounted:
                    break
            await pilot.pause()
            return dict(before=before, after=len(screen.query(Tool)),
                        shown=shown_tool(screen), lr=screen.query_one(DescentTool).chosen_lr,
                        on_top=type(app.screen).__name__)

    return asyncio.run(main())


def test_the_step_is_drawn_before_the_tools_are_mounted(held_tools):
    seen = drive(held_tools, [])
    assert seen["before"] == (True, 0)
    assert seen["after"] == 5 and seen["shown"] is None


def test_a_tool_key_typed_before_the_tools_are_mounted_waits_for_them(held_tools):
    seen = drive(held_tools, ["d"])
    assert held_tools["handled"] == [("step", False)]  # handled before they were there
    shown = seen["shown"]
    assert isinstance(shown, DescentTool)
    assert shown.trail is not None and shown.trail.steps == 1


def test_a_shared_key_typed_early_goes_to_the_tool_it_applies_to(held_tools):
    """``<`` is the decoding temperature's on a decoding run and the learning rate's on
    a run with a loss; its first binding is decoding's."""
    seen = drive(held_tools, ["less_than_sign"])
    assert held_tools["handled"] == [("scale_temperature(0.5)", False)]
    assert seen["lr"] == pytest.approx(0.05)  # the run's 0.1, halved


def test_a_key_that_waited_still_runs_under_a_dialog(held_tools):
    """``d`` then ``?`` before the tools came: the help opens, and the step is taken in
    the stepper under it."""
    seen = drive(held_tools, ["d", "question_mark"])
    assert seen["on_top"] == "HelpScreen"
    assert isinstance(seen["shown"], DescentTool) and seen["shown"].trail.steps == 1


def test_the_keys_bound_at_once_are_the_tools_keys_in_their_order():
    """The stepper binds ``TOOL_KEYS`` before the tools' modules are loaded; they must be
    the tools' own keys, by the ids the tools are mounted under, in the same order."""
    from tutor.ui.tools.keys import TOOL_KEYS
    from tutor.ui.tools.stepper_tools import TOOLS

    assert [(tool.__name__, tool.BINDINGS) for tool in TOOLS] == list(TOOL_KEYS)


def test_the_stepper_loads_the_tools_modules_only_when_it_mounts_them():
    """~45 ms of a launch: the stepper's module does not import the tools."""
    import subprocess
    import sys

    code = ("import sys, tutor.ui.screens.stepper; "
            "print(sorted(m for m in sys.modules if m.startswith('tutor.ui.tools.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert "tutor.ui.tools.base" in loaded and "tutor.ui.tools.keys" in loaded
    for module in ("twin", "decode", "descent", "exercise", "nudge", "stepper_tools"):
        assert f"tutor.ui.tools.{module}'" not in loaded
