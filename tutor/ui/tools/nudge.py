"""Nudge: move the selected number by ±ε, run the forward pass again, and set the change
in the loss beside what the gradient promised.

    measured   ΔL = L(x ± ε) − L(x)          (a re-run of the forward pass, ``engine.replay``)
    predicted  ΔL ≈ ±ε · ∂L/∂x               (∂L/∂x from the recorded backward pass)

The table repeats the experiment for ε = 1e-1 … 1e-4, one-sided and central
(½[L(x + ε) − L(x − ε)], whose error shrinks as ε² instead of ε), so the ratio
measured / predicted visibly walks to 1. Nothing in the recorded run changes: a replay
computes new values beside the record, so the number is "restored" at once. A gradient
panel stands for the value it is the gradient of.
"""

from __future__ import annotations

from tutor.ui.tools.base import StepperState, Tool
from tutor.ui.tools.keys import NUDGE_KEYS
from tutor.ui.widgets.parts import Parts
from tutor.views.nudge import (DEFAULT_EPSILON, EPSILONS, delta_text, find_target, index_text,
                               measure, measured_rows, no_loss_reason, ratio_text, symbol,
                               value_text)



class NudgeTool(Tool):
    """``+``/``−`` nudge the selected element by ±ε; ``e`` cycles ε. A nudge describes one
    element of one step: moving the cursor closes it."""

    BINDINGS = NUDGE_KEYS

    def __init__(self, session, *, id: str = "nudge") -> None:
        super().__init__(session, id=id)
        self.epsilon = DEFAULT_EPSILON
        self.report = None

    def watch_state(self, old: StepperState | None, new: StepperState | None) -> None:
        if old is not None and new is not None and old.position != new.position:
            self.close()

    def action_nudge(self, sign: int = 1) -> None:
        tape = self.timeline.tape
        reason = no_loss_reason(tape)
        selection = self.state.selection if self.state is not None else None
        target = reason if reason is not None else find_target(
            selection.slot if selection else None, selection.index if selection else ())
        if isinstance(target, str):
            self.report = None
            self.show_message("nudge", target)
            return
        self.report = measure(tape, target, self.epsilon, sign)
        self.show_parts(nudge_parts(self.report, self.compact, self.width))

    def action_cycle_epsilon(self) -> None:
        """The next ε of 1e-1 → 1e-2 → 1e-3 → 1e-4 → 1e-1; re-measure if a nudge is shown."""
        position = EPSILONS.index(self.epsilon) if self.epsilon in EPSILONS else -1
        self.epsilon = EPSILONS[(position + 1) % len(EPSILONS)]
        if self.is_open and self.report is not None:
            self.action_nudge(self.report.sign)
        else:
            self.notify(f"ε = {self.epsilon:g}: press + or − to nudge the selected number.",
                        timeout=3)


def nudge_parts(r, compact: bool = False, width: int = 80) -> Parts:
    """``compact``: seven lines (an 80×24 terminal); ``width``: the columns available."""

    w = symbol(r.kind)
    sign = "+" if r.sign > 0 else "−"
    wide = width >= 76
    parts = r.name.split(".")
    short = ".".join(parts[-2:]) if r.kind == "param" or not compact else parts[-1]
    name = r.name if not compact and width >= len(r.name) + 40 else short
    text = Parts()
    text.add("nudge ", "bold")
    if compact:  # the element's value is in its panel
        text.add(f"{name}{index_text(r.index).replace(' ', '')} ", "bold yellow")
        text.add(f"by {sign}{r.eps:g}", "bold").add(" · loss ", "dim")
        text.add(f"{value_text(r.loss)[1:]} → {value_text(r.loss_after)[1:]} · ")
        text.add("restored\n", "green")
        text.add("ΔL measured ", "dim").add(delta_text(r.measured), "bold")
        text.add(f" · predicted {sign}ε·∂L/∂{w} ", "dim").add(delta_text(r.predicted), "bold")
        text.add(" · ratio ", "dim").add(ratio_text(r.ratio), "bold yellow").add("\n")
    else:
        text.add(f"{name}{index_text(r.index)} ", "bold yellow")
        text.add(f"by {sign}{r.eps:g}", "bold").add("   (e: ε · + −: nudge)\n", "dim")
        if r.from_gradient_panel:
            text.add(f"(this panel is a gradient: the value it belongs to, {w}, is nudged)\n",
                     "dim italic")
        text.add(f"{w} ", "dim").add(f"{value_text(r.value)} → {value_text(r.new_value)}")
        text.add(" · loss ", "dim")
        text.add(f"{value_text(r.loss)[1:]} → {value_text(r.loss_after)[1:]}")
        text.add(" · " if wide else "\n").add("restored: the run is unchanged\n", "green")
        text.add("measured  ", "dim").add(f"ΔL = L({w}{sign}ε) − L({w}) = ")
        text.add(delta_text(r.measured), "bold").add("\n")
        text.add("predicted ", "dim").add(f"ΔL ≈ {sign}ε·∂L/∂{w} = ")
        text.add(delta_text(r.predicted), "bold")
        text.add("   ratio ", "dim").add(ratio_text(r.ratio), "bold yellow").add("\n")
        text.add(f"÷: ΔL ÷ ε·∂L/∂{w} · central ΔL = ½[L({w}+ε)−L({w}−ε)], error ∝ ε²\n",
                 "dim italic")
    if wide:
        text.add(f"{'ε':>6} {'L(' + w + '+ε)−L(' + w + ')':>12} {'½[L(+ε)−L(−ε)]':>15} "
                 f"{'ε·∂L/∂' + w:>10} {'÷ one-sided':>11} {'÷ central':>10}\n", "dim")
    else:
        text.add(f"{'ε':>6} {'ΔL 1-side':>10} {'ΔL central':>10} {'ε·∂L/∂' + w:>10} "
                 f"{'÷ 1-side':>9} {'÷ central':>9}\n", "dim")
    for eps, one_sided, central, predicted, ratio, central_ratio in measured_rows(r):
        style = "bold" if eps == r.eps else ""
        if wide:
            line = (f"{eps:>6g} {delta_text(one_sided):>12} {delta_text(central):>15} "
                    f"{delta_text(predicted):>10} {ratio_text(ratio):>11} "
                    f"{ratio_text(central_ratio):>10}")
        else:
            line = (f"{eps:>6g} {delta_text(one_sided):>10} {delta_text(central):>10} "
                    f"{delta_text(predicted):>10} {ratio_text(ratio):>9} "
                    f"{ratio_text(central_ratio):>9}")
        text.add(line + "\n", style)
    return text
