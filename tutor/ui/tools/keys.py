"""Each tool's keys, kept apart from the tool so the stepper can bind them at once.

The stepper forwards a tool's keys from wherever the focus is (``tool_bindings``), and a
key typed before the tools are there waits for them. The tools' modules themselves (their
widgets, views and Textual's progress bar: ~45 ms of a launch) are loaded just after the
stepper's first frame (``stepper_tools``). Each tool's ``BINDINGS`` is its list here.
"""

from __future__ import annotations

from textual.binding import Binding

DECODE_KEYS = [
    Binding("k", "toggle", "top-k probabilities", key_display="k"),
    Binding("less_than_sign", "scale_temperature(0.5)", "T ÷2 (decoding)", key_display="<"),
    Binding("greater_than_sign", "scale_temperature(2.0)", "T ×2 (decoding)",
            key_display=">"),
]
TWIN_KEYS = [
    Binding("x", "toggle_pane", "check in PyTorch", key_display="x"),
    Binding("X", "toggle_check_all", "check every step", key_display="X"),
]
EXERCISE_KEYS = [
    Binding("w", "toggle_pane", "exercise: show/hide its pane", key_display="w"),
    Binding("e", "edit", "exercise: edit your file in $EDITOR", key_display="e"),
    Binding("h", "hint", "exercise: the next hint", key_display="h"),
    Binding("r", "recheck", "exercise: check your file again", key_display="r"),
]
NUDGE_KEYS = [
    Binding("plus,equals_sign", "nudge(1)", "nudge +ε", key_display="+"),
    Binding("minus", "nudge(-1)", "nudge −ε", key_display="−"),
    Binding("e", "cycle_epsilon", "change ε", key_display="e"),
]
DESCENT_KEYS = [
    Binding("d", "step", "descent step", key_display="d"),
    Binding("less_than_sign", "scale_lr(0.5)", "lr ÷2", key_display="<"),
    Binding("greater_than_sign", "scale_lr(2.0)", "lr ×2", key_display=">"),
    Binding("L", "lab", "learning-rate lab", key_display="L"),
]

# (tool id, keys) in the order the tools are mounted: a key two tools share goes to the
# first that applies (exercise e before nudge e). The ids are the tools' class names.
TOOL_KEYS = (("DecodeTool", DECODE_KEYS), ("TwinTool", TWIN_KEYS),
             ("ExerciseTool", EXERCISE_KEYS), ("NudgeTool", NUDGE_KEYS),
             ("DescentTool", DESCENT_KEYS))
