"""Reading the stepper's tool area in tests."""

from __future__ import annotations

from tutor.ui.tools.base import ToolArea


def shown_tool(screen):
    """The tool whose pane is open under the tensors (None if none is)."""
    return screen.query_one(ToolArea).shown


def tool_text(screen) -> str:
    tool = shown_tool(screen)
    return tool.plain if tool is not None else ""


async def tools_mounted(pilot) -> None:
    """Wait until the stepper's tools are there (they are mounted after its first frame)."""
    for _ in range(100):
        if getattr(pilot.app.screen, "tools_mounted", False):
            return
        await pilot.pause(0.02)
    raise AssertionError("the tools were never mounted")


async def quiz_ready(pilot, quiz) -> None:
    """Wait until the quiz takes typing (keys pressed as it opens are not typed into it)."""
    for _ in range(100):
        if quiz.ready:
            return
        await pilot.pause(0.05)
    raise AssertionError("the quiz never took keys")
