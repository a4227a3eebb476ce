"""The stepper's tools, in the order of ``keys.TOOL_KEYS``: imported when the stepper
mounts them, just after its first frame."""

from __future__ import annotations

from tutor.ui.tools.decode import DecodeTool
from tutor.ui.tools.descent import DescentTool
from tutor.ui.tools.exercise import ExerciseTool
from tutor.ui.tools.nudge import NudgeTool
from tutor.ui.tools.twin import TwinTool

TOOLS = (DecodeTool, TwinTool, ExerciseTool, NudgeTool, DescentTool)
