"""The descent pane: lr, the loss before and after each step, and one weight's
before / gradient / after."""

from __future__ import annotations

from engine.probes import DescentTrail
from tutor.views.descent import ElementStep
from tutor.views.nudge import delta_text, index_text, value_text
from tutor.ui.widgets.parts import Parts
from tutor.ui.widgets.tool_pane import ToolPane

MAX_TRAIL = 6  # losses shown in the trail line


class DescentPane(ToolPane):
    tool = "descent"

    def __init__(self, trail: DescentTrail, focus: ElementStep, compact: bool = False,
                 width: int = 80) -> None:
        super().__init__(compact=compact)
        self.trail = trail
        self.focus = focus
        self.set_parts(descent_parts(trail, focus, compact, width))


def _loss(x: float) -> str:
    return value_text(x).lstrip("+")


def descent_parts(trail: DescentTrail, focus: ElementStep, compact: bool = False,
                  width: int = 80) -> Parts:
    k = trail.steps
    before, after = trail.losses[k - 1], trail.losses[k]
    predicted = trail.predicted_delta()
    text = Parts()
    text.add("descent ", "bold").add(f"lr {trail.lr:g}", "bold yellow")
    text.add(f" · step {k}", "bold")
    text.add("   (< > halve/double lr · d another step · L lab)\n" if width >= 76 else
             "   (< > lr · d step · L lab)\n", "dim")
    text.add("loss ", "dim").add(f"{_loss(before)} → ")
    text.add(_loss(after), "bold green" if after < before else "bold red")
    text.add("   ΔL ", "dim").add(delta_text(after - before)).add("\n")
    text.add("first order ΔL ≈ −lr·Σg² = ", "dim").add(delta_text(predicted))
    if not after < before:
        text.add(" — overshot: try <", "yellow")
    elif abs(after - before) < 0.5 * abs(predicted):
        text.add(" — the surface curves", "dim")
    text.add("\n")
    if k >= 2:
        shown = trail.losses[-MAX_TRAIL:]
        head = "… → " if len(trail.losses) > MAX_TRAIL else ""
        text.add("losses ", "dim").add(head + " → ".join(_loss(x) for x in shown) + "\n")
    name = focus.name if width >= len(focus.name) + 30 else ".".join(focus.name.split(".")[-2:])
    text.add(f"{name}{index_text(focus.index)}", "bold yellow")
    if focus.note and not compact:
        text.add(f"  ({focus.note})", "dim italic")
    text.add("\n")
    text.add("before ", "dim").add(value_text(focus.before))
    text.add("  gradient ", "dim").add(value_text(focus.grad))
    text.add("  after ", "dim").add("w − lr·g = ")
    text.add(value_text(focus.after), "bold")
    text.add("\n")
    return text
